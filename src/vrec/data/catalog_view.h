// CatalogView: what the online stages read about videos and users: a base catalog (a model's
// snapshot) plus an optional overlay of what changed after it (uploads, metadata updates,
// takedowns, new users). Videos keep their dense index: the base's 0..n-1, then the overlay's
// added videos n, n+1, ...; an updated base video keeps its index and shows its new fields.
//
// A view is two pointers: cheap to copy, valid while the Dataset and the overlay it points to
// live and are not modified (the owner guarantees it, e.g. serving::LiveCatalog holds a read lock
// for the duration of a request). Every stage takes a view; a plain Dataset converts implicitly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "vrec/data/dataset.h"

namespace vrec::data {

// Changes to a base catalog. Category indices of overlay videos index base.categories first,
// then extra_categories (names the base does not know).
struct CatalogOverlay {
  std::vector<Video> added_videos;                           // dense index base.videos.size() + i
  std::unordered_map<uint64_t, uint32_t> added_video_index;  // id -> position in added_videos
  std::unordered_map<uint32_t, Video> updated_videos;        // base index -> current fields
  std::vector<User> added_users;                             // dense index base.users.size() + i
  std::unordered_map<uint64_t, uint32_t> added_user_index;   // id -> position in added_users
  std::unordered_map<uint32_t, User> updated_users;          // base index -> current fields
  std::vector<std::string> extra_categories;
  std::unordered_map<std::string, uint16_t> extra_category_index;  // name -> full index

  bool empty() const {
    return added_videos.empty() && updated_videos.empty() && added_users.empty() && updated_users.empty();
  }
};

class CatalogView {
 public:
  CatalogView(const Dataset& base) : base_(&base) {}  // NOLINT: implicit, a Dataset is a view
  CatalogView(const Dataset& base, const CatalogOverlay* overlay)
      : base_(&base), overlay_(overlay != nullptr && !overlay->empty() ? overlay : nullptr) {}

  const Dataset& base() const { return *base_; }
  size_t num_base_videos() const { return base_->videos.size(); }

  size_t num_videos() const { return base_->videos.size() + (overlay_ ? overlay_->added_videos.size() : 0); }
  // The video at dense index `v` (< num_videos()).
  const Video& video(uint32_t v) const {
    const size_t n = base_->videos.size();
    if (overlay_ == nullptr) return base_->videos[v];
    if (v >= n) return overlay_->added_videos[v - n];
    if (!overlay_->updated_videos.empty()) {
      if (auto it = overlay_->updated_videos.find(v); it != overlay_->updated_videos.end()) return it->second;
    }
    return base_->videos[v];
  }
  std::optional<uint32_t> FindVideo(VideoId id) const {
    if (auto v = base_->FindVideo(id)) return v;
    if (overlay_ == nullptr) return std::nullopt;
    auto it = overlay_->added_video_index.find(id.value);
    if (it == overlay_->added_video_index.end()) return std::nullopt;
    return static_cast<uint32_t>(base_->videos.size() + it->second);
  }

  size_t num_users() const { return base_->users.size() + (overlay_ ? overlay_->added_users.size() : 0); }
  const User& user(uint32_t u) const {
    const size_t n = base_->users.size();
    if (overlay_ == nullptr) return base_->users[u];
    if (u >= n) return overlay_->added_users[u - n];
    if (!overlay_->updated_users.empty()) {
      if (auto it = overlay_->updated_users.find(u); it != overlay_->updated_users.end()) return it->second;
    }
    return base_->users[u];
  }
  std::optional<uint32_t> FindUser(UserId id) const {
    if (auto u = base_->FindUser(id)) return u;
    if (overlay_ == nullptr) return std::nullopt;
    auto it = overlay_->added_user_index.find(id.value);
    if (it == overlay_->added_user_index.end()) return std::nullopt;
    return static_cast<uint32_t>(base_->users.size() + it->second);
  }

  size_t num_categories() const {
    return base_->categories.size() + (overlay_ ? overlay_->extra_categories.size() : 0);
  }
  const std::string& category(uint16_t c) const {
    return c < base_->categories.size() ? base_->categories[c]
                                        : overlay_->extra_categories[c - base_->categories.size()];
  }

 private:
  const Dataset* base_;
  const CatalogOverlay* overlay_ = nullptr;
};

}  // namespace vrec::data
