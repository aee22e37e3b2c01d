// Recommend with explain=true over the committed tiny model: the explanations describe the list
// without changing it.
#include "vrec/serving/recommender.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "vrec/ranking/features.h"
#include "vrec/registry/manifest.h"

namespace vrec::serving {
namespace {

constexpr char kTinyModel[] = "tests/testdata/serving_model_v1";

class RecommenderExplainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::is_directory(kTinyModel)) << "run from the source root";
    auto m = ServingModel::Load(kTinyModel, "v1");
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    model_ = std::move(*m);
    flags_.assign(model_->catalog().videos.size(), 0);
  }

  // Options that make every stage act: a freshness boost, a tight diversity cap and a promo.
  RecommendOptions BusyOptions() const {
    RecommendOptions o;
    o.ordering.freshness_boost = 0.5;
    o.ordering.freshness_half_life_hours = 24 * 30;
    o.ordering.max_per_category = 1;
    o.ordering.diversity_window = 6;
    o.ordering.promos = {{model_->catalog().videos[7].id, 2}};
    return o;
  }

  RecommendRequest Request(UserId user, bool explain) const {
    RecommendRequest r;
    r.user = user;
    r.count = 15;
    r.now = model_->data_end_time() + 3600;
    r.explain = explain;
    return r;
  }

  std::shared_ptr<const ServingModel> model_;
  std::vector<uint8_t> flags_;
};

TEST_F(RecommenderExplainTest, ExplainingChangesNothingInTheList) {
  int users = 0, ranked = 0, cold = 0;
  for (const RecommendOptions& options : {RecommendOptions{}, BusyOptions()}) {
    for (const data::User& u : model_->catalog().users) {
      for (const uint64_t extra : {uint64_t{0}, uint64_t{1'000'000}}) {  // catalog users, then unknown ones
        const UserId user{u.id.value + extra};
        auto plain = Recommend(*model_, Request(user, false), {}, flags_, options);
        auto explained = Recommend(*model_, Request(user, true), {}, flags_, options);
        ASSERT_TRUE(plain.ok() && explained.ok());
        EXPECT_TRUE(plain->explanations.empty());
        ASSERT_EQ(plain->items.size(), explained->items.size()) << user.value;
        ASSERT_EQ(explained->explanations.size(), explained->items.size());
        for (size_t i = 0; i < plain->items.size(); ++i) {
          ASSERT_EQ(plain->items[i].video, explained->items[i].video) << user.value << " #" << i;
          ASSERT_EQ(plain->items[i].score, explained->items[i].score) << user.value << " #" << i;
          ASSERT_EQ(plain->items[i].reason, explained->items[i].reason);
        }
        EXPECT_EQ(plain->filter.kept, explained->filter.kept);
        ++users;
        ranked += explained->ranked;
        cold += explained->cold_start;
      }
    }
  }
  EXPECT_EQ(users, 320);
  EXPECT_GT(ranked, 100);
  EXPECT_GT(cold, 100);
}

TEST_F(RecommenderExplainTest, EachItemSaysWhereItCameFromAndWhatEachStageDid) {
  const RecommendOptions options = BusyOptions();
  const std::vector<std::string>& names = ranking::RankingFeatureNames();
  int checked = 0, boosted = 0, demoted = 0;
  for (const data::User& u : model_->catalog().users) {
    auto r = Recommend(*model_, Request(u.id, true), {}, flags_, options);
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(r->ranked) << u.id.value;
    for (size_t i = 0; i < r->items.size(); ++i) {
      const ItemExplanation& e = r->explanations[i];
      if (r->items[i].reason == "promoted") {
        EXPECT_TRUE(e.promoted);
        EXPECT_EQ(i, 1u) << "the promo's slot";
        continue;
      }
      EXPECT_FALSE(e.promoted);
      EXPECT_EQ(e.source, "retrieval");
      EXPECT_GE(e.retrieval_rank, 0);
      ASSERT_TRUE(e.ranked);
      // The contributions and the bias add up to the ranker's score, largest first, at most five.
      ASSERT_LE(e.contributions.size(), 5u);
      ASSERT_FALSE(e.contributions.empty());
      double sum = e.bias + e.other_contributions;
      for (size_t c = 0; c < e.contributions.size(); ++c) {
        sum += e.contributions[c].contribution;
        EXPECT_TRUE(std::find(names.begin(), names.end(), e.contributions[c].feature) != names.end());
        if (c > 0) {
          EXPECT_GE(std::abs(e.contributions[c - 1].contribution), std::abs(e.contributions[c].contribution));
        }
      }
      EXPECT_NEAR(sum, e.ranker_score, 1e-3 * (1 + std::abs(e.ranker_score))) << u.id.value << " #" << i;
      // The listed score is the ranker's plus the freshness boost.
      EXPECT_NEAR(r->items[i].score, e.ranker_score + e.freshness_boost,
                  1e-4 * (1 + std::abs(e.ranker_score)));
      EXPECT_GE(e.ranker_rank, 0);
      EXPECT_GE(e.position_by_score, 1);
      EXPECT_GE(e.position_after_diversity, 1);
      boosted += e.freshness_boost > 0;
      demoted += e.position_after_diversity > e.position_by_score;
      ++checked;
    }
  }
  EXPECT_GT(checked, 500);
  EXPECT_GT(boosted, 0);
  EXPECT_GT(demoted, 0) << "a cap of one video per category in six slots demotes some";
}

