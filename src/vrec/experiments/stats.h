// Statistics for online A/B experiment reports: ratio metrics (CTR, completion rate, ...) per arm
// with standard errors and confidence intervals, and each treatment arm against the control.
//
// Users are randomised into arms by one hash of the user (ordering/experiment.h). Within an arm,
// the serving side keeps sums over kBuckets user buckets chosen by a second, independent hash
// (BucketOf): every impression and event of a user lands in the same bucket, so the buckets are
// independent clusters of users. Impressions of one user are correlated (a user who clicks a lot
// clicks on many of their impressions), so a binomial variance over impressions understates the
// variance of a ratio, often several times over; the variance across buckets does not (the
// "bucketed" or batch-means approach, with the delta method for the ratio).
//
// The test on a difference is a z test: the difference of the two arms' ratios over the normal
// distribution with the delta-method standard error. With 64 buckets per arm the variance estimate
// has ~63 degrees of freedom per arm (~126 for a difference), where Student's t and the normal
// differ little: the two-sided level of a nominal 5% test is about 5.2% for a difference (5.4% for
// one arm's interval), and the ratio's own non-normality is negligible with hundreds of impressions
// per bucket. With few non-empty buckets the z test is anti-conservative (8 buckets per arm: ~7%
// for a difference, ~9% for one arm, instead of 5%); AnalyzeOptions::min_buckets is the floor.
//
// Pure functions on values; safe to call from any number of threads at once.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vrec/common/status.h"

namespace vrec::experiments {

inline constexpr int kBuckets = 64;  // user buckets per arm

// What one bucket of one arm has counted.
struct Sums {
  double impressions = 0;  // items shown
  double plays = 0;        // plays (clicks) of shown items
  double completions = 0;
  double likes = 0;
  double skips = 0;
  double watch_s = 0;  // seconds watched
  double users = 0;    // distinct users (may be 0 when not counted; informational)
  Sums& operator+=(const Sums& other);
};

// The bucket of a user, in [0, kBuckets): FNV-1a (common/hash.h) over "bucket:" and the decimal
// user id, mixed by Fmix64 (the murmur3 finalizer), top 6 bits. The key differs from the arm
// assignment's (ordering::ExperimentBucket hashes salt, experiment name and id), so buckets are
// independent of arms. Stable across builds and machines: changing it would scatter the users of
// a running experiment over other buckets.
int BucketOf(uint64_t user_id);

struct Arm {
  std::string name;  // e.g. "v000003/control"
  std::array<Sums, kBuckets> buckets;
  Sums Total() const;
};

enum class Metric { kCtr, kCompletionRate, kWatchTimePerImpression, kLikeRate, kSkipRate };
// kCtr = plays / impressions; kCompletionRate = completions / plays; kWatchTimePerImpression =
// watch_s / impressions; kLikeRate = likes / impressions; kSkipRate = skips / impressions.
inline constexpr std::array<Metric, 5> kMetrics = {Metric::kCtr, Metric::kCompletionRate,
                                                   Metric::kWatchTimePerImpression, Metric::kLikeRate,
                                                   Metric::kSkipRate};
// "ctr", "completion_rate", "watch_time_per_impression", "like_rate", "skip_rate".
std::string_view Name(Metric m);

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Estimate {
  double value = kNaN;                   // the ratio of the arm's totals (NaN when the denominator is 0)
  double std_error = kNaN;               // delta method across all kBuckets buckets (see RatioEstimate)
  double ci_low = kNaN, ci_high = kNaN;  // value -/+ z_{1-alpha/2} * std_error
};

struct Comparison {                      // treatment vs control, for one metric
  double difference = kNaN;              // treatment - control (absolute)
  double relative = kNaN;                // difference / control value (NaN when the control value is 0)
  double ci_low = kNaN, ci_high = kNaN;  // CI of the absolute difference
  // Two-sided, z test on the difference with SE = sqrt(SE_t^2 + SE_c^2) (independent arms).
  // NaN when either standard error is NaN, or both are 0 and the difference is 0.
  double p_value = kNaN;
  bool significant = false;  // p_value < alpha
};

struct ArmReport {
  std::string name;
  Sums total;
  std::map<Metric, Estimate> metrics;       // every metric in kMetrics
  std::map<Metric, Comparison> vs_control;  // every metric; empty for the control arm itself
};

struct AnalyzeOptions {
  // 1 - confidence level of the intervals, and the significance level of the tests. In (0, 1).
  double alpha = 0.05;
  // Arms with fewer non-empty buckets (impressions > 0) than this get NaN standard errors, NaN
  // intervals and p-values, and no significance. In [0, kBuckets].
  int min_buckets = 2;
};

// One report per arm, in the order of `arms`; arms[control] is the control.
// InvalidArgument: no arms, control out of range, alpha outside (0, 1), min_buckets outside
// [0, kBuckets], or a bucket with a negative or non-finite sum (naming the arm and bucket).
StatusOr<std::vector<ArmReport>> Analyze(std::span<const Arm> arms, size_t control,
                                         const AnalyzeOptions& options = {});

// The building blocks, exposed for tests and for other reports.

// R = sum(y) / sum(x) over K = y.size() == x.size() buckets, with the delta-method variance
//   Var(R) ~= (1/K) * [s_y^2 - 2 R s_xy + R^2 s_x^2] / xbar^2,
// s the sample (co)variances of the per-bucket values (divided by K - 1) and xbar the mean of x.
// Every bucket counts as a cluster, including those with x = 0. The standard error is NaN when
// K < 2, and value and standard error are NaN when sum(x) is 0. The interval uses z_{1-alpha/2}.
Estimate RatioEstimate(std::span<const double> y, std::span<const double> x, double alpha);

// Standard normal CDF, via std::erfc (accurate in both tails).
double NormalCdf(double x);
// Standard normal quantile for p in (0, 1): Acklam's rational approximation (relative error
// 1.15e-9) refined by one Halley step on NormalCdf, accurate to ~1e-15. NaN outside (0, 1).
double NormalQuantile(double p);

}  // namespace vrec::experiments
