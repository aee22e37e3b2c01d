// The experiment ledger: what every arm of an online experiment showed and what its users did,
// shared by every server through the feature store's additive sums, and the reports and canary
// decisions read from it.
//
// An arm is (epoch, model version, experiment variant, surface). The epoch is the period its
// counts belong to: a canary trial (TrialEpoch: only counts made during the trial compare the
// trial with production, so that what changed over time is not taken for the trial's effect), or
// else the experiment (ExperimentEpoch). Each server counts in memory (Ledger) and adds its counts
// to the store every flush interval (features::FeatureStore::AddSums, which loses no server's
// addition), under these names:
//   exp/a/<epoch>/<version>/<variant>/<surface>/<bucket>   Sums of one user bucket (stats.h), 7
//                                            values: impressions, plays, completions, likes,
//                                            skips, watch_s, users
//   exp/g/<epoch>/<version>/<variant>        guardrails: requests, errors, then the request count
//                                            of each latency bucket (kLatencyBounds, +Inf)
// Name parts are percent-escaped outside [A-Za-z0-9._-]. A crash loses at most the counts of its
// last flush interval (the events themselves are in the durable event log).
//
// Attribution: an observation belongs to the arm the user was served: the variant by the
// experiment's hash of the user, the version by the canary's hash of the user (or production).
// An event counts when it answers a recommendation (it carries the response's request_id); it is
// attributed to the arm its user is assigned to when the event arrives (intention to treat), so a
// model swap moves the events of lists shown before it to the new version for a few seconds.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/experiments/stats.h"

