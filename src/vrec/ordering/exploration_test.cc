// Exploration slots alone: the share, the positions, the pool, the Thompson draws and the samplers
// they rest on, with fixed seeds. The serving path (filters, counters) is in
// serving/recommender_test.cc.
#include "vrec/ordering/exploration.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "vrec/common/strings.h"
#include "vrec/ordering/experiment.h"

namespace vrec::ordering {
namespace {

// A ranked list of `n` videos 0..n-1, best first.
std::vector<OrderedItem> Ranked(int n) {
  std::vector<OrderedItem> out;
  for (int i = 0; i < n; ++i) {
    out.push_back({static_cast<uint32_t>(i), static_cast<float>(n - i), OrderedItem::kRanked});
  }
  return out;
}

// Fresh videos 100.. with no evidence.
std::vector<FreshCandidate> Fresh(int n, uint32_t first = 100) {
  std::vector<FreshCandidate> out;
  for (int i = 0; i < n; ++i) out.push_back({first + static_cast<uint32_t>(i), {}});
  return out;
}

ExploreOptions Share(double share) {
  ExploreOptions o;
  o.share = share;
  return o;
}

std::vector<size_t> ExploredIndices(const std::vector<OrderedItem>& list) {
  std::vector<size_t> out;
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i].reason == OrderedItem::kExplored) out.push_back(i);
  }
  return out;
}

void ExpectNoDuplicates(const std::vector<OrderedItem>& list) {
  std::set<uint32_t> seen;
  for (const OrderedItem& o : list)
    EXPECT_TRUE(seen.insert(o.video).second) << "video " << o.video << " twice";
}

TEST(Explore, OffByDefaultChangesNothingAndDrawsNothing) {
  ASSERT_EQ(ExploreOptions().share, 0.0);
  std::vector<OrderedItem> list = Ranked(10);
  ExploreRng rng(7), untouched(7);
  Explore(list, 10, Fresh(20), ExploreOptions(), rng);
  EXPECT_EQ(list, Ranked(10));
  EXPECT_EQ(rng.Next(), untouched.Next());
}

TEST(Explore, NoFreshVideoChangesNothing) {
  std::vector<OrderedItem> list = Ranked(10);
  ExploreRng rng(7);
  Explore(list, 10, {}, Share(0.5), rng);
  EXPECT_EQ(list, Ranked(10));
  // Fresh videos that are all in the list already: nothing to explore either.
  std::vector<FreshCandidate> listed = Fresh(3, 0);
  Explore(list, 10, listed, Share(0.5), rng);
  EXPECT_EQ(list, Ranked(10));
}

TEST(Explore, AWholeShareTakesItsSlotsSpreadEvenly) {
  for (const auto& [share, expected] : std::map<double, std::vector<size_t>>{
           {0.1, {5}}, {0.2, {2, 7}}, {0.3, {1, 5, 8}}, {0.5, {1, 3, 5, 7, 9}}}) {
    std::vector<OrderedItem> list = Ranked(10);
    ExploreRng rng(1);
    Explore(list, 10, Fresh(20), Share(share), rng);
    ASSERT_EQ(list.size(), 10u);
    EXPECT_EQ(ExploredIndices(list), expected) << "share " << share;
    ExpectNoDuplicates(list);
    // The ranked items keep their order in the other slots; the last ones fall off.
    uint32_t next = 0;
    for (const OrderedItem& o : list) {
      if (o.reason == OrderedItem::kRanked) {
        EXPECT_EQ(o.video, next++);
      }
    }
    EXPECT_EQ(next, 10 - expected.size());
  }
}

TEST(Explore, AFractionalShareHoldsOnAverage) {
  // 0.05 of 10 slots: one slot in every other list.
  int lists = 0, slots = 0;
  for (uint64_t seed = 0; seed < 4000; ++seed) {
    std::vector<OrderedItem> list = Ranked(10);
    ExploreRng rng(seed);
    Explore(list, 10, Fresh(5), Share(0.05), rng);
    ++lists;
    slots += static_cast<int>(ExploredIndices(list).size());
    EXPECT_LE(ExploredIndices(list).size(), 1u);
  }
  // Binomial(4000, 0.5): sd ~32 slots.
  EXPECT_NEAR(slots, lists / 2, 150);
}

