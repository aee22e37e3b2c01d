#include "vrec/ordering/experiment.h"

#include <charconv>
#include <cmath>
#include <set>

#include "vrec/common/check.h"
#include "vrec/common/hash.h"
#include "vrec/common/strings.h"

namespace vrec::ordering {

Status Validate(const ExperimentOptions& experiment) {
  std::vector<std::string> problems;
  if (experiment.name.empty()) problems.push_back("experiment name is empty");
  if (experiment.variants.empty())
    problems.push_back(StrCat("experiment '", experiment.name, "' has no variant"));
  std::set<std::string_view> names;
  for (const Variant& v : experiment.variants) {
    if (v.name.empty()) {
      problems.push_back("a variant name is empty");
    } else if (!names.insert(v.name).second) {
      problems.push_back(StrCat("variant name '", v.name, "' is used twice"));
    }
    if (!(v.weight > 0) || std::isinf(v.weight)) {
      problems.push_back(StrCat("variant '", v.name, "': weight must be finite and > 0, got ", v.weight));
    }
    for (const auto& [key, value] : v.overrides) {
      if (!IsOrderingKey(key)) continue;
      OrderingOptions scratch;
      if (Status st = ApplyOrderingOverride(key, value, scratch); !st.ok()) {
        problems.push_back(StrCat("variant '", v.name, "': ", st.message()));
      }
    }
  }
  if (problems.empty()) return OkStatus();
  return InvalidArgumentError(StrCat("invalid experiment: ", StrJoin(problems, "; ")));
}

double ExperimentBucket(const ExperimentOptions& experiment, UserId user) {
  // NUL separators so that ("ab", "c") and ("a", "bc") hash differently.
  Hasher h;
  h.Update(experiment.salt);
  h.Update(std::string_view("\0", 1));
  h.Update(experiment.name);
  h.Update(std::string_view("\0", 1));
  h.Update(StrCat(user.value));
  // Mixed (common/hash.h) before we take the top 53 bits: FNV-1a alone crowds consecutive ids.
  return static_cast<double>(Fmix64(h.Value()) >> 11) * 0x1.0p-53;
}

const Variant& AssignVariant(const ExperimentOptions& experiment, UserId user) {
  // With no variant, variants.back() below would hand out a reference to nothing.
  VREC_CHECK(!experiment.variants.empty(), "AssignVariant needs a validated experiment");
  double total = 0;
  for (const Variant& v : experiment.variants) total += v.weight;
  const double point = ExperimentBucket(experiment, user) * total;
  double cumulative = 0;
  for (const Variant& v : experiment.variants) {
    cumulative += v.weight;
    if (point < cumulative) return v;
  }
  // Rounding can leave point == total for the very top bucket.
  return experiment.variants.back();
}

namespace {

template <typename T>
Status ParseNumber(std::string_view key, std::string_view value, T& out) {
  const std::string_view v = StripAsciiWhitespace(value);
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size()) {
    return InvalidArgumentError(StrCat(key, ": cannot parse '", value, "' as a number"));
  }
  return OkStatus();
}

}  // namespace

Status ApplyOrderingOverride(std::string_view key, std::string_view value, OrderingOptions& options) {
  // Each value is checked on its own (in otherwise default options) so that a problem elsewhere
  // in `options` is not blamed on this override.
  OrderingOptions alone;
  // The key's field in an OrderingOptions; null for an unknown key.
  const auto int_field = [&key](OrderingOptions& o) -> int* {
    if (key == "ordering.max_per_category") return &o.max_per_category;
    if (key == "ordering.diversity_window") return &o.diversity_window;
    if (key == "ordering.explore_candidates") return &o.explore.candidates;
    return nullptr;
  };
  const auto double_field = [&key](OrderingOptions& o) -> double* {
    if (key == "ordering.freshness_boost") return &o.freshness_boost;
    if (key == "ordering.freshness_half_life_hours") return &o.freshness_half_life_hours;
    if (key == "ordering.explore_share") return &o.explore.share;
    if (key == "ordering.explore_fresh_hours") return &o.explore.fresh_hours;
    if (key == "ordering.explore_prior_plays") return &o.explore.prior_plays;
    if (key == "ordering.explore_prior_skips") return &o.explore.prior_skips;
    return nullptr;
  };
  if (int* as_int = int_field(alone)) {
    VREC_RETURN_IF_ERROR(ParseNumber(key, value, *as_int));
  } else if (double* as_double = double_field(alone)) {
    VREC_RETURN_IF_ERROR(ParseNumber(key, value, *as_double));
  } else {
    return InvalidArgumentError(StrCat("unknown ordering parameter '", key, "'"));
  }
  if (Status st = Validate(alone); !st.ok()) return InvalidArgumentError(StrCat(key, ": ", st.message()));
  if (int* out = int_field(options)) {
    *out = *int_field(alone);
  } else {
    *double_field(options) = *double_field(alone);
  }
  return OkStatus();
}

}  // namespace vrec::ordering
