#include "vrec/data/split.h"

#include <gtest/gtest.h>

namespace vrec::data {
namespace {

TEST(NumpyLegacyRandom, MatchesNumpySeed42) {
  // numpy: np.random.seed(42); np.random.rand(3)
  NumpyLegacyRandom rng(42);
  EXPECT_DOUBLE_EQ(rng.Rand(), 0.3745401188473625);
  EXPECT_DOUBLE_EQ(rng.Rand(), 0.9507143064099162);
  EXPECT_DOUBLE_EQ(rng.Rand(), 0.7319939418114051);
}

TEST(StratifiedSplit, KeepsRoundHalfToEvenShareOfEachItemInTrain) {
  std::vector<Interaction> rows;
  // item 0: 2 rows -> round(1.5) = 2 train; item 1: 6 rows -> round(4.5) = 4; item 2: 1 row -> 1.
  for (uint32_t u = 0; u < 2; ++u) rows.push_back({.user = u, .video = 0});
  for (uint32_t u = 0; u < 6; ++u) rows.push_back({.user = u, .video = 1});
  rows.push_back({.user = 0, .video = 2});
  Split s = StratifiedSplit(rows, 0.75, StratifyBy::kItem, 42);
  EXPECT_EQ(s.train.size(), 7u);
  EXPECT_EQ(s.test.size(), 2u);
  for (const auto& x : s.test) EXPECT_EQ(x.video, 1u);
}

TEST(StratifiedSplit, TrainGetsTheRowsWithTheSmallestDraws) {
  // Draws for seed 42: 0.3745, 0.9507, 0.7320, 0.5987: ratio 0.5 of 4 rows keeps rows 0 and 3.
  std::vector<Interaction> rows;
  for (uint32_t u = 0; u < 4; ++u) rows.push_back({.user = u, .video = 0});
  Split s = StratifiedSplit(rows, 0.5, StratifyBy::kItem, 42);
  ASSERT_EQ(s.train.size(), 2u);
  EXPECT_EQ(s.train[0].user, 0u);
  EXPECT_EQ(s.train[1].user, 3u);
}

TEST(TemporalSplit, HoldsOutEachUsersLatestRows) {
  std::vector<Interaction> rows = {
      {.user = 0, .video = 0, .timestamp = 30},  {.user = 0, .video = 1, .timestamp = 10},
      {.user = 0, .video = 2, .timestamp = 20},  {.user = 1, .video = 0, .timestamp = 5},
      {.user = 1, .video = 1, .timestamp = 50},  {.user = 2, .video = 3, .timestamp = 99},
      {.user = 2, .video = 9, .timestamp = 100},  // video 9 never in train: dropped
  };
  Split s = TemporalSplit(rows, 1);
  ASSERT_EQ(s.test.size(), 2u);
  EXPECT_EQ(s.test[0].video, 0u);  // user 0's latest (t=30)
  EXPECT_EQ(s.test[1].video, 1u);  // user 1's latest (t=50)
  EXPECT_EQ(s.train.size(), 4u);
  // A user with exactly n rows stays in train.
  Split s2 = TemporalSplit({{.user = 0, .video = 0, .timestamp = 1}}, 1);
  EXPECT_EQ(s2.train.size(), 1u);
  EXPECT_TRUE(s2.test.empty());
}

}  // namespace
}  // namespace vrec::data