TEST_F(RecommenderExplainTest, ColdStartItemsNameTheirListAndWatchedDropsAreListed) {
  auto cold = Recommend(*model_, Request(UserId{999'999'999}, true), {}, flags_, RecommendOptions{});
  ASSERT_TRUE(cold.ok());
  ASSERT_TRUE(cold->cold_start);
  std::set<std::string_view> sources;
  for (size_t i = 0; i < cold->items.size(); ++i) {
    EXPECT_EQ(cold->explanations[i].source, cold->items[i].reason);
    EXPECT_FALSE(cold->explanations[i].ranked);
    sources.insert(cold->explanations[i].source);
  }
  EXPECT_TRUE(sources.contains("popular"));

  // A user whose history is the whole retrieval: the watched filter drops what they saw, listed.
  int listed = 0;
  for (uint32_t u = 0; u < model_->catalog().users.size(); ++u) {
    auto r = Recommend(*model_, Request(model_->catalog().users[u].id, true), {}, flags_, RecommendOptions{});
    ASSERT_TRUE(r.ok());
    std::set<uint64_t> seen;
    for (const HistoryItem& h : model_->BaseHistory(u))
      seen.insert(model_->catalog().videos[h.video].id.value);
    for (int f = 0; f < filtering::kNumFilters; ++f) {
      const std::vector<VideoId>& dropped = r->explanation.dropped[static_cast<size_t>(f)];
      EXPECT_EQ(dropped.size(),
                std::min<size_t>(RequestExplanation::kMaxDroppedListed,
                                 static_cast<size_t>(r->filter.counts[static_cast<size_t>(f)].removed)));
      if (static_cast<filtering::Filter>(f) != filtering::Filter::kWatched) continue;
      for (const VideoId v : dropped) EXPECT_TRUE(seen.contains(v.value)) << v.value;
      listed += static_cast<int>(dropped.size());
    }
  }
  EXPECT_GT(listed, 0);
}

// A copy of the tiny model whose manifest says the ranker was trained with `ease` EASE candidates
// (the pipeline writes the param); nullptr after a failed assertion.
std::shared_ptr<const ServingModel> WithEaseCandidates(const std::string& ease, Status* load_status) {
  const std::string dir =
      ::testing::TempDir() + "/vrec_ease_model_" + std::to_string(::getpid()) + "_" + ease;
  std::filesystem::remove_all(dir);
  std::filesystem::copy(kTinyModel, dir, std::filesystem::copy_options::recursive);
  auto manifest = registry::ReadManifest(dir);
  EXPECT_TRUE(manifest.ok());
  if (!manifest.ok()) return nullptr;
  manifest->params["ease_candidates"] = ease;
  EXPECT_TRUE(registry::WriteManifest(dir, *manifest).ok());
  auto m = ServingModel::Load(dir, "v1");
  std::filesystem::remove_all(dir);
  *load_status = m.status();
  return m.ok() ? *m : nullptr;
}

TEST_F(RecommenderExplainTest, EaseCandidatesJoinTheRankedOnesUnseenAndFiltered) {
  Status status;
  const std::shared_ptr<const ServingModel> model = WithEaseCandidates("30", &status);
  ASSERT_TRUE(status.ok()) << status.ToString();
  ASSERT_EQ(model->ease_candidates(), 30);
  RecommendOptions options;
  options.rank_candidates = 10;  // a short retrieved list, so EASE adds videos of its own
  int from_ease = 0, users_with_ease = 0;
  for (uint32_t u = 0; u < model->catalog().users.size(); ++u) {
    RecommendRequest request = Request(model->catalog().users[u].id, true);
    request.count = 40;
    auto with = Recommend(*model, request, {}, flags_, options);
    auto without = Recommend(*model_, request, {}, flags_, options);
    ASSERT_TRUE(with.ok() && without.ok());
    ASSERT_TRUE(with->ranked);
    std::set<uint32_t> seen;
    for (const HistoryItem& h : model->BaseHistory(u)) seen.insert(h.video);
    int here = 0;
    for (size_t i = 0; i < with->items.size(); ++i) {
      const ItemExplanation& e = with->explanations[i];
      if (e.source != "ease") continue;
      ++here;
      EXPECT_EQ(e.retrieval_rank, -1);
      EXPECT_TRUE(e.ranked);
      const std::optional<uint32_t> v = model->catalog().FindVideo(with->items[i].video);
      ASSERT_TRUE(v.has_value());
      EXPECT_FALSE(seen.contains(*v)) << "EASE proposes only unseen videos";
      // Its retrieval features are missing: the ranker knows which source it came from.
      for (const ItemExplanation::Contribution& c : e.contributions) {
        if (c.feature == "retrieval_rank" || c.feature == "retrieval_score") {
          EXPECT_TRUE(std::isnan(c.value));
        }
      }
    }
    for (const ItemExplanation& e : without->explanations) EXPECT_NE(e.source, "ease");
    // The same retrieved candidates plus EASE's: never fewer items.
    EXPECT_GE(with->items.size(), without->items.size());
    // EASE's list went through the filters too, counted with the retrieved ones.
    EXPECT_GE(with->filter.input, without->filter.input);
    if (here > 0) {
      EXPECT_GT(with->filter.input, without->filter.input);
    }
    from_ease += here;
    users_with_ease += here > 0;
  }
  EXPECT_GT(users_with_ease, 20) << from_ease;
}

TEST(RecommenderEaseCandidates, ABadManifestCountIsRefused) {
  for (const char* bad : {"-1", "x", "20000"}) {
    Status status;
    EXPECT_EQ(WithEaseCandidates(bad, &status), nullptr);
    EXPECT_EQ(status.code(), StatusCode::kDataLoss) << bad;
    EXPECT_NE(status.message().find("ease_candidates"), std::string::npos) << status.message();
  }
}

}  // namespace
}  // namespace vrec::serving
