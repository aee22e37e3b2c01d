#include "vrec/experiments/ledger.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "vrec/common/csv.h"
#include "vrec/common/hash.h"
#include "vrec/common/strings.h"

namespace vrec::experiments {
namespace {

constexpr std::string_view kArmPrefix = "exp/a/";
constexpr std::string_view kGuardPrefix = "exp/g/";
constexpr size_t kSumsValues = 7;
constexpr size_t kGuardValues = 2 + kLatencyBounds.size() + 1;

std::string Escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '.' || c == '_' || c == '-') {
      out.push_back(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", u);
      out += buf;
    }
  }
  return out;
}

std::vector<double> SumsValues(const Sums& s) {
  return {s.impressions, s.plays, s.completions, s.likes, s.skips, s.watch_s, s.users};
}

Sums SumsOf(const std::vector<double>& v) {
  return {.impressions = v[0],
          .plays = v[1],
          .completions = v[2],
          .likes = v[3],
          .skips = v[4],
          .watch_s = v[5],
          .users = v[6]};
}

void AddInto(std::vector<double>& into, const std::vector<double>& add) {
  if (into.size() < add.size()) into.resize(add.size(), 0.0);
  for (size_t i = 0; i < add.size(); ++i) into[i] += add[i];
}

nlohmann::ordered_json Number(double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nullptr; }

}  // namespace

std::string TrialEpoch(std::string_view version, int64_t started_unix) {
  return StrCat("trial-", version, "-", started_unix);
}

std::string ExperimentEpoch(std::string_view experiment) {
  return StrCat("exp-", experiment.empty() ? std::string_view("default") : experiment);
}

std::vector<std::string> LedgerData::Epochs() const {
  std::vector<std::string> out;
  for (const auto& [key, arm] : arms) {
    if (out.empty() || out.back() != key.epoch) out.push_back(key.epoch);
  }
  return out;
}

bool InCanary(uint64_t user, std::string_view version, double share) {
  Hasher h;
  h.Update("canary:");
  h.Update(version);
  h.Update(":");
  h.Update(std::to_string(user));
  return static_cast<double>(Fmix64(h.Value())) / 18446744073709551616.0 < share;
}

Guardrails& Guardrails::operator+=(const Guardrails& o) {
  requests += o.requests;
  errors += o.errors;
  for (size_t i = 0; i < latency.size(); ++i) latency[i] += o.latency[i];
  return *this;
}

double Guardrails::ErrorRate() const { return requests > 0 ? errors / requests : kNaN; }

double Guardrails::LatencyQuantile(double q) const {
  double total = 0;
  for (double c : latency) total += c;
  if (total <= 0) return kNaN;
  const double rank = q * total;
  double seen = 0, lower = 0;
  for (size_t i = 0; i < latency.size(); ++i) {
    const double upper = i < kLatencyBounds.size() ? kLatencyBounds[i] : kLatencyBounds.back() * 2;
    if (seen + latency[i] >= rank && latency[i] > 0) {
      return lower + (upper - lower) * ((rank - seen) / latency[i]);
    }
    seen += latency[i];
    lower = upper;
  }
  return lower;
}

void Ledger::Count(const ArmKey& arm, uint64_t user, const Sums& delta) {
  const std::string name = StrCat(kArmPrefix, Escape(arm.epoch), "/", Escape(arm.version), "/",
                                  Escape(arm.variant), "/", Escape(arm.surface), "/", BucketOf(user));
  std::lock_guard lock(mu_);
  AddInto(pending_[name], SumsValues(delta));
}

void Ledger::Request(const ArmKey& arm, double seconds, bool error) {
  std::vector<double> g(kGuardValues, 0.0);
  g[0] = 1;
  g[1] = error ? 1 : 0;
  const size_t bucket = static_cast<size_t>(
      std::upper_bound(kLatencyBounds.begin(), kLatencyBounds.end(), seconds, std::less_equal<>()) -
      kLatencyBounds.begin());
  g[2 + bucket] = 1;
  const std::string name =
      StrCat(kGuardPrefix, Escape(arm.epoch), "/", Escape(arm.version), "/", Escape(arm.variant));
  std::lock_guard lock(mu_);
  AddInto(pending_[name], g);
}

