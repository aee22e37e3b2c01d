// The data model of a video platform: users, videos, interactions (with their request context),
// and the category vocabulary. Matches the spec's feature tables. A Dataset is a plain value:
// importers and the synthetic generator fill it, splits and models read it. Not thread-safe for
// writes; concurrent reads are fine.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "vrec/common/ids.h"
#include "vrec/common/status.h"

namespace vrec::data {

inline constexpr int64_t kUnknownTime = std::numeric_limits<int64_t>::min();
inline constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();
// Distinct categories a dataset can hold: indices are uint16_t.
inline constexpr size_t kMaxCategories = size_t{1} << 16;
inline bool IsMissing(float v) { return std::isnan(v); }

enum class Gender : uint8_t { kUnknown, kFemale, kMale, kOther };
enum class Device : uint8_t { kUnknown, kAndroid, kIos, kWeb, kTv };
// What the user did. kRating is an explicit rating (MovieLens); kPlay carries watch time/ratio.
enum class EventType : uint8_t { kImpression, kPlay, kLike, kComment, kShare, kSkip, kRating };

std::string_view Name(Gender g);
std::string_view Name(Device d);
std::string_view Name(EventType e);
// Parse the names above (case-insensitive; also "m"/"f" for gender). nullopt when unknown.
std::optional<Gender> ParseGender(std::string_view s);
std::optional<Device> ParseDevice(std::string_view s);
std::optional<EventType> ParseEventType(std::string_view s);

struct User {
  UserId id;
  std::string country;   // ISO 3166-1 alpha-2 ("US"); empty when unknown.
  std::string language;  // ISO 639-1 ("en"); empty when unknown.
  int16_t age = -1;      // years; -1 when unknown.
  Gender gender = Gender::kUnknown;
};

struct Video {
  VideoId id;
  std::vector<uint16_t> categories;    // indices into Dataset::categories; first is the primary one.
  std::string language;                // ISO 639-1; empty when unknown.
  float duration_s = kMissing;         // seconds; NaN when unknown.
  int64_t upload_time = kUnknownTime;  // unix seconds; kUnknownTime when unknown.
  std::string title;                   // UTF-8.
  std::vector<std::string> tags;
  bool age_restricted = false;
  bool available = true;  // false: deleted or taken down.
};

// Request context of an interaction. Hour and day of week are derived from the timestamp (UTC).
struct Context {
  Device device = Device::kUnknown;
  int hour = 0;         // 0..23
  int day_of_week = 0;  // 0 = Monday .. 6 = Sunday
};

// One event. 32 bytes, so ten million fit in 320 MB.
struct Interaction {
  uint32_t user = 0;      // dense index into Dataset::users
  uint32_t video = 0;     // dense index into Dataset::videos
  int64_t timestamp = 0;  // unix seconds
  EventType type = EventType::kPlay;
  Device device = Device::kUnknown;
  float watch_time_s = kMissing;  // seconds watched (kPlay, kSkip); NaN when not recorded.
  float watch_ratio = kMissing;   // watch time / duration; NaN when not recorded.
  float rating = kMissing;        // explicit rating (kRating); NaN otherwise.
};

Context ContextOf(const Interaction& x);

class Dataset {
 public:
  std::vector<User> users;
  std::vector<Video> videos;
  std::vector<Interaction> interactions;
  std::vector<std::string> categories;  // category vocabulary

  // Adds a user; AlreadyExists when the id is taken. Returns its dense index.
  StatusOr<uint32_t> AddUser(User user);
  StatusOr<uint32_t> AddVideo(Video video);
  // Dense index of an existing user/video, or creates one with unknown attributes (interaction logs
  // may mention users absent from the users file).
  uint32_t InternUser(UserId id);
  uint32_t InternVideo(VideoId id);
  // Index of a category name, added when new. The name must not be empty, and a new one needs
  // categories.size() < kMaxCategories (both checked: importers reject such data first).
  uint16_t InternCategory(std::string_view name);

  std::optional<uint32_t> FindUser(UserId id) const;
  std::optional<uint32_t> FindVideo(VideoId id) const;
  std::optional<uint16_t> FindCategory(std::string_view name) const;

  // Rebuilds the id -> index maps after `users`/`videos` were filled directly (generator).
  void RebuildIndex();
  // Checks every reference (indices in range, categories known, no duplicate ids).
  Status Validate() const;

 private:
  std::unordered_map<uint64_t, uint32_t> user_index_;
  std::unordered_map<uint64_t, uint32_t> video_index_;
  std::unordered_map<std::string, uint16_t> category_index_;
};

}  // namespace vrec::data

namespace vrec::data {

// How much an interaction says the user wants this video, for models that learn from implicit
// feedback: the explicit rating when there is one; otherwise 0 for impressions and skips, 1 for a
// play (plus its watch ratio, capped at 1, when recorded), 2 for likes and comments, 3 for shares.
// Rows with weight 0 are not positives.
float PreferenceWeight(const Interaction& x);

}  // namespace vrec::data

namespace vrec::data {

// Stable hash of training rows (external ids, time, event, values) for model provenance: the same
// rows in the same order give the same 16 hex digits.
std::string TrainingDataHash(const Dataset& ds, std::span<const Interaction> rows);

}  // namespace vrec::data
