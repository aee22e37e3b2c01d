// Unit tests for what the scenario files cannot express well: option validation, edge values,
// and agreement between Apply and Allowed on random inputs. The rules themselves are covered by
// testdata/*.scenario (scenario_test.cc).
#include "vrec/filtering/filters.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>

namespace vrec::filtering {
namespace {

TEST(FilterOptions, DefaultsAreValid) { EXPECT_TRUE(Validate(FilterOptions()).ok()); }

TEST(FilterOptions, ValidateReportsEveryBadFieldAtOnce) {
  FilterOptions o;
  o.finished_ratio = 0;
  o.adult_age = -1;
  o.max_upload_age_s["home"] = -5;
  o.max_upload_age_s[""] = 10;
  o.default_max_upload_age_s = -1;
  const Status st = Validate(o);
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument);
  for (const char* part : {"finished_ratio", "adult_age", "max_upload_age_s[home]", "empty surface name",
                           "default_max_upload_age_s"}) {
    EXPECT_NE(st.message().find(part), std::string::npos) << part << " missing from: " << st.message();
  }
}

TEST(FilterOptions, ValidateRejectsNanRatio) {
  FilterOptions o;
  o.finished_ratio = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(Validate(o).ok());
  o.finished_ratio = 1.0f;
  EXPECT_TRUE(Validate(o).ok());
  o.finished_ratio = 1.01f;
  EXPECT_FALSE(Validate(o).ok());
}

TEST(WatchedPolicy, ParsesItsNames) {
  EXPECT_EQ(ParseWatchedPolicy("any"), WatchedPolicy::kAnyPlay);
  EXPECT_EQ(ParseWatchedPolicy("Any_Play"), WatchedPolicy::kAnyPlay);
  EXPECT_EQ(ParseWatchedPolicy("finished"), WatchedPolicy::kFinished);
  EXPECT_EQ(ParseWatchedPolicy(Name(WatchedPolicy::kFinished)), WatchedPolicy::kFinished);
  EXPECT_EQ(ParseWatchedPolicy("all"), std::nullopt);
}

data::Dataset Catalog(int n) {
  data::Dataset ds;
  for (int i = 0; i < n; ++i) {
    data::Video v;
    v.id = VideoId{static_cast<uint64_t>(100 + i)};
    v.upload_time = 1'000'000 - 3600 * i;
    EXPECT_TRUE(ds.AddVideo(v).ok());
  }
  return ds;
}

TEST(Apply, KeepsOrderAndDuplicatesAndDropsVideosOutsideTheCatalog) {
  const data::Dataset catalog = Catalog(3);
  std::vector<Candidate> c = {{2, 0.5f}, {7, 0.9f}, {0, 0.4f}, {2, 0.3f}};
  FilterRequest request;
  request.now = 1'000'000;
  const FilterReport report = Apply(c, catalog, request, FilterOptions());
  EXPECT_EQ(c, (std::vector<Candidate>{{2, 0.5f}, {0, 0.4f}, {2, 0.3f}}));
  EXPECT_EQ(report.removed(Filter::kAvailability), 1);
  EXPECT_EQ(report.input, 4);
  EXPECT_EQ(report.kept, 3);
  EXPECT_FALSE(Allowed(7, catalog, request, FilterOptions()));
}

TEST(Apply, IgnoresHistoryOutsideTheCatalog) {
  const data::Dataset catalog = Catalog(2);
  const std::vector<HistoryItem> history = {{5, data::EventType::kLike, data::kMissing}};
  FilterRequest request;
  request.now = 1'000'000;
  request.user.history = history;
  std::vector<Candidate> c = {{0, 1}, {1, 1}};
  EXPECT_EQ(Apply(c, catalog, request, FilterOptions()).kept, 2);
}

TEST(Apply, FreshnessSurvivesExtremeUploadTimes) {
  data::Dataset catalog;
  data::Video ancient;
  ancient.id = VideoId{1};
  ancient.upload_time = std::numeric_limits<int64_t>::min() + 1;  // would overflow now - upload
  ASSERT_TRUE(catalog.AddVideo(ancient).ok());
  FilterOptions o;
  o.default_max_upload_age_s = 86400;
  FilterRequest request;
  request.now = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(RejectedBy(0, catalog, request, o), Filter::kFreshness);
}

TEST(Apply, OnScreenVideosAreRemovedAfterThePolicyFilters) {
  const data::Dataset catalog = Catalog(4);
  const std::vector<HistoryItem> history = {{1, data::EventType::kPlay, data::kMissing}};
  const std::vector<uint32_t> on_screen = {1, 3};  // 1 is also watched: counted there, first in the chain
  FilterRequest request;
  request.now = 1'000'000;
  request.user.history = history;
  request.on_screen = on_screen;
  std::vector<Candidate> c = {{0, 1}, {1, 1}, {2, 1}, {3, 1}};
  const FilterReport report = Apply(c, catalog, request, FilterOptions());
  EXPECT_EQ(c, (std::vector<Candidate>{{0, 1}, {2, 1}}));
  EXPECT_EQ(report.removed(Filter::kWatched), 1);
  EXPECT_EQ(report.removed(Filter::kOnScreen), 1);
  EXPECT_EQ(RejectedBy(3, catalog, request, FilterOptions()), Filter::kOnScreen);
  EXPECT_TRUE(Allowed(2, catalog, request, FilterOptions()));
}

TEST(FilterReport, NamesEveryFilterInChainOrder) {
  std::vector<Candidate> none;
  const FilterReport report = Apply(none, data::Dataset(), FilterRequest(), FilterOptions());
  EXPECT_EQ(report.ToString(), "watched=0 content_policy=0 availability=0 freshness=0 on_screen=0");
}

// Random catalogs, histories and flags: the batch path (sorted watched set, resolved surface) and
// the single-video path must agree, and the counts must add up.
TEST(Apply, AgreesWithRejectedByOnRandomInputs) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    const int n = 1 + static_cast<int>(rng() % 40);
    data::Dataset catalog;
    for (int i = 0; i < n; ++i) {
      data::Video v;
      v.id = VideoId{static_cast<uint64_t>(i + 1)};
      v.age_restricted = rng() % 5 == 0;
      v.available = rng() % 7 != 0;
      v.upload_time =
          rng() % 6 == 0 ? data::kUnknownTime : 1'000'000 - static_cast<int64_t>(rng() % 200'000) + 20'000;
      ASSERT_TRUE(catalog.AddVideo(v).ok());
    }
    std::vector<HistoryItem> history;
    for (int i = 0, h = static_cast<int>(rng() % 30); i < h; ++i) {
      history.push_back({static_cast<uint32_t>(rng() % (n + 3)), static_cast<data::EventType>(rng() % 7),
                         rng() % 4 == 0 ? data::kMissing : static_cast<float>(rng() % 100) / 80.0f});
    }
    std::vector<uint8_t> flags(rng() % (n + 1));
    for (uint8_t& f : flags) f = static_cast<uint8_t>(rng() % 4);
    FilterOptions o;
    o.watched = rng() % 2 == 0 ? WatchedPolicy::kAnyPlay : WatchedPolicy::kFinished;
    o.missing_age_is_minor = rng() % 2 == 0;
    o.unknown_upload_time_is_fresh = rng() % 2 == 0;
    o.max_upload_age_s["home"] = 86400;
    o.default_max_upload_age_s = rng() % 2 == 0 ? 0 : 150'000;
    FilterRequest request;
    request.user.age = static_cast<int>(rng() % 40) - 5;
    request.user.history = history;
    request.overrides.flags = flags;
    request.surface = rng() % 2 == 0 ? "home" : "search";
    request.now = 1'000'000;
    std::vector<uint32_t> on_screen;
    for (int i = 0, k = static_cast<int>(rng() % 6); i < k; ++i)
      on_screen.push_back(static_cast<uint32_t>(rng() % (n + 2)));
    std::sort(on_screen.begin(), on_screen.end());
    request.on_screen = on_screen;

    std::vector<Candidate> candidates;
    for (int i = 0, m = static_cast<int>(rng() % 60); i < m; ++i) {
      candidates.push_back({static_cast<uint32_t>(rng() % (n + 2)), static_cast<float>(i)});
    }
    std::vector<Candidate> kept = candidates;
    const FilterReport report = Apply(kept, catalog, request, o);
    std::vector<Candidate> expected;
    std::array<int, kNumFilters> counts{};
    for (const Candidate& c : candidates) {
      if (auto f = RejectedBy(c.video, catalog, request, o)) {
        ++counts[static_cast<size_t>(*f)];
      } else {
        expected.push_back(c);
      }
    }
    ASSERT_EQ(kept, expected) << "round " << round;
    for (int f = 0; f < kNumFilters; ++f) {
      ASSERT_EQ(report.counts[static_cast<size_t>(f)].removed, counts[static_cast<size_t>(f)])
          << "round " << round;
    }
    ASSERT_EQ(report.kept + report.counts[0].removed + report.counts[1].removed + report.counts[2].removed +
                  report.counts[3].removed + report.counts[4].removed,
              report.input);
  }
}

}  // namespace
}  // namespace vrec::filtering
