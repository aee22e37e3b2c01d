#include "vrec/eval/harness.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace vrec::eval