std::vector<std::pair<std::string, std::vector<double>>> Ledger::Take() {
  std::map<std::string, std::vector<double>> taken;
  {
    std::lock_guard lock(mu_);
    taken.swap(pending_);
  }
  return {std::make_move_iterator(taken.begin()), std::make_move_iterator(taken.end())};
}

void Ledger::Restore(const std::vector<std::pair<std::string, std::vector<double>>>& taken) {
  std::lock_guard lock(mu_);
  for (const auto& [name, values] : taken) AddInto(pending_[name], values);
}

bool Ledger::empty() const {
  std::lock_guard lock(mu_);
  return pending_.empty();
}

StatusOr<LedgerData> ParseLedger(const std::vector<std::pair<std::string, std::vector<double>>>& sums) {
  LedgerData out;
  for (const auto& [name, values] : sums) {
    const auto corrupt = [&](std::string_view why) {
      return DataLossError(StrCat("experiment ledger: ", name, ": ", why));
    };
    const bool arm = name.starts_with(kArmPrefix);
    if (!arm && !name.starts_with(kGuardPrefix)) return corrupt("not a ledger name");
    std::vector<std::string> parts;
    for (std::string_view p : SplitNonEmpty(std::string_view(name).substr(kArmPrefix.size()), '/')) {
      auto u = PercentDecode(p);
      if (!u) return corrupt("bad escape");
      parts.push_back(std::move(*u));
    }
    if (arm) {
      int bucket = -1;
      if (parts.size() != 5 || values.size() > kSumsValues) return corrupt("not an arm's bucket");
      int64_t b = 0;
      if (!ParseInt64(parts[4], b) || b < 0 || b >= kBuckets) return corrupt("bad bucket");
      bucket = static_cast<int>(b);
      std::vector<double> v = values;
      v.resize(kSumsValues, 0.0);
      const ArmKey key{parts[0], parts[1], parts[2], parts[3]};
      Arm& a = out.arms[key];
      a.name = StrCat(key.version, "/", key.variant, "/", key.surface);
      a.buckets[static_cast<size_t>(bucket)] += SumsOf(v);
    } else {
      if (parts.size() != 3 || values.size() > kGuardValues) return corrupt("not guardrails");
      Guardrails g;
      g.requests = values.size() > 0 ? values[0] : 0;
      g.errors = values.size() > 1 ? values[1] : 0;
      for (size_t i = 2; i < values.size(); ++i) g.latency[i - 2] = values[i];
      out.guardrails[ArmKey{parts[0], parts[1], parts[2], ""}] += g;
    }
  }
  return out;
}

StatusOr<Report> Compare(const LedgerData& data, const std::string& epoch, Grouping grouping,
                         const std::string& version, const std::string& control, const std::string& surface,
                         const AnalyzeOptions& options) {
  // Pool the arms by the compared dimension.
  std::map<std::string, Arm> pooled;
  std::map<std::string, Guardrails> guards;
  for (const auto& [key, arm] : data.arms) {
    if (key.epoch != epoch) continue;
    if (grouping == Grouping::kVariantsOfVersion && key.version != version) continue;
    if (!surface.empty() && key.surface != surface) continue;
    const std::string& name = grouping == Grouping::kVersions ? key.version : key.variant;
    Arm& p = pooled[name];
    p.name = name;
    for (size_t b = 0; b < p.buckets.size(); ++b) p.buckets[b] += arm.buckets[b];
  }
  for (const auto& [key, g] : data.guardrails) {
    if (key.epoch != epoch) continue;
    if (grouping == Grouping::kVariantsOfVersion && key.version != version) continue;
    guards[grouping == Grouping::kVersions ? key.version : key.variant] += g;
  }
  if (!pooled.contains(control)) {
    return NotFoundError(
        StrCat("the experiment ledger has nothing for the control arm '", control, "' in epoch ", epoch));
  }
  std::vector<Arm> arms;
  arms.push_back(pooled.at(control));
  for (auto& [name, arm] : pooled) {
    if (name != control) arms.push_back(std::move(arm));
  }
  Report report;
  report.control = control;
  VREC_ASSIGN_OR_RETURN(report.arms, Analyze(arms, 0, options));
  for (const Arm& a : arms) report.guardrails.push_back(guards[a.name]);
  return report;
}

