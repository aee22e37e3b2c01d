#include "vrec/eval/harness.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "vrec/eval/metrics.h"

namespace vrec::eval {
namespace {

using data::Interaction;

// A fake scorer: fixed scores per video, the same for every user.
class FixedScorer final : public retrieval::ItemScorer {
 public:
  explicit FixedScorer(std::vector<double> s) : scores_(std::move(s)) {}
  std::string_view Name() const override { return "fixed"; }
  Status Fit(const data::Dataset&, std::span<const Interaction>) override { return OkStatus(); }
  void ScoreAll(uint32_t, std::span<double> out) const override {
    std::copy(scores_.begin(), scores_.end(), out.begin());
  }

 private:
  std::vector<double> scores_;
};

data::Dataset FiveVideosTwoUsers() {
  data::Dataset ds;
  for (uint64_t u = 1; u <= 3; ++u) ds.InternUser(UserId{u});
  const uint16_t a = ds.InternCategory("a"), b = ds.InternCategory("b");
  for (uint64_t v = 1; v <= 5; ++v) {
    uint32_t i = ds.InternVideo(VideoId{v});
    ds.videos[i].categories = {v <= 2 ? a : b};
  }
  return ds;
}

TEST(Harness, RemovesTrainItemsAndAveragesOverTestUsersWithHistory) {
  data::Dataset ds = FiveVideosTwoUsers();
  data::Split split;
  // Every video is in the training catalog.
  split.train = {{.user = 0, .video = 0},
                 {.user = 0, .video = 1},
                 {.user = 1, .video = 2},
                 {.user = 1, .video = 3},
                 {.user = 1, .video = 4}};
  // user 0 likes video 4 (scored highest among its candidates 2,3,4), user 1 likes video 0,
  // user 2 has no history and is skipped.
  split.test = {{.user = 0, .video = 4}, {.user = 1, .video = 0}, {.user = 2, .video = 3}};
  FixedScorer scorer({0.1, 0.9, 0.2, 0.5, 0.8});
  EvalOptions o;
  o.k = 1;
  o.recall_depths = {2};
  o.threads = 2;
  EvalReport r = Evaluate(ds, split, scorer, o);
  EXPECT_EQ(r.users, 2);
  // user 0 candidates {2,3,4}: top is 4, a hit. user 1 candidates {0,1}: top is 1, a miss, then 0.
  EXPECT_DOUBLE_EQ(r.precision, 0.5);
  EXPECT_DOUBLE_EQ(r.recall, 0.5);
  EXPECT_DOUBLE_EQ(r.map, 0.5);
  EXPECT_DOUBLE_EQ(r.ndcg, 0.5);
  EXPECT_DOUBLE_EQ(r.RecallAt(2), 1.0);
  // AUC: user 0: 4 beats {2,3}: 1; user 1: 0 (0.1) loses to 1 (0.9): 0.
  EXPECT_DOUBLE_EQ(r.auc, 0.5);
  // Top-1 lists {4}, {1} over a catalog of 5.
  EXPECT_DOUBLE_EQ(r.coverage, 2.0 / 5);
}

// Four users with 1, 3, 4 and 1 training rows over videos 0-3; video 4 is outside the training
// catalog. Popularity (training rows): v0 3, v1 2, v2 3, v3 1.
data::Split FourUsersOfVariedActivity(data::Dataset& ds) {
  ds = FiveVideosTwoUsers();
  ds.InternUser(UserId{4});
  data::Split split;
  split.train = {{.user = 0, .video = 0},                                                    // 1 row
                 {.user = 1, .video = 0}, {.user = 1, .video = 1}, {.user = 1, .video = 3},  // 3 rows
                 {.user = 2, .video = 0}, {.user = 2, .video = 1}, {.user = 2, .video = 2},
                 {.user = 2, .video = 2},   // 4 rows, 3 videos
                 {.user = 3, .video = 2}};  // 1 row
  split.test = {{.user = 0, .video = 3}, {.user = 1, .video = 2}, {.user = 1, .video = 4},
                {.user = 2, .video = 0}, {.user = 2, .video = 3}, {.user = 3, .video = 0}};
  return split;
}

TEST(Harness, RecallCurveBucketsAndPopularityBiasByHand) {
  data::Dataset ds;
  const data::Split split = FourUsersOfVariedActivity(ds);
  // Ranked candidates: u0 [1,3,2], u1 [2], u2 [3], u3 [1,3,0].
  FixedScorer scorer({0.1, 0.9, 0.2, 0.5, 0.8});
  EvalOptions o;
  o.k = 1;
  o.recall_depths = {};
  o.recall_curve_depths = {10, 2, 1, 3, 2};  // 10 is beyond the catalog of 4: becomes 4
  const EvalReport r = Evaluate(ds, split, scorer, o);
  ASSERT_EQ(r.users, 4);
  EXPECT_EQ(r.k, 1);
  // Hits: u0 (test {3}) at rank 2; u1 (test {2,4}) 2 at rank 1; u2 (test {0,3}) 3 at rank 1 (it
  // trained on 0); u3 (test {0}) at rank 3.
  using Point = std::pair<int, double>;
  EXPECT_EQ(r.recall_curve, (std::vector<Point>{{1, 0.25}, {2, 0.5}, {3, 0.75}, {4, 0.75}}));
  EXPECT_DOUBLE_EQ(r.ndcg, 0.5);
  EXPECT_DOUBLE_EQ(r.recall, 0.25);

  // Buckets by training rows: u0 and u3 in [1,1], u1 in [2,3], u2 in [4,7].
  ASSERT_EQ(r.by_activity.size(), 3u);
  const ActivityBucket& light = r.by_activity[0];
  EXPECT_EQ(light.min_rows, 1);
  EXPECT_EQ(light.max_rows, 1);
  EXPECT_EQ(light.users, 2);
  EXPECT_DOUBLE_EQ(light.ndcg, 0.0);
  EXPECT_DOUBLE_EQ(light.recall, 0.0);
  EXPECT_EQ(r.by_activity[1].min_rows, 2);
  EXPECT_EQ(r.by_activity[1].max_rows, 3);
  EXPECT_EQ(r.by_activity[1].users, 1);
  EXPECT_DOUBLE_EQ(r.by_activity[1].ndcg, 1.0);
  EXPECT_DOUBLE_EQ(r.by_activity[1].recall, 0.5);
  EXPECT_EQ(r.by_activity[2].min_rows, 4);
  EXPECT_EQ(r.by_activity[2].max_rows, 7);
  EXPECT_EQ(r.by_activity[2].users, 1);

  // Percentiles over the catalog of 4: v0 and v2 tie at 3 rows: (2 less + 2/2) / 4 = 75; v1: 37.5;
  // v3: 12.5. The head (a tenth of 4, rounded up) is v0 (the lower index of the tie).
  // Top-1 lists: v1, v2, v3, v1. Held-out pairs that could be recommended: u0 v3, u1 v2, u2 v3,
  // u3 v0 (v4 is outside the catalog, u2 trained on v0).
  const PopularityBias& p = r.popularity;
  EXPECT_DOUBLE_EQ(p.recommended_percentile, (37.5 + 75 + 12.5 + 37.5) / 4);
  EXPECT_DOUBLE_EQ(p.test_percentile, (12.5 + 75 + 12.5 + 75) / 4);
  EXPECT_DOUBLE_EQ(p.recommended_head_share, 0.0);
  EXPECT_DOUBLE_EQ(p.test_head_share, 0.25);
  // Times recommended, ascending: 0 (v0), 1, 1, 2 (v1): (-3*0 - 1*1 + 1*1 + 3*2) / (4 * 4).
  EXPECT_DOUBLE_EQ(p.gini, 0.375);
}

TEST(Harness, GiniIsZeroWhenEveryVideoIsRecommendedEquallyOften) {
  data::Dataset ds = FiveVideosTwoUsers();
  data::Split split;
  // Two users who each trained on a different half; each is recommended the other's videos.
  split.train = {
      {.user = 0, .video = 0}, {.user = 0, .video = 1}, {.user = 1, .video = 2}, {.user = 1, .video = 3}};
  split.test = {{.user = 0, .video = 2}, {.user = 1, .video = 0}};
  FixedScorer scorer({1, 1, 1, 1, 1});
  EvalOptions o;
  o.k = 2;
  const EvalReport r = Evaluate(ds, split, scorer, o);
  EXPECT_DOUBLE_EQ(r.popularity.gini, 0.0);
  EXPECT_DOUBLE_EQ(r.popularity.recommended_percentile, 50.0);  // all tie: half of 4 / 4
  EXPECT_DOUBLE_EQ(r.coverage, 1.0);
}

TEST(Harness, BreaksScoreTiesByLowerVideoIndex) {
  data::Dataset ds = FiveVideosTwoUsers();
  data::Split split;
  split.train = {{.user = 0, .video = 0},
                 {.user = 1, .video = 1},
                 {.user = 1, .video = 2},
                 {.user = 1, .video = 3},
                 {.user = 1, .video = 4}};
  split.test = {{.user = 0, .video = 2}};
  FixedScorer scorer({0, 0, 1, 1, 1});
  EvalOptions o;
  o.k = 1;
  EvalReport r = Evaluate(ds, split, scorer, o);
  EXPECT_DOUBLE_EQ(r.precision, 1.0);
}

// A fake scorer with a different score per (user, video): few distinct values, so ties are many.
class RandomScorer final : public retrieval::ItemScorer {
 public:
  explicit RandomScorer(size_t num_videos) : num_videos_(num_videos) {}
  std::string_view Name() const override { return "random"; }
  Status Fit(const data::Dataset&, std::span<const Interaction>) override { return OkStatus(); }
  void ScoreAll(uint32_t user, std::span<double> out) const override {
    std::mt19937 rng(user);
    for (size_t v = 0; v < num_videos_; ++v) out[v] = static_cast<double>(rng() % 7);
  }

