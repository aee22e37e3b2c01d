#include "vrec/serving/serving_model.h"

#include <algorithm>
#include <filesystem>
#include <numeric>

#include "vrec/common/check.h"
#include "vrec/common/csv.h"
#include "vrec/common/hash.h"
#include "vrec/common/strings.h"
#include "vrec/data/generic_csv.h"
#include "vrec/registry/model_layout.h"

namespace vrec::serving {
namespace {

namespace fs = std::filesystem;

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

}  // namespace

StatusOr<std::shared_ptr<const ServingModel>> ServingModel::Load(const std::string& dir,
                                                                 const std::string& version,
                                                                 const ServingModelOptions& options) {
  std::shared_ptr<ServingModel> m(new ServingModel());
  m->version_ = version;
  VREC_ASSIGN_OR_RETURN(m->manifest_, registry::ReadManifest(dir));
  if (m->manifest_.model_kind != registry::kModelKind) {
    return FailedPreconditionError(StrCat(dir, ": not a vrec model (kind '", m->manifest_.model_kind, "')"));
  }
  VREC_RETURN_IF_ERROR(registry::CheckCompatible(m->manifest_, registry::kModelKind,
                                                 HashHex(ranking::RankingFeatureSchema())));
  if (auto it = m->manifest_.params.find("candidates"); it != m->manifest_.params.end()) {
    int64_t n = 0;
    if (!ParseInt64(it->second, n) || n <= 0 || n > 10'000) {
      return DataLossError(
          StrCat(dir, ": manifest param candidates='", it->second, "' is not a positive count"));
    }
    m->ranker_candidates_ = static_cast<int>(n);
  }
  VREC_ASSIGN_OR_RETURN(m->catalog_, data::LoadGenericCsv((fs::path(dir) / registry::kCatalogDir).string()));
  VREC_ASSIGN_OR_RETURN(m->bundle_,
                        retrieval::RetrievalBundle::Load((fs::path(dir) / registry::kRetrievalDir).string()));
  VREC_ASSIGN_OR_RETURN(m->ranker_, ranking::LoadRanker((fs::path(dir) / registry::kRankerDir).string()));
  if (m->ranker_->feature_names() != ranking::RankingFeatureNames()) {
    return FailedPreconditionError(StrCat(dir, ": the ranker's features differ from this build's"));
  }

  const data::Dataset& ds = m->catalog_;
  const auto& rows = ds.interactions;
  if (rows.empty()) return FailedPreconditionError(StrCat(dir, ": the catalog snapshot has no interactions"));

  // Item-item similarity, EASE and ranking aggregates over the whole snapshot, as the pipeline's
  // final fit computed them.
  // Numeric manifest params; absent ones keep the training defaults.
  const auto param = [&](const char* key, double& value) -> Status {
    auto it = m->manifest_.params.find(key);
    if (it != m->manifest_.params.end() && !ParseDouble(it->second, value)) {
      return DataLossError(StrCat(dir, ": manifest param ", key, "='", it->second, "' is not a number"));
    }
    return OkStatus();
  };
  retrieval::SarOptions sar;
  sar.threads = options.sar_threads;
  VREC_RETURN_IF_ERROR(param("sar.half_life_days", sar.half_life_days));
  m->sar_ = retrieval::SarScorer(sar);
  VREC_RETURN_IF_ERROR(m->sar_.Fit(ds, rows));
  retrieval::EaseOptions ease;
  double ease_videos = ease.max_videos, ease_history = ease.max_history;
  VREC_RETURN_IF_ERROR(param("ease.lambda", ease.lambda));
  VREC_RETURN_IF_ERROR(param("ease.max_videos", ease_videos));
  VREC_RETURN_IF_ERROR(param("ease.max_history", ease_history));
  if (!(ease_videos >= 1 && ease_videos <= 1e6) || !(ease_history >= 0 && ease_history <= 1e6)) {
    return DataLossError(StrCat(dir, ": manifest params ease.max_videos=", ease_videos,
                                " / ease.max_history=", ease_history, " are out of range"));
  }
  ease.max_videos = static_cast<int>(ease_videos);
  ease.max_history = static_cast<int>(ease_history);
  m->ease_ = retrieval::EaseScorer(ease);
  VREC_RETURN_IF_ERROR(m->ease_.Fit(ds, rows));
  m->aggregates_ = std::make_unique<ranking::FeatureAggregates>(
      ranking::FeatureAggregates::FromRows(ds, rows, std::numeric_limits<int64_t>::max()));

  // Per-user histories (CSR, oldest first) and per-video positives.
  const size_t nu = ds.users.size();
  m->history_ptr_.assign(nu + 1, 0);
  m->positives_.assign(ds.videos.size(), 0);
  m->data_end_time_ = std::numeric_limits<int64_t>::min();
  for (const data::Interaction& x : rows) {
    ++m->history_ptr_[x.user + 1];
    if (data::PreferenceWeight(x) > 0) ++m->positives_[x.video];
    m->data_end_time_ = std::max(m->data_end_time_, x.timestamp);
  }
  std::partial_sum(m->history_ptr_.begin(), m->history_ptr_.end(), m->history_ptr_.begin());
  m->history_.resize(rows.size());
  {
    std::vector<uint64_t> next(m->history_ptr_.begin(), m->history_ptr_.end() - 1);
    for (const data::Interaction& x : rows) {
      m->history_[next[x.user]++] = {.video = x.video,
                                     .time = x.timestamp,
                                     .type = x.type,
                                     .watch_ratio = x.watch_ratio,
                                     .rating = x.rating};
    }
    for (size_t u = 0; u < nu; ++u) {
      std::stable_sort(m->history_.begin() + static_cast<ptrdiff_t>(m->history_ptr_[u]),
                       m->history_.begin() + static_cast<ptrdiff_t>(m->history_ptr_[u + 1]),
                       [](const HistoryItem& a, const HistoryItem& b) { return a.time < b.time; });
    }
  }

  // Cold start lists: global, per locale with enough users, and fresh uploads.
  const size_t n = static_cast<size_t>(std::max(1, options.cold_start_list));
  {
    std::vector<std::pair<uint32_t, int64_t>> counts;
    for (uint32_t v = 0; v < ds.videos.size(); ++v) {
      if (m->positives_[v] > 0) counts.emplace_back(v, m->positives_[v]);
    }
    m->popular_ = TopVideos(std::move(counts), n);
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
  for (size_t l = 0; l < locales.size(); ++l) {
    m->popular_by_locale_[locales[l]] = TopVideos({locale_counts[l].begin(), locale_counts[l].end()}, n);
  }
  std::vector<uint32_t> fresh;
  for (uint32_t v = 0; v < ds.videos.size(); ++v) {
    if (m->positives_[v] > 0 && ds.videos[v].upload_time != data::kUnknownTime) fresh.push_back(v);
  }
  const size_t k = std::min(n, fresh.size());
  std::sort(fresh.begin(), fresh.end(), [&](uint32_t a, uint32_t b) {
    const int64_t ta = ds.videos[a].upload_time, tb = ds.videos[b].upload_time;
    return ta != tb ? ta > tb : a < b;
  });
  // Per language: the same order, restricted to the language (kept when it has enough videos).
  std::unordered_map<std::string, std::vector<uint32_t>> by_language;
  for (uint32_t v : fresh) {
    const std::string& language = ds.videos[v].language;
    if (language.empty()) continue;
    std::vector<uint32_t>& list = by_language[language];
    if (list.size() < n) list.push_back(v);
  }
  for (auto& [language, list] : by_language) {
    if (list.size() >= kMinLocaleUsers) m->fresh_by_language_[language] = std::move(list);
  }
  fresh.resize(k);
  m->fresh_ = std::move(fresh);
  return std::shared_ptr<const ServingModel>(std::move(m));
}

std::span<const HistoryItem> ServingModel::BaseHistory(uint32_t user) const {
  // In size_t: user + 1 in uint32_t wraps to 0 for the largest index.
  if (static_cast<size_t>(user) + 1 >= history_ptr_.size()) return {};
  const uint64_t begin = history_ptr_[user], end = history_ptr_[user + 1];
  // The offsets were built by Load; bad ones would hand the request another user's events or
  // memory past the end.
  VREC_CHECK(begin <= end && end <= history_.size(), "user ", user, " history [", begin, ", ", end, ") of ",
             history_.size());
  return std::span<const HistoryItem>(history_).subspan(begin, end - begin);
}

std::span<const uint32_t> ServingModel::Fresh(std::string_view language) const {
  if (!language.empty()) {
    if (auto it = fresh_by_language_.find(std::string(language)); it != fresh_by_language_.end())
      return it->second;
  }
  return fresh_;
}

std::span<const uint32_t> ServingModel::Popular(std::string_view country, std::string_view language) const {
  for (const std::string& key :
       {LocaleKey(country, language), LocaleKey(country, ""), LocaleKey("", language)}) {
    if (key == "|") continue;
    if (auto it = popular_by_locale_.find(key); it != popular_by_locale_.end()) return it->second;
  }
  return popular_;
}

}  // namespace vrec::serving