std::string ReportJson(const Report& report) {
  nlohmann::ordered_json out;
  out["control"] = report.control;
  nlohmann::ordered_json arms = nlohmann::ordered_json::array();
  for (size_t i = 0; i < report.arms.size(); ++i) {
    const ArmReport& a = report.arms[i];
    const Guardrails& g = report.guardrails[i];
    nlohmann::ordered_json j;
    j["name"] = a.name;
    j["totals"] = {{"impressions", a.total.impressions},
                   {"plays", a.total.plays},
                   {"completions", a.total.completions},
                   {"likes", a.total.likes},
                   {"skips", a.total.skips},
                   {"watch_s", a.total.watch_s}};
    nlohmann::ordered_json metrics, vs;
    for (const Metric m : kMetrics) {
      const Estimate& e = a.metrics.at(m);
      metrics[std::string(Name(m))] = {
          {"value", Number(e.value)}, {"ci_low", Number(e.ci_low)}, {"ci_high", Number(e.ci_high)}};
      if (auto it = a.vs_control.find(m); it != a.vs_control.end()) {
        const Comparison& c = it->second;
        vs[std::string(Name(m))] = {{"difference", Number(c.difference)}, {"relative", Number(c.relative)},
                                    {"ci_low", Number(c.ci_low)},         {"ci_high", Number(c.ci_high)},
                                    {"p_value", Number(c.p_value)},       {"significant", c.significant}};
      }
    }
    j["metrics"] = std::move(metrics);
    if (!vs.is_null()) j["vs_control"] = std::move(vs);
    j["guardrails"] = {{"requests", g.requests},
                       {"error_rate", Number(g.ErrorRate())},
                       {"p50_ms", Number(g.LatencyQuantile(0.5) * 1e3)},
                       {"p99_ms", Number(g.LatencyQuantile(0.99) * 1e3)}};
    arms.push_back(std::move(j));
  }
  out["arms"] = std::move(arms);
  return out.dump();
}

std::string ReportText(const Report& report) {
  std::string out;
  char buf[256];
  for (size_t i = 0; i < report.arms.size(); ++i) {
    const ArmReport& a = report.arms[i];
    const Guardrails& g = report.guardrails[i];
    out += StrCat(a.name, i == 0 ? " (control)" : "",
                  ": impressions=", static_cast<int64_t>(a.total.impressions),
                  " requests=", static_cast<int64_t>(g.requests));
    std::snprintf(buf, sizeof buf, " error_rate=%.4f p99_ms=%.2f\n", g.ErrorRate(),
                  g.LatencyQuantile(0.99) * 1e3);
    out += buf;
    for (const Metric m : kMetrics) {
      const Estimate& e = a.metrics.at(m);
      std::snprintf(buf, sizeof buf, "  %-26s %.5f [%.5f, %.5f]", std::string(Name(m)).c_str(), e.value,
                    e.ci_low, e.ci_high);
      out += buf;
      if (auto it = a.vs_control.find(m); it != a.vs_control.end()) {
        const Comparison& c = it->second;
        std::snprintf(buf, sizeof buf, "  vs control %+.2f%% [%+.5f, %+.5f] p=%.4f%s", c.relative * 100,
                      c.ci_low, c.ci_high, c.p_value, c.significant ? " significant" : "");
        out += buf;
      }
      out += '\n';
    }
  }
  return out;
}