TEST(Explore, TheWholeListWhenTheShareIsOne) {
  std::vector<OrderedItem> list = Ranked(10);
  ExploreRng rng(3);
  Explore(list, 10, Fresh(30), Share(1), rng);
  ASSERT_EQ(list.size(), 10u);
  EXPECT_EQ(ExploredIndices(list).size(), 10u);
  ExpectNoDuplicates(list);
  // Fewer fresh videos than slots: they all go in, ranked items fill the rest.
  list = Ranked(10);
  Explore(list, 10, Fresh(4), Share(1), rng);
  ASSERT_EQ(list.size(), 10u);
  EXPECT_EQ(ExploredIndices(list).size(), 4u);
  ExpectNoDuplicates(list);
}

TEST(Explore, NeverDuplicatesAVideo) {
  // The fresh list repeats itself and holds videos the list already shows.
  std::vector<FreshCandidate> fresh = {{3, {}}, {100, {}}, {100, {5, 1}}, {7, {}}, {101, {}}, {101, {}}};
  for (uint64_t seed = 0; seed < 200; ++seed) {
    std::vector<OrderedItem> list = Ranked(10);
    ExploreRng rng(seed);
    Explore(list, 10, fresh, Share(0.5), rng);
    ExpectNoDuplicates(list);
    for (const size_t i : ExploredIndices(list)) EXPECT_GE(list[i].video, 100u) << "a listed video explored";
    EXPECT_EQ(ExploredIndices(list).size(), 2u);  // only 100 and 101 are outside the list
  }
}

TEST(Explore, TheSameSeedGivesTheSameList) {
  std::vector<FreshCandidate> fresh = Fresh(20);
  for (size_t i = 0; i < fresh.size(); ++i) fresh[i].engagement = {static_cast<double>(i), 3};
  std::set<std::vector<uint32_t>> different;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::vector<OrderedItem> a = Ranked(10), b = Ranked(10);
    ExploreRng ra(seed), rb(seed);
    Explore(a, 10, fresh, Share(0.3), ra);
    Explore(b, 10, fresh, Share(0.3), rb);
    EXPECT_EQ(a, b);
    std::vector<uint32_t> ids;
    for (const OrderedItem& o : a) ids.push_back(o.video);
    different.insert(ids);
  }
  EXPECT_GT(different.size(), 5u) << "the seed does not change the draws";
}

TEST(Explore, StrongEngagementIsDrawnFarMoreOftenThanPoor) {
  // One slot; three fresh videos: well liked, no evidence yet, poorly received.
  const std::vector<FreshCandidate> fresh = {{100, {40, 200}}, {101, {}}, {102, {200, 10}}};
  std::map<uint32_t, int> picked;
  const int draws = 3000;
  for (int seed = 0; seed < draws; ++seed) {
    std::vector<OrderedItem> list = Ranked(10);
    ExploreRng rng(static_cast<uint64_t>(seed));
    Explore(list, 10, fresh, Share(0.1), rng);
    ASSERT_EQ(ExploredIndices(list).size(), 1u);
    ++picked[list[ExploredIndices(list)[0]].video];
  }
  // Beta(201, 11) (mean 0.95) against Beta(1, 1): the unseen one wins ~5% of the time, the poor
  // one (Beta(41, 201), mean 0.17) almost never.
  EXPECT_GT(picked[102], draws * 9 / 10);
  EXPECT_GT(picked[101], draws / 100);
  EXPECT_LT(picked[101], draws / 10);
  EXPECT_LT(picked[100], draws / 200);
}

TEST(Explore, TheLargestDrawTakesTheFirstPreferredPosition) {
  ExploreOptions o = Share(0.2);
  o.positions = {4, 1};
  const std::vector<FreshCandidate> fresh = {{100, {0, 1000}}, {101, {1000, 0}}};
  std::vector<OrderedItem> list = Ranked(10);
  ExploreRng rng(5);
  Explore(list, 10, fresh, o, rng);
  ASSERT_EQ(list.size(), 10u);
  EXPECT_EQ(ExploredIndices(list), (std::vector<size_t>{0, 3}));
  EXPECT_EQ(list[3].video, 101u);  // the first listed position, 4
  EXPECT_EQ(list[0].video, 100u);
  EXPECT_GT(list[3].score, list[0].score);  // the score is the draw
}

