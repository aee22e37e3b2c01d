#include "vrec/snapshot/catalog_artifact.h"

#include <unordered_map>

#include "vrec/common/strings.h"

namespace vrec::snapshot {
namespace {

constexpr uint8_t kAgeRestricted = 1;
constexpr uint8_t kAvailable = 2;

// Distinct strings in first-seen order, and each input's index among them.
struct Dictionary {
  std::vector<std::string_view> values;
  std::unordered_map<std::string_view, uint32_t> index;
  uint32_t Add(std::string_view s) {
    auto [it, inserted] = index.try_emplace(s, static_cast<uint32_t>(values.size()));
    if (inserted) values.push_back(s);
    return it->second;
  }
};

template <typename T>
StatusOr<std::span<const T>> Column(const std::shared_ptr<const MappedArtifact>& in, std::string_view name,
                                    size_t expected) {
  VREC_ASSIGN_OR_RETURN(std::span<const T> column, in->Get<T>(name));
  if (column.size() != expected) {
    return DataLossError(
        StrCat(in->path(), ": section '", name, "' has ", column.size(), " entries, expected ", expected));
  }
  return column;
}

// A CSR offset column of n + 1 entries, non-decreasing, ending at `total`.
Status CheckOffsets(const MappedArtifact& in, std::string_view name, std::span<const uint64_t> ptr,
                    uint64_t total) {
  if (ptr.empty() || ptr.front() != 0 || ptr.back() != total) {
    return DataLossError(StrCat(in.path(), ": section '", name, "' does not span its values"));
  }
  for (size_t i = 1; i < ptr.size(); ++i) {
    if (ptr[i] < ptr[i - 1]) return DataLossError(StrCat(in.path(), ": section '", name, "' decreases"));
  }
  return OkStatus();
}

}  // namespace

StringColumn StringColumn::FromStrings(const std::vector<std::string_view>& strings) {
  std::vector<uint64_t> offsets{0};
  auto text = std::make_shared<std::string>();
  for (std::string_view s : strings) {
    text->append(s);
    offsets.push_back(text->size());
  }
  const std::string_view view = *text;
  return StringColumn(FlatArray<uint64_t>(std::move(offsets)), view, std::move(text));
}

Status StringColumn::Save(ArtifactWriter& out, std::string_view name,
                          const std::vector<std::string_view>& strings) {
  std::vector<uint64_t> offsets;
  offsets.reserve(strings.size() + 1);
  std::string text;
  offsets.push_back(0);
  for (std::string_view s : strings) {
    text.append(s);
    offsets.push_back(text.size());
  }
  VREC_RETURN_IF_ERROR(out.Add<uint64_t>(StrCat(name, ".offsets"), offsets));
  return out.AddString(StrCat(name, ".text"), text);
}

StatusOr<StringColumn> StringColumn::Load(const std::shared_ptr<const MappedArtifact>& in,
                                          std::string_view name) {
  VREC_ASSIGN_OR_RETURN(std::span<const uint64_t> offsets, in->Get<uint64_t>(StrCat(name, ".offsets")));
  VREC_ASSIGN_OR_RETURN(std::string_view text, in->GetString(StrCat(name, ".text")));
  VREC_RETURN_IF_ERROR(CheckOffsets(*in, StrCat(name, ".offsets"), offsets, text.size()));
  return StringColumn(FlatArray<uint64_t>(offsets, in), text, in);
}

Status SaveCatalog(ArtifactWriter& out, const data::Dataset& ds) {
  // Countries and languages as dictionaries: a few dozen distinct values for millions of rows.
  Dictionary countries, languages;
  countries.Add("");
  languages.Add("");
  std::vector<uint64_t> user_ids;
  std::vector<int16_t> user_age;
  std::vector<uint8_t> user_gender;
  std::vector<uint32_t> user_country, user_language;
  for (const data::User& u : ds.users) {
    user_ids.push_back(u.id.value);
    user_age.push_back(u.age);
    user_gender.push_back(static_cast<uint8_t>(u.gender));
    user_country.push_back(countries.Add(u.country));
    user_language.push_back(languages.Add(u.language));
  }
  std::vector<uint64_t> video_ids, category_ptr{0}, tag_ptr{0};
  std::vector<uint32_t> video_language;
  std::vector<float> video_duration;
  std::vector<int64_t> video_upload;
  std::vector<uint8_t> video_flags;
  std::vector<uint16_t> categories;
  std::vector<std::string_view> titles, tags;
  for (const data::Video& v : ds.videos) {
    video_ids.push_back(v.id.value);
    video_language.push_back(languages.Add(v.language));
    video_duration.push_back(v.duration_s);
    video_upload.push_back(v.upload_time);
    video_flags.push_back(
        static_cast<uint8_t>((v.age_restricted ? kAgeRestricted : 0) | (v.available ? kAvailable : 0)));
    categories.insert(categories.end(), v.categories.begin(), v.categories.end());
    category_ptr.push_back(categories.size());
    titles.push_back(v.title);
    for (const std::string& t : v.tags) tags.push_back(t);
    tag_ptr.push_back(tags.size());
  }
  std::vector<std::string_view> category_names(ds.categories.begin(), ds.categories.end());
  VREC_RETURN_IF_ERROR(StringColumn::Save(out, "catalog.categories", category_names));
  VREC_RETURN_IF_ERROR(StringColumn::Save(out, "catalog.countries", countries.values));
  VREC_RETURN_IF_ERROR(StringColumn::Save(out, "catalog.languages", languages.values));
  VREC_RETURN_IF_ERROR(out.Add<uint64_t>("catalog.user_id", user_ids));
  VREC_RETURN_IF_ERROR(out.Add<int16_t>("catalog.user_age", user_age));
  VREC_RETURN_IF_ERROR(out.Add<uint8_t>("catalog.user_gender", user_gender));
  VREC_RETURN_IF_ERROR(out.Add<uint32_t>("catalog.user_country", user_country));
  VREC_RETURN_IF_ERROR(out.Add<uint32_t>("catalog.user_language", user_language));
  VREC_RETURN_IF_ERROR(out.Add<uint64_t>("catalog.video_id", video_ids));
  VREC_RETURN_IF_ERROR(out.Add<uint32_t>("catalog.video_language", video_language));
  VREC_RETURN_IF_ERROR(out.Add<float>("catalog.video_duration", video_duration));
  VREC_RETURN_IF_ERROR(out.Add<int64_t>("catalog.video_upload", video_upload));
  VREC_RETURN_IF_ERROR(out.Add<uint8_t>("catalog.video_flags", video_flags));
  VREC_RETURN_IF_ERROR(out.Add<uint64_t>("catalog.video_category_ptr", category_ptr));
  VREC_RETURN_IF_ERROR(out.Add<uint16_t>("catalog.video_categories", categories));
  VREC_RETURN_IF_ERROR(StringColumn::Save(out, "catalog.titles", titles));
  VREC_RETURN_IF_ERROR(out.Add<uint64_t>("catalog.video_tag_ptr", tag_ptr));
  return StringColumn::Save(out, "catalog.tags", tags);
}

StatusOr<LoadedCatalog> LoadCatalog(const std::shared_ptr<const MappedArtifact>& in) {
  LoadedCatalog out;
  data::Dataset& ds = out.dataset;
  VREC_ASSIGN_OR_RETURN(StringColumn categories, StringColumn::Load(in, "catalog.categories"));
  VREC_ASSIGN_OR_RETURN(StringColumn countries, StringColumn::Load(in, "catalog.countries"));
  VREC_ASSIGN_OR_RETURN(StringColumn languages, StringColumn::Load(in, "catalog.languages"));
  if (categories.size() > 65536) return DataLossError(StrCat(in->path(), ": more than 65536 categories"));
  for (size_t c = 0; c < categories.size(); ++c) ds.categories.emplace_back(categories[c]);

  VREC_ASSIGN_OR_RETURN(std::span<const uint64_t> user_ids, in->Get<uint64_t>("catalog.user_id"));
  const size_t nu = user_ids.size();
  VREC_ASSIGN_OR_RETURN(auto user_age, Column<int16_t>(in, "catalog.user_age", nu));
  VREC_ASSIGN_OR_RETURN(auto user_gender, Column<uint8_t>(in, "catalog.user_gender", nu));
  VREC_ASSIGN_OR_RETURN(auto user_country, Column<uint32_t>(in, "catalog.user_country", nu));
  VREC_ASSIGN_OR_RETURN(auto user_language, Column<uint32_t>(in, "catalog.user_language", nu));
  ds.users.resize(nu);
  for (size_t i = 0; i < nu; ++i) {
    if (user_country[i] >= countries.size() || user_language[i] >= languages.size() ||
        user_gender[i] > static_cast<uint8_t>(data::Gender::kOther)) {
      return DataLossError(StrCat(in->path(), ": user ", i, " refers outside the catalog's dictionaries"));
    }
    data::User& u = ds.users[i];
    u.id = UserId{user_ids[i]};
    u.age = user_age[i];
    u.gender = static_cast<data::Gender>(user_gender[i]);
    u.country = countries[user_country[i]];
    u.language = languages[user_language[i]];
  }

  VREC_ASSIGN_OR_RETURN(std::span<const uint64_t> video_ids, in->Get<uint64_t>("catalog.video_id"));
  const size_t nv = video_ids.size();
  VREC_ASSIGN_OR_RETURN(auto video_language, Column<uint32_t>(in, "catalog.video_language", nv));
  VREC_ASSIGN_OR_RETURN(auto video_duration, Column<float>(in, "catalog.video_duration", nv));
  VREC_ASSIGN_OR_RETURN(auto video_upload, Column<int64_t>(in, "catalog.video_upload", nv));
  VREC_ASSIGN_OR_RETURN(auto video_flags, Column<uint8_t>(in, "catalog.video_flags", nv));
  VREC_ASSIGN_OR_RETURN(auto category_ptr, Column<uint64_t>(in, "catalog.video_category_ptr", nv + 1));
  VREC_ASSIGN_OR_RETURN(std::span<const uint16_t> video_categories,
                        in->Get<uint16_t>("catalog.video_categories"));
  VREC_RETURN_IF_ERROR(
      CheckOffsets(*in, "catalog.video_category_ptr", category_ptr, video_categories.size()));
  ds.videos.resize(nv);
  for (size_t i = 0; i < nv; ++i) {
    if (video_language[i] >= languages.size()) {
      return DataLossError(StrCat(in->path(), ": video ", i, " refers outside the catalog's dictionaries"));
    }
    data::Video& v = ds.videos[i];
    v.id = VideoId{video_ids[i]};
    v.language = languages[video_language[i]];
    v.duration_s = video_duration[i];
    v.upload_time = video_upload[i];
    v.age_restricted = (video_flags[i] & kAgeRestricted) != 0;
    v.available = (video_flags[i] & kAvailable) != 0;
    v.categories.assign(video_categories.begin() + static_cast<ptrdiff_t>(category_ptr[i]),
                        video_categories.begin() + static_cast<ptrdiff_t>(category_ptr[i + 1]));
    for (uint16_t c : v.categories) {
      if (c >= ds.categories.size())
        return DataLossError(StrCat(in->path(), ": video ", i, " has an unknown category"));
    }
  }
  ds.RebuildIndex();
  if (Status s = ds.Validate(); !s.ok()) return DataLossError(StrCat(in->path(), ": ", s.message()));

  VREC_ASSIGN_OR_RETURN(out.titles, StringColumn::Load(in, "catalog.titles"));
  VREC_ASSIGN_OR_RETURN(out.tags, StringColumn::Load(in, "catalog.tags"));
  VREC_ASSIGN_OR_RETURN(auto tag_ptr, Column<uint64_t>(in, "catalog.video_tag_ptr", nv + 1));
  VREC_RETURN_IF_ERROR(CheckOffsets(*in, "catalog.video_tag_ptr", tag_ptr, out.tags.size()));
  if (out.titles.size() != nv) return DataLossError(StrCat(in->path(), ": titles do not match the videos"));
  out.tag_ptr = FlatArray<uint64_t>(tag_ptr, in);
  return out;
}

}  // namespace vrec::snapshot
