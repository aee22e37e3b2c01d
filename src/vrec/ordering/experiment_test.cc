#include "vrec/ordering/experiment.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>

namespace vrec::ordering {
namespace {

ExperimentOptions ThreeWay() {
  ExperimentOptions e;
  e.name = "diversity";
  e.salt = "2026-q1";
  e.variants = {{"control", 1, {}},
                {"cap2", 2, {{"ordering.max_per_category", "2"}, {"ordering.diversity_window", "10"}}},
                {"cap1", 7, {{"ordering.max_per_category", "1"}, {"ordering.diversity_window", "10"}}}};
  return e;
}

TEST(AssignVariant, SameUserSameVariant) {
  const ExperimentOptions e = ThreeWay();
  const ExperimentOptions copy = e;  // another server's copy of the same configuration
  for (uint64_t u = 0; u < 1000; ++u) {
    const Variant& v = AssignVariant(e, UserId{u});
    EXPECT_EQ(&v, &AssignVariant(e, UserId{u}));
    EXPECT_EQ(v.name, AssignVariant(copy, UserId{u}).name);
  }
}

TEST(AssignVariant, SplitFollowsTheWeightsWithinOnePercent) {
  const ExperimentOptions e = ThreeWay();
  std::map<std::string, int> counts;
  const int users = 100'000;
  // Consecutive ids: the hardest case for a hash whose last input bytes mix poorly.
  for (uint64_t u = 1; u <= users; ++u) ++counts[AssignVariant(e, UserId{u}).name];
  EXPECT_NEAR(counts["control"] / double(users), 0.1, 0.01);
  EXPECT_NEAR(counts["cap2"] / double(users), 0.2, 0.01);
  EXPECT_NEAR(counts["cap1"] / double(users), 0.7, 0.01);
}

TEST(AssignVariant, ExperimentsWithDifferentSaltsSplitIndependently) {
  ExperimentOptions a;
  a.name = "ranker";
  a.salt = "s1";
  a.variants = {{"a0", 1, {}}, {"a1", 1, {}}};
  ExperimentOptions b = a;
  b.salt = "s2";
  std::array<std::array<int, 2>, 2> joint{};
  const int users = 100'000;
  for (uint64_t u = 0; u < users; ++u) {
    const int va = AssignVariant(a, UserId{u}).name == "a1";
    const int vb = AssignVariant(b, UserId{u}).name == "a1";
    ++joint[static_cast<size_t>(va)][static_cast<size_t>(vb)];
  }
  // Independent 50/50 splits put a quarter of the users in each cell; a shared hash would put
  // everybody on the diagonal.
  for (const auto& row : joint) {
    for (int cell : row) EXPECT_NEAR(cell / double(users), 0.25, 0.01);
  }
}

TEST(ExperimentBucket, IsInTheUnitIntervalAndPinned) {
  const ExperimentOptions e = ThreeWay();
  for (uint64_t u : {0ull, 1ull, 42ull, ~0ull}) {
    const double b = ExperimentBucket(e, UserId{u});
    EXPECT_GE(b, 0.0);
    EXPECT_LT(b, 1.0);
  }
  // Changing the hash reshuffles every running experiment: this value must never change. It was
  // computed independently (Python) from FNV-1a of "2026-q1\0diversity\042" and the finalizer.
  EXPECT_DOUBLE_EQ(ExperimentBucket(e, UserId{42}), 0.5996391540941399);
}

TEST(ExperimentBucket, DependsOnNameAndSalt) {
  ExperimentOptions e = ThreeWay();
  const double base = ExperimentBucket(e, UserId{7});
  e.salt = "other";
  EXPECT_NE(ExperimentBucket(e, UserId{7}), base);
  e = ThreeWay();
  e.name = "other";
  EXPECT_NE(ExperimentBucket(e, UserId{7}), base);
  // The separator keeps ("ab", "c") and ("a", "bc") apart.
  ExperimentOptions x, y;
  x.salt = "ab";
  x.name = "c";
  y.salt = "a";
  y.name = "bc";
  EXPECT_NE(ExperimentBucket(x, UserId{7}), ExperimentBucket(y, UserId{7}));
}

TEST(ApplyOrderingOverride, SetsEachKey) {
  OrderingOptions o;
  EXPECT_TRUE(ApplyOrderingOverride("ordering.max_per_category", "3", o).ok());
  EXPECT_TRUE(ApplyOrderingOverride("ordering.diversity_window", "12", o).ok());
  EXPECT_TRUE(ApplyOrderingOverride("ordering.freshness_boost", "0.25", o).ok());
  EXPECT_TRUE(ApplyOrderingOverride("ordering.freshness_half_life_hours", " 6.5 ", o).ok());
  EXPECT_EQ(o.max_per_category, 3);
  EXPECT_EQ(o.diversity_window, 12);
  EXPECT_EQ(o.freshness_boost, 0.25);
  EXPECT_EQ(o.freshness_half_life_hours, 6.5);
}

TEST(ApplyOrderingOverride, AppliesAVariantsOverrides) {
  const ExperimentOptions e = ThreeWay();
  OrderingOptions o;
  for (const auto& [key, value] : e.variants[1].overrides)
    ASSERT_TRUE(ApplyOrderingOverride(key, value, o).ok());
  EXPECT_EQ(o.max_per_category, 2);
  EXPECT_EQ(o.diversity_window, 10);
  EXPECT_TRUE(Validate(o).ok());
}

TEST(ApplyOrderingOverride, RejectsUnknownKeysAndBadValuesLeavingOptionsUnchanged) {
  OrderingOptions o;
  o.max_per_category = 2;
  const OrderingOptions before = o;
  for (auto [key, value] :
       std::vector<std::pair<const char*, const char*>>{{"ordering.max_per_categories", "1"},
                                                        {"retrieval.candidates", "500"},
                                                        {"ordering.max_per_category", "two"},
                                                        {"ordering.max_per_category", "2.5"},
                                                        {"ordering.max_per_category", "-1"},
                                                        {"ordering.diversity_window", ""},
                                                        {"ordering.freshness_boost", "nan"},
                                                        {"ordering.freshness_boost", "-0.1"},
                                                        {"ordering.freshness_half_life_hours", "0"},
                                                        {"ordering.freshness_half_life_hours", "inf"}}) {
    const Status st = ApplyOrderingOverride(key, value, o);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << key << "=" << value;
    EXPECT_NE(st.message().find(key), std::string::npos) << st.message();
    EXPECT_EQ(o.max_per_category, before.max_per_category);
    EXPECT_EQ(o.diversity_window, before.diversity_window);
    EXPECT_EQ(o.freshness_boost, before.freshness_boost);
    EXPECT_EQ(o.freshness_half_life_hours, before.freshness_half_life_hours);
  }
}

TEST(ExperimentOptions, ValidAndInvalid) {
  EXPECT_TRUE(Validate(ThreeWay()).ok());
  ExperimentOptions none;
  none.name = "x";
  EXPECT_FALSE(Validate(none).ok());
}

TEST(ExperimentOptions, ValidateReportsEveryProblemAtOnce) {
  ExperimentOptions e;
  e.variants = {{"a", 0, {}},
                {"a", std::numeric_limits<double>::infinity(), {}},
                {"", 1, {{"ordering.diversity_window", "-3"}, {"ranking.trees", "whatever"}}}};
  const Status st = Validate(e);
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument);
  for (const char* part : {"experiment name is empty", "variant name 'a' is used twice",
                           "'a': weight must be", "a variant name is empty", "ordering.diversity_window"}) {
    EXPECT_NE(st.message().find(part), std::string::npos) << part << " missing from: " << st.message();
  }
  // Keys of other stages are theirs to check.
  EXPECT_EQ(st.message().find("ranking.trees"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace vrec::ordering