TEST(Explore, PositionsBeyondTheListAreNotUsed) {
  ExploreOptions o = Share(0.3);
  o.positions = {2, 12, 40};
  std::vector<OrderedItem> list = Ranked(10);
  ExploreRng rng(5);
  Explore(list, 10, Fresh(10), o, rng);
  EXPECT_EQ(ExploredIndices(list), (std::vector<size_t>{1}));
  // A short list of 3: one slot would make it 4 long, and position 5 is beyond that.
  o.positions = {5};
  list = Ranked(3);
  Explore(list, 10, Fresh(10), o, rng);
  EXPECT_EQ(list, Ranked(3));
  // Position 4 is not.
  o.positions = {4};
  Explore(list, 10, Fresh(10), o, rng);
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(ExploredIndices(list), (std::vector<size_t>{3}));
}

TEST(Explore, PromosKeepTheirPositions) {
  std::vector<OrderedItem> list = Ranked(10);
  list[5] = {50, 0, OrderedItem::kPromoted};
  list[2] = {51, 0, OrderedItem::kPromoted};
  ExploreOptions o = Share(0.2);
  o.positions = {3, 6};  // both promo positions: the slots move to the next free ones
  ExploreRng rng(9);
  Explore(list, 10, Fresh(10), o, rng);
  ASSERT_EQ(list.size(), 10u);
  EXPECT_EQ(list[2].video, 51u);
  EXPECT_EQ(list[5].video, 50u);
  EXPECT_EQ(ExploredIndices(list), (std::vector<size_t>{3, 6}));
  ExpectNoDuplicates(list);
  // Share 1 with promos: every other slot is explored, the promos stay.
  list = Ranked(10);
  list[0] = {50, 0, OrderedItem::kPromoted};
  Explore(list, 10, Fresh(20), Share(1), rng);
  EXPECT_EQ(list[0].video, 50u);
  EXPECT_EQ(ExploredIndices(list).size(), 9u);
}

TEST(Explore, AShortListGrowsByItsExploredVideos) {
  std::vector<OrderedItem> list = Ranked(3);
  ExploreRng rng(2);
  Explore(list, 10, Fresh(10), Share(0.5), rng);
  // 5 slots of 10; the list had 3 items: 8 in all.
  ASSERT_EQ(list.size(), 8u);
  EXPECT_EQ(ExploredIndices(list).size(), 5u);
  ExpectNoDuplicates(list);
  // An empty list with exploration: only explored videos.
  list.clear();
  Explore(list, 10, Fresh(10), Share(0.3), rng);
  EXPECT_EQ(list.size(), 3u);
  EXPECT_EQ(ExploredIndices(list).size(), 3u);
}

TEST(Explore, OnlyTheFirstCandidatesTakePart) {
  ExploreOptions o = Share(1);
  o.candidates = 3;
  std::vector<OrderedItem> list = Ranked(10);
  ExploreRng rng(4);
  std::vector<FreshCandidate> fresh = Fresh(3, 0);  // 0, 1, 2 are in the list: they do not count
  for (const FreshCandidate& f : Fresh(10)) fresh.push_back(f);
  Explore(list, 10, fresh, o, rng);
  std::set<uint32_t> explored;
  for (const size_t i : ExploredIndices(list)) explored.insert(list[i].video);
  EXPECT_EQ(explored, (std::set<uint32_t>{100, 101, 102}));
}

TEST(Explore, CorruptEvidenceCountsAsNone) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const std::vector<FreshCandidate> fresh = {{100, {nan, -5}}, {101, {inf, inf}}};
  std::vector<OrderedItem> list = Ranked(10);
  ExploreRng rng(4);
  ExploreTrace trace;
  Explore(list, 10, fresh, Share(0.2), rng, &trace);
  ASSERT_EQ(ExploredIndices(list).size(), 2u);
  for (const size_t i : ExploredIndices(list)) {
    EXPECT_GE(list[i].score, 0.0f);
    EXPECT_LE(list[i].score, 1.0f);
  }
  EXPECT_EQ(trace.items.size(), 2u);
}

