#include "vrec/experiments/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <limits>
#include <map>
#include <vector>

#include "vrec/common/ids.h"
#include "vrec/common/strings.h"
#include "vrec/ordering/experiment.h"

namespace vrec::experiments {
namespace {

// ---------------------------------------------------------------------------------------------
// Hand-computed cases.

// x = {10, 20, 30, 40}, y = {1, 3, 2, 6}: R = 12 / 100 = 0.12, xbar = 25.
// s_x^2 = (225 + 25 + 25 + 225) / 3 = 500 / 3; s_y^2 = (4 + 0 + 1 + 9) / 3 = 14 / 3;
// s_xy = (30 + 0 - 5 + 45) / 3 = 70 / 3.
// s_y^2 - 2 R s_xy + R^2 s_x^2 = (14 - 0.24 * 70 + 0.0144 * 500) / 3 = 4.4 / 3
// (the residuals y - R x are -0.2, 0.6, -1.6, 1.2: squares sum to 4.4).
// Var(R) = (1/4) * (4.4 / 3) / 25^2 = 4.4 / 7500.
const std::vector<double> kX = {10, 20, 30, 40};
const std::vector<double> kY = {1, 3, 2, 6};

TEST(RatioEstimate, DeltaMethodMatchesHandComputation) {
  const Estimate e = RatioEstimate(kY, kX, 0.05);
  EXPECT_DOUBLE_EQ(e.value, 0.12);
  const double se = std::sqrt(4.4 / 7500);
  EXPECT_NEAR(e.std_error, se, 1e-15);
  EXPECT_NEAR(e.ci_low, 0.12 - 1.959963984540054 * se, 1e-14);
  EXPECT_NEAR(e.ci_high, 0.12 + 1.959963984540054 * se, 1e-14);
  // A 99% interval is wider by z_0.995 / z_0.975.
  const Estimate e99 = RatioEstimate(kY, kX, 0.01);
  EXPECT_NEAR(e99.ci_high - e99.value, 2.5758293035489 * se, 1e-13);
}

TEST(RatioEstimate, ZeroDenominatorIsNaNAndOneBucketHasNoStandardError) {
  const std::vector<double> zeros = {0, 0, 0};
  const Estimate none = RatioEstimate(std::vector<double>{1, 2, 3}, zeros, 0.05);
  EXPECT_TRUE(std::isnan(none.value));
  EXPECT_TRUE(std::isnan(none.std_error));
  EXPECT_TRUE(std::isnan(none.ci_low));
  const Estimate one = RatioEstimate(std::vector<double>{3}, std::vector<double>{10}, 0.05);
  EXPECT_DOUBLE_EQ(one.value, 0.3);
  EXPECT_TRUE(std::isnan(one.std_error));
  EXPECT_TRUE(std::isnan(one.ci_high));
}

TEST(Sums, AddsEveryFieldAndArmTotalSumsBuckets) {
  Arm arm;
  arm.buckets[3] = {
      .impressions = 10, .plays = 2, .completions = 1, .likes = 1, .skips = 4, .watch_s = 50, .users = 1};
  arm.buckets[60] = {
      .impressions = 5, .plays = 1, .completions = 0, .likes = 0, .skips = 2, .watch_s = 7.5, .users = 2};
  const Sums t = arm.Total();
  EXPECT_EQ(t.impressions, 15);
  EXPECT_EQ(t.plays, 3);
  EXPECT_EQ(t.completions, 1);
  EXPECT_EQ(t.likes, 1);
  EXPECT_EQ(t.skips, 6);
  EXPECT_EQ(t.watch_s, 57.5);
  EXPECT_EQ(t.users, 3);
}

TEST(Metric, NamesAreStable) {
  EXPECT_EQ(Name(Metric::kCtr), "ctr");
  EXPECT_EQ(Name(Metric::kCompletionRate), "completion_rate");
  EXPECT_EQ(Name(Metric::kWatchTimePerImpression), "watch_time_per_impression");
  EXPECT_EQ(Name(Metric::kLikeRate), "like_rate");
  EXPECT_EQ(Name(Metric::kSkipRate), "skip_rate");
}

// The hand example's four buckets as plays over impressions; the other 60 buckets of the arm are
// empty. `scale` multiplies the plays.
Arm HandArm(std::string name, double scale) {
  Arm arm;
  arm.name = std::move(name);
  for (size_t k = 0; k < kX.size(); ++k) {
    arm.buckets[k].impressions = kX[k];
    arm.buckets[k].plays = scale * kY[k];
    arm.buckets[k].watch_s = 10 * kY[k];
  }
  return arm;
}

TEST(Analyze, EmptyBucketsCountAsClusters) {
  // K = 64: the 60 empty buckets have residual 0 and still count in K and xbar = 100 / 64.
  // Var = [4.4 / 63] / 64 / (100 / 64)^2 = 4.4 * 64 / 630000.
  const std::vector<Arm> arms = {HandArm("control", 1)};
  auto reports = Analyze(arms, 0);
  ASSERT_TRUE(reports.ok()) << reports.status().ToString();
  ASSERT_EQ(reports->size(), 1u);
  const ArmReport& r = (*reports)[0];
  EXPECT_EQ(r.name, "control");
  EXPECT_EQ(r.total.impressions, 100);
  EXPECT_TRUE(r.vs_control.empty());
  ASSERT_EQ(r.metrics.size(), kMetrics.size());
  const Estimate& ctr = r.metrics.at(Metric::kCtr);
  EXPECT_DOUBLE_EQ(ctr.value, 0.12);
  EXPECT_NEAR(ctr.std_error, std::sqrt(4.4 * 64 / 630000), 1e-15);
  // watch_s = 10 * plays, so watch time per impression is 10 x the CTR, with 10 x its error.
  const Estimate& watch = r.metrics.at(Metric::kWatchTimePerImpression);
  EXPECT_DOUBLE_EQ(watch.value, 1.2);
  EXPECT_NEAR(watch.std_error, 10 * ctr.std_error, 1e-14);
  // No likes at all: 0 with a zero error. No completions over 12 plays: 0 as well.
  EXPECT_EQ(r.metrics.at(Metric::kLikeRate).value, 0);
  EXPECT_EQ(r.metrics.at(Metric::kLikeRate).std_error, 0);
  EXPECT_EQ(r.metrics.at(Metric::kCompletionRate).value, 0);
}

TEST(Analyze, ComparesTreatmentWithControlByZTest) {
  // Treatment doubles every bucket's plays: R_t = 0.24, Var_t = 4 Var_c with
  // Var_c = 4.4 * 64 / 630000 (above). SE = sqrt(5 Var_c) = 0.047274947222822314;
  // z = 0.12 / SE = 2.5383423366799476; p = erfc(z / sqrt 2) = 0.011137897527055263.
  const std::vector<Arm> arms = {HandArm("v1/treatment", 2), HandArm("v1/control", 1)};
  auto reports = Analyze(arms, 1);
  ASSERT_TRUE(reports.ok()) << reports.status().ToString();
  EXPECT_TRUE((*reports)[1].vs_control.empty());
  const Comparison& c = (*reports)[0].vs_control.at(Metric::kCtr);
  EXPECT_NEAR(c.difference, 0.12, 1e-15);
  EXPECT_NEAR(c.relative, 1.0, 1e-14);
  const double se = 0.047274947222822314;
  EXPECT_NEAR(c.ci_low, 0.12 - 1.959963984540054 * se, 1e-14);
  EXPECT_NEAR(c.ci_high, 0.12 + 1.959963984540054 * se, 1e-14);
  EXPECT_NEAR(c.p_value, 0.011137897527055263, 1e-14);
  EXPECT_TRUE(c.significant);
  // At alpha = 0.01 the same difference is not significant, and the interval covers 0.
  auto strict = Analyze(arms, 1, {.alpha = 0.01});
  ASSERT_TRUE(strict.ok());
  const Comparison& s = (*strict)[0].vs_control.at(Metric::kCtr);
  EXPECT_FALSE(s.significant);
  EXPECT_LT(s.ci_low, 0);
  // Like rates are 0 +/- 0 in both arms: no test is possible.
  const Comparison& likes = (*reports)[0].vs_control.at(Metric::kLikeRate);
  EXPECT_EQ(likes.difference, 0);
  EXPECT_TRUE(std::isnan(likes.relative));
  EXPECT_TRUE(std::isnan(likes.p_value));
  EXPECT_FALSE(likes.significant);
}

TEST(Analyze, EmptyArmGivesNaNEverywhereAndNoSignificance) {
  const std::vector<Arm> arms = {HandArm("control", 1), Arm{.name = "empty", .buckets = {}}};
  auto reports = Analyze(arms, 0);
  ASSERT_TRUE(reports.ok()) << reports.status().ToString();
  const ArmReport& empty = (*reports)[1];
  for (Metric m : kMetrics) {
    SCOPED_TRACE(Name(m));
    EXPECT_TRUE(std::isnan(empty.metrics.at(m).value));
    EXPECT_TRUE(std::isnan(empty.metrics.at(m).std_error));
    const Comparison& c = empty.vs_control.at(m);
    EXPECT_TRUE(std::isnan(c.difference));
    EXPECT_TRUE(std::isnan(c.p_value));
    EXPECT_TRUE(std::isnan(c.ci_low));
    EXPECT_FALSE(c.significant);
  }
}

TEST(Analyze, TooFewNonEmptyBucketsGiveNaNErrorsAndNoSignificance) {
  Arm lone;  // one user bucket with impressions: a value, but no spread to estimate
  lone.name = "lone";
  lone.buckets[7] = {.impressions = 1000, .plays = 500};
  Arm control = HandArm("control", 1);  // 4 non-empty buckets
  const std::vector<Arm> arms = {control, lone};
  auto reports = Analyze(arms, 0);
  ASSERT_TRUE(reports.ok());
  const ArmReport& r = (*reports)[1];
  EXPECT_DOUBLE_EQ(r.metrics.at(Metric::kCtr).value, 0.5);
  EXPECT_TRUE(std::isnan(r.metrics.at(Metric::kCtr).std_error));
  EXPECT_TRUE(std::isnan(r.metrics.at(Metric::kCtr).ci_low));
  const Comparison& c = r.vs_control.at(Metric::kCtr);
  EXPECT_DOUBLE_EQ(c.difference, 0.38);
  EXPECT_TRUE(std::isnan(c.p_value));
  EXPECT_FALSE(c.significant);
  // Asking for 5 non-empty buckets takes the control's error away too.
  auto strict = Analyze(arms, 0, {.min_buckets = 5});
  ASSERT_TRUE(strict.ok());
  EXPECT_TRUE(std::isnan((*strict)[0].metrics.at(Metric::kCtr).std_error));
  // min_buckets = 4 keeps it.
  auto four = Analyze(arms, 0, {.min_buckets = 4});
  ASSERT_TRUE(four.ok());
  EXPECT_FALSE(std::isnan((*four)[0].metrics.at(Metric::kCtr).std_error));
}

TEST(Analyze, RejectsInvalidArguments) {
  const std::vector<Arm> arms = {HandArm("control", 1), HandArm("treatment", 2)};
  auto expect_invalid = [](const StatusOr<std::vector<ArmReport>>& r, std::string_view what) {
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << what;
  };
  expect_invalid(Analyze({}, 0), "no arms");
  expect_invalid(Analyze(arms, 2), "control out of range");
  for (double alpha : {0.0, 1.0, -0.1, 1.5, kNaN}) {
    expect_invalid(Analyze(arms, 0, {.alpha = alpha}), StrCat("alpha ", alpha));
  }
  for (int min_buckets : {-1, kBuckets + 1}) {
    expect_invalid(Analyze(arms, 0, {.min_buckets = min_buckets}), StrCat("min_buckets ", min_buckets));
  }
  for (double bad : {-1.0, kNaN, std::numeric_limits<double>::infinity()}) {
    std::vector<Arm> corrupt = arms;
    corrupt[1].buckets[9].watch_s = bad;
    auto r = Analyze(corrupt, 0);
    expect_invalid(r, StrCat("watch_s ", bad));
    EXPECT_NE(r.status().message().find("treatment"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("bucket 9"), std::string::npos) << r.status().message();
  }
  EXPECT_TRUE(Analyze(arms, 1, {.alpha = 0.2, .min_buckets = kBuckets}).ok());
}

// ---------------------------------------------------------------------------------------------
// The normal distribution, against values from mpmath at 40 digits.

TEST(Normal, QuantileMatchesKnownValues) {
  EXPECT_EQ(NormalQuantile(0.5), 0);
  EXPECT_NEAR(NormalQuantile(0.975), 1.959963984540054, 1e-14);
  EXPECT_NEAR(NormalQuantile(0.995), 2.5758293035489004, 1e-14);
  EXPECT_NEAR(NormalQuantile(0.9995), 3.2905267314919255, 1e-14);
  EXPECT_NEAR(NormalQuantile(0.3), -0.52440051270804089, 1e-14);
  EXPECT_NEAR(NormalQuantile(0.02425), -1.9729610513118852, 1e-14);  // Acklam's region boundary
  EXPECT_NEAR(NormalQuantile(1e-10), -6.361340902404056, 1e-13);
  EXPECT_NEAR(NormalQuantile(1e-300), -37.047096299361199, 1e-12);
  EXPECT_NEAR(NormalQuantile(0.025), -1.959963984540054, 1e-14);
  for (double p : {0.0, 1.0, -0.5, 2.0, kNaN}) EXPECT_TRUE(std::isnan(NormalQuantile(p))) << p;
}

TEST(Normal, CdfMatchesKnownValuesAndInvertsQuantile) {
  EXPECT_EQ(NormalCdf(0), 0.5);
  EXPECT_NEAR(NormalCdf(1), 0.84134474606854293, 1e-15);
  EXPECT_NEAR(NormalCdf(1.96), 0.97500210485177952, 1e-15);
  EXPECT_NEAR(NormalCdf(-3), 0.0013498980316300946, 1e-17);
  EXPECT_NEAR(NormalCdf(-10) / 7.6198530241605255e-24, 1, 1e-13);
  for (double p = 1e-6; p < 1; p += 0.0137) {
    EXPECT_NEAR(NormalCdf(NormalQuantile(p)), p, 1e-15) << p;
  }
}

// ---------------------------------------------------------------------------------------------
// Buckets.

// Prints a measured figure into the test log and the XML report.
void Report(const std::string& key, double value) {
  std::cout << "[ expstats ] " << key << "=" << value << "\n";
  testing::Test::RecordProperty(key, StrCat(value));
}

// Pinned against an independent implementation (Python: FNV-1a 64 of "bucket:<id>", murmur3
// fmix64, >> 58). A change here would move users of running experiments to other buckets.
TEST(BucketOf, IsStableAcrossBuilds) {
  EXPECT_EQ(BucketOf(0), 21);
  EXPECT_EQ(BucketOf(1), 54);
  EXPECT_EQ(BucketOf(2), 39);
  EXPECT_EQ(BucketOf(12345), 46);
  EXPECT_EQ(BucketOf(18446744073709551615ull), 7);
  EXPECT_EQ(BucketOf(12345), BucketOf(12345));
}

// Pearson's chi-square of bucket counts against a uniform split.
double ChiSquare(const std::array<int, kBuckets>& counts) {
  double n = 0;
  for (int c : counts) n += c;
  const double expected = n / kBuckets;
  double chi2 = 0;
  for (int c : counts) chi2 += (c - expected) * (c - expected) / expected;
  return chi2;
}

TEST(BucketOf, SpreadsConsecutiveIdsUniformlyWithinEachArm) {
  // 100,000 consecutive ids (the hard case for FNV-1a without a finalizer). Chi-square with 63
  // degrees of freedom: 99.9% quantile 103.44. The same bound within each arm of a 50/50
  // experiment checks that buckets do not follow the arm assignment.
  const ordering::ExperimentOptions split = {
      .name = "bucket-independence", .salt = "s", .variants = {{.name = "a"}, {.name = "b"}}};
  std::array<int, kBuckets> all{}, arm_a{}, arm_b{};
  for (uint64_t id = 1; id <= 100000; ++id) {
    const int b = BucketOf(id);
    ASSERT_GE(b, 0);
    ASSERT_LT(b, kBuckets);
    const auto k = static_cast<size_t>(b);
    ++all[k];
    ++(ordering::ExperimentBucket(split, UserId{id}) < 0.5 ? arm_a : arm_b)[k];
  }
  const double chi2_all = ChiSquare(all), chi2_a = ChiSquare(arm_a), chi2_b = ChiSquare(arm_b);
  Report("bucket_chi2_all", chi2_all);
  Report("bucket_chi2_arm_a", chi2_a);
  Report("bucket_chi2_arm_b", chi2_b);
  EXPECT_LT(chi2_all, 103.44);
  EXPECT_LT(chi2_a, 103.44);
  EXPECT_LT(chi2_b, 103.44);
}

}  // namespace
}  // namespace vrec::experiments
