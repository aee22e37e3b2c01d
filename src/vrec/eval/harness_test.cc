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