TEST(Explore, CountBoundsTheList) {
  std::vector<OrderedItem> list = Ranked(10);
  ExploreRng rng(4);
  Explore(list, 0, Fresh(3), Share(1), rng);
  EXPECT_TRUE(list.empty());
  list = Ranked(10);
  Explore(list, 4, Fresh(3), Share(0.5), rng);
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(ExploredIndices(list).size(), 2u);
}

TEST(Explore, TheTraceHoldsEachExploredVideosEvidenceAndDraw) {
  const std::vector<FreshCandidate> fresh = {{100, {5, 2}}, {101, {1, 9}}};
  std::vector<OrderedItem> list = Ranked(10);
  ExploreRng rng(4);
  ExploreTrace trace;
  Explore(list, 10, fresh, Share(0.2), rng, &trace);
  ASSERT_EQ(trace.items.size(), 2u);
  EXPECT_EQ(trace.items.at(100).engagement, (Engagement{5, 2}));
  EXPECT_EQ(trace.items.at(101).engagement, (Engagement{1, 9}));
  for (const size_t i : ExploredIndices(list)) {
    EXPECT_FLOAT_EQ(list[i].score, static_cast<float>(trace.items.at(list[i].video).sample));
  }
}

TEST(SampleBeta, MatchesTheMeanAndVarianceOfTheDistribution) {
  for (const auto& [a, b] : std::vector<std::pair<double, double>>{{1, 1}, {2, 5}, {0.3, 0.7}, {200, 11}}) {
    ExploreRng rng(11);
    const int n = 40000;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < n; ++i) {
      const double x = SampleBeta(a, b, rng);
      ASSERT_GE(x, 0.0);
      ASSERT_LE(x, 1.0);
      sum += x;
      sum2 += x * x;
    }
    const double mean = a / (a + b), var = a * b / ((a + b) * (a + b) * (a + b + 1));
    const double m = sum / n, v = sum2 / n - m * m;
    // Standard error of the mean: sqrt(var / n) <= 0.0025.
    EXPECT_NEAR(m, mean, 5 * std::sqrt(var / n)) << a << "," << b;
    EXPECT_NEAR(v, var, 0.05 * var + 1e-5) << a << "," << b;
  }
}

TEST(SampleGamma, MatchesTheMeanForShapesBelowAndAboveOne) {
  for (const double shape : {0.2, 0.5, 1.0, 3.0, 50.0}) {
    ExploreRng rng(12);
    const int n = 40000;
    double sum = 0;
    for (int i = 0; i < n; ++i) sum += SampleGamma(shape, rng);
    // Gamma(k, 1): mean k, variance k.
    EXPECT_NEAR(sum / n, shape, 5 * std::sqrt(shape / n)) << shape;
  }
}

TEST(ExploreRng, UniformIsInsideTheOpenInterval) {
  ExploreRng rng(0);
  double lo = 1, hi = 0;
  for (int i = 0; i < 100000; ++i) {
    const double u = rng.Uniform();
    lo = std::min(lo, u);
    hi = std::max(hi, u);
  }
  EXPECT_GT(lo, 0.0);
  EXPECT_LT(hi, 1.0);
  EXPECT_LT(lo, 1e-3);
  EXPECT_GT(hi, 1 - 1e-3);
}

TEST(EngagementOf, PlaysAreSuccessesAndSkipsFailuresOverAllTime) {
  features::CounterValues v;
  using features::CounterKind;
  using features::CounterWindow;
  v.v[static_cast<size_t>(CounterWindow::kAllTime)][static_cast<size_t>(CounterKind::kPlays)] = 12;
  v.v[static_cast<size_t>(CounterWindow::kAllTime)][static_cast<size_t>(CounterKind::kSkips)] = 3;
  v.v[static_cast<size_t>(CounterWindow::kHour)][static_cast<size_t>(CounterKind::kPlays)] = 2;
  v.v[static_cast<size_t>(CounterWindow::kAllTime)][static_cast<size_t>(CounterKind::kCompletions)] = 9;
  EXPECT_EQ(EngagementOf(v), (Engagement{12, 3}));
}

