#include "vrec/data/dataset.h"

#include <algorithm>
#include <cassert>
#include <limits>

#include "vrec/common/hash.h"
#include "vrec/common/strings.h"

namespace vrec::data {

std::string_view Name(Gender g) {
  switch (g) {
    case Gender::kFemale:
      return "female";
    case Gender::kMale:
      return "male";
    case Gender::kOther:
      return "other";
    case Gender::kUnknown:
      break;
  }
  return "unknown";
}

std::string_view Name(Device d) {
  switch (d) {
    case Device::kAndroid:
      return "android";
    case Device::kIos:
      return "ios";
    case Device::kWeb:
      return "web";
    case Device::kTv:
      return "tv";
    case Device::kUnknown:
      break;
  }
  return "unknown";
}

std::string_view Name(EventType e) {
  switch (e) {
    case EventType::kImpression:
      return "impression";
    case EventType::kPlay:
      return "play";
    case EventType::kLike:
      return "like";
    case EventType::kComment:
      return "comment";
    case EventType::kShare:
      return "share";
    case EventType::kSkip:
      return "skip";
    case EventType::kRating:
      return "rating";
  }
  return "play";
}

std::optional<Gender> ParseGender(std::string_view s) {
  std::string l = AsciiStrToLower(s);
  if (l == "f" || l == "female") return Gender::kFemale;
  if (l == "m" || l == "male") return Gender::kMale;
  if (l == "o" || l == "other") return Gender::kOther;
  if (l.empty() || l == "u" || l == "unknown") return Gender::kUnknown;
  return std::nullopt;
}

std::optional<Device> ParseDevice(std::string_view s) {
  std::string l = AsciiStrToLower(s);
  for (Device d : {Device::kUnknown, Device::kAndroid, Device::kIos, Device::kWeb, Device::kTv}) {
    if (l == Name(d)) return d;
  }
  if (l.empty()) return Device::kUnknown;
  return std::nullopt;
}

std::optional<EventType> ParseEventType(std::string_view s) {
  std::string l = AsciiStrToLower(s);
  for (EventType e : {EventType::kImpression, EventType::kPlay, EventType::kLike, EventType::kComment,
                      EventType::kShare, EventType::kSkip, EventType::kRating}) {
    if (l == Name(e)) return e;
  }
  if (l == "watch") return EventType::kPlay;
  return std::nullopt;
}

Context ContextOf(const Interaction& x) {
  Context c;
  c.device = x.device;
  int64_t t = x.timestamp;
  int64_t day = t >= 0 ? t / 86400 : (t - 86399) / 86400;
  c.hour = static_cast<int>((t - day * 86400) / 3600);
  // 1970-01-01 was a Thursday (3 with Monday = 0).
  c.day_of_week = static_cast<int>(((day + 3) % 7 + 7) % 7);
  return c;
}

StatusOr<uint32_t> Dataset::AddUser(User user) {
  auto [it, inserted] = user_index_.try_emplace(user.id.value, static_cast<uint32_t>(users.size()));
  if (!inserted) return AlreadyExistsError(StrCat("duplicate user id ", user.id.value));
  users.push_back(std::move(user));
  return it->second;
}

StatusOr<uint32_t> Dataset::AddVideo(Video video) {
  auto [it, inserted] = video_index_.try_emplace(video.id.value, static_cast<uint32_t>(videos.size()));
  if (!inserted) return AlreadyExistsError(StrCat("duplicate video id ", video.id.value));
  videos.push_back(std::move(video));
  return it->second;
}

uint32_t Dataset::InternUser(UserId id) {
  auto [it, inserted] = user_index_.try_emplace(id.value, static_cast<uint32_t>(users.size()));
  if (inserted) users.push_back(User{.id = id});
  return it->second;
}

uint32_t Dataset::InternVideo(VideoId id) {
  auto [it, inserted] = video_index_.try_emplace(id.value, static_cast<uint32_t>(videos.size()));
  if (inserted) videos.push_back(Video{.id = id});
  return it->second;
}

uint16_t Dataset::InternCategory(std::string_view name) {
  assert(!name.empty());
  assert(categories.size() <= std::numeric_limits<uint16_t>::max() || FindCategory(name));
  auto [it, inserted] =
      category_index_.try_emplace(std::string(name), static_cast<uint16_t>(categories.size()));
  if (inserted) categories.emplace_back(name);
  return it->second;
}

std::optional<uint32_t> Dataset::FindUser(UserId id) const {
  auto it = user_index_.find(id.value);
  if (it == user_index_.end()) return std::nullopt;
  return it->second;
}

std::optional<uint32_t> Dataset::FindVideo(VideoId id) const {
  auto it = video_index_.find(id.value);
  if (it == video_index_.end()) return std::nullopt;
  return it->second;
}

std::optional<uint16_t> Dataset::FindCategory(std::string_view name) const {
  auto it = category_index_.find(std::string(name));
  if (it == category_index_.end()) return std::nullopt;
  return it->second;
}

void Dataset::RebuildIndex() {
  user_index_.clear();
  video_index_.clear();
  category_index_.clear();
  user_index_.reserve(users.size());
  video_index_.reserve(videos.size());
  for (uint32_t i = 0; i < users.size(); ++i) user_index_.try_emplace(users[i].id.value, i);
  for (uint32_t i = 0; i < videos.size(); ++i) video_index_.try_emplace(videos[i].id.value, i);
  for (uint16_t i = 0; i < categories.size(); ++i) category_index_.try_emplace(categories[i], i);
}

Status Dataset::Validate() const {
  if (user_index_.size() != users.size()) return FailedPreconditionError("duplicate or unindexed user ids");
  if (video_index_.size() != videos.size()) {
    return FailedPreconditionError("duplicate or unindexed video ids");
  }
  for (const Video& v : videos) {
    for (uint16_t c : v.categories) {
      if (c >= categories.size()) {
        return FailedPreconditionError(StrCat("video ", v.id.value, " has unknown category ", c));
      }
    }
  }
  for (size_t i = 0; i < interactions.size(); ++i) {
    const Interaction& x = interactions[i];
    if (x.user >= users.size() || x.video >= videos.size()) {
      return FailedPreconditionError(StrCat("interaction ", i, " refers to a missing user or video"));
    }
  }
  return OkStatus();
}

}  // namespace vrec::data

namespace vrec::data {

float PreferenceWeight(const Interaction& x) {
  if (!IsMissing(x.rating)) return x.rating;
  switch (x.type) {
    case EventType::kImpression:
    case EventType::kSkip:
      return 0.0f;
    case EventType::kPlay:
      return IsMissing(x.watch_ratio) ? 1.0f : 1.0f + std::min(x.watch_ratio, 1.0f);
    case EventType::kLike:
    case EventType::kComment:
      return 2.0f;
    case EventType::kShare:
      return 3.0f;
    case EventType::kRating:
      return 1.0f;
  }
  return 0.0f;
}

}  // namespace vrec::data

namespace vrec::data {

std::string TrainingDataHash(const Dataset& ds, std::span<const Interaction> rows) {
  Hasher h;
  for (const Interaction& x : rows) {
    h.UpdatePod(ds.users[x.user].id.value);
    h.UpdatePod(ds.videos[x.video].id.value);
    h.UpdatePod(x.timestamp);
    h.UpdatePod(x.type);
    h.UpdatePod(x.watch_ratio);
    h.UpdatePod(x.rating);
  }
  return h.Hex();
}

}  // namespace vrec::data
