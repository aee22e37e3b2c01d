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

// Rows of one user and one video (so that the drop rule keeps every test row) at these times.
std::vector<Interaction> AtTimes(const std::vector<int64_t>& times) {
  std::vector<Interaction> rows;
  for (int64_t t : times) rows.push_back({.user = 0, .video = 0, .timestamp = t});
  return rows;
}

std::vector<int64_t> TimesOf(const std::vector<Interaction>& rows) {
  std::vector<int64_t> times;
  for (const Interaction& x : rows) times.push_back(x.timestamp);
  return times;
}

TEST(TimeCutSplit, HoldsOutTheLastShareByTimeInInputOrder) {
  // 10 rows, 0.2: round(2) = 2 rows at or after the cut, t = 9.
  const std::vector<Interaction> rows = AtTimes({5, 10, 1, 9, 3, 2, 8, 4, 7, 6});
  EXPECT_EQ(TimeCut(rows, 0.2), 9);
  const Split s = TimeCutSplit(rows, 0.2);
  EXPECT_EQ(TimesOf(s.test), (std::vector<int64_t>{10, 9}));
  EXPECT_EQ(TimesOf(s.train), (std::vector<int64_t>{5, 1, 3, 2, 8, 4, 7, 6}));
  // 0.25 of 10 is 2.5, rounded away from zero to 3 rows; 0.3 gives 3 too.
  EXPECT_EQ(TimeCut(rows, 0.25), 8);
  EXPECT_EQ(TimeCut(rows, 0.3), 8);
  EXPECT_EQ(TimeCutSplit(rows).test.size(), 2u);  // default 0.2
}

TEST(TimeCutSplit, RowsTiedAtTheCutAllGoToTest) {
  // 6 rows, 0.5: 3 wanted, the 4th-earliest time is 3, and all three rows at t = 3 are test.
  const std::vector<Interaction> rows = AtTimes({3, 1, 4, 3, 2, 3});
  EXPECT_EQ(TimeCut(rows, 0.5), 3);
  const Split s = TimeCutSplit(rows, 0.5);
  EXPECT_EQ(TimesOf(s.test), (std::vector<int64_t>{3, 4, 3, 3}));
  EXPECT_EQ(TimesOf(s.train), (std::vector<int64_t>{1, 2}));
}

TEST(TimeCutSplit, HoldsOutAtLeastOneRow) {
  // round(0.01 * 3) = 0, raised to 1.
  EXPECT_EQ(TimeCut(AtTimes({1, 2, 3}), 0.01), 3);
}

TEST(TimeCutSplit, MovesACutAtTheEarliestTimeToTheNextTime) {
  // 4 rows, 0.5: the 3rd-earliest time is 1, the earliest: nothing would be left to train on.
  const std::vector<Interaction> rows = AtTimes({1, 2, 1, 1});
  EXPECT_EQ(TimeCut(rows, 0.5), 2);
  const Split s = TimeCutSplit(rows, 0.5);
  EXPECT_EQ(TimesOf(s.test), (std::vector<int64_t>{2}));
  EXPECT_EQ(s.train.size(), 3u);
}

TEST(TimeCutSplit, WithoutACutEveryRowIsTrain) {
  EXPECT_EQ(TimeCut({}, 0.2), std::nullopt);
  const Split empty = TimeCutSplit({}, 0.2);
  EXPECT_TRUE(empty.train.empty());
  EXPECT_TRUE(empty.test.empty());
  const std::vector<Interaction> same_time = AtTimes({7, 7, 7});
  EXPECT_EQ(TimeCut(same_time, 0.5), std::nullopt);
  const Split s = TimeCutSplit(same_time, 0.5);
  EXPECT_EQ(s.train.size(), 3u);
  EXPECT_TRUE(s.test.empty());
}

TEST(TimeCutSplit, DropsTestRowsOfUsersOrVideosWithoutATrainRow) {
  const std::vector<Interaction> rows = {
      {.user = 0, .video = 0, .timestamp = 1}, {.user = 1, .video = 1, .timestamp = 2},
      {.user = 0, .video = 1, .timestamp = 3}, {.user = 1, .video = 0, .timestamp = 4},
      {.user = 0, .video = 2, .timestamp = 5},  // video 2 first seen after the cut: dropped
      {.user = 2, .video = 0, .timestamp = 6},  // user 2 first seen after the cut: dropped
      {.user = 1, .video = 0, .timestamp = 7},  // kept
      {.user = 0, .video = 1, .timestamp = 8},  // kept
  };
  // 8 rows, 0.5: the cut is t = 5.
  EXPECT_EQ(TimeCut(rows, 0.5), 5);
  const Split s = TimeCutSplit(rows, 0.5);
  EXPECT_EQ(TimesOf(s.train), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(TimesOf(s.test), (std::vector<int64_t>{7, 8}));
}

}  // namespace
}  // namespace vrec::data
