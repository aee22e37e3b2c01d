#include "vrec/experiments/stats.h"

#include <charconv>
#include <cmath>
#include <iterator>
#include <numbers>

#include "vrec/common/hash.h"
#include "vrec/common/strings.h"

namespace vrec::experiments {

Sums& Sums::operator+=(const Sums& other) {
  impressions += other.impressions;
  plays += other.plays;
  completions += other.completions;
  likes += other.likes;
  skips += other.skips;
  watch_s += other.watch_s;
  users += other.users;
  return *this;
}

int BucketOf(uint64_t user_id) {
  static_assert(kBuckets == 64, "BucketOf takes the top 6 bits");
  char digits[20];  // 2^64 - 1 has 20 decimal digits
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), user_id);
  Hasher h;
  h.Update("bucket:");
  h.Update(std::string_view(digits, static_cast<size_t>(end - digits)));
  // Mixed (common/hash.h) before we take the top 6 bits: FNV-1a alone crowds consecutive ids.
  return static_cast<int>(Fmix64(h.Value()) >> 58);
}

Sums Arm::Total() const {
  Sums total;
  for (const Sums& b : buckets) total += b;
  return total;
}

namespace {

// What each metric divides by what, in the order of the Metric enumerators.
struct MetricDefinition {
  std::string_view name;
  double Sums::*numerator;
  double Sums::*denominator;
};
constexpr MetricDefinition kDefinitions[] = {
    {"ctr", &Sums::plays, &Sums::impressions},
    {"completion_rate", &Sums::completions, &Sums::plays},
    {"watch_time_per_impression", &Sums::watch_s, &Sums::impressions},
    {"like_rate", &Sums::likes, &Sums::impressions},
    {"skip_rate", &Sums::skips, &Sums::impressions},
};
static_assert(std::size(kDefinitions) == kMetrics.size());

const MetricDefinition& Definition(Metric m) {
  const auto i = static_cast<size_t>(m);
  VREC_CHECK(i < std::size(kDefinitions), "metric ", i);
  return kDefinitions[i];
}

}  // namespace

std::string_view Name(Metric m) { return Definition(m).name; }

double NormalCdf(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }

