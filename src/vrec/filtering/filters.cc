#include "vrec/filtering/filters.h"

#include <algorithm>
#include <cmath>

#include "vrec/common/strings.h"

namespace vrec::filtering {

std::string_view Name(WatchedPolicy p) {
  switch (p) {
    case WatchedPolicy::kAnyPlay:
      return "any_play";
    case WatchedPolicy::kFinished:
      return "finished";
  }
  return "unknown";
}

std::optional<WatchedPolicy> ParseWatchedPolicy(std::string_view s) {
  const std::string lower = AsciiStrToLower(s);
  if (lower == "any" || lower == "any_play") return WatchedPolicy::kAnyPlay;
  if (lower == "finished") return WatchedPolicy::kFinished;
  return std::nullopt;
}

std::string_view Name(Filter f) {
  switch (f) {
    case Filter::kWatched:
      return "watched";
    case Filter::kContentPolicy:
      return "content_policy";
    case Filter::kAvailability:
      return "availability";
    case Filter::kOnScreen:
      return "on_screen";
    case Filter::kFreshness:
      return "freshness";
  }
  return "unknown";
}

std::string FilterReport::ToString() const {
  std::string out;
  for (const Count& c : counts) {
    if (!out.empty()) out += ' ';
    out += StrCat(Name(c.filter), "=", c.removed);
  }
  return out;
}

Status Validate(const FilterOptions& options) {
  std::vector<std::string> problems;
  // Written as a negated range test so that NaN is rejected too.
  if (!(options.finished_ratio > 0.0f && options.finished_ratio <= 1.0f)) {
    problems.push_back(StrCat("finished_ratio must be in (0, 1], got ", options.finished_ratio));
  }
  if (options.adult_age < 0 || options.adult_age > 150) {
    problems.push_back(StrCat("adult_age must be in [0, 150], got ", options.adult_age));
  }
  for (const auto& [surface, max_age] : options.max_upload_age_s) {
    if (surface.empty()) problems.push_back("max_upload_age_s has an empty surface name");
    if (max_age < 0) {
      problems.push_back(
          StrCat("max_upload_age_s[", surface, "] must be >= 0 (0 = no limit), got ", max_age));
    }
  }
  if (options.default_max_upload_age_s < 0) {
    problems.push_back(StrCat("default_max_upload_age_s must be >= 0 (0 = no limit), got ",
                              options.default_max_upload_age_s));
  }
  if (problems.empty()) return OkStatus();
  return InvalidArgumentError(StrCat("invalid filter options: ", StrJoin(problems, "; ")));
}

namespace {

// Whether one history event makes its video "watched" under the policy.
bool MarksWatched(const HistoryItem& item, const FilterOptions& options) {
  using data::EventType;
  switch (item.type) {
    case EventType::kImpression:
      return false;
    case EventType::kSkip:
      return options.watched == WatchedPolicy::kAnyPlay;
    case EventType::kPlay:
      // NaN compares false, so a play without a recorded ratio never counts as finished.
      return options.watched == WatchedPolicy::kAnyPlay || item.watch_ratio >= options.finished_ratio;
    case EventType::kLike:
    case EventType::kComment:
    case EventType::kShare:
    case EventType::kRating:
      return true;
  }
  return false;
}

// The parts of a request the per-video checks need, resolved once per call.
struct Resolved {
  bool minor = true;
  int64_t max_age_s = 0;  // 0 = no limit
};

Resolved Resolve(const FilterRequest& request, const FilterOptions& options) {
  Resolved r;
  const int age = request.user.age;
  r.minor = age < 0 ? options.missing_age_is_minor : age < options.adult_age;
  auto it = options.max_upload_age_s.find(request.surface);
  r.max_age_s = it != options.max_upload_age_s.end() ? it->second : options.default_max_upload_age_s;
  return r;
}

std::optional<Filter> OnScreen(uint32_t video, const FilterRequest& request) {
  if (std::binary_search(request.on_screen.begin(), request.on_screen.end(), video)) return Filter::kOnScreen;
  return std::nullopt;
}

// The first filter after "watched" that rejects `video`, if any.
std::optional<Filter> CheckCatalog(uint32_t video, const data::CatalogView& catalog,
                                   const FilterRequest& request, const FilterOptions& options,
                                   const Resolved& resolved) {
  // A video the catalog does not know cannot be described to the user, let alone checked
  // against the policy: report it as unavailable.
  if (video >= catalog.num_videos()) return Filter::kAvailability;
  const data::Video& v = catalog.video(video);
  const std::span<const uint8_t> flags = request.overrides.flags;
  const uint8_t flag = video < flags.size() ? flags[video] : 0;

  if (resolved.minor && (v.age_restricted || (flag & kFlagAgeRestricted) != 0)) return Filter::kContentPolicy;

  const bool known_upload = v.upload_time != data::kUnknownTime;
  if (!v.available || (flag & kFlagUnavailable) != 0 || (known_upload && v.upload_time > request.now)) {
    return Filter::kAvailability;
  }

  if (resolved.max_age_s == 0) return OnScreen(video, request);  // no limit on this surface
  if (!known_upload) {
    if (!options.unknown_upload_time_is_fresh) return Filter::kFreshness;
  } else if (v.upload_time < request.now) {
    // Unsigned difference: exact for any pair of int64 values with upload_time < now, where the
    // signed subtraction could overflow for absurd upload times.
    const uint64_t age = static_cast<uint64_t>(request.now) - static_cast<uint64_t>(v.upload_time);
    if (age > static_cast<uint64_t>(resolved.max_age_s)) return Filter::kFreshness;
  }
  return OnScreen(video, request);
}

}  // namespace

FilterReport Apply(std::vector<Candidate>& candidates, const data::CatalogView& catalog,
                   const FilterRequest& request, const FilterOptions& options) {
  FilterReport report;
  for (int i = 0; i < kNumFilters; ++i) report.counts[static_cast<size_t>(i)].filter = static_cast<Filter>(i);
  report.input = static_cast<int>(candidates.size());

  // Watched videos as a sorted vector: cheaper to build and probe than a hash set at these sizes
  // (hundreds of events, hundreds of candidates).
  std::vector<uint32_t> watched;
  if (!request.user.history.empty()) {
    watched.reserve(request.user.history.size());
    for (const HistoryItem& item : request.user.history) {
      if (item.video < catalog.num_videos() && MarksWatched(item, options)) watched.push_back(item.video);
    }
    std::sort(watched.begin(), watched.end());
    watched.erase(std::unique(watched.begin(), watched.end()), watched.end());
  }

  const Resolved resolved = Resolve(request, options);
  size_t out = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const uint32_t video = candidates[i].video;
    std::optional<Filter> rejected;
    if (!watched.empty() && std::binary_search(watched.begin(), watched.end(), video)) {
      rejected = Filter::kWatched;
    } else {
      rejected = CheckCatalog(video, catalog, request, options, resolved);
    }
    if (rejected) {
      ++report.counts[static_cast<size_t>(*rejected)].removed;
    } else {
      candidates[out++] = candidates[i];
    }
  }
  candidates.resize(out);
  report.kept = static_cast<int>(out);
  return report;
}

std::optional<Filter> RejectedBy(uint32_t video, const data::CatalogView& catalog,
                                 const FilterRequest& request, const FilterOptions& options) {
  if (video < catalog.num_videos()) {
    for (const HistoryItem& item : request.user.history) {
      if (item.video == video && MarksWatched(item, options)) return Filter::kWatched;
    }
  }
  return CheckCatalog(video, catalog, request, options, Resolve(request, options));
}

bool Allowed(uint32_t video, const data::CatalogView& catalog, const FilterRequest& request,
             const FilterOptions& options) {
  return !RejectedBy(video, catalog, request, options).has_value();
}

}  // namespace vrec::filtering