TEST(FreshCandidates, KeepsRecentUploadsInRetrievalOrderUpToTheLimit) {
  data::Dataset ds;
  const int64_t now = 1'000'000;
  // Videos 0..7: uploaded 0, 10, 47, 49, 100 hours ago, unknown, in the future, 1 hour ago.
  for (const int64_t upload : {now, now - 10 * 3600, now - 47 * 3600, now - 49 * 3600, now - 100 * 3600,
                               data::kUnknownTime, now + 3600, now - 3600}) {
    data::Video v;
    v.id = VideoId{static_cast<uint64_t>(ds.videos.size() + 1)};
    v.upload_time = upload;
    ASSERT_TRUE(ds.AddVideo(v).ok());
  }
  ExploreOptions o;  // fresh_hours 48
  const std::vector<filtering::Candidate> candidates = {{4, 0}, {2, 0}, {9, 0}, {0, 0}, {2, 0},
                                                        {3, 0}, {5, 0}, {6, 0}, {1, 0}, {7, 0}};
  EXPECT_EQ(FreshCandidates(candidates, ds, now, o, 10), (std::vector<uint32_t>{2, 0, 6, 1, 7}));
  o.candidates = 1;
  EXPECT_EQ(FreshCandidates(candidates, ds, now, o, 2), (std::vector<uint32_t>{2, 0, 6}));
  o.fresh_hours = 5;
  EXPECT_EQ(FreshCandidates(candidates, ds, now, o, 10), (std::vector<uint32_t>{0, 6, 7}));
}

TEST(ExplorePool, LeavesOutListedVideosAndDuplicatesUpToCandidates) {
  ExploreOptions o;
  o.candidates = 2;
  const std::vector<OrderedItem> list = Ranked(3);
  EXPECT_EQ(ExplorePool(std::vector<uint32_t>{1, 100, 100, 2, 101, 102}, list, o),
            (std::vector<uint32_t>{100, 101}));
}

TEST(ExploreOptions, ValidateRejectsEachBadFieldClearly) {
  OrderingOptions o;
  EXPECT_TRUE(Validate(o).ok());
  o.explore.share = 1;
  EXPECT_TRUE(Validate(o).ok());
  o.explore.share = 1.5;
  o.explore.fresh_hours = 0;
  o.explore.candidates = 0;
  o.explore.positions = {3, 0, 3};
  o.explore.prior_plays = std::numeric_limits<double>::infinity();
  o.explore.prior_skips = -1;
  const Status st = Validate(o);
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument);
  for (const char* part :
       {"explore_share must be in [0, 1] (0 = off), got 1.5", "explore_fresh_hours", "explore_candidates",
        "explore_positions: 0 is outside", "explore_positions: 3 is listed twice", "explore_prior_plays",
        "explore_prior_skips"}) {
    EXPECT_NE(st.message().find(part), std::string::npos) << part << " missing from: " << st.message();
  }
  o = OrderingOptions();
  o.explore.share = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(Validate(o).ok());
  o.explore.share = -0.1;
  EXPECT_FALSE(Validate(o).ok());
}

TEST(ExploreOptions, VariantsOverrideThemAndBadValuesChangeNothing) {
  OrderingOptions o;
  ASSERT_TRUE(ApplyOrderingOverride("ordering.explore_share", "0.1", o).ok());
  ASSERT_TRUE(ApplyOrderingOverride("ordering.explore_fresh_hours", "24", o).ok());
  ASSERT_TRUE(ApplyOrderingOverride("ordering.explore_candidates", "5", o).ok());
  ASSERT_TRUE(ApplyOrderingOverride("ordering.explore_prior_plays", "2", o).ok());
  ASSERT_TRUE(ApplyOrderingOverride("ordering.explore_prior_skips", "3", o).ok());
  EXPECT_EQ(o.explore.share, 0.1);
  EXPECT_EQ(o.explore.fresh_hours, 24);
  EXPECT_EQ(o.explore.candidates, 5);
  EXPECT_EQ(o.explore.prior_plays, 2);
  EXPECT_EQ(o.explore.prior_skips, 3);
  const Status st = ApplyOrderingOverride("ordering.explore_share", "1.5", o);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("explore_share must be in [0, 1]"), std::string::npos) << st.message();
  EXPECT_FALSE(ApplyOrderingOverride("ordering.explore_candidates", "2.5", o).ok());
  EXPECT_FALSE(ApplyOrderingOverride("ordering.explore_positions", "3", o).ok());
  EXPECT_EQ(o.explore.share, 0.1);
  EXPECT_EQ(o.explore.candidates, 5);
}

}  // namespace
}  // namespace vrec::ordering