CanaryDecision DecideCanary(const LedgerData& data, const std::string& epoch, const std::string& canary,
                            const std::string& baseline, int64_t elapsed_s, const CanaryPolicy& policy) {
  using V = CanaryDecision::Verdict;
  Guardrails gc, gb;
  for (const auto& [key, g] : data.guardrails) {
    if (key.epoch != epoch) continue;
    if (key.version == canary) gc += g;
    if (key.version == baseline) gb += g;
  }
  char buf[256];
  // Guardrails first: a canary that fails requests is rolled back whatever its metrics say.
  if (gc.requests >= kMinErrorRequests && gb.requests >= kMinErrorRequests &&
      gc.ErrorRate() - gb.ErrorRate() > policy.max_error_rate_increase) {
    std::snprintf(buf, sizeof buf, "error rate %.4f vs production %.4f (allowed +%.4f)", gc.ErrorRate(),
                  gb.ErrorRate(), policy.max_error_rate_increase);
    return {V::kRollBack, buf};
  }
  if (gc.requests >= kMinLatencyRequests && gb.requests >= kMinLatencyRequests) {
    const double pc = gc.LatencyQuantile(0.99), pb = gb.LatencyQuantile(0.99);
    if (pc > policy.max_p99_ratio * pb && pc > pb + policy.p99_slack_ms * 1e-3) {
      std::snprintf(buf, sizeof buf, "p99 latency %.2f ms vs production %.2f ms (allowed x%.2f and +%.1f ms)",
                    pc * 1e3, pb * 1e3, policy.max_p99_ratio, policy.p99_slack_ms);
      return {V::kRollBack, buf};
    }
  }
  AnalyzeOptions options;
  options.alpha = policy.alpha;
  auto report = Compare(data, epoch, Grouping::kVersions, "", baseline, "", options);
  const ArmReport* arm = nullptr;
  if (report.ok()) {
    for (const ArmReport& a : report->arms) {
      if (a.name == canary) arm = &a;
    }
  }
  const double impressions = arm ? arm->total.impressions : 0;
  const std::string metric(Name(policy.primary));
  // The half-width of the relative difference's interval: how precisely the drop is known.
  double half_width = kNaN;
  const Comparison* c = nullptr;
  if (arm != nullptr) {
    c = &arm->vs_control.at(policy.primary);
    const double control = report->arms[0].metrics.at(policy.primary).value;
    half_width = (c->ci_high - c->ci_low) / 2 / std::abs(control);
  }
  const bool precise = half_width <= policy.max_relative_drop / 2;
  if (elapsed_s < policy.window_s || impressions < policy.min_impressions || !precise) {
    if (elapsed_s >= 3 * policy.window_s) {
      std::snprintf(
          buf, sizeof buf,
          "%.0f impressions and a %s interval of +/-%.1f%% after %lld s (needs %.0f and +/-%.1f%%): "
          "cannot be judged",
          impressions, metric.c_str(), half_width * 100, static_cast<long long>(elapsed_s),
          policy.min_impressions, policy.max_relative_drop * 50);
      return {V::kRollBack, buf};
    }
    return {V::kWait, ""};
  }
  std::snprintf(
      buf, sizeof buf,
      "%s %+.2f%% vs production (difference %+.5f, %.0f%% CI [%+.5f, %+.5f], p=%.4f; allowed drop %.1f%%)",
      metric.c_str(), c->relative * 100, c->difference, (1 - policy.alpha) * 100, c->ci_low, c->ci_high,
      c->p_value, policy.max_relative_drop * 100);
  return {c->relative >= -policy.max_relative_drop ? V::kPromote : V::kRollBack, buf};
}

}  // namespace vrec::experiments
