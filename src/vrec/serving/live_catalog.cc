#include "vrec/serving/live_catalog.h"

#include <algorithm>
#include <mutex>

#include "vrec/common/strings.h"
#include "vrec/retrieval/brute_force_ann_index.h"

namespace vrec::serving {

data::Video VideoFromRecord(const features::VideoRecord& record, const data::Dataset& base,
                            data::CatalogOverlay& overlay) {
  data::Video v;
  v.id = record.id;
  for (const std::string& name : record.categories) {
    if (name.empty()) continue;
    uint16_t index = 0;
    if (auto c = base.FindCategory(name)) {
      index = *c;
    } else if (auto it = overlay.extra_category_index.find(name); it != overlay.extra_category_index.end()) {
      index = it->second;
    } else if (base.categories.size() + overlay.extra_categories.size() < 65536) {
      index = static_cast<uint16_t>(base.categories.size() + overlay.extra_categories.size());
      overlay.extra_categories.push_back(name);
      overlay.extra_category_index.emplace(name, index);
    } else {
      continue;  // no index left: the category is dropped (the record keeps it)
    }
    if (std::find(v.categories.begin(), v.categories.end(), index) == v.categories.end()) {
      v.categories.push_back(index);
    }
  }
  v.language = record.language;
  v.duration_s = record.duration_s;
  v.upload_time = record.upload_time;
  v.title = record.title;
  v.tags = record.tags;
  v.age_restricted = record.age_restricted;
  v.available = record.available;
  return v;
}

LiveCatalog::LiveCatalog(std::shared_ptr<const ServingModel> model) : model_(std::move(model)) {}

// Whether `video` says what the snapshot says of its video `index` (a record the model was trained
// with: nothing to lay over it).
static bool SameAsSnapshot(const data::Video& video, const ServingModel& model, uint32_t index) {
  const data::Video& base = model.catalog().videos[index];
  const bool same_duration = data::IsMissing(video.duration_s) ? data::IsMissing(base.duration_s)
                                                               : video.duration_s == base.duration_s;
  if (video.categories != base.categories || video.language != base.language || !same_duration ||
      video.upload_time != base.upload_time || video.age_restricted != base.age_restricted ||
      video.available != base.available || video.title != model.snapshot().Title(index)) {
    return false;
  }
  const std::vector<std::string_view> tags = model.snapshot().Tags(index);
  return std::equal(video.tags.begin(), video.tags.end(), tags.begin(), tags.end());
}

StatusOr<uint32_t> LiveCatalog::Upsert(const features::VideoRecord& record) {
  const data::Dataset& base = model_->catalog();
  std::unique_lock lock(mu_);
  data::CatalogOverlay scratch_categories = {};
  scratch_categories.extra_categories = overlay_.extra_categories;
  scratch_categories.extra_category_index = overlay_.extra_category_index;
  data::Video video = VideoFromRecord(record, base, scratch_categories);
  const std::optional<uint32_t> base_index = base.FindVideo(record.id);
  const uint64_t id = record.id.value;
  if (base_index && SameAsSnapshot(video, *model_, *base_index)) {  // e.g. an upload trained on since
    if (fresh_) VREC_RETURN_IF_ERROR(fresh_->Remove(std::span<const uint64_t>(&id, 1)));
    overlay_.updated_videos.erase(*base_index);
    return *base_index;
  }

  // Embed from the content, as the tower embeds any video it has no trained id row for; a snapshot
  // video keeps its trained id and popularity.
  const retrieval::TwoTowerModel& tower = model_->two_tower();
  retrieval::VideoInput in;
  in.id = record.id;
  for (const std::string& name : record.categories) in.categories.push_back(name);
  in.language = record.language;
  in.duration_s = record.duration_s;
  in.upload_time = record.upload_time;
  in.title = record.title;
  in.tags = record.tags;
  in.positives = base_index ? model_->Positives(*base_index) : 0;
  std::vector<float> embedding(static_cast<size_t>(tower.dimension()));
  tower.EmbedVideo(in, embedding);
  if (!fresh_) {
    VREC_ASSIGN_OR_RETURN(fresh_, retrieval::BruteForceAnnIndex::Create(tower.dimension()));
  }
  VREC_RETURN_IF_ERROR(fresh_->Add(std::span<const uint64_t>(&id, 1), embedding));

  overlay_.extra_categories = std::move(scratch_categories.extra_categories);
  overlay_.extra_category_index = std::move(scratch_categories.extra_category_index);
  if (base_index) {
    overlay_.updated_videos[*base_index] = std::move(video);
    return *base_index;
  }
  const size_t n = base.videos.size();
  auto it = overlay_.added_video_index.find(id);
  uint32_t position = 0;
  if (it != overlay_.added_video_index.end()) {
    position = it->second;
    overlay_.added_videos[position] = std::move(video);
  } else {
    position = static_cast<uint32_t>(overlay_.added_videos.size());
    overlay_.added_videos.push_back(std::move(video));
    overlay_.added_video_index.emplace(id, position);
  }
  const auto dense = static_cast<uint32_t>(n + position);
  // Newest upload first (unknown upload times last); within a second, the later upload first.
  std::erase(uploads_by_time_, dense);
  const auto newer = [&](uint32_t a, uint32_t b) {
    const int64_t ta = overlay_.added_videos[a - n].upload_time,
                  tb = overlay_.added_videos[b - n].upload_time;
    return ta != tb ? ta > tb : a > b;
  };
  uploads_by_time_.insert(std::upper_bound(uploads_by_time_.begin(), uploads_by_time_.end(), dense, newer),
                          dense);
  return dense;
}

uint32_t LiveCatalog::Upsert(const features::UserRecord& record) {
  const data::Dataset& base = model_->catalog();
  data::User user;
  user.id = record.id;
  user.country = record.country;
  user.language = record.language;
  user.age = record.age;
  user.gender = record.gender;
  std::unique_lock lock(mu_);
  if (auto u = base.FindUser(record.id)) {
    overlay_.updated_users[*u] = std::move(user);
    return *u;
  }
  auto it = overlay_.added_user_index.find(record.id.value);
  if (it != overlay_.added_user_index.end()) {
    overlay_.added_users[it->second] = std::move(user);
    return static_cast<uint32_t>(base.users.size() + it->second);
  }
  const auto position = static_cast<uint32_t>(overlay_.added_users.size());
  overlay_.added_users.push_back(std::move(user));
  overlay_.added_user_index.emplace(record.id.value, position);
  return static_cast<uint32_t>(base.users.size() + position);
}

LiveCatalog::Reader::Reader(const LiveCatalog& owner)
    : lock_(owner.mu_),
      owner_(&owner),
      view_(owner.model_->catalog(), &owner.overlay_),
      fresh_(owner.fresh_ && owner.fresh_->size() > 0 ? owner.fresh_.get() : nullptr) {}

std::vector<uint32_t> LiveCatalog::Reader::FreshUploads(std::string_view language, size_t limit) const {
  std::vector<uint32_t> out;
  const auto& uploads = owner_->uploads_by_time_;
  if (!language.empty()) {
    for (uint32_t v : uploads) {
      if (out.size() >= limit) break;
      if (view_.video(v).language == language) out.push_back(v);
    }
    if (!out.empty()) return out;
  }
  for (uint32_t v : uploads) {
    if (out.size() >= limit) break;
    out.push_back(v);
  }
  return out;
}

size_t LiveCatalog::added_videos() const {
  std::shared_lock lock(mu_);
  return overlay_.added_videos.size();
}

size_t LiveCatalog::updated_videos() const {
  std::shared_lock lock(mu_);
  return overlay_.updated_videos.size();
}

}  // namespace vrec::serving
