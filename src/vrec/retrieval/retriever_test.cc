#include "vrec/retrieval/retriever.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <numeric>

#include "vrec/common/strings.h"
#include "vrec/retrieval/brute_force_ann_index.h"
#include "vrec/retrieval/two_tower_model_testing.h"

namespace vrec::retrieval {
namespace {

testing::RandomModelShape SmallShape() {
  testing::RandomModelShape s;
  s.num_users = 50;
  s.num_videos = 400;
  s.text_buckets = 1024;
  return s;
}

std::vector<VideoInput> Catalog(int64_t first_id, int64_t n) {
  std::vector<VideoInput> out;
  for (int64_t v = first_id; v < first_id + n; ++v) {
    VideoInput x;
    x.id = VideoId{static_cast<uint64_t>(v)};
    x.categories = {StrCat("c", v % 20)};
    x.title = StrCat("video number ", v, v % 3 == 0 ? " cooking pasta" : " football goal");
    x.duration_s = static_cast<float>(10 + v % 300);
    x.positives = v % 50;
    out.push_back(std::move(x));
  }
  return out;
}

UserInput User(uint64_t id, std::vector<uint64_t> history) {
  UserInput u;
  u.id = UserId{id};
  u.age = 30;
  for (uint64_t v : history) u.history.emplace_back(VideoId{v}, 1.0f);
  return u;
}

// Brute-force reference: every catalog video scored by <user, video>, best first.
std::vector<uint64_t> Reference(const TwoTowerModel& m, const std::vector<VideoInput>& catalog,
                                const UserInput& u, size_t n) {
  std::vector<float> ue(m.dimension()), ve(m.dimension());
  m.EmbedUser(u, ue);
  std::vector<std::pair<float, uint64_t>> scored;
  for (const VideoInput& v : catalog) {
    m.EmbedVideo(v, ve);
    scored.emplace_back(std::inner_product(ue.begin(), ue.end(), ve.begin(), 0.0f), v.id->value);
  }
  std::sort(scored.begin(), scored.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < std::min(n, scored.size()); ++i) ids.push_back(scored[i].second);
  return ids;
}

std::vector<uint64_t> Ids(const std::vector<Candidate>& c) {
  std::vector<uint64_t> ids;
  for (const Candidate& x : c) ids.push_back(x.video.value);
  return ids;
}

class RetrieverTest : public ::testing::Test {
 protected:
  RetrieverTest() : model_(testing::RandomTwoTowerModel(SmallShape(), 3)), catalog_(Catalog(1, 400)) {
    auto index = BruteForceAnnIndex::Create(model_.dimension());
    EXPECT_TRUE(index.ok());
    index_ = std::move(*index);
    EXPECT_TRUE(AddVideos(model_, catalog_, *index_).ok());
  }
  TwoTowerModel model_;
  std::vector<VideoInput> catalog_;
  std::unique_ptr<AnnIndex> index_;
};

TEST_F(RetrieverTest, ReturnsTheNearestVideosToTheUserTower) {
  Retriever r(model_, *index_);
  const UserInput u = User(7, {3, 9, 27});
  auto got = r.Retrieve(u, 20);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(Ids(*got), Reference(model_, catalog_, u, 20));
  for (size_t i = 1; i < got->size(); ++i) EXPECT_GE((*got)[i - 1].score, (*got)[i].score);
}

TEST_F(RetrieverTest, ANewWatchChangesTheNextResult) {
  Retriever r(model_, *index_);
  auto before = r.Retrieve(User(7, {3, 9}), 20);
  auto after = r.Retrieve(User(7, {3, 9, 200}), 20);
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_NE(Ids(*before), Ids(*after));
}

TEST_F(RetrieverTest, UnknownUsersAndHistoryAreServedFromWhatIsKnown) {
  Retriever r(model_, *index_);
  UserInput stranger;
  stranger.history = {{VideoId{999999}, 1.0f}, {VideoId{5}, 2.0f}};  // one unseen video, skipped
  auto got = r.Retrieve(stranger, 10);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), 10u);
}

TEST_F(RetrieverTest, AddedVideosAreRetrievableAtOnceAndRemovedOnesNever) {
  const std::vector<VideoInput> uploads = Catalog(10'000, 1000);
  ASSERT_TRUE(AddVideos(model_, uploads, *index_).ok());
  EXPECT_EQ(index_->size(), 1400);
  std::vector<VideoInput> all = catalog_;
  all.insert(all.end(), uploads.begin(), uploads.end());
  Retriever r(model_, *index_);
  const UserInput u = User(11, {1, 2});
  auto got = r.Retrieve(u, 50);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(Ids(*got), Reference(model_, all, u, 50));
  // Take down the current best video: it never comes back.
  const uint64_t best = got->front().video.value;
  ASSERT_TRUE(index_->Remove(std::vector<uint64_t>{best}).ok());
  auto again = r.Retrieve(u, 1400);
  ASSERT_TRUE(again.ok());
  for (const Candidate& c : *again) EXPECT_NE(c.video.value, best);
}

TEST_F(RetrieverTest, RejectsBadRequestsAndVideosWithoutIds) {
  Retriever r(model_, *index_);
  EXPECT_EQ(r.Retrieve(User(1, {}), 0).status().code(), StatusCode::kInvalidArgument);
  std::vector<VideoInput> bad(1);
  EXPECT_EQ(AddVideos(model_, bad, *index_).code(), StatusCode::kInvalidArgument);
}

TEST_F(RetrieverTest, BundleSaveLoadRoundTripGivesIdenticalResults) {
  AnnIndexOptions options;
  options.kind = AnnIndexOptions::Kind::kExact;
  auto built = BuildVideoIndex(model_, catalog_, options);
  ASSERT_TRUE(built.ok()) << built.status().message();
  RetrievalBundle bundle{std::move(model_), std::move(*built)};
  const auto dir = std::filesystem::temp_directory_path() / "vrec_retriever_bundle_test";
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(bundle.Save(dir.string(), "feedfacefeedface", {{"recall@100", 0.5}}).ok());
  auto loaded = RetrievalBundle::Load(dir.string());
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  const UserInput u = User(4, {10, 20, 30});
  auto a = Retriever(bundle.model, *bundle.index).Retrieve(u, 30);
  auto b = Retriever(loaded->model, *loaded->index).Retrieve(u, 30);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); ++i) {
    EXPECT_EQ((*a)[i].video, (*b)[i].video);
    EXPECT_EQ((*a)[i].score, (*b)[i].score);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vrec::retrieval