 private:
  size_t num_videos_;
};

// The protocol the harness implements, written the plain way (every candidate listed and fully
// sorted, AUC over the listed pairs): Evaluate must give exactly these figures.
EvalReport Reference(const data::Dataset& ds, const data::Split& split, const retrieval::ItemScorer& scorer,
                     const EvalOptions& o) {
  const size_t nu = ds.users.size(), nv = ds.videos.size();
  std::vector<std::vector<uint32_t>> train(nu), test(nu);
  std::vector<bool> in_catalog(nv, false);
  for (const Interaction& x : split.train) train[x.user].push_back(x.video), in_catalog[x.video] = true;
  for (const Interaction& x : split.test) test[x.user].push_back(x.video);
  for (auto* lists : {&train, &test}) {
    for (auto& l : *lists) {
      std::sort(l.begin(), l.end());
      l.erase(std::unique(l.begin(), l.end()), l.end());
    }
  }
  EvalReport r;
  r.recall_at = {{o.recall_depths[0], 0.0}};
  std::vector<double> scores(nv);
  for (uint32_t u = 0; u < nu; ++u) {
    if (train[u].empty() || test[u].empty()) continue;
    scorer.ScoreAll(u, scores);
    std::vector<uint32_t> c;
    for (uint32_t v = 0; v < nv; ++v) {
      if (in_catalog[v] && !std::binary_search(train[u].begin(), train[u].end(), v)) c.push_back(v);
    }
    std::sort(c.begin(), c.end(),
              [&](uint32_t a, uint32_t b) { return scores[a] != scores[b] ? scores[a] > scores[b] : a < b; });
    std::vector<double> pos, neg;
    for (uint32_t v : c)
      (std::binary_search(test[u].begin(), test[u].end(), v) ? pos : neg).push_back(scores[v]);
    ++r.users;
    r.map += AveragePrecisionAtK(c, test[u], o.k);
    r.ndcg += NdcgAtK(c, test[u], o.k);
    r.recall_at[0].second += RecallAtK(c, test[u], o.recall_depths[0]);
    r.auc += Auc(pos, neg);
  }
  r.map /= static_cast<double>(r.users);
  r.ndcg /= static_cast<double>(r.users);
  r.recall_at[0].second /= static_cast<double>(r.users);
  r.auc /= static_cast<double>(r.users);
  return r;
}

data::Dataset RandomPlatform(uint32_t users, uint32_t videos, data::Split& split) {
  data::Dataset ds;
  for (uint64_t u = 1; u <= users; ++u) ds.InternUser(UserId{u});
  for (uint64_t v = 1; v <= videos; ++v) ds.InternVideo(VideoId{v});
  std::mt19937 rng(3);
  for (uint32_t u = 0; u < users; ++u) {
    for (int i = 0; i < 30; ++i)
      split.train.push_back({.user = u, .video = static_cast<uint32_t>(rng() % videos)});
    for (int i = 0; i < 5; ++i)
      split.test.push_back({.user = u, .video = static_cast<uint32_t>(rng() % videos)});
  }
  return ds;
}

TEST(Harness, MatchesThePlainFullSortProtocolExactlyWithManyTies) {
  data::Split split;
  const data::Dataset ds = RandomPlatform(60, 300, split);
  RandomScorer scorer(ds.videos.size());
  EvalOptions o;
  o.recall_depths = {50};
  o.threads = 3;
  const EvalReport got = Evaluate(ds, split, scorer, o);
  const EvalReport want = Reference(ds, split, scorer, o);
  EXPECT_EQ(got.users, want.users);
  EXPECT_EQ(got.users_total, want.users);
  EXPECT_EQ(got.map, want.map);
  EXPECT_EQ(got.ndcg, want.ndcg);
  EXPECT_EQ(got.RecallAt(50), want.RecallAt(50));
  EXPECT_EQ(got.auc, want.auc);
  // The curve's points are the plain Recall@N, and the figures do not depend on the thread count.
  for (auto [depth, recall] : got.recall_curve) {
    if (depth == 50) {
      EXPECT_EQ(recall, got.RecallAt(50));
    }
    if (depth == o.k) {
      EXPECT_EQ(recall, got.recall);
    }
  }
  // 500 is beyond the training catalog: the curve ends at the catalog's size.
  std::vector<uint32_t> catalog;
  for (const Interaction& x : split.train) catalog.push_back(x.video);
  std::sort(catalog.begin(), catalog.end());
  catalog.erase(std::unique(catalog.begin(), catalog.end()), catalog.end());
  EXPECT_EQ(got.recall_curve.back().first, static_cast<int>(catalog.size()));
  o.threads = 1;
  const EvalReport one = Evaluate(ds, split, scorer, o);
  EXPECT_EQ(one.recall_curve, got.recall_curve);
  ASSERT_EQ(one.by_activity.size(), got.by_activity.size());
  for (size_t b = 0; b < got.by_activity.size(); ++b) {
    EXPECT_EQ(one.by_activity[b].users, got.by_activity[b].users);
    EXPECT_EQ(one.by_activity[b].ndcg, got.by_activity[b].ndcg);
  }
  EXPECT_EQ(one.popularity.recommended_percentile, got.popularity.recommended_percentile);
  EXPECT_EQ(one.popularity.gini, got.popularity.gini);
}

TEST(Harness, MaxUsersMeasuresAFixedRandomSampleOfTestUsers) {
  data::Split split;
  const data::Dataset ds = RandomPlatform(60, 300, split);
  RandomScorer scorer(ds.videos.size());
  EvalOptions o;
  o.max_users = 20;
  const std::vector<uint32_t> users = EvaluatedUsers(ds, split, o);
  ASSERT_EQ(users.size(), 20u);
  EXPECT_TRUE(std::is_sorted(users.begin(), users.end()));
  EXPECT_EQ(EvaluatedUsers(ds, split, o), users);  // fixed by the seed
  const EvalReport r = Evaluate(ds, split, scorer, o);
  EXPECT_EQ(r.users, 20);
  EXPECT_EQ(r.users_total, 60);
  // The sample's figures are those of a split holding only the sampled users' test rows.
  data::Split only = split;
  std::erase_if(only.test, [&](const Interaction& x) {
    return !std::binary_search(users.begin(), users.end(), x.user);
  });
  o.max_users = 0;
  const EvalReport direct = Evaluate(ds, only, scorer, o);
  EXPECT_EQ(r.ndcg, direct.ndcg);
  EXPECT_EQ(r.auc, direct.auc);
  o.max_users = 100;  // more than there are: everyone
  EXPECT_EQ(EvaluatedUsers(ds, split, o).size(), 60u);
}

}  // namespace
}  // namespace vrec::eval