double NormalQuantile(double p) {
  if (!(p > 0 && p < 1)) return kNaN;
  // By symmetry, so that the refinement below works where NormalCdf is accurate (its relative
  // error grows towards 1, not towards 0). 1 - p is exact for p in [0.5, 1) (Sterbenz).
  if (p > 0.5) return -NormalQuantile(1 - p);
  // Peter J. Acklam's rational approximation: lower tail below p = 0.02425, central region above.
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                                 1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                                 6.680131188771972e+01, -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                                 -2.549671010283318e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                 3.754408661907416e+00};
  double x;
  if (p < 0.02425) {  // lower tail
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {  // central region
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  // One Halley step (third order) takes the 1e-9 approximation to full double precision.
  const double e = NormalCdf(x) - p;
  const double u = e * std::sqrt(2 * std::numbers::pi) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

Estimate RatioEstimate(std::span<const double> y, std::span<const double> x, double alpha) {
  VREC_CHECK(y.size() == x.size(), "RatioEstimate: ", y.size(), " numerators, ", x.size(), " denominators");
  double sum_x = 0, sum_y = 0;
  for (size_t k = 0; k < x.size(); ++k) {
    sum_x += x[k];
    sum_y += y[k];
  }
  Estimate e;
  if (sum_x == 0) return e;
  e.value = sum_y / sum_x;
  const size_t n = x.size();
  if (n < 2) return e;
  // s_y^2 - 2 R s_xy + R^2 s_x^2 is the sample variance of the residuals d_k = y_k - R x_k, which
  // is how we compute it: a sum of squares cannot come out negative by cancellation. (Their mean
  // is 0 up to rounding since R = sum y / sum x; subtracting it keeps the formula literal.)
  double mean_d = 0;
  for (size_t k = 0; k < n; ++k) mean_d += y[k] - e.value * x[k];
  mean_d /= static_cast<double>(n);
  double ss = 0;
  for (size_t k = 0; k < n; ++k) {
    const double d = y[k] - e.value * x[k] - mean_d;
    ss += d * d;
  }
  const double xbar = sum_x / static_cast<double>(n);
  const double variance = ss / static_cast<double>(n - 1) / static_cast<double>(n) / (xbar * xbar);
  e.std_error = std::sqrt(variance);
  const double z = NormalQuantile(1 - alpha / 2);
  e.ci_low = e.value - z * e.std_error;
  e.ci_high = e.value + z * e.std_error;
  return e;
}

namespace {

Status ValidateArm(const Arm& arm, size_t index) {
  for (int k = 0; k < kBuckets; ++k) {
    const Sums& s = arm.buckets[static_cast<size_t>(k)];
    for (double v : {s.impressions, s.plays, s.completions, s.likes, s.skips, s.watch_s, s.users}) {
      if (!(std::isfinite(v) && v >= 0)) {
        return InvalidArgumentError(
            StrCat("arm ", index, " (", arm.name, ") bucket ", k, ": sums must be finite and >= 0, got ", v));
      }
    }
  }
  return OkStatus();
}

Comparison Compare(const Estimate& treatment, const Estimate& control, double alpha) {
  Comparison c;
  c.difference = treatment.value - control.value;
  if (control.value != 0) c.relative = c.difference / control.value;
  // Not std::hypot: hypot(inf, NaN) is inf, and a NaN must stay NaN here.
  const double se =
      std::sqrt(treatment.std_error * treatment.std_error + control.std_error * control.std_error);
  if (std::isnan(se)) return c;
  const double z = NormalQuantile(1 - alpha / 2);
  c.ci_low = c.difference - z * se;
  c.ci_high = c.difference + z * se;
  c.p_value = std::erfc(std::abs(c.difference / se) / std::numbers::sqrt2);
  c.significant = c.p_value < alpha;
  return c;
}

}  // namespace

StatusOr<std::vector<ArmReport>> Analyze(std::span<const Arm> arms, size_t control,
                                         const AnalyzeOptions& options) {
  if (arms.empty()) return InvalidArgumentError("Analyze: no arms");
  if (control >= arms.size()) {
    return InvalidArgumentError(StrCat("Analyze: control index ", control, " with ", arms.size(), " arms"));
  }
  if (!(options.alpha > 0 && options.alpha < 1)) {
    return InvalidArgumentError(StrCat("Analyze: alpha must be in (0, 1), got ", options.alpha));
  }
  if (options.min_buckets < 0 || options.min_buckets > kBuckets) {
    return InvalidArgumentError(
        StrCat("Analyze: min_buckets must be in [0, ", kBuckets, "], got ", options.min_buckets));
  }
  for (size_t i = 0; i < arms.size(); ++i) VREC_RETURN_IF_ERROR(ValidateArm(arms[i], i));

  std::vector<ArmReport> reports(arms.size());
  for (size_t i = 0; i < arms.size(); ++i) {
    const Arm& arm = arms[i];
    ArmReport& report = reports[i];
    report.name = arm.name;
    report.total = arm.Total();
    int non_empty = 0;
    for (const Sums& b : arm.buckets) non_empty += b.impressions > 0;
    for (Metric m : kMetrics) {
      std::array<double, kBuckets> y, x;
      for (size_t k = 0; k < arm.buckets.size(); ++k) {
        y[k] = arm.buckets[k].*Definition(m).numerator;
        x[k] = arm.buckets[k].*Definition(m).denominator;
      }
      Estimate e = RatioEstimate(y, x, options.alpha);
      if (non_empty < options.min_buckets) e.std_error = e.ci_low = e.ci_high = kNaN;
      report.metrics[m] = e;
    }
  }
  for (size_t i = 0; i < arms.size(); ++i) {
    if (i == control) continue;
    for (Metric m : kMetrics) {
      reports[i].vs_control[m] = Compare(reports[i].metrics[m], reports[control].metrics[m], options.alpha);
    }
  }
  return reports;
}

}  // namespace vrec::experiments
