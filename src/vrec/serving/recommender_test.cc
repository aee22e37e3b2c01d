// Recommend with explain=true over the committed tiny model: the explanations describe the list
// without changing it.
#include "vrec/serving/recommender.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include "vrec/common/strings.h"
#include "vrec/data/test_util.h"
#include "vrec/ranking/features.h"
#include "vrec/registry/manifest.h"
#include "vrec/serving/tiny_model_testing.h"

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

// Exploration slots over the tiny model: uploads made an hour ago, their engagement in live counters.
class RecommenderExploreTest : public RecommenderExplainTest {
 protected:
  static constexpr int kFresh = 12;

  void SetUp() override {
    RecommenderExplainTest::SetUp();
    // Long after the snapshot: none of its videos is fresh any more, only the uploads are.
    now_ = model_->data_end_time() + 30 * 86400;
    live_ = std::make_unique<LiveCatalog>(model_);
    const std::vector<std::string>& categories = model_->catalog().categories;
    for (int i = 0; i < kFresh + 3; ++i) {
      features::VideoRecord r;
      r.id = VideoId{static_cast<uint64_t>(900'000 + i)};
      r.categories = {categories[static_cast<size_t>(i) % categories.size()]};
      r.language = "en";
      r.duration_s = 60;
      r.upload_time = now_ - 3600;
      r.title = StrCat("upload ", i);
      if (i == kFresh) r.upload_time = now_ - 100 * 3600;  // too old to be explored
      if (i == kFresh + 1) r.age_restricted = true;        // never for users of unknown age
      if (i == kFresh + 2) r.available = false;            // taken down
      ASSERT_TRUE(live_->Upsert(r).ok());
    }
    auto counts = std::make_shared<features::EngagementCounters>();
    // Upload 0 is well received, upload 1 skipped by nearly everyone, the rest unseen.
    for (const auto& [video, plays, skips] : {std::tuple{900'000, 300, 10}, std::tuple{900'001, 10, 300}}) {
      for (int k = 0; k < plays + skips; ++k) {
        counts->Apply({.user = UserId{static_cast<uint64_t>(k)},
                       .video = VideoId{static_cast<uint64_t>(video)},
                       .time = now_ - 1800,
                       .type = k < plays ? data::EventType::kPlay : data::EventType::kSkip,
                       .watch_ratio = 0.5f,
                       .duration_s = 60});
      }
    }
    counters_ = std::make_unique<LiveCounters>(std::move(counts), 0);
  }

  RecommendOptions Exploring(double share) const {
    RecommendOptions o;
    o.ordering.explore.share = share;
    return o;
  }

  StatusOr<RecommendResult> Run(UserId user, const RecommendOptions& options, uint64_t seed,
                                bool explain = false, std::span<const features::HistoryEntry> online = {},
                                std::vector<VideoId> exclude = {}) const {
    RecommendRequest r = Request(user, explain);
    r.count = 10;
    r.now = now_;
    r.explore_seed = seed;
    r.exclude = std::move(exclude);
    const LiveCatalog::Reader reader = live_->Read();
    return Recommend(*model_, r, online, flags_, options, &reader, counters_.get());
  }

  int64_t now_ = 0;
  std::unique_ptr<LiveCatalog> live_;
  std::unique_ptr<LiveCounters> counters_;
};

TEST_F(RecommenderExploreTest, OffByDefaultTheListIsUnchanged) {
  for (const data::User& u : model_->catalog().users) {
    auto plain = Run(u.id, RecommendOptions{}, 1);
    auto other_seed = Run(u.id, RecommendOptions{}, 2);
    RecommendOptions zero = Exploring(0);
    zero.ordering.explore.positions = {1};
    auto explicit_zero = Run(u.id, zero, 3);
    ASSERT_TRUE(plain.ok() && other_seed.ok() && explicit_zero.ok());
    ASSERT_EQ(plain->items.size(), other_seed->items.size());
    ASSERT_EQ(plain->items.size(), explicit_zero->items.size());
    for (size_t i = 0; i < plain->items.size(); ++i) {
      EXPECT_EQ(plain->items[i].video, other_seed->items[i].video);
      EXPECT_EQ(plain->items[i].video, explicit_zero->items[i].video);
      EXPECT_NE(plain->items[i].reason, "explore");
    }
    EXPECT_EQ(plain->explored, 0);
  }
}

TEST_F(RecommenderExploreTest, ExploredItemsAreFreshUploadsThatPassEveryFilter) {
  int lists = 0, explored = 0;
  for (const data::User& u : model_->catalog().users) {
    // The user played upload 2 (watched) and the client shows upload 3 (on screen).
    const std::vector<features::HistoryEntry> online = {
        {.video = VideoId{900'002}, .time = now_ - 600, .type = data::EventType::kPlay, .watch_ratio = 1}};
    auto r = Run(u.id, Exploring(0.3), static_cast<uint64_t>(lists), false, online, {VideoId{900'003}});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->items.size(), 10u);
    std::set<uint64_t> seen;
    int here = 0;
    for (const RecommendedItem& it : r->items) {
      EXPECT_TRUE(seen.insert(it.video.value).second) << "video " << it.video.value << " twice";
      if (it.reason != "explore") continue;
      ++here;
      EXPECT_GE(it.video.value, 900'000u);
      if (it.video.value == 900'000u + kFresh + 1) {
        EXPECT_GE(u.age, 18) << "an age-restricted upload explored for a minor";
        continue;
      }
      EXPECT_LT(it.video.value, 900'000u + kFresh) << "a stale or taken-down upload explored";
      EXPECT_NE(it.video.value, 900'002u) << "watched";
      EXPECT_NE(it.video.value, 900'003u) << "on screen";
      EXPECT_GE(it.score, 0.0f);
      EXPECT_LE(it.score, 1.0f);
    }
    EXPECT_EQ(here, 3) << "0.3 of 10 slots, user " << u.id.value;
    EXPECT_EQ(r->explored, here);
    explored += here;
    ++lists;
  }
  EXPECT_EQ(explored, 3 * lists);
}

TEST_F(RecommenderExploreTest, ExplainingNamesTheSourceAndTheEvidenceWithoutChangingTheList) {
  const UserId user = model_->catalog().users[5].id;
  auto plain = Run(user, Exploring(0.5), 42);
  auto explained = Run(user, Exploring(0.5), 42, true);
  ASSERT_TRUE(plain.ok() && explained.ok());
  ASSERT_EQ(plain->items.size(), explained->items.size());
  int checked = 0;
  for (size_t i = 0; i < plain->items.size(); ++i) {
    EXPECT_EQ(plain->items[i].video, explained->items[i].video);
    EXPECT_EQ(plain->items[i].reason, explained->items[i].reason);
    const ItemExplanation& e = explained->explanations[i];
    EXPECT_EQ(e.explored, explained->items[i].reason == "explore");
    if (!e.explored) continue;
    EXPECT_EQ(e.source, "explore");
    EXPECT_GE(e.retrieval_rank, 0) << "an explored video is one of the user's candidates";
    EXPECT_FLOAT_EQ(static_cast<float>(e.explore_sample), explained->items[i].score);
    const uint64_t id = explained->items[i].video.value;
    EXPECT_EQ(e.explore_plays, id == 900'000 ? 300 : id == 900'001 ? 10 : 0) << id;
    EXPECT_EQ(e.explore_skips, id == 900'000 ? 10 : id == 900'001 ? 300 : 0) << id;
    ++checked;
  }
  EXPECT_EQ(checked, 5);
}

TEST_F(RecommenderExploreTest, TheWellReceivedUploadIsExploredFarMoreOftenThanTheSkippedOne) {
  std::map<uint64_t, int> picked;
  int draws = 0;
  for (const data::User& u : model_->catalog().users) {
    for (uint64_t seed = 0; seed < 5; ++seed) {
      auto r = Run(u.id, Exploring(0.1), seed * 1000 + u.id.value);
      ASSERT_TRUE(r.ok());
      for (const RecommendedItem& it : r->items) {
        if (it.reason == "explore") ++picked[it.video.value];
      }
      ++draws;
    }
  }
  // Beta(301, 11) against eleven Beta(1, 1) and one Beta(11, 301): the first wins most draws.
  EXPECT_GT(picked[900'000], draws / 2) << draws;
  EXPECT_LT(picked[900'001], draws / 100 + 1) << draws;
}

TEST_F(RecommenderExploreTest, WithoutCountersEveryFreshVideoHasTheSameChance) {
  std::map<uint64_t, int> picked;
  const LiveCatalog::Reader reader = live_->Read();
  for (const data::User& u : model_->catalog().users) {
    for (uint64_t seed = 0; seed < 5; ++seed) {
      RecommendRequest r = Request(u.id, false);
      r.count = 10;
      r.now = now_;
      r.explore_seed = seed * 1000 + u.id.value;
      auto result = Recommend(*model_, r, {}, flags_, Exploring(0.1), &reader, nullptr);
      ASSERT_TRUE(result.ok());
      for (const RecommendedItem& it : result->items) {
        if (it.reason == "explore") ++picked[it.video.value];
      }
    }
  }
  // 400 draws over the fresh uploads each user's candidates hold: no upload dominates.
  ASSERT_GE(picked.size(), 6u);
  for (const auto& [video, n] : picked) EXPECT_LT(n, 400 / 3) << video;
}

// The tiny model with objective heads (format 3): a like head that prefers short videos and a
// watch head that prefers long ones (tiny_model_testing.h).
class RecommenderHeadsTest : public RecommenderExplainTest {
 protected:
  void SetUp() override {
    RecommenderExplainTest::SetUp();
    const std::filesystem::path dir = tmp_.path() / "heads";
    std::filesystem::copy(kTinyModel, dir, std::filesystem::copy_options::recursive);
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, std::filesystem::perm_options::add);
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
      std::filesystem::permissions(e.path(), std::filesystem::perms::owner_write,
                                   std::filesystem::perm_options::add);
    }
    const Status added = AddTinyHeads(dir.string());
    ASSERT_TRUE(added.ok()) << added.ToString();
    auto m = ServingModel::Load(dir.string(), "v3");
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    heads_model_ = std::move(*m);
  }

  // The ranked items of a list (the tail past the ranked candidates is in retrieval order).
  static std::vector<RecommendedItem> Ranked(const RecommendResult& r) {
    std::vector<RecommendedItem> out;
    for (const RecommendedItem& it : r.items) {
      if (it.reason == "ranked") out.push_back(it);
    }
    return out;
  }

  data::testing::TempDir tmp_;
  std::shared_ptr<const ServingModel> heads_model_;
};

TEST_F(RecommenderHeadsTest, AModelWithHeadsServesAsTheRankerAloneUntilASurfaceWeightsOne) {
  EXPECT_EQ(heads_model_->format_version(), 3);
  EXPECT_TRUE(model_->heads().empty());
  ASSERT_NE(heads_model_->heads().get(ranking::Objective::kLike), nullptr);
  ASSERT_NE(heads_model_->heads().get(ranking::Objective::kWatch), nullptr);
  EXPECT_EQ(heads_model_->heads().get(ranking::Objective::kComplete), nullptr);
  RecommendOptions options;
  options.blend.surfaces["shorts"] = ranking::BlendWeights{.ranker = 0, .like = 1};
  options.blend.surfaces["tv"] = ranking::BlendWeights{.ranker = 0, .watch = 1};
  options.blend.surfaces["nothing"] = ranking::BlendWeights{.ranker = 1, .complete = 5};  // no such head
  int reordered = 0, users = 0;
  for (const data::User& u : model_->catalog().users) {
    RecommendRequest request = Request(u.id, false);
    request.count = 30;
    // Without a weighted head: the same list and scores as the model without heads, bit for bit.
    for (const char* surface : {"home", "nothing"}) {
      request.surface = surface;
      auto a = Recommend(*model_, request, {}, flags_, options);
      auto b = Recommend(*heads_model_, request, {}, flags_, options);
      ASSERT_TRUE(a.ok() && b.ok());
      ASSERT_EQ(a->items.size(), b->items.size());
      for (size_t i = 0; i < a->items.size(); ++i) {
        ASSERT_EQ(a->items[i].video, b->items[i].video) << u.id.value << " " << surface << " #" << i;
        ASSERT_EQ(a->items[i].score, b->items[i].score) << u.id.value << " " << surface << " #" << i;
      }
    }
    request.surface = "home";
    const auto home = Recommend(*heads_model_, request, {}, flags_, options);
    // Likes alone: the ranked candidates in order of the like head (short videos first); watch
    // alone: long videos first.
    request.explain = true;
    for (const char* surface : {"shorts", "tv"}) {
      request.surface = surface;
      auto r = Recommend(*heads_model_, request, {}, flags_, options);
      ASSERT_TRUE(r.ok() && r->ranked);
      const size_t head = static_cast<size_t>(surface == std::string("shorts") ? ranking::Objective::kLike
                                                                               : ranking::Objective::kWatch);
      float previous = std::numeric_limits<float>::infinity();
      for (size_t i = 0; i < r->items.size(); ++i) {
        if (r->items[i].reason != "ranked") continue;
        const ItemExplanation& e = r->explanations[i];
        ASSERT_TRUE(e.has_heads);
        EXPECT_EQ(e.blend, options.blend.For(surface));
        EXPECT_EQ(e.blended_score, r->items[i].score);
        EXPECT_LE(e.head_scores[head], previous) << u.id.value << " " << surface << " #" << i;
        previous = e.head_scores[head];
        EXPECT_TRUE(std::isnan(e.head_scores[static_cast<size_t>(ranking::Objective::kComplete)]));
      }
      const std::vector<RecommendedItem> ranked = Ranked(*r), by_ranker = Ranked(*home);
      reordered += ranked.size() == by_ranker.size() &&
                   !std::equal(ranked.begin(), ranked.end(), by_ranker.begin(),
                               [](const auto& x, const auto& y) { return x.video == y.video; });
    }
    ++users;
  }
  EXPECT_GT(reordered, users) << "the heads reorder most lists";
}

TEST_F(RecommenderHeadsTest, ExplainShowsEveryHeadUnderTheRankersWeights) {
  for (const data::User& u : model_->catalog().users) {
    auto r = Recommend(*heads_model_, Request(u.id, true), {}, flags_, RecommendOptions{});
    ASSERT_TRUE(r.ok());
    if (!r->ranked) continue;
    for (size_t i = 0; i < r->items.size(); ++i) {
      const ItemExplanation& e = r->explanations[i];
      if (!e.ranked) continue;
      ASSERT_TRUE(e.has_heads);
      const float like = e.head_scores[static_cast<size_t>(ranking::Objective::kLike)];
      EXPECT_TRUE(like > 0 && like < 1) << like;
      EXPECT_FALSE(std::isnan(e.head_scores[static_cast<size_t>(ranking::Objective::kWatch)]));
      EXPECT_EQ(e.blended_score, e.ranker_score) << "no head weighted: the ranker's score";
      EXPECT_TRUE(e.blend.RankerOnly());
    }
  }
}

TEST_F(RecommenderHeadsTest, AFormatThreeManifestListingMissingHeadsIsRefused) {
  const std::filesystem::path dir = tmp_.path() / "heads";
  std::filesystem::remove_all(dir / "heads");
  const Status s = ServingModel::Load(dir.string(), "v3").status();
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.ToString();
  EXPECT_NE(s.message().find("heads"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace vrec::serving