namespace vrec::experiments {

struct ArmKey {
  std::string epoch;    // TrialEpoch or ExperimentEpoch
  std::string version;  // model version served
  std::string variant;  // experiment variant ("default" without an experiment)
  std::string surface;  // "home", "up_next", ...
  auto operator<=>(const ArmKey&) const = default;
};

// "trial-<version>-<started unix seconds>": the counts made while that trial ran.
std::string TrialEpoch(std::string_view version, int64_t started_unix);
// "exp-<experiment name>" ("exp-default" without an experiment): counts made outside trials.
std::string ExperimentEpoch(std::string_view experiment);

// Upper bounds (seconds) of the guardrail latency histogram; one more bucket counts the rest.
inline constexpr std::array<double, 12> kLatencyBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                          0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

// Requests, errors and latencies of one (version, variant): what a change must not make worse.
struct Guardrails {
  double requests = 0;
  double errors = 0;  // responses with status >= 500
  std::array<double, kLatencyBounds.size() + 1> latency{};
  Guardrails& operator+=(const Guardrails& other);
  double ErrorRate() const;                // NaN without requests
  double LatencyQuantile(double q) const;  // seconds, interpolated in its bucket; NaN without requests
};

// Counts since the last Take, in memory. Thread-safe.
class Ledger {
 public:
  // Adds `delta` to the bucket of `user` (BucketOf) in `arm`.
  void Count(const ArmKey& arm, uint64_t user, const Sums& delta);
  // One recommendation request of (version, variant): its latency and whether it failed.
  void Request(const ArmKey& arm, double seconds, bool error);  // the arm's surface is not kept
  // The pending counts as named sums for FeatureStore::AddSums, clearing them.
  std::vector<std::pair<std::string, std::vector<double>>> Take();
  // Puts back what a Take returned (its flush failed), to be added again with the next one.
  void Restore(const std::vector<std::pair<std::string, std::vector<double>>>& taken);
  bool empty() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::vector<double>> pending_;  // name -> values to add
};

// The ledger as stored, decoded.
struct LedgerData {
  std::map<ArmKey, Arm> arms;               // Arm::name is "version/variant/surface"
  std::map<ArmKey, Guardrails> guardrails;  // surface empty
  std::vector<std::string> Epochs() const;  // every epoch with counts, in name order
};
// Decodes what FeatureStore::ScanSums("exp/") returned (names without "s/"). DataLoss for a name
// or a value count that is not the ledger's.
StatusOr<LedgerData> ParseLedger(const std::vector<std::pair<std::string, std::vector<double>>>& sums);

// Arms pooled over surfaces (and, by version, over variants) for a comparison.
enum class Grouping { kVariantsOfVersion, kVersions };
// One comparison: the arms, their statistics against arms[control], and their guardrails.
struct Report {
  std::vector<ArmReport> arms;  // arms[control] first
  std::vector<Guardrails> guardrails;
  std::string control;
};
// Within `epoch`: the variants of `version` (control: the variant named `control`), or every
// version (control: the version named `control`); `surface` empty pools surfaces. NotFound when
// the control arm has no data.
StatusOr<Report> Compare(const LedgerData& data, const std::string& epoch, Grouping grouping,
                         const std::string& version, const std::string& control, const std::string& surface,
                         const AnalyzeOptions& options);

// The report as a JSON object: {"control":..,"arms":[{"name","totals":{..},"metrics":{"ctr":
// {"value","ci_low","ci_high"},..},"vs_control":{"ctr":{"difference","relative","ci_low","ci_high",
// "p_value","significant"},..},"guardrails":{"requests","error_rate","p50_ms","p99_ms"}}]}.
// Non-finite numbers are null.
std::string ReportJson(const Report& report);
// The same as aligned text lines for a terminal.
std::string ReportText(const Report& report);

// Whether `user` is among the share of users a trial of `version` serves (or shadows): FNV-1a of
// "canary:", the version and the decimal id, mixed by Fmix64, as a fraction of 2^64, below
// `share`. Independent of the experiment's variants and of the ledger's buckets; a new trial (a
// new version) draws a new set of users.
bool InCanary(uint64_t user, std::string_view version, double share);

// When a canary trial ends.
inline constexpr double kMinErrorRequests = 100;     // requests per arm before its error rate counts
inline constexpr double kMinLatencyRequests = 1000;  // requests per arm before its p99 counts
struct CanaryPolicy {
  Metric primary = Metric::kCtr;
  // The canary is rolled back when its primary metric is below the baseline's by more than this
  // share (point estimate), and promoted otherwise. The verdict waits until the estimate is precise
  // enough to tell: the half-width of the confidence interval of the relative difference (at
  // `alpha`) at most half this share, so that a canary as good as production is rolled back by
  // noise with probability ~1e-4 and one worse by twice the share is promoted as rarely.
  // Default 0.05.
  double max_relative_drop = 0.05;
  // ... or when its error rate exceeds the baseline's by more than this (absolute). Default 0.01.
  double max_error_rate_increase = 0.01;
  // ... or when its p99 latency exceeds this multiple of the baseline's and the baseline's plus
  // p99_slack_ms (measured once both have kMinLatencyRequests requests: a freshly loaded model's
  // first requests fault its mapped pages in, and the p99 of a few hundred requests is its
  // slowest few). Defaults 1.5 and 2 ms.
  double max_p99_ratio = 1.5;
  double p99_slack_ms = 2;
  // A decision waits for the window and for this many impressions of the canary. Defaults 1 h, 2000.
  int64_t window_s = 3600;
  double min_impressions = 2000;
  double alpha = 0.05;
};
struct CanaryDecision {
  enum class Verdict { kWait, kPromote, kRollBack };
  Verdict verdict = Verdict::kWait;
  std::string reason;  // the figures it rests on, for the registry's history
};
// Decides a trial of `canary` against `baseline` after `elapsed_s` seconds. Guardrails are checked
// at any time (a failing canary is rolled back before the window ends); the primary metric once
// the window has passed with enough impressions and precision. A trial still short of them after
// three windows is rolled back (it cannot be judged).
// Only the counts of `epoch` (the trial's TrialEpoch) count.
CanaryDecision DecideCanary(const LedgerData& data, const std::string& epoch, const std::string& canary,
                            const std::string& baseline, int64_t elapsed_s, const CanaryPolicy& policy);

}  // namespace vrec::experiments
