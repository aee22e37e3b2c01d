#include "vrec/snapshot/serving_snapshot.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "vrec/common/strings.h"

namespace vrec::snapshot {
namespace {

// Users of one locale needed before its own popular list replaces the global one (and videos of
// one language before its own fresh list does).
constexpr size_t kMinLocaleUsers = 20;

std::string LocaleKey(std::string_view country, std::string_view language) {
  return StrCat(country, "|", language);
}

// The `n` videos with the most positives, best first (ties by index). `counts` is (video, count).
std::vector<uint32_t> TopVideos(std::vector<std::pair<uint32_t, int64_t>> counts, size_t n) {
  const size_t k = std::min(n, counts.size());
  std::partial_sort(counts.begin(), counts.begin() + static_cast<ptrdiff_t>(k), counts.end(),
                    [](const auto& a, const auto& b) {
                      return a.second != b.second ? a.second > b.second : a.first < b.first;
                    });
  std::vector<uint32_t> out(k);
  for (size_t i = 0; i < k; ++i) out[i] = counts[i].first;
  return out;
}

// Named lists laid end to end: keys, offsets (size n + 1) and the concatenated lists.
struct ListSet {
  std::vector<std::string> keys;
  std::vector<uint64_t> ptr{0};
  std::vector<uint32_t> lists;
  void Add(std::string key, const std::vector<uint32_t>& list) {
    keys.push_back(std::move(key));
    lists.insert(lists.end(), list.begin(), list.end());
    ptr.push_back(lists.size());
  }
  std::vector<std::string_view> KeyViews() const { return {keys.begin(), keys.end()}; }
};

template <typename T>
StatusOr<FlatArray<T>> Mapped(const std::shared_ptr<const MappedArtifact>& in, std::string_view name) {
  VREC_ASSIGN_OR_RETURN(std::span<const T> span, in->Get<T>(name));
  return FlatArray<T>(span, in);
}

Status CheckListSet(const MappedArtifact& in, std::string_view name, const StringColumn& keys,
                    const FlatArray<uint64_t>& ptr, size_t total, size_t num_videos,
                    const FlatArray<uint32_t>& lists) {
  if (ptr.size() != keys.size() + 1 || ptr[0] != 0 || ptr[ptr.size() - 1] != total) {
    return DataLossError(StrCat(in.path(), ": cold-start lists '", name, "' are inconsistent"));
  }
  for (size_t i = 1; i < ptr.size(); ++i) {
    if (ptr[i] < ptr[i - 1])
      return DataLossError(StrCat(in.path(), ": cold-start lists '", name, "' decrease"));
  }
  for (uint32_t v : lists) {
    if (v >= num_videos)
      return DataLossError(StrCat(in.path(), ": cold-start list '", name, "' names no video"));
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::shared_ptr<const ServingSnapshot>> ServingSnapshot::Build(
    data::Dataset catalog, std::span<const data::Interaction> rows, const SnapshotOptions& options) {
  if (rows.empty()) return InvalidArgumentError("serving snapshot: the catalog snapshot has no interactions");
  std::shared_ptr<ServingSnapshot> s(new ServingSnapshot());
  // Fits read the catalog in place: it must be in its final home first.
  s->catalog_ = std::move(catalog);
  s->catalog_.interactions.clear();
  s->catalog_.interactions.shrink_to_fit();
  const data::Dataset& ds = s->catalog_;
  const size_t nu = ds.users.size(), nv = ds.videos.size();
  // Titles and tags live in string columns only, so that the in-memory catalog stays small.
  std::vector<std::string_view> titles(nv), tags;
  std::vector<uint64_t> tag_ptr{0};
  for (size_t v = 0; v < nv; ++v) {
    titles[v] = ds.videos[v].title;
    for (const std::string& t : ds.videos[v].tags) tags.push_back(t);
    tag_ptr.push_back(tags.size());
  }
  s->titles_ = StringColumn::FromStrings(titles);
  s->tags_ = StringColumn::FromStrings(tags);
  s->tag_ptr_ = FlatArray<uint64_t>(std::move(tag_ptr));
  for (data::Video& v : s->catalog_.videos) {
    v.title.clear();
    v.title.shrink_to_fit();
    v.tags.clear();
    v.tags.shrink_to_fit();
  }

  // Per-user histories (CSR, oldest first, the newest max_history_per_user) and positives.
  std::vector<uint64_t> count(nu + 1, 0);
  std::vector<int64_t> positives(nv, 0);
  s->data_end_time_ = std::numeric_limits<int64_t>::min();
  for (const data::Interaction& x : rows) {
    if (x.user >= nu || x.video >= nv)
      return InvalidArgumentError("serving snapshot: a row refers outside the catalog");
    ++count[x.user + 1];
    if (data::PreferenceWeight(x) > 0) ++positives[x.video];
    s->data_end_time_ = std::max(s->data_end_time_, x.timestamp);
  }
  std::vector<uint64_t> all_ptr(count);
  std::partial_sum(all_ptr.begin(), all_ptr.end(), all_ptr.begin());
  std::vector<HistoryItem> all(rows.size());
  {
    std::vector<uint64_t> next(all_ptr.begin(), all_ptr.end() - 1);
    for (const data::Interaction& x : rows) {
      all[next[x.user]++] = {.video = x.video,
                             .type = x.type,
                             .time = x.timestamp,
                             .watch_ratio = x.watch_ratio,
                             .rating = x.rating};
    }
  }
  const auto keep = static_cast<uint64_t>(std::max(1, options.max_history_per_user));
  std::vector<uint64_t> ptr(nu + 1, 0);
  std::vector<HistoryItem> history;
  history.reserve(rows.size());
  for (size_t u = 0; u < nu; ++u) {
    auto begin = all.begin() + static_cast<ptrdiff_t>(all_ptr[u]);
    auto end = all.begin() + static_cast<ptrdiff_t>(all_ptr[u + 1]);
    std::stable_sort(begin, end, [](const HistoryItem& a, const HistoryItem& b) { return a.time < b.time; });
    if (static_cast<uint64_t>(end - begin) > keep) begin = end - static_cast<ptrdiff_t>(keep);
    history.insert(history.end(), begin, end);
    ptr[u + 1] = history.size();
  }
  all = {};
  s->history_ptr_ = FlatArray<uint64_t>(std::move(ptr));
  s->history_ = FlatArray<HistoryItem>(std::move(history));

  // Cold start lists: global, per locale with enough users, and fresh uploads.
  const size_t n = static_cast<size_t>(std::max(1, options.cold_start_list));
  {
    std::vector<std::pair<uint32_t, int64_t>> counts;
    for (uint32_t v = 0; v < nv; ++v) {
      if (positives[v] > 0) counts.emplace_back(v, positives[v]);
    }
    s->popular_ = FlatArray<uint32_t>(TopVideos(std::move(counts), n));
  }
  // Per locale ("country|language", "country|", "|language") with enough users: one pass over the
  // rows, counting each positive for the (at most 3) locales of its user.
  std::unordered_map<std::string, std::vector<uint32_t>> locale_users;
  for (uint32_t u = 0; u < nu; ++u) {
    const data::User& user = ds.users[u];
    for (const std::string& key : {LocaleKey(user.country, user.language), LocaleKey(user.country, ""),
                                   LocaleKey("", user.language)}) {
      if (key != "|") locale_users[key].push_back(u);
    }
  }
  std::vector<std::string> locales;
  std::vector<std::vector<uint32_t>> user_locales(nu);  // indices into `locales`
  for (const auto& [key, users] : locale_users) {
    if (users.size() < kMinLocaleUsers) continue;
    for (uint32_t u : users) user_locales[u].push_back(static_cast<uint32_t>(locales.size()));
    locales.push_back(key);
  }
  std::vector<std::unordered_map<uint32_t, int64_t>> locale_counts(locales.size());
  for (const data::Interaction& x : rows) {
    if (data::PreferenceWeight(x) <= 0) continue;
    for (uint32_t l : user_locales[x.user]) ++locale_counts[l][x.video];
  }
  ListSet popular;
  {
    std::vector<size_t> order(locales.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return locales[a] < locales[b]; });
    for (size_t l : order)
      popular.Add(locales[l], TopVideos({locale_counts[l].begin(), locale_counts[l].end()}, n));
  }
  std::vector<uint32_t> fresh;
  for (uint32_t v = 0; v < nv; ++v) {
    if (positives[v] > 0 && ds.videos[v].upload_time != data::kUnknownTime) fresh.push_back(v);
  }
  std::sort(fresh.begin(), fresh.end(), [&](uint32_t a, uint32_t b) {
    const int64_t ta = ds.videos[a].upload_time, tb = ds.videos[b].upload_time;
    return ta != tb ? ta > tb : a < b;
  });
  // Per language: the same order, restricted to the language (kept when it has enough videos).
  std::map<std::string, std::vector<uint32_t>> by_language;
  for (uint32_t v : fresh) {
    const std::string& language = ds.videos[v].language;
    if (language.empty()) continue;
    std::vector<uint32_t>& list = by_language[language];
    if (list.size() < n) list.push_back(v);
  }
  ListSet fresh_lists;
  for (auto& [language, list] : by_language) {
    if (list.size() >= kMinLocaleUsers) fresh_lists.Add(language, list);
  }
  fresh.resize(std::min(n, fresh.size()));
  s->fresh_ = FlatArray<uint32_t>(std::move(fresh));
  s->popular_keys_ = StringColumn::FromStrings(popular.KeyViews());
  s->popular_ptr_ = FlatArray<uint64_t>(std::move(popular.ptr));
  s->popular_lists_ = FlatArray<uint32_t>(std::move(popular.lists));
  s->fresh_keys_ = StringColumn::FromStrings(fresh_lists.KeyViews());
  s->fresh_ptr_ = FlatArray<uint64_t>(std::move(fresh_lists.ptr));
  s->fresh_lists_ = FlatArray<uint32_t>(std::move(fresh_lists.lists));
  s->positives_ = FlatArray<int64_t>(std::move(positives));
  s->IndexColdStart();

  // The models serving reads features from, fitted on everything.
  auto sar = std::make_shared<retrieval::SarScorer>(options.sar);
  VREC_RETURN_IF_ERROR(sar->Fit(ds, rows));
  s->sar_ = std::move(sar);
  auto ease = std::make_shared<retrieval::EaseScorer>(options.ease);
  VREC_RETURN_IF_ERROR(ease->Fit(ds, rows));
  s->ease_ = std::move(ease);
  s->aggregates_ = std::make_shared<ranking::FeatureAggregates>(
      ranking::FeatureAggregates::FromRows(ds, rows, std::numeric_limits<int64_t>::max()));
  // The live counters' base: every row of the snapshot (the order does not change any value).
  auto counters = std::make_shared<features::EngagementCounters>();
  for (const data::Interaction& x : rows) counters->Apply(features::CounterEventOf(ds, x));
  s->counters_ = std::move(counters);
  return std::shared_ptr<const ServingSnapshot>(std::move(s));
}

void ServingSnapshot::IndexColdStart() {
  popular_by_locale_.clear();
  fresh_by_language_.clear();
  for (size_t i = 0; i < popular_keys_.size(); ++i) {
    popular_by_locale_[popular_keys_[i]] =
        popular_lists_.span().subspan(popular_ptr_[i], popular_ptr_[i + 1] - popular_ptr_[i]);
  }
  for (size_t i = 0; i < fresh_keys_.size(); ++i) {
    fresh_by_language_[fresh_keys_[i]] =
        fresh_lists_.span().subspan(fresh_ptr_[i], fresh_ptr_[i + 1] - fresh_ptr_[i]);
  }
}

Status ServingSnapshot::Save(const std::string& path) const {
  VREC_ASSIGN_OR_RETURN(std::unique_ptr<ArtifactWriter> out,
                        ArtifactWriter::Create(path, kServingSnapshotVersion));
  // The catalog with its titles and tags back in place for SaveCatalog.
  data::Dataset full;
  full.users = catalog_.users;
  full.categories = catalog_.categories;
  full.videos = catalog_.videos;
  for (size_t v = 0; v < full.videos.size(); ++v) {
    full.videos[v].title = std::string(Title(static_cast<uint32_t>(v)));
    for (std::string_view t : Tags(static_cast<uint32_t>(v))) full.videos[v].tags.emplace_back(t);
  }
  VREC_RETURN_IF_ERROR(SaveCatalog(*out, full));
  full = {};
  const int64_t meta[] = {data_end_time_};
  VREC_RETURN_IF_ERROR(out->Add<int64_t>("snapshot.meta", meta));
  VREC_RETURN_IF_ERROR(out->Add<uint64_t>("history.ptr", history_ptr_.span()));
  VREC_RETURN_IF_ERROR(out->Add<HistoryItem>("history.items", history_.span()));
  VREC_RETURN_IF_ERROR(out->Add<int64_t>("videos.positives", positives_.span()));
  VREC_RETURN_IF_ERROR(out->Add<uint32_t>("cold.popular", popular_.span()));
  std::vector<std::string_view> keys;
  for (size_t i = 0; i < popular_keys_.size(); ++i) keys.push_back(popular_keys_[i]);
  VREC_RETURN_IF_ERROR(StringColumn::Save(*out, "cold.locale_keys", keys));
  VREC_RETURN_IF_ERROR(out->Add<uint64_t>("cold.locale_ptr", popular_ptr_.span()));
  VREC_RETURN_IF_ERROR(out->Add<uint32_t>("cold.locale_lists", popular_lists_.span()));
  VREC_RETURN_IF_ERROR(out->Add<uint32_t>("cold.fresh", fresh_.span()));
  keys.clear();
  for (size_t i = 0; i < fresh_keys_.size(); ++i) keys.push_back(fresh_keys_[i]);
  VREC_RETURN_IF_ERROR(StringColumn::Save(*out, "cold.language_keys", keys));
  VREC_RETURN_IF_ERROR(out->Add<uint64_t>("cold.language_ptr", fresh_ptr_.span()));
  VREC_RETURN_IF_ERROR(out->Add<uint32_t>("cold.language_lists", fresh_lists_.span()));
  VREC_RETURN_IF_ERROR(sar_->Save(*out, "sar"));
  VREC_RETURN_IF_ERROR(ease_->Save(*out, "ease"));
  VREC_RETURN_IF_ERROR(aggregates_->Save(*out, "agg"));
  VREC_RETURN_IF_ERROR(counters_->Save(*out, "counters"));
  return out->Finish();
}

StatusOr<std::shared_ptr<const ServingSnapshot>> ServingSnapshot::Load(const std::string& path) {
  VREC_ASSIGN_OR_RETURN(std::shared_ptr<const MappedArtifact> in, MappedArtifact::Open(path));
  if (in->content_version() != kServingSnapshotVersion) {
    return FailedPreconditionError(StrCat(path, ": serving snapshot format ", in->content_version(),
                                          "; this build reads format ", kServingSnapshotVersion,
                                          " (retrain the model with this vrec)"));
  }
  std::shared_ptr<ServingSnapshot> s(new ServingSnapshot());
  s->artifact_ = in;
  VREC_ASSIGN_OR_RETURN(LoadedCatalog catalog, LoadCatalog(in));
  s->catalog_ = std::move(catalog.dataset);
  s->titles_ = std::move(catalog.titles);
  s->tag_ptr_ = std::move(catalog.tag_ptr);
  s->tags_ = std::move(catalog.tags);
  const size_t nu = s->catalog_.users.size(), nv = s->catalog_.videos.size();

  VREC_ASSIGN_OR_RETURN(std::span<const int64_t> meta, in->Get<int64_t>("snapshot.meta"));
  if (meta.size() != 1) return DataLossError(StrCat(path, ": bad section 'snapshot.meta'"));
  s->data_end_time_ = meta[0];
  VREC_ASSIGN_OR_RETURN(s->history_ptr_, Mapped<uint64_t>(in, "history.ptr"));
  VREC_ASSIGN_OR_RETURN(s->history_, Mapped<HistoryItem>(in, "history.items"));
  if (s->history_ptr_.size() != nu + 1 || s->history_ptr_[0] != 0 ||
      s->history_ptr_[nu] != s->history_.size()) {
    return DataLossError(StrCat(path, ": the history does not match the catalog's users"));
  }
  for (size_t u = 0; u < nu; ++u) {
    if (s->history_ptr_[u + 1] < s->history_ptr_[u])
      return DataLossError(StrCat(path, ": history offsets decrease"));
  }
  for (const HistoryItem& h : s->history_) {
    if (h.video >= nv || h.type > data::EventType::kRating) {
      return DataLossError(StrCat(path, ": a history event names no video or no event type"));
    }
  }
  VREC_ASSIGN_OR_RETURN(s->positives_, Mapped<int64_t>(in, "videos.positives"));
  if (s->positives_.size() != nv) return DataLossError(StrCat(path, ": positives do not match the videos"));
  VREC_ASSIGN_OR_RETURN(s->popular_, Mapped<uint32_t>(in, "cold.popular"));
  VREC_ASSIGN_OR_RETURN(s->popular_keys_, StringColumn::Load(in, "cold.locale_keys"));
  VREC_ASSIGN_OR_RETURN(s->popular_ptr_, Mapped<uint64_t>(in, "cold.locale_ptr"));
  VREC_ASSIGN_OR_RETURN(s->popular_lists_, Mapped<uint32_t>(in, "cold.locale_lists"));
  VREC_RETURN_IF_ERROR(CheckListSet(*in, "locale", s->popular_keys_, s->popular_ptr_,
                                    s->popular_lists_.size(), nv, s->popular_lists_));
  VREC_ASSIGN_OR_RETURN(s->fresh_, Mapped<uint32_t>(in, "cold.fresh"));
  VREC_ASSIGN_OR_RETURN(s->fresh_keys_, StringColumn::Load(in, "cold.language_keys"));
  VREC_ASSIGN_OR_RETURN(s->fresh_ptr_, Mapped<uint64_t>(in, "cold.language_ptr"));
  VREC_ASSIGN_OR_RETURN(s->fresh_lists_, Mapped<uint32_t>(in, "cold.language_lists"));
  VREC_RETURN_IF_ERROR(CheckListSet(*in, "language", s->fresh_keys_, s->fresh_ptr_, s->fresh_lists_.size(),
                                    nv, s->fresh_lists_));
  for (const FlatArray<uint32_t>* list : {&s->popular_, &s->fresh_}) {
    for (uint32_t v : *list) {
      if (v >= nv) return DataLossError(StrCat(path, ": a cold-start list names no video"));
    }
  }
  s->IndexColdStart();
  VREC_ASSIGN_OR_RETURN(s->sar_, retrieval::SarScorer::Load(in, "sar", nv));
  VREC_ASSIGN_OR_RETURN(s->ease_, retrieval::EaseScorer::Load(in, "ease", nv));
  VREC_ASSIGN_OR_RETURN(s->aggregates_, ranking::FeatureAggregates::Load(in, "agg", s->catalog_));
  // The counters are read in place. Snapshots written before their key index are copied into
  // memory (slower to load, same values); those written before the counters existed have none.
  s->has_counters_ = in->Has("counters.v.keys");
  if (in->Has("counters.v.slot_ptr")) {
    VREC_ASSIGN_OR_RETURN(s->counters_, features::MappedCounters::Map(in, "counters"));
  } else {
    auto counters = std::make_shared<features::EngagementCounters>();
    if (s->has_counters_) VREC_RETURN_IF_ERROR(counters->Load(*in, "counters"));
    s->counters_ = std::move(counters);
  }
  return std::shared_ptr<const ServingSnapshot>(std::move(s));
}

Status ServingSnapshot::Verify() const { return artifact_ ? artifact_->Verify() : OkStatus(); }

std::string_view ServingSnapshot::Title(uint32_t video) const {
  return video < titles_.size() ? titles_[video] : std::string_view();
}

std::vector<std::string_view> ServingSnapshot::Tags(uint32_t video) const {
  std::vector<std::string_view> out;
  if (video + size_t{1} >= tag_ptr_.size()) return out;
  for (uint64_t i = tag_ptr_[video]; i < tag_ptr_[video + 1]; ++i) out.push_back(tags_[i]);
  return out;
}

std::span<const HistoryItem> ServingSnapshot::History(uint32_t user) const {
  if (user + size_t{1} >= history_ptr_.size()) return {};
  return history_.span().subspan(history_ptr_[user], history_ptr_[user + 1] - history_ptr_[user]);
}

std::span<const uint32_t> ServingSnapshot::Fresh(std::string_view language) const {
  if (!language.empty()) {
    if (auto it = fresh_by_language_.find(language); it != fresh_by_language_.end()) return it->second;
  }
  return fresh_.span();
}

std::span<const uint32_t> ServingSnapshot::Popular(std::string_view country,
                                                   std::string_view language) const {
  for (const std::string& key :
       {LocaleKey(country, language), LocaleKey(country, ""), LocaleKey("", language)}) {
    if (key == "|") continue;
    if (auto it = popular_by_locale_.find(key); it != popular_by_locale_.end()) return it->second;
  }
  return popular_.span();
}

std::map<std::string, uint64_t> ServingSnapshot::ComponentBytes() const {
  std::map<std::string, uint64_t> out;
  out["history"] = history_.size() * sizeof(HistoryItem) + history_ptr_.size() * 8;
  out["cold_start"] = (popular_.size() + popular_lists_.size() + fresh_.size() + fresh_lists_.size()) * 4;
  out["positives"] = positives_.size() * 8;
  out["sar"] = sar_->bytes();
  out["ease"] = ease_->bytes();
  out["aggregates"] = aggregates_->bytes();
  out["counters"] = counters_->bytes();
  return out;
}

}  // namespace vrec::snapshot
