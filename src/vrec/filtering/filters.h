// Stage 2 of the online pipeline: business rules and content policy. Removes from the retrieved
// candidates every video the user must not be shown, as a chain of five filters run in this order:
//   watched         the user already watched (or otherwise engaged with) the video
//   content_policy  the video is age restricted and the user is a minor (or of unknown age)
//   availability    taken down in the catalog or by an admin, outside the catalog, or not yet
//                   published (upload time after `now`)
//   freshness       uploaded longer ago than the surface allows
//   on_screen       the client already shows it (the request's exclude list)
// A candidate failing several filters is counted once, by the first filter of the chain.
//
// Everything here is a pure function of its arguments: no state, no I/O, safe to call from any
// number of threads at once (the catalog and spans are only read).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/data/catalog_view.h"
#include "vrec/data/dataset.h"
#include "vrec/filtering/candidate.h"

namespace vrec::filtering {

// Which past interactions make a video "watched" (and so removed).
enum class WatchedPolicy : uint8_t {
  // Any interaction except an impression: plays of any length, skips, likes, comments, shares,
  // ratings. A video the user merely scrolled past stays eligible.
  kAnyPlay,
  // Only a play with watch_ratio >= FilterOptions::finished_ratio, a like, a comment, a share or
  // a rating. Half-watched videos and skips stay eligible (the user may come back to them).
  kFinished,
};

std::string_view Name(WatchedPolicy p);
// "any" / "any_play" or "finished" (case-insensitive); nullopt otherwise.
std::optional<WatchedPolicy> ParseWatchedPolicy(std::string_view s);

struct FilterOptions {
  // Which history events remove a video. Default: any interaction except an impression.
  WatchedPolicy watched = WatchedPolicy::kAnyPlay;
  // With kFinished, the watch ratio from which a play counts as finished. In (0, 1]. Default 0.9.
  // A play whose ratio was not recorded (NaN) never counts as finished.
  float finished_ratio = 0.9f;
  // Users of at least this age (years) may see age-restricted videos. In [0, 150]. Default 18.
  int adult_age = 18;
  // true: a user whose age is unknown (negative) is treated as a minor and never sees
  // age-restricted videos. Default true (the safe side of the policy).
  bool missing_age_is_minor = true;
  // Per-surface freshness limit: surface name ("home", "trending"...) -> maximum upload age in
  // seconds; a value of 0 means no limit on that surface, overriding the default. Default: empty.
  // std::less<> so that a request's surface (a string_view) is looked up without a copy.
  std::map<std::string, int64_t, std::less<>> max_upload_age_s;
  // Maximum upload age in seconds on surfaces absent from max_upload_age_s; 0 = no limit.
  // Default 0.
  int64_t default_max_upload_age_s = 0;
  // Whether a video with an unknown upload time passes the freshness filter on a surface with a
  // limit (it can be shown neither fresh nor stale; without a limit it always passes). Default
  // true: catalogs imported without upload times keep working. Such videos are never "not yet
  // published".
  bool unknown_upload_time_is_fresh = true;
};

// OK, or InvalidArgument naming every bad field at once (finished_ratio outside (0, 1], adult_age
// outside [0, 150], negative ages, empty surface names).
Status Validate(const FilterOptions& options);

// One event of the user's history, as the filters need it.
struct HistoryItem {
  uint32_t video = 0;  // dense index into the catalog; out-of-range entries are ignored
  data::EventType type = data::EventType::kPlay;
  float watch_ratio = data::kMissing;  // for plays; NaN when not recorded
};

struct FilterUser {
  int age = -1;                          // years; negative when unknown
  std::span<const HistoryItem> history;  // any order; not owned, must outlive the call
};

// Admin flags layered over the catalog, one byte per video (bits below), indexed by the dense
// video index. A shorter span (typically empty) means "no flags" for the videos beyond its end,
// so a flag set can be published without copying the catalog.
inline constexpr uint8_t kFlagUnavailable = 1 << 0;    // taken down by an admin
inline constexpr uint8_t kFlagAgeRestricted = 1 << 1;  // restricted by an admin
struct VideoOverrides {
  std::span<const uint8_t> flags;  // not owned, must outlive the call
};

// Everything about one request the filters look at besides the candidates.
struct FilterRequest {
  FilterUser user;
  VideoOverrides overrides;
  std::string_view surface;  // e.g. "home"; selects the freshness limit
  int64_t now = 0;           // unix seconds
  // Videos the client already shows (dense indices, sorted ascending; not owned).
  std::span<const uint32_t> on_screen;
};

// The filters, in chain order.
enum class Filter : uint8_t { kWatched, kContentPolicy, kAvailability, kFreshness, kOnScreen };
inline constexpr int kNumFilters = 5;
// "watched", "content_policy", "availability", "freshness", "on_screen".
std::string_view Name(Filter f);

// What one Apply call did, for metrics and debug output.
struct FilterReport {
  struct Count {
    Filter filter = Filter::kWatched;
    int removed = 0;
  };
  std::array<Count, kNumFilters> counts;  // every filter, in chain order
  int input = 0;                          // candidates before the chain
  int kept = 0;                           // candidates after it

  int removed(Filter f) const { return counts[static_cast<size_t>(f)].removed; }
  // "watched=2 content_policy=0 availability=1 freshness=0".
  std::string ToString() const;
};

// Runs the chain over `candidates`, removing rejected ones in place and keeping the order of the
// rest. Duplicates are neither removed nor merged. Options must have passed Validate. Never fails.
// Cost: O((n + h) log h) for n candidates and h history events; one allocation when h > 0.
FilterReport Apply(std::vector<Candidate>& candidates, const data::CatalogView& catalog,
                   const FilterRequest& request, const FilterOptions& options);

// The first filter of the chain that rejects `video`, or nullopt when it may be shown. Agrees with
// Apply for every video; O(h) for h history events (for a handful of videos, e.g. promotions and
// per-item debug traces).
std::optional<Filter> RejectedBy(uint32_t video, const data::CatalogView& catalog,
                                 const FilterRequest& request, const FilterOptions& options);

// RejectedBy(...) == nullopt.
bool Allowed(uint32_t video, const data::CatalogView& catalog, const FilterRequest& request,
             const FilterOptions& options);

}  // namespace vrec::filtering
