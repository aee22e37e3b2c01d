// A/B experiments: users are hashed into the variants of an experiment, and a variant overrides
// named parameters of the pipeline ("ordering.max_per_category" = "2"). Assignment is a pure
// function of (salt, experiment name, user id): the same user always lands in the same variant,
// on every server and after every restart, and two experiments with different salts or names
// split users independently of each other.
//
// Override keys are "<stage>.<parameter>". This file applies the "ordering." keys; the serving
// layer routes the other prefixes ("retrieval.", "ranking.") to their stages.
//
// Pure functions; safe to call from any number of threads at once.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "vrec/common/ids.h"
#include "vrec/common/status.h"
#include "vrec/ordering/ordering.h"

namespace vrec::ordering {

struct Variant {
  std::string name;   // unique within the experiment, e.g. "control"
  double weight = 1;  // share of users, relative to the other variants' weights; > 0
  std::map<std::string, std::string> overrides;  // parameter key -> value, as text
};

struct ExperimentOptions {
  std::string name;  // e.g. "diversity-2026-03"; part of the hash
  // Changing the salt reshuffles users (e.g. to start a follow-up experiment on fresh groups).
  std::string salt;
  std::vector<Variant> variants;  // at least one
};

// OK, or InvalidArgument naming every problem at once: an empty experiment or variant name, no
// variant, duplicate variant names, a weight that is not finite and > 0, and "ordering." override
// keys or values that ApplyOrderingOverride would reject (other prefixes are left to their stages).
Status Validate(const ExperimentOptions& experiment);

// The user's position in [0, 1) for this experiment: FNV-1a (common/hash.h) over salt, name and
// the decimal user id, then a 64-bit finalizer. Exposed for tests and for logging.
double ExperimentBucket(const ExperimentOptions& experiment, UserId user);

// The variant the user is in: the first whose cumulative weight share exceeds the user's bucket.
// Deterministic and stable per user. The experiment must have passed Validate (at least one
// variant is checked: none aborts). The reference is into `experiment`.
const Variant& AssignVariant(const ExperimentOptions& experiment, UserId user);

// Sets one ordering parameter from its text value. Keys: "ordering.max_per_category",
// "ordering.diversity_window", "ordering.explore_candidates" (integers), "ordering.freshness_boost",
// "ordering.freshness_half_life_hours", "ordering.explore_share", "ordering.explore_fresh_hours",
// "ordering.explore_prior_plays", "ordering.explore_prior_skips" (numbers). InvalidArgument for another key,
// a value that does not parse, or one that Validate would reject; `options` is then unchanged.
Status ApplyOrderingOverride(std::string_view key, std::string_view value, OrderingOptions& options);

// Whether `key` belongs to this stage ("ordering." prefix), for the serving layer's routing.
inline bool IsOrderingKey(std::string_view key) { return key.starts_with("ordering."); }

}  // namespace vrec::ordering
