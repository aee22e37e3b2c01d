#include "vrec/serving/service.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "vrec/common/csv.h"
#include "vrec/common/hash.h"
#include "vrec/common/json_depth.h"
#include "vrec/common/strings.h"
#include "vrec/common/sys.h"
#include "vrec/events/event_json.h"
#include "vrec/events/ingestor.h"
#include "vrec/ordering/experiment.h"
#include "vrec/serving/console_assets.h"
#include "vrec/serving/log.h"
#include "vrec/serving/openapi.h"

namespace vrec::serving {
namespace {

// "exact", "ivf: 32 of 4096 lists probed", "hnsw: efSearch 512": what a query of the index costs.
std::string IndexDescription(const retrieval::AnnIndex& index) {
  const retrieval::AnnIndexOptions o = index.options();
  const std::string kind = retrieval::AnnIndexKindName(o.kind);
  if (retrieval::AnnIndexOptions::IsIvf(o.kind))
    return StrCat(kind, ": ", o.ivf_nprobe, " of ", o.ivf_nlist, " lists probed");
  if (o.kind == retrieval::AnnIndexOptions::Kind::kHnsw) return StrCat(kind, ": efSearch ", o.hnsw_ef_search);
  return kind;
}

using SteadyClock = std::chrono::steady_clock;

constexpr const char* kStageNames[] = {"user_state", "retrieve", "filter", "rank", "order"};

// Bounds of the recommendation query (docs/security.md lists every bound of every route).
constexpr int64_t kMaxCount = 1000;
constexpr size_t kMaxExclude = 500;       // videos in one exclude= list
constexpr size_t kMaxCountryChars = 8;    // ISO 3166 codes are 2-3; room for "GB-SCT"-like codes
constexpr size_t kMaxLanguageChars = 35;  // the longest BCP 47 tag commonly registered
constexpr size_t kMaxSurfaceChars = 64;

// How often the poller forgets expired event ids.
constexpr auto kPruneInterval = std::chrono::seconds(60);
// How long a request waits for a sync that is running before it answers without it.
constexpr std::chrono::milliseconds kRequestSyncWait{100};
// How long the change log keeps an entry (every running server has applied it long before).
constexpr std::chrono::seconds kChangeRetention{3600};
// Nice levels the polling thread (model swaps, catch-up, pruning) runs below the request threads.
constexpr int kPollerNiceSteps = 10;
// While the feature store is unreadable, how often a request tries it again.
constexpr std::chrono::nanoseconds kStoreProbeInterval = std::chrono::milliseconds(100);

// The routing table: docs/openapi.json documents the same routes, methods and query parameters
// (service_test.cc checks both ways), and Handle refuses a query parameter a route does not list.
const Service::RouteInfo kRoutes[] = {
    {"GET", "/healthz", Service::Scope::kPublic, "liveness: the process answers", ""},
    {"GET", "/readyz", Service::Scope::kPublic, "readiness: a model is loaded (and whether it is a fallback)",
     ""},
    {"GET", "/metrics", Service::Scope::kPublic, "Prometheus metrics", ""},
    {"GET", "/v1/users/{user_id}/recommendations", Service::Scope::kUser, "recommendations for a user",
     "count,device,country,language,surface,exclude,explain,variant"},
    {"GET", "/v1/users/{user_id}/history", Service::Scope::kUser, "the user's online events", ""},
    {"POST", "/v1/events", Service::Scope::kUser, "ingest one event or a batch, durably", ""},
    {"POST", "/v1/admin/videos/{video_id}", Service::Scope::kAdmin, "set a video's availability flags", ""},
    {"POST", "/v1/admin/reload", Service::Scope::kAdmin, "check the registry for a new production model now",
     ""},
    {"GET", "/v1/admin/model", Service::Scope::kAdmin, "the model served, production and load progress", ""},
    {"PUT", "/v1/videos/{video_id}", Service::Scope::kAdmin, "upload or update a video", ""},
    {"GET", "/v1/videos/{video_id}", Service::Scope::kUser, "a video's fields and live counters", ""},
    {"PUT", "/v1/users/{user_id}", Service::Scope::kAdmin, "create or update a user's profile", ""},
    {"GET", "/v1/users/{user_id}", Service::Scope::kUser, "a user's profile and live counters", ""},
    {"GET", "/v1/videos/{video_id}/similar", Service::Scope::kUser, "videos like this one (up next)",
     "count,user_id,surface,exclude"},
    {"GET", "/openapi.json", Service::Scope::kPublic, "this API as an OpenAPI 3.1 document", ""},
    {"GET", "/v1/admin/models", Service::Scope::kAdmin,
     "the registry's versions with their figures, the production stack and its history", ""},
    {"GET", "/v1/admin/runs", Service::Scope::kAdmin,
     "the newest pipeline runs: steps, figures, gate verdicts", "limit"},
    {"GET", "/v1/admin/experiments", Service::Scope::kAdmin,
     "the experiment's variants, the ledger's report of variants and versions, and the canary trial", ""},
    {"GET", "/console", Service::Scope::kPublic, "the web console (its data comes from the admin routes)",
     ""},
    {"GET", "/console/{asset}", Service::Scope::kPublic, "the console's scripts and styles", ""},
};

// 400 for a query parameter `route` does not take, naming the ones it does.
Status CheckQuery(const HttpRequest& request, const Service::RouteInfo& route) {
  const std::vector<std::string_view> known = SplitNonEmpty(route.query, ',');
  for (const auto& [key, value] : request.query) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    if (known.empty()) return InvalidArgumentError(StrCat(route.pattern, " takes no query parameters"));
    return InvalidArgumentError(
        StrCat("unknown query parameter '", key.substr(0, 40), "' (", StrJoin(known, ", "), ")"));
  }
  return OkStatus();
}
constexpr size_t kNumRoutes = std::size(kRoutes);

double SecondsSince(SteadyClock::time_point t) {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

void Json(HttpResponse& r, int status, std::string body) {
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
}

// Matches `path` against a route pattern; `param` gets the segment matched by the {...} one.
bool Matches(std::string_view pattern, std::string_view path, std::string_view& param) {
  while (!pattern.empty() || !path.empty()) {
    if (pattern.empty() || path.empty() || pattern[0] != '/' || path[0] != '/') return false;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
    const size_t pe = pattern.find('/'), se = path.find('/');
    const std::string_view pseg = pattern.substr(0, pe), seg = path.substr(0, se);
    if (pseg.starts_with('{')) {
      if (seg.empty()) return false;
      param = seg;
    } else if (pseg != seg) {
      return false;
    }
    pattern = pe == std::string_view::npos ? std::string_view() : pattern.substr(pe);
    path = se == std::string_view::npos ? std::string_view() : path.substr(se);
  }
  return true;
}

StatusOr<uint64_t> ParseId(std::string_view text, std::string_view what) {
  uint64_t id = 0;
  if (text.size() > 20 || !ParseUint64(text, id)) {
    return InvalidArgumentError(
        StrCat(what, " '", text.substr(0, 24), "' is not an unsigned 64-bit integer"));
  }
  return id;
}

// count=N, 1..kMaxCount; `count` keeps its value when absent.
Status ParseCount(const HttpRequest& request, int& count) {
  const std::string* c = request.Query("count");
  if (c == nullptr) return OkStatus();
  int64_t n = 0;
  if (c->size() > 8 || !ParseInt64(*c, n) || n < 1 || n > kMaxCount) {
    return InvalidArgumentError(
        StrCat("count '", c->substr(0, 12), "' must be an integer in [1, ", kMaxCount, "]"));
  }
  count = static_cast<int>(n);
  return OkStatus();
}

// exclude=12,34,56: the videos on the client's screen, at most kMaxExclude.
Status ParseExclude(const HttpRequest& request, std::vector<VideoId>& out) {
  const std::string* e = request.Query("exclude");
  if (e == nullptr) return OkStatus();
  for (std::string_view rest = *e; !rest.empty();) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    VREC_ASSIGN_OR_RETURN(uint64_t id, ParseId(item, "exclude video id"));
    if (out.size() == kMaxExclude)
      return InvalidArgumentError(StrCat("exclude lists more than ", kMaxExclude, " videos"));
    out.push_back(VideoId{id});
  }
  return OkStatus();
}

// A query value of at most `max` characters from [A-Za-z0-9] and `extra`.
Status CheckToken(std::string_view name, std::string_view value, size_t max, std::string_view extra) {
  const bool ok =
      !value.empty() && value.size() <= max && std::all_of(value.begin(), value.end(), [&](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               extra.find(c) != std::string_view::npos;
      });
  if (ok) return OkStatus();
  return InvalidArgumentError(StrCat(name, " must be 1 to ", max, " characters of letters, digits and '",
                                     extra, "', got '", value.substr(0, 40),
                                     value.size() > 40 ? "...'" : "'"));
}

std::string FormatScore(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", static_cast<double>(v));
  return buf;
}

// A JSON number, or null for NaN and infinities (a missing feature value).
std::string JsonNumber(float v) { return std::isfinite(v) ? FormatScore(v) : "null"; }

// {"source":..,"retrieval":{..},"filters_passed":[..],"ranker":{..},"ordering":{..}}
std::string ExplanationJson(const ItemExplanation& e) {
  std::string out = StrCat(R"({"source":)", JsonQuote(e.source));
  if (e.retrieval_rank >= 0) {
    out += StrCat(R"(,"retrieval":{"score":)", JsonNumber(e.retrieval_score), R"(,"rank":)",
                  e.retrieval_rank + 1, "}");
  }
  // Every item of the list passed the whole chain (a promo is checked against it too).
  out += R"(,"filters_passed":[)";
  for (int i = 0; i < filtering::kNumFilters; ++i) {
    if (i > 0) out += ',';
    out += JsonQuote(filtering::Name(static_cast<filtering::Filter>(i)));
  }
  out += ']';
  if (e.ranked) {
    out += StrCat(R"(,"ranker":{"score":)", JsonNumber(e.ranker_score), R"(,"rank":)", e.ranker_rank + 1,
                  R"(,"bias":)", JsonNumber(e.bias), R"(,"other_contributions":)",
                  JsonNumber(e.other_contributions), R"(,"contributions":[)");
    for (size_t i = 0; i < e.contributions.size(); ++i) {
      const ItemExplanation::Contribution& c = e.contributions[i];
      if (i > 0) out += ',';
      out += StrCat(R"({"feature":)", JsonQuote(c.feature), R"(,"value":)", JsonNumber(c.value),
                    R"(,"contribution":)", JsonNumber(c.contribution), "}");
    }
    out += "]}";
  }
  if (e.has_heads) {
    // {"objectives":{"heads":{"watch":..,"complete":..,"like":..},"weights":{..},"score":..}}
    out += R"(,"objectives":{"heads":{)";
    for (size_t h = 0; h < ranking::kNumObjectives; ++h) {
      out += StrCat(h > 0 ? "," : "", JsonQuote(ranking::Name(ranking::kObjectives[h])), ":",
                    JsonNumber(e.head_scores[h]));
    }
    out += StrCat(R"(},"weights":{"ranker":)", FormatScore(static_cast<float>(e.blend.ranker)));
    for (ranking::Objective o : ranking::kObjectives) {
      out += StrCat(",", JsonQuote(ranking::Name(o)), ":", FormatScore(static_cast<float>(e.blend.head(o))));
    }
    out += StrCat(R"(},"score":)", JsonNumber(e.blended_score), "}");
  }
  const bool demoted = e.position_after_diversity > e.position_by_score;
  out +=
      StrCat(R"(,"ordering":{"freshness_boost":)", JsonNumber(e.freshness_boost), R"(,"position_by_score":)",
             e.position_by_score, R"(,"position_after_diversity":)", e.position_after_diversity,
             R"(,"diversity_demoted":)", demoted ? "true" : "false", R"(,"promoted":)",
             e.promoted ? "true" : "false", R"(,"explored":)", e.explored ? "true" : "false", "}");
  if (e.explored) {
    out += StrCat(R"(,"exploration":{"plays":)", static_cast<int64_t>(e.explore_plays), R"(,"skips":)",
                  static_cast<int64_t>(e.explore_skips), R"(,"sample":)",
                  JsonNumber(static_cast<float>(e.explore_sample)), "}");
  }
  return out + "}";
}

// "items":[{"video_id":..,"position":1,"score":..,"reason":..},...],"filtered":{"watched":N,...}
// With explanations (one per item): each item also has "explanation", and "filtered" lists
// the first dropped videos of each filter: {"watched":{"count":N,"videos":[..]},...}.
std::string ItemsAndFilteredJson(std::span<const RecommendedItem> items,
                                 const filtering::FilterReport& filter,
                                 std::span<const ItemExplanation> explanations = {},
                                 const RequestExplanation* request_explanation = nullptr) {
  std::string out = R"("items":[)";
  for (size_t i = 0; i < items.size(); ++i) {
    const RecommendedItem& it = items[i];
    if (i > 0) out += ',';
    out += StrCat(R"({"video_id":)", JsonQuote(std::to_string(it.video.value)), R"(,"position":)", i + 1,
                  R"(,"score":)", FormatScore(it.score), R"(,"reason":)", JsonQuote(it.reason));
    if (i < explanations.size()) out += StrCat(R"(,"explanation":)", ExplanationJson(explanations[i]));
    out += '}';
  }
  out += R"(],"filtered":{)";
  for (int i = 0; i < filtering::kNumFilters; ++i) {
    const auto f = static_cast<filtering::Filter>(i);
    if (i > 0) out += ',';
    out += StrCat(JsonQuote(filtering::Name(f)), ":");
    if (request_explanation == nullptr) {
      out += std::to_string(filter.removed(f));
      continue;
    }
    out += StrCat(R"({"count":)", filter.removed(f), R"(,"videos":[)");
    const std::vector<VideoId>& dropped = request_explanation->dropped[static_cast<size_t>(i)];
    for (size_t j = 0; j < dropped.size(); ++j) {
      if (j > 0) out += ',';
      out += JsonQuote(std::to_string(dropped[j].value));
    }
    out += "]}";
  }
  return out + "}";
}

// Constant-time equality: the time depends on the lengths only, never on where they differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  const size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

// "1.2.3.4:567" -> "1.2.3.4"; "[::1]:567" -> "::1".
std::string_view PeerAddress(std::string_view remote) {
  if (remote.starts_with('[')) {
    const size_t close = remote.find(']');
    return close == std::string_view::npos ? remote : remote.substr(1, close - 1);
  }
  const size_t colon = remote.rfind(':');
  return colon == std::string_view::npos ? remote : remote.substr(0, colon);
}

void LogLine(std::string_view line, LogLevel level = LogLevel::kInfo) { Log(level, line); }

// X-Request-Id: the client's when it is 1..64 of [A-Za-z0-9._-], else a new random one.
std::string RequestId(const HttpRequest& request) {
  const std::string_view given = request.Header("X-Request-Id");
  if (!given.empty() && given.size() <= 64 && std::all_of(given.begin(), given.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
               c == '_' || c == '-';
      })) {
    return std::string(given);
  }
  thread_local std::mt19937_64 rng{
      std::random_device{}() ^
      (static_cast<uint64_t>(std::hash<std::thread::id>()(std::this_thread::get_id())) << 1)};
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

}  // namespace

const Service::Handler Service::kHandlers[] = {
    &Service::Healthz,    &Service::Readyz,           &Service::Metrics,    &Service::Recommend,
    &Service::History,    &Service::PostEvents,       &Service::AdminVideo, &Service::AdminReload,
    &Service::AdminModel, &Service::PutVideo,         &Service::GetVideo,   &Service::PutUser,
    &Service::GetUser,    &Service::Similar,          &Service::OpenApi,    &Service::AdminModels,
    &Service::AdminRuns,  &Service::AdminExperiments, &Service::Console,    &Service::Console,
};

std::span<const Service::RouteInfo> Service::Routes() {
  static_assert(std::size(kHandlers) == std::size(kRoutes));
  return kRoutes;
}

StatusOr<std::unique_ptr<Service>> Service::Create(ServeConfig config, std::function<int64_t()> clock,
                                                   std::unique_ptr<features::KeyValueStore> kv) {
  VREC_RETURN_IF_ERROR(FinishServeConfig(config));
  if (!clock) {
    clock = [] {
      return std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
  std::unique_ptr<Service> s(new Service(std::move(config), std::move(clock)));
  VREC_ASSIGN_OR_RETURN(registry::ModelRegistry reg, registry::ModelRegistry::Open(s->config_.registry));
  s->registry_ = std::make_unique<registry::ModelRegistry>(std::move(reg));
  features::FeatureStoreOptions store_options;
  store_options.max_history = static_cast<size_t>(s->config_.max_history);
  store_options.clock = s->clock_;
  if (kv) {
    VREC_ASSIGN_OR_RETURN(s->store_, features::FeatureStore::Open(std::move(kv), store_options));
  } else {
    VREC_ASSIGN_OR_RETURN(s->store_,
                          features::FeatureStore::Open(s->config_.FeatureStoreUri(), store_options));
  }
  // Once an event is durable it is visible to History, so the next request of its user must not
  // be answered from the cache.
  Service* self = s.get();
  s->ingestor_ = std::make_unique<events::EventIngestor>(
      *s->store_,
      std::vector<events::EventObserver>{[self](std::span<const features::Event> batch) {
                                           for (const features::Event& e : batch)
                                             self->cache_.InvalidateTag(std::to_string(e.user.value));
                                         },
                                         [self](std::span<const features::Event> batch) {
                                           for (const features::Event& e : batch) {
                                             if (!e.request_id.empty()) self->CountAttributed(e);
                                           }
                                         }});
  // The change log's head before anything is read from the store: a change written meanwhile is
  // applied again by the first sync (harmless), none is missed.
  VREC_ASSIGN_OR_RETURN(const uint64_t last_change, s->store_->LastChange());
  s->changes_applied_ = last_change;
  VREC_ASSIGN_OR_RETURN(auto flags, s->store_->AllVideoFlags());
  for (const auto& [video, f] : flags) s->flags_by_id_[video.value] = f;
  VREC_ASSIGN_OR_RETURN(std::optional<std::string> production, s->registry_->ProductionVersion());
  if (!production) {
    return UnavailableError(StrCat("registry ", s->config_.registry,
                                   " has no production model yet: run `vrec pipeline run --registry ",
                                   s->config_.registry, "` first"));
  }
  const Status loaded = s->ReloadIfChanged();
  if (s->model_version().empty()) {
    return UnavailableError(StrCat("no version of the production stack loads; the last error: ",
                                   loaded.ok() ? s->load_.last_error : loaded.message()));
  }
  if (!loaded.ok()) LogLine(StrCat("starting on ", s->model_version(), ": ", loaded.message()));
  return s;
}

Service::Service(ServeConfig config, std::function<int64_t()> clock)
    : config_(std::move(config)),
      clock_(std::move(clock)),
      cache_(static_cast<size_t>(config_.cache_entries), config_.cache_ttl, {}, 16,
             static_cast<size_t>(config_.cache_bytes)),
      key_limiter_({.rate = config_.key_rate, .burst = config_.key_burst},
                   static_cast<size_t>(config_.max_tracked_clients)),
      ip_limiter_({.rate = config_.ip_rate, .burst = config_.ip_burst},
                  static_cast<size_t>(config_.max_tracked_clients)) {
  for (int i = 0; i < 5; ++i) {
    stage_latency_[i] =
        &metrics_.histogram("vrec_stage_seconds", "Time spent in each stage of a recommendation.",
                            {{"stage", kStageNames[i]}}, DefaultLatencyBuckets());
  }
  for (int i = 0; i < filtering::kNumFilters; ++i) {
    filter_removed_[i] =
        &metrics_.counter("vrec_filter_removed_total", "Candidates removed by each filter.",
                          {{"filter", std::string(filtering::Name(static_cast<filtering::Filter>(i)))}});
  }
  route_metrics_ = std::vector<RouteMetrics>(kNumRoutes + 1);
  for (size_t r = 0; r <= kNumRoutes; ++r) {
    route_metrics_[r].latency = &metrics_.histogram(
        "vrec_http_request_seconds", "HTTP request latency by route.",
        {{"route", r < kNumRoutes ? kRoutes[r].pattern : "other"}}, DefaultLatencyBuckets());
  }
  for (const VariantOptions& v : config_.variants) {
    recommendations_.push_back({});
    for (int cold = 0; cold < 2; ++cold) {
      recommendations_.back()[cold] = &metrics_.counter(
          "vrec_recommendations_total", "Recommendation responses by experiment variant and path.",
          {{"variant", v.name}, {"path", cold ? "cold_start" : "personalised"}});
    }
  }
  events_accepted_ = &metrics_.counter("vrec_events_accepted_total", "Events durably appended.");
  catalog_updates_[0] =
      &metrics_.counter("vrec_catalog_updates_total", "Catalog API writes.", {{"kind", "video"}});
  catalog_updates_[1] =
      &metrics_.counter("vrec_catalog_updates_total", "Catalog API writes.", {{"kind", "user"}});
  metrics_.gauge_callback(
      "vrec_catalog_overlay_videos", "Videos uploaded or updated since the model's snapshot.", {}, [this] {
        const Snapshot snap = Current();
        return snap.live ? static_cast<double>(snap.live->added_videos() + snap.live->updated_videos()) : 0.0;
      });
  events_duplicate_ = &metrics_.counter("vrec_events_duplicate_total",
                                        "Events not stored again because their event_id was stored already.");
  reloads_ok_ = &metrics_.counter("vrec_model_reloads_total", "Model loads.", {{"result", "ok"}});
  reloads_failed_ = &metrics_.counter("vrec_model_reloads_total", "Model loads.", {{"result", "error"}});
  changes_applied_total_ = &metrics_.counter(
      "vrec_store_changes_applied_total",
      "Entries of the store's change log (flags, catalog records; this server's and others') applied.");
  explored_items_ =
      &metrics_.counter("vrec_explored_items_total",
                        "Recommended items in exploration slots (fresh videos, ordering.explore_share).");
  shadow_requests_ = &metrics_.counter("vrec_shadow_requests_total",
                                       "Recommendations also scored by the shadow trial's version.");
  shadow_overlap_ =
      &metrics_.counter("vrec_shadow_overlap_items_total",
                        "Items of shadow lists also in the list served (divide by the items served).");
  metrics_.gauge_callback("vrec_canary_share", "Share of users the canary trial serves (0: none; shadow: 0).",
                          {}, [this] {
                            auto c = CurrentCanary();
                            return c && !c->info.shadow ? c->info.share : 0.0;
                          });
  store_read_failures_ = &metrics_.counter("vrec_feature_store_read_failures_total",
                                           "Recommendations served without the online history: the feature "
                                           "store could not be read.");
  metrics_.gauge_callback("vrec_feature_store_degraded",
                          "1 while the feature store cannot be read (recommendations from the model alone).",
                          {}, [this] { return store_degraded_.load() ? 1.0 : 0.0; });
  rate_limited_[0] =
      &metrics_.counter("vrec_rate_limited_total", "Requests refused with 429.", {{"by", "key"}});
  rate_limited_[1] =
      &metrics_.counter("vrec_rate_limited_total", "Requests refused with 429.", {{"by", "address"}});
  // Read from the same state as /readyz's "fallback", so the two never disagree.
  metrics_.gauge_callback(
      "vrec_model_fallback",
      "1 while the model served is not the production version (production failed to load), else 0.", {},
      [this] {
        const std::string version = model_version();
        std::lock_guard lock(mutex_);
        return !version.empty() && !load_.pointer.empty() &&
                       StateOf(version, load_.pointer.front(), load_.loading) == ModelState::kFallback
                   ? 1.0
                   : 0.0;
      });
  // Hits and misses as counters (a ratio since start says nothing about the last minute; Prometheus
  // derives any window's ratio from the two rates).
  metrics_.counter_callback("vrec_cache_lookups_total", "Response cache lookups.", {{"result", "hit"}},
                            [this] { return static_cast<double>(cache_.hits()); });
  metrics_.counter_callback("vrec_cache_lookups_total", "Response cache lookups.", {{"result", "miss"}},
                            [this] { return static_cast<double>(cache_.misses()); });
  // The process, as Prometheus's client libraries name it.
  metrics_.gauge_callback("process_resident_memory_bytes", "Resident memory size in bytes.", {},
                          [] { return static_cast<double>(ReadProcessStats().resident_bytes); });
  metrics_.gauge_callback("process_virtual_memory_bytes", "Virtual memory size in bytes.", {},
                          [] { return static_cast<double>(ReadProcessStats().virtual_bytes); });
  metrics_.gauge_callback("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", {},
                          [] { return ReadProcessStats().cpu_seconds; });
  metrics_.gauge_callback("process_open_fds", "Number of open file descriptors.", {},
                          [] { return static_cast<double>(ReadProcessStats().open_fds); });
  metrics_.gauge_callback("process_max_fds", "Maximum number of open file descriptors.", {},
                          [] { return static_cast<double>(ReadProcessStats().max_fds); });
  metrics_.gauge_callback("process_start_time_seconds",
                          "Start time of the process since unix epoch in seconds.", {},
                          [] { return ReadProcessStats().start_time; });
  metrics_.gauge("vrec_build_info", "The vrec build serving (1).", {{"version", VREC_VERSION}}).Set(1);
  // What the served model holds, by part (mapped files count once they are paged in).
  for (const char* part : {"history", "cold_start", "positives", "sar", "ease", "aggregates", "counters",
                           "index", "two_tower"}) {
    metrics_.gauge_callback("vrec_model_bytes", "Bytes of the served model, by component.",
                            {{"component", part}}, [this, name = std::string(part)] {
                              const Snapshot snap = Current();
                              if (!snap.model) return 0.0;
                              const auto bytes = snap.model->ComponentBytes();
                              auto it = bytes.find(name);
                              return it == bytes.end() ? 0.0 : static_cast<double>(it->second);
                            });
  }
  metrics_.gauge_callback(
      "vrec_live_counters_bytes",
      "Bytes of the served model's engagement counters of the events since its snapshot (the "
      "snapshot's own are mapped: vrec_model_bytes{component=\"counters\"}).",
      {}, [this] {
        const Snapshot snap = Current();
        return snap.counters ? static_cast<double>(snap.counters->bytes()) : 0.0;
      });
  metrics_.gauge_callback("vrec_live_counters_log_sequence",
                          "The event log sequence the live counters have counted through.", {}, [this] {
                            const Snapshot snap = Current();
                            return snap.counters ? static_cast<double>(snap.counters->applied_through())
                                                 : 0.0;
                          });
  metrics_.gauge_callback("vrec_cache_entries", "Responses in the cache.", {},
                          [this] { return static_cast<double>(cache_.size()); });
  metrics_.gauge_callback("vrec_cache_bytes", "Bytes of the responses in the cache.", {},
                          [this] { return static_cast<double>(cache_.bytes()); });
}

Service::~Service() {
  StopPolling();
  if (Status s = FlushLedger(); !s.ok())
    LogLine(StrCat("experiment ledger: ", s.message()), LogLevel::kWarning);
}

std::shared_ptr<const Service::CanaryState> Service::CurrentCanary() const {
  std::lock_guard lock(mutex_);
  return canary_;
}

std::string Service::EpochOf(const CanaryState* trial) const {
  return trial ? experiments::TrialEpoch(trial->info.version, trial->info.started_unix)
               : experiments::ExperimentEpoch(config_.experiment.name);
}

experiments::ArmKey Service::ArmOf(UserId user, std::string surface) const {
  experiments::ArmKey arm;
  arm.variant = config_.variants.front().name;
  if (!config_.experiment.variants.empty())
    arm.variant = ordering::AssignVariant(config_.experiment, user).name;
  const auto trial = CurrentCanary();
  arm.epoch = EpochOf(trial.get());
  const bool in_trial = trial && !trial->info.shadow &&
                        experiments::InCanary(user.value, trial->info.version, trial->info.share);
  arm.version = in_trial ? trial->info.version : model_version();
  arm.surface = surface.empty() ? "home" : std::move(surface);
  return arm;
}

void Service::CountAttributed(const features::Event& e) {
  experiments::Sums s;
  switch (e.type) {
    case data::EventType::kPlay: {
      s.plays = 1;
      const bool has_ratio = !data::IsMissing(e.watch_ratio);
      if (has_ratio && e.watch_ratio >= features::kCompletionRatio) s.completions = 1;
      if (has_ratio) {
        const Snapshot snap = Current();
        const LiveCatalog::Reader live = snap.live->Read();
        if (auto v = live.catalog().FindVideo(e.video)) {
          const float duration = live.catalog().video(*v).duration_s;
          if (!data::IsMissing(duration)) s.watch_s = static_cast<double>(e.watch_ratio) * duration;
        }
      }
      break;
    }
    case data::EventType::kLike:
      s.likes = 1;
      break;
    case data::EventType::kSkip:
      s.skips = 1;
      break;
    case data::EventType::kImpression:
      if (config_.impressions != ServeConfig::Impressions::kClient) return;
      s.impressions = 1;
      break;
    default:
      return;  // comments, shares, ratings: not in the ledger's metrics
  }
  ledger_.Count(ArmOf(e.user, e.surface), e.user.value, s);
}

Status Service::FlushLedger() {
  auto taken = ledger_.Take();
  if (taken.empty()) return OkStatus();
  Status s = store_->AddSums(taken);
  if (!s.ok()) ledger_.Restore(taken);
  return s;
}

Service::Snapshot Service::Current() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

std::string Service::model_version() const {
  Snapshot s = Current();
  return s.model ? s.model->version() : std::string();
}

std::string Service::Redact(std::string_view message) const {
  std::string out(message);
  for (const std::string& root : {std::filesystem::absolute(config_.registry).string(), config_.registry}) {
    if (root.empty()) continue;
    for (size_t at = out.find(root); at != std::string::npos; at = out.find(root, at)) {
      out.replace(at, root.size(), "<registry>");
    }
  }
  return out;
}

std::shared_ptr<const std::vector<uint8_t>> Service::BuildFlags(const LiveCatalog& live) const {
  const LiveCatalog::Reader reader = live.Read();
  const data::CatalogView& catalog = reader.catalog();
  auto flags = std::make_shared<std::vector<uint8_t>>(catalog.num_videos(), 0);
  for (const auto& [id, f] : flags_by_id_) {
    if (auto v = catalog.FindVideo(VideoId{id})) {
      (*flags)[*v] = static_cast<uint8_t>((f.unavailable ? filtering::kFlagUnavailable : 0) |
                                          (f.age_restricted ? filtering::kFlagAgeRestricted : 0));
    }
  }
  return flags;
}

void Service::RebuildFlagsLocked() {
  if (snapshot_.live) snapshot_.flags = BuildFlags(*snapshot_.live);
  if (canary_) {
    auto c = std::make_shared<CanaryState>(*canary_);
    c->snap.flags = BuildFlags(*c->snap.live);
    canary_ = std::move(c);
  }
}

Status Service::UpsertLive(const features::VideoRecord& record) {
  if (auto c = CurrentCanary()) {
    if (Status s = c->snap.live->Upsert(record).status(); !s.ok()) {
      LogLine(StrCat("canary ", c->info.version, ": ", s.message()), LogLevel::kWarning);
    }
  }
  return Current().live->Upsert(record).status();
}

void Service::UpsertLive(const features::UserRecord& record) {
  if (auto c = CurrentCanary()) c->snap.live->Upsert(record);
  Current().live->Upsert(record);
}

Status Service::ReloadCanaryIfChanged() {
  VREC_ASSIGN_OR_RETURN(std::optional<registry::CanaryInfo> info, registry_->Canary());
  auto loaded = CurrentCanary();
  if (!info) {
    if (loaded) {
      {
        std::lock_guard lock(mutex_);
        canary_.reset();
        canary_failed_.clear();
      }
      cache_.Clear();
      LogLine(StrCat("canary ", loaded->info.version, " ended"));
    }
    return OkStatus();
  }
  if (loaded && loaded->info.version == info->version) {
    if (loaded->info.share != info->share || loaded->info.shadow != info->shadow) {
      auto c = std::make_shared<CanaryState>(*loaded);
      c->info = *info;
      std::lock_guard lock(mutex_);
      canary_ = std::move(c);
    }
    return OkStatus();
  }
  {
    std::lock_guard lock(mutex_);
    if (canary_failed_ == info->version) return OkStatus();
  }
  const auto start = SteadyClock::now();
  StatusOr<std::shared_ptr<const ServingModel>> model = UnavailableError("not loaded");
  try {
    model = ServingModel::Load(registry_->VersionPath(info->version), info->version, ModelOptions(true));
  } catch (const std::exception& e) {
    model = InternalError(StrCat("exception while loading: ", e.what()));
  }
  std::unique_lock catalog_lock(catalog_mutex_);
  StatusOr<std::shared_ptr<LiveCatalog>> live = UnavailableError("no model");
  if (model.ok()) live = BuildLiveCatalog(*model);
  if (!model.ok() || !live.ok()) {
    const Status& error = !model.ok() ? model.status() : live.status();
    std::lock_guard lock(mutex_);
    canary_failed_ = info->version;
    return Status(error.code(), Redact(StrCat("loading canary ", info->version, ": ", error.message())));
  }
  auto c = std::make_shared<CanaryState>();
  c->info = *info;
  c->snap.model = *model;
  c->snap.live = *live;
  {
    std::lock_guard lock(mutex_);
    c->snap.flags = BuildFlags(**live);
    canary_ = std::move(c);
  }
  catalog_lock.unlock();
  cache_.Clear();
  LogLine(StrCat("canary ", info->version, " loaded in ",
                 FormatScore(static_cast<float>(SecondsSince(start))),
                 " s: ", info->shadow ? "shadows " : "serves ", info->share * 100, "% of ",
                 info->shadow ? "requests" : "users"));
  return OkStatus();
}

void Service::DecideCanaryIfDue() {
  auto c = CurrentCanary();
  if (!c || !config_.canary_decide) return;
  if (Status s = FlushLedger(); !s.ok()) return;  // decide on every count this server has
  auto sums = store_->ScanSums("exp/");
  if (!sums.ok()) return;
  auto data = experiments::ParseLedger(*sums);
  if (!data.ok()) {
    LogLine(StrCat("canary: ", data.status().message()), LogLevel::kWarning);
    return;
  }
  const int64_t elapsed = clock_() - c->info.started_unix;
  const std::string baseline = model_version();
  const experiments::CanaryDecision d =
      experiments::DecideCanary(*data, EpochOf(c.get()), c->info.version, baseline, elapsed, config_.canary);
  if (d.verdict == experiments::CanaryDecision::Verdict::kWait) return;
  const bool promote = d.verdict == experiments::CanaryDecision::Verdict::kPromote;
  const std::string reason = StrCat(promote ? "canary passed: " : "canary failed: ", d.reason);
  Status s = registry_->FinishCanary(c->info.version, promote, reason);
  if (s.code() == StatusCode::kNotFound) return;  // another server ended it first
  if (!s.ok()) {
    LogLine(StrCat("ending the trial of ", c->info.version, ": ", Redact(s.message())), LogLevel::kError);
    return;
  }
  LogLine(StrCat("canary ", c->info.version, promote ? " promoted: " : " rolled back: ", d.reason));
  RequestReload();
}

Status Service::LoadAndSwap(const std::string& version) {
  const auto start = SteadyClock::now();
  bool serving = false;
  {
    std::lock_guard lock(mutex_);
    load_.loading = version;
    load_.loading_since = start;
    serving = snapshot_.model != nullptr;
  }
  StatusOr<std::shared_ptr<const ServingModel>> model = UnavailableError("not loaded");
  try {
    model = ServingModel::Load(registry_->VersionPath(version), version, ModelOptions(serving));
  } catch (const std::exception& e) {  // a loader bug must not take the poller down
    model = InternalError(StrCat("exception while loading: ", e.what()));
  }
  // The catalog API's records since the snapshot, applied to the new model; catalog writes wait
  // until the swap so that none is lost between the scan and the swap.
  std::unique_lock catalog_lock(catalog_mutex_);
  StatusOr<std::shared_ptr<LiveCatalog>> live = UnavailableError("no model");
  if (model.ok()) live = BuildLiveCatalog(*model);
  StatusOr<std::shared_ptr<LiveCounters>> counters = UnavailableError("no model");
  if (live.ok()) counters = BuildLiveCounters(**model, *live);
  Snapshot retired;  // the model swapped out: freed by this thread, after the locks (below)
  {
    std::lock_guard lock(mutex_);
    VREC_RETURN_IF_ERROR(SwapLocked(version, start, model, live, counters, retired));
  }
  catalog_lock.unlock();
  Retire(std::move(retired));
  return OkStatus();
}

void Service::Retire(Snapshot retired) {
  // Requests in flight still hold the old model. Wait (bounded) until they are done, so that its
  // catalog and maps (hundreds of MB at 1M videos) are freed here rather than by whichever request
  // thread drops the last reference.
  const auto deadline = SteadyClock::now() + std::chrono::seconds(5);
  // A request holds a whole Snapshot; the flags and counters are held by snapshots only (the
  // model and catalog also by each other).
  const auto others = [&] { return retired.flags.use_count() > 1 || retired.counters.use_count() > 1; };
  while (others() && SteadyClock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

Status Service::SwapLocked(const std::string& version, SteadyClock::time_point start,
                           StatusOr<std::shared_ptr<const ServingModel>>& model,
                           StatusOr<std::shared_ptr<LiveCatalog>>& live,
                           StatusOr<std::shared_ptr<LiveCounters>>& counters, Snapshot& retired) {
  load_.loading.clear();
  if (!model.ok() || !live.ok() || !counters.ok()) {
    const Status& error = !model.ok() ? model.status() : !live.ok() ? live.status() : counters.status();
    load_.failed.insert(version);
    load_.last_error = Redact(StrCat("loading ", version, ": ", error.message()));
    reloads_failed_->Inc();
    return Status(error.code(), load_.last_error);
  }
  const std::string old = snapshot_.model ? snapshot_.model->version() : "";
  if (!old.empty())
    metrics_.gauge("vrec_model_info", "The model version being served (1).", {{"version", old}}).Set(0);
  retired = snapshot_;
  snapshot_.model = *model;
  snapshot_.live = *live;
  snapshot_.flags = BuildFlags(**live);
  snapshot_.counters = *counters;
  metrics_.gauge("vrec_model_info", "The model version being served (1).", {{"version", version}}).Set(1);
  cache_.Clear();
  reloads_ok_->Inc();
  LogLine(StrCat("model ", version, " loaded in ", FormatScore(static_cast<float>(SecondsSince(start))),
                 " s (", (*model)->catalog().videos.size(), " videos, ", (*model)->catalog().users.size(),
                 " users; index ", IndexDescription((*model)->index()), ")"));
  return OkStatus();
}

Status Service::ReloadIfChanged() {
  std::lock_guard reload(reload_mutex_);
  VREC_ASSIGN_OR_RETURN(std::vector<std::string> stack, registry_->ProductionStack());
  std::vector<std::string> todo;  // versions worth trying, best first
  {
    std::lock_guard lock(mutex_);
    if (stack != load_.pointer) {
      load_.pointer = stack;
      load_.failed.clear();  // a changed pointer deserves a fresh try of everything
    }
    const std::string serving = snapshot_.model ? snapshot_.model->version() : "";
    if (stack.empty() || stack.front() == serving) return OkStatus();
    // Production first; the rest of the stack only when nothing is served yet (at start): a
    // running server keeps its model rather than step back to an older one.
    for (size_t i = 0; i < stack.size() && (i == 0 || serving.empty()); ++i) {
      if (!load_.failed.count(stack[i])) todo.push_back(stack[i]);
    }
  }
  Status first_error;
  for (const std::string& version : todo) {
    Status s = LoadAndSwap(version);
    if (s.ok()) break;
    LogLine(s.message());
    if (first_error.ok()) first_error = s;
  }
  return first_error;
}

void Service::RequestReload() {
  {
    std::lock_guard lock(poll_mutex_);
    reload_requested_ = true;
  }
  poll_cv_.notify_all();
}

void Service::StartPolling() {
  // At normal priority: it does little, and what other servers wrote must not wait behind a load.
  syncer_ = std::thread([this] {
    // While the store is down every round fails: logged when the error changes or once a minute.
    std::string last_error;
    SteadyClock::time_point last_logged{};
    std::unique_lock lock(poll_mutex_);
    while (!stop_polling_) {
      poll_cv_.wait_for(lock, config_.sync_interval, [this] { return stop_polling_; });
      if (stop_polling_) break;
      lock.unlock();
      try {
        if (SteadyClock::now() - last_ledger_flush_ >= config_.ledger_flush_interval) {
          last_ledger_flush_ = SteadyClock::now();
          if (Status f = FlushLedger(); !f.ok()) {
            LogLine(StrCat("experiment ledger: ", Redact(f.message())), LogLevel::kWarning);
          }
        }
        const Status s = SyncWithStore();
        if (!s.ok() &&
            (s.message() != last_error || SteadyClock::now() - last_logged >= std::chrono::minutes(1))) {
          LogLine(StrCat("syncing with the store: ", Redact(s.message())), LogLevel::kWarning);
          last_logged = SteadyClock::now();
        }
        if (s.ok() && !last_error.empty()) LogLine("syncing with the store again");
        last_error = s.ok() ? std::string() : s.message();
      } catch (const std::exception& e) {
        LogLine(StrCat("sync thread caught: ", e.what()));
      } catch (...) {
        LogLine("sync thread caught a non-standard exception");
      }
      lock.lock();
    }
  });
  poller_ = std::thread([this] {
    // Model swaps, counter catch-up and pruning are background work: at a lower priority a swap
    // takes the CPU the requests leave idle instead of queueing them behind it (1M videos at
    // 1000 req/s on 2 cores: the ~1 s load is otherwise a request queue of hundreds of ms).
    if (!LowerThreadPriority(kPollerNiceSteps)) LogLine("could not lower the polling thread's priority");
    std::unique_lock lock(poll_mutex_);
    while (!stop_polling_) {
      poll_cv_.wait_for(lock, config_.poll_interval, [this] { return stop_polling_ || reload_requested_; });
      if (stop_polling_) break;
      reload_requested_ = false;
      lock.unlock();
      // Nothing may escape this thread: an exception here would terminate the process.
      try {
        if (Status s = ReloadIfChanged(); !s.ok()) {
          LogLine(StrCat("reload failed, still serving ", model_version(), ": ", s.message()),
                  LogLevel::kError);
        }
        if (Status s = ReloadCanaryIfChanged(); !s.ok()) LogLine(s.message(), LogLevel::kError);
        DecideCanaryIfDue();
        const Snapshot snap = Current();
        if (SteadyClock::now() - last_prune_ >= kPruneInterval) {
          last_prune_ = SteadyClock::now();
          if (snap.counters) snap.counters->Compact(clock_());
          const int64_t before = clock_() - config_.dedupe_window.count();
          for (;;) {
            StatusOr<size_t> pruned = store_->PruneEventIds(before);
            if (!pruned.ok()) {
              LogLine(StrCat("pruning event ids: ", pruned.status().message()));
              break;
            }
            if (*pruned < 10'000) break;
          }
          // Every server applies changes within a sync interval; an hour is for one stalled that
          // long (it then rereads every record).
          if (StatusOr<size_t> pruned = store_->PruneChanges(clock_() - kChangeRetention.count());
              !pruned.ok()) {
            LogLine(StrCat("pruning the change log: ", pruned.status().message()));
          }
        }
      } catch (const std::exception& e) {
        LogLine(StrCat("polling thread caught: ", e.what()));
      } catch (...) {
        LogLine("polling thread caught a non-standard exception");
      }
      lock.lock();
    }
  });
}

void Service::StopPolling() {
  {
    std::lock_guard lock(poll_mutex_);
    stop_polling_ = true;
  }
  poll_cv_.notify_all();
  if (poller_.joinable()) poller_.join();
  if (syncer_.joinable()) syncer_.join();
}

Service::Role Service::Identify(const HttpRequest& request, std::string_view& key) const {
  if (config_.open_access()) return Role::kAdmin;
  key = request.Header("x-api-key");
  // Every configured key is compared, whatever matched: the time does not tell which one did.
  bool admin = false, user = false;
  for (const std::string& k : config_.admin_keys) admin |= ConstantTimeEquals(k, key);
  for (const std::string& k : config_.api_keys) user |= ConstantTimeEquals(k, key);
  if (key.empty()) return Role::kNone;
  return admin ? Role::kAdmin : user ? Role::kUser : Role::kNone;
}

void Service::Error(const HttpRequest& request, HttpResponse& response, const Status& status) {
  response = JsonErrorResponse(status);
  if (response.status >= 500) {
    LogLine(StrCat(response.status, " ", request.method, " ", request.path, ": ", status.ToString()),
            LogLevel::kError);
  }
}

// The route `method path` names (kNumRoutes when none); `allow` lists the methods of routes
// that match the path under another method, for a 405.
static size_t MatchRoute(const HttpRequest& request, std::string_view& id, std::string& allow) {
  for (size_t r = 0; r < kNumRoutes; ++r) {
    std::string_view segment;
    if (!Matches(kRoutes[r].pattern, request.path, segment)) continue;
    if (request.method == kRoutes[r].method) {
      id = segment;
      return r;
    }
    if (allow.find(kRoutes[r].method) == std::string::npos) {
      allow += StrCat(allow.empty() ? "" : ", ", kRoutes[r].method);
    }
  }
  return kNumRoutes;
}

void Service::Handle(const HttpRequest& request, HttpResponse& response) {
  const auto start = SteadyClock::now();
  PathParams params;
  params.request_id = RequestId(request);
  std::string log_fields;  // what the handler adds to the access log line
  params.log = &log_fields;
  std::string allow;
  const size_t route = MatchRoute(request, params.id, allow);  // kNumRoutes: "other"
  try {
    std::string_view key;
    const Role role = Identify(request, key);
    params.role = role;
    int retry_after = 0;
    if (!config_.open_access() &&
        !(role == Role::kNone ? ip_limiter_.Allow(PeerAddress(request.remote), &retry_after)
                              : key_limiter_.Allow(key, &retry_after))) {
      rate_limited_[role == Role::kNone ? 1 : 0]->Inc();
      Error(request, response, ResourceExhaustedError("rate limit exceeded; retry later"));
      response.headers = {{"Retry-After", std::to_string(retry_after)}};
    } else if (route == kNumRoutes) {
      if (!allow.empty()) {
        response = JsonErrorResponse(405, StrCat("use ", allow, " for ", request.path));
        response.headers.emplace_back("Allow", allow);
      } else {
        Error(request, response, NotFoundError(StrCat("no route ", request.method, " ", request.path)));
      }
    } else if (const Scope scope = kRoutes[route].scope; scope != Scope::kPublic && role == Role::kNone) {
      Error(request, response,
            UnauthenticatedError(key.empty() ? "missing X-Api-Key header" : "unknown X-Api-Key"));
    } else if (scope == Scope::kAdmin && role != Role::kAdmin) {
      Error(request, response, PermissionDeniedError("this key has no admin scope"));
    } else if (Status q = CheckQuery(request, kRoutes[route]); !q.ok()) {
      Error(request, response, q);
    } else {
      (this->*kHandlers[route])(request, params, response);
    }
  } catch (const std::exception& e) {
    Error(request, response, InternalError(StrCat("handler threw: ", e.what())));
  }
  RouteMetrics& m = route_metrics_[route];
  const int code = response.status >= 100 && response.status < 600 ? response.status : 500;
  Counter* counter = m.by_code[code].load(std::memory_order_acquire);
  if (counter == nullptr) {  // first response with this code on this route: register (takes a lock)
    counter = &metrics_.counter(
        "vrec_http_requests_total", "HTTP requests by route and status.",
        {{"route", route < kNumRoutes ? kRoutes[route].pattern : "other"}, {"code", std::to_string(code)}});
    m.by_code[code].store(counter, std::memory_order_release);
  }
  counter->Inc();
  const double seconds = SecondsSince(start);
  m.latency->Observe(seconds);
  response.headers.emplace_back("X-Request-Id", params.request_id);
  if (config_.access_log) {
    LogFields f;
    f.Str("request_id", params.request_id)
        .Str("method", request.method.substr(0, 16))
        .Str("route", route < kNumRoutes ? kRoutes[route].pattern : "other");
    if (!params.id.empty()) f.Str("id", params.id.substr(0, 64));
    f.Int("status", code).Num("latency_ms", seconds * 1e3);
    Log(code >= 500 ? LogLevel::kError : LogLevel::kInfo, "request",
        log_fields.empty() ? f : f.Raw("detail", StrCat("{", log_fields, "}")));
  }
}

Service::ModelState Service::StateOf(std::string_view serving, std::string_view production,
                                     std::string_view loading) {
  if (production.empty() || serving == production) return ModelState::kProduction;
  return loading == production ? ModelState::kLoading : ModelState::kFallback;
}

void Service::Healthz(const HttpRequest&, const PathParams&, HttpResponse& response) {
  Json(response, 200, R"({"status":"ok"})");
}

void Service::Readyz(const HttpRequest&, const PathParams&, HttpResponse& response) {
  const std::string version = model_version();
  if (version.empty()) return Json(response, 503, R"({"status":"no model loaded"})");
  std::string production, loading;
  {
    std::lock_guard lock(mutex_);
    production = load_.pointer.empty() ? version : load_.pointer.front();
    loading = load_.loading;
  }
  const ModelState state = StateOf(version, production, loading);
  std::string body =
      StrCat(R"({"status":"ready","model_version":)", JsonQuote(version), R"(,"production_version":)",
             JsonQuote(production), R"(,"fallback":)", state == ModelState::kFallback ? "true" : "false",
             R"(,"feature_store":)", store_degraded_.load() ? R"("unreadable")" : R"("ok")");
  if (state == ModelState::kLoading) {
    body += StrCat(R"(,"loading":)", JsonQuote(production));
  } else if (state == ModelState::kFallback) {
    body += StrCat(R"(,"reason":)",
                   JsonQuote(StrCat("production version ", production, " did not load; serving ", version,
                                    " from the rollback stack (details in the server log)")));
  }
  Json(response, 200, body + "}");
}

void Service::OpenApi(const HttpRequest&, const PathParams&, HttpResponse& response) {
  Json(response, 200, std::string(OpenApiDocument()));
}

void Service::Metrics(const HttpRequest&, const PathParams&, HttpResponse& response) {
  response.status = 200;
  response.content_type = std::string(kPrometheusContentType);
  response.body = metrics_.Render();
}

void Service::Recommend(const HttpRequest& request, const PathParams& params, HttpResponse& response) {
  const auto started = SteadyClock::now();
  auto user_id = ParseId(params.id, "user id");
  if (!user_id.ok()) return Error(request, response, user_id.status());
  RecommendRequest r;
  r.user = UserId{*user_id};
  if (Status st = ParseExclude(request, r.exclude); !st.ok()) return Error(request, response, st);
  if (Status st = ParseCount(request, r.count); !st.ok()) return Error(request, response, st);
  if (const std::string* d = request.Query("device")) {
    auto device = data::ParseDevice(*d);
    if (!device)
      return Error(
          request, response,
          InvalidArgumentError(StrCat("unknown device '", d->substr(0, 16), "' (android, ios, web, tv)")));
    r.device = *device;
  }
  if (const std::string* c = request.Query("country")) {
    if (Status s = CheckToken("country", *c, kMaxCountryChars, "-"); !s.ok())
      return Error(request, response, s);
    r.country = AsciiStrToUpper(*c);
  }
  if (const std::string* l = request.Query("language")) {
    if (Status s = CheckToken("language", *l, kMaxLanguageChars, "-_"); !s.ok())
      return Error(request, response, s);
    r.language = AsciiStrToLower(*l);
  }
  if (const std::string* s = request.Query("surface")) {
    if (Status st = CheckToken("surface", *s, kMaxSurfaceChars, "-_."); !st.ok())
      return Error(request, response, st);
    r.surface = *s;
  }
  if (const std::string* e = request.Query("explain")) {
    if (*e != "true" && *e != "false")
      return Error(request, response, InvalidArgumentError("explain must be true or false"));
    r.explain = *e == "true";
  }
  r.now = clock_();

  // The experiment variant: a deterministic hash of the user, or (admin keys only, to try one)
  // the one named by variant=.
  const VariantOptions* variant = &config_.variants.front();
  if (const std::string* name = request.Query("variant")) {
    if (params.role != Role::kAdmin)
      return Error(request, response, PermissionDeniedError("variant= takes a key with admin scope"));
    variant = nullptr;
    for (const VariantOptions& vo : config_.variants) {
      if (vo.name == *name) variant = &vo;
    }
    if (variant == nullptr) {
      std::vector<std::string_view> names;
      for (const VariantOptions& vo : config_.variants) names.push_back(vo.name);
      return Error(request, response,
                   InvalidArgumentError(
                       StrCat("unknown variant '", name->substr(0, 40), "' (", StrJoin(names, ", "), ")")));
    }
  } else if (!config_.experiment.variants.empty()) {
    const ordering::Variant& v = ordering::AssignVariant(config_.experiment, r.user);
    for (const VariantOptions& vo : config_.variants) {
      if (vo.name == v.name) variant = &vo;
    }
  }

  const std::string user_tag = std::to_string(r.user.value);
  const ResponseCache::Token token = cache_.Snapshot(user_tag);

  auto t = SteadyClock::now();
  bool degraded = false;
  const std::vector<features::HistoryEntry> online = ReadOnline(r.user, degraded);
  const double user_state_us = SecondsSince(t) * 1e6;
  stage_latency_[0]->Observe(user_state_us * 1e-6);

  Snapshot snap = Current();
  // Engagement is the platform's, whichever version serves: a trial's snapshot has no counters.
  const std::shared_ptr<LiveCounters> counters = snap.counters;
  // A canary trial serves its share of users (the shadow mode serves nobody).
  const std::shared_ptr<const CanaryState> canary = CurrentCanary();
  const bool in_canary =
      canary && experiments::InCanary(r.user.value, canary->info.version, canary->info.share);
  if (in_canary && !canary->info.shadow) snap = canary->snap;
  // The experiment ledger counts what users were shown, not an operator's trials of a variant or
  // explanations.
  const bool counted = request.Query("variant") == nullptr && !r.explain;
  const std::string epoch = EpochOf(canary.get());
  const auto count = [&](size_t items, bool failed) {
    if (!counted) return;
    const experiments::ArmKey arm{epoch, snap.model->version(), variant->name, r.surface};
    if (config_.impressions == ServeConfig::Impressions::kResponse && items > 0) {
      ledger_.Count(arm, r.user.value, {.impressions = static_cast<double>(items)});
    }
    ledger_.Request(arm, SecondsSince(started), failed);
  };
  // The history is part of the key: an event stored through any server changes the next answer.
  Hasher history_hash;
  for (const features::HistoryEntry& e : online) {
    history_hash.UpdatePod(e.video.value);
    history_hash.UpdatePod(e.time);
    history_hash.UpdatePod(e.type);
    history_hash.UpdatePod(e.watch_ratio);
  }
  const std::string cache_key = StrCat(snap.model->version(), "|", variant->name, "|", user_tag, "|", r.count,
                                       "|", data::Name(r.device), "|", r.country, "|", r.language, "|",
                                       r.surface, "|", history_hash.Value());
  // A response that excludes what is on screen is specific to that screen: not cached; nor is an
  // explained one (an operator asking why wants this request's pipeline, not a stored answer).
  const bool cacheable = r.exclude.empty() && !degraded && !r.explain;
  // The cached body is the same for every request; the request id goes in front of it.
  const auto answer = [&](const std::string& body) {
    Json(response, 200,
         StrCat(R"({"request_id":)", JsonQuote(params.request_id), ",", std::string_view(body).substr(1)));
  };
  if (cacheable) {
    if (auto hit = cache_.Get(cache_key)) {
      *params.log = StrCat(R"("cache":"hit","model_version":)", JsonQuote(snap.model->version()));
      answer(*hit);
      size_t items = 0;  // "video_id" appears once per item of a cached (unexplained) body
      for (size_t at = hit->find(R"("video_id":)"); at != std::string::npos;
           at = hit->find(R"("video_id":)", at + 1))
        ++items;
      return count(items, false);
    }
  }

  // Exploration's draws: one stream per request (a client reusing its request id still gets new
  // draws as time passes), reproducible from the access log's id, user and time.
  {
    Hasher seed;
    seed.Update(params.request_id);
    seed.UpdatePod(r.user.value);
    seed.UpdatePod(r.now);
    r.explore_seed = Fmix64(seed.Value());
  }
  const LiveCatalog::Reader live = snap.live->Read();
  auto result =
      serving::Recommend(*snap.model, r, online, *snap.flags, variant->recommend, &live, counters.get());
  if (!result.ok()) {
    if (result.status().code() != StatusCode::kInvalidArgument) count(0, true);
    return Error(request, response, result.status());
  }
  const StageTimings& tm = result->timings;
  stage_latency_[1]->Observe(tm.retrieve_us * 1e-6);
  stage_latency_[2]->Observe(tm.filter_us * 1e-6);
  stage_latency_[3]->Observe(tm.rank_us * 1e-6);
  stage_latency_[4]->Observe(tm.order_us * 1e-6);
  for (int i = 0; i < filtering::kNumFilters; ++i) {
    filter_removed_[i]->Inc(static_cast<double>(result->filter.removed(static_cast<filtering::Filter>(i))));
  }
  recommendations_[static_cast<size_t>(variant - config_.variants.data())][result->cold_start ? 1 : 0]->Inc();
  explored_items_->Inc(static_cast<double>(result->explored));

  std::string body = StrCat(R"({"user_id":)", JsonQuote(user_tag), R"(,"model_version":)",
                            JsonQuote(snap.model->version()), R"(,"variant":)", JsonQuote(variant->name),
                            R"(,"cold_start":)", result->cold_start ? "true" : "false", ",",
                            r.explain ? ItemsAndFilteredJson(result->items, result->filter,
                                                             result->explanations, &result->explanation)
                                      : ItemsAndFilteredJson(result->items, result->filter),
                            R"(,"retrieved":)", result->retrieved, degraded ? R"(,"degraded":true})" : "}");
  if (cacheable) cache_.Put(cache_key, user_tag, body, token);
  // Shadow mode: the trial's version scores the same request; its list is logged beside the one
  // served, never shown.
  std::string shadow_log;
  if (in_canary && canary->info.shadow && counted) {
    const auto shadow_start = SteadyClock::now();
    const LiveCatalog::Reader shadow_live = canary->snap.live->Read();
    auto shadow = serving::Recommend(*canary->snap.model, r, online, *canary->snap.flags, variant->recommend,
                                     &shadow_live, counters.get());
    ledger_.Request({epoch, canary->info.version, variant->name, ""}, SecondsSince(shadow_start),
                    !shadow.ok());
    if (shadow.ok()) {
      size_t overlap = 0;
      std::string ids;
      for (const RecommendedItem& it : shadow->items) {
        ids += StrCat(ids.empty() ? "" : ",", JsonQuote(std::to_string(it.video.value)));
        overlap += std::any_of(result->items.begin(), result->items.end(),
                               [&](const RecommendedItem& x) { return x.video == it.video; });
      }
      shadow_requests_->Inc();
      shadow_overlap_->Inc(static_cast<double>(overlap));
      shadow_log = StrCat(R"(,"shadow":{"model_version":)", JsonQuote(canary->info.version), R"(,"overlap":)",
                          overlap, R"(,"items":[)", ids, "]}");
    }
  }
  count(result->items.size(), false);
  *params.log = StrCat(R"("cache":"miss","model_version":)", JsonQuote(snap.model->version()),
                       R"(,"variant":)", JsonQuote(variant->name), R"(,"items":)", result->items.size(),
                       R"(,"degraded":)", degraded ? "true" : "false", R"(,"stages_us":{"user_state":)",
                       static_cast<int64_t>(user_state_us), R"(,"retrieve":)",
                       static_cast<int64_t>(tm.retrieve_us), R"(,"filter":)",
                       static_cast<int64_t>(tm.filter_us), R"(,"rank":)", static_cast<int64_t>(tm.rank_us),
                       R"(,"order":)", static_cast<int64_t>(tm.order_us), "}", shadow_log);
  answer(body);
}

void Service::History(const HttpRequest& request, const PathParams& params, HttpResponse& response) {
  auto user_id = ParseId(params.id, "user id");
  if (!user_id.ok()) return Error(request, response, user_id.status());
  auto online = store_->History(UserId{*user_id});
  if (!online.ok()) return Error(request, response, UnavailableError(online.status().ToString()));
  std::string body = StrCat(R"({"user_id":)", JsonQuote(std::to_string(*user_id)), R"(,"events":[)");
  for (size_t i = 0; i < online->size(); ++i) {
    const features::HistoryEntry& e = (*online)[i];
    if (i > 0) body += ',';
    body += StrCat(R"({"video_id":)", JsonQuote(std::to_string(e.video.value)), R"(,"type":)",
                   JsonQuote(data::Name(e.type)), R"(,"timestamp":)", e.time);
    if (!data::IsMissing(e.watch_ratio)) body += StrCat(R"(,"watch_ratio":)", FormatScore(e.watch_ratio));
    body += '}';
  }
  body += "]}";
  Json(response, 200, std::move(body));
}

void Service::PostEvents(const HttpRequest& request, const PathParams&, HttpResponse& response) {
  events::EventParseOptions options;
  options.max_batch_size = static_cast<size_t>(config_.max_batch);
  options.max_future_skew_s = config_.max_future_skew.count();
  auto parsed = events::ParseEventsJson(request.body, clock_(), options);
  if (!parsed.ok()) return Error(request, response, parsed.status());
  size_t stored = 0;
  if (Status s = ingestor_->Ingest(*parsed, &stored); !s.ok()) {
    // Nothing of the batch was written: the client may retry it whole (with its event ids).
    return Error(request, response,
                 s.code() == StatusCode::kInvalidArgument ? s : UnavailableError(s.ToString()));
  }
  // Counted before the acknowledgement: the next request reads them.
  // Counted before the acknowledgement; should the log be unreadable now, the sync thread counts
  // them (and logs why) within a sync interval.
  if (stored > 0) (void)CatchUpCounters(Current());
  events_accepted_->Inc(static_cast<double>(stored));
  events_duplicate_->Inc(static_cast<double>(parsed->size() - stored));
  Json(response, 200,
       StrCat(R"({"accepted":)", parsed->size(), R"(,"stored":)", stored, R"(,"duplicates":)",
              parsed->size() - stored, "}"));
}

void Service::AdminVideo(const HttpRequest& request, const PathParams& params, HttpResponse& response) {
  auto video = ParseId(params.id, "video id");
  if (!video.ok()) return Error(request, response, video.status());
  if (Status s = CheckJsonDepth(request.body); !s.ok()) return Error(request, response, s);
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object() || body.empty()) {
    return Error(request, response,
                 InvalidArgumentError(R"(body must be a JSON object like {"available": false})"));
  }
  for (const auto& [key, value] : body.items()) {
    if (key != "available" && key != "age_restricted") {
      return Error(request, response,
                   InvalidArgumentError(
                       StrCat("unknown field '", key.substr(0, 40), "' (available, age_restricted)")));
    }
    if (!value.is_boolean())
      return Error(request, response, InvalidArgumentError(StrCat(key, ": expected true or false")));
  }
  std::optional<bool> unavailable, age_restricted;
  if (auto it = body.find("available"); it != body.end()) unavailable = !it->get<bool>();
  if (auto it = body.find("age_restricted"); it != body.end()) age_restricted = it->get<bool>();
  // One update at a time from write to publish, and the store's read-modify-write is atomic for
  // every server: two concurrent updates of one video (each setting one flag) cannot lose either.
  std::lock_guard admin(admin_mutex_);
  // Durable first, then visible: a crash in between loses nothing that was acknowledged.
  StatusOr<features::VideoFlags> stored =
      store_->UpdateVideoFlags(VideoId{*video}, unavailable, age_restricted);
  if (!stored.ok()) {
    return Error(request, response,
                 stored.status().code() == StatusCode::kDataLoss
                     ? stored.status()
                     : UnavailableError(stored.status().ToString()));
  }
  const features::VideoFlags flags = *stored;
  {
    std::lock_guard lock(mutex_);
    flags_by_id_[*video] = flags;
    RebuildFlagsLocked();
  }
  cache_.Clear();
  Json(response, 200,
       StrCat(R"({"video_id":)", JsonQuote(std::to_string(*video)), R"(,"available":)",
              flags.unavailable ? "false" : "true", R"(,"age_restricted":)",
              flags.age_restricted ? "true" : "false", "}"));
}

void Service::AdminReload(const HttpRequest& request, const PathParams&, HttpResponse& response) {
  if (!request.body.empty()) return Error(request, response, InvalidArgumentError("reload takes no body"));
  RequestReload();
  Json(response, 202,
       StrCat(R"({"status":"reload requested","model_version":)", JsonQuote(model_version()),
              R"(,"progress":"GET /v1/admin/model"})"));
}

void Service::AdminModel(const HttpRequest&, const PathParams&, HttpResponse& response) {
  Snapshot snap = Current();
  std::string production, loading, last_error;
  double loading_s = 0;
  std::vector<std::string> failed;
  {
    std::lock_guard lock(mutex_);
    production = load_.pointer.empty() ? "" : load_.pointer.front();
    loading = load_.loading;
    if (!loading.empty()) loading_s = SecondsSince(load_.loading_since);
    last_error = load_.last_error;
    failed.assign(load_.failed.begin(), load_.failed.end());
  }
  std::string failed_json;
  for (const std::string& f : failed) failed_json += StrCat(failed_json.empty() ? "" : ",", JsonQuote(f));
  Json(response, 200,
       StrCat(R"({"model_version":)", JsonQuote(snap.model->version()), R"(,"production_version":)",
              JsonQuote(production), R"(,"fallback":)",
              StateOf(snap.model->version(), production, loading) == ModelState::kFallback ? "true" : "false",
              R"(,"loading":)",
              loading.empty() ? std::string("null")
                              : StrCat(R"({"version":)", JsonQuote(loading), R"(,"seconds":)",
                                       FormatScore(static_cast<float>(loading_s)), "}"),
              R"(,"failed_versions":[)", failed_json, R"(],"last_error":)",
              last_error.empty() ? std::string("null") : JsonQuote(last_error), R"(,"created_at":)",
              JsonQuote(snap.model->manifest().created_at), R"(,"videos":)",
              snap.model->catalog().videos.size(), R"(,"users":)", snap.model->catalog().users.size(), "}"));
}

StatusOr<std::shared_ptr<LiveCatalog>> Service::BuildLiveCatalog(
    std::shared_ptr<const ServingModel> model) const {
  auto live = std::make_shared<LiveCatalog>(std::move(model));
  VREC_RETURN_IF_ERROR(ApplyAllRecords(*live));
  return live;
}

Status Service::ApplyAllRecords(LiveCatalog& live) const {
  constexpr size_t kPage = 4096;
  std::vector<features::VideoRecord> videos;
  std::optional<uint64_t> after;
  do {
    VREC_RETURN_IF_ERROR(store_->ScanVideos(after, kPage, videos));
    for (const features::VideoRecord& v : videos) VREC_RETURN_IF_ERROR(live.Upsert(v).status());
    if (!videos.empty()) after = videos.back().id.value;
  } while (videos.size() == kPage);
  std::vector<features::UserRecord> users;
  after.reset();
  do {
    VREC_RETURN_IF_ERROR(store_->ScanUsers(after, kPage, users));
    for (const features::UserRecord& u : users) live.Upsert(u);
    if (!users.empty()) after = users.back().id.value;
  } while (users.size() == kPage);
  return OkStatus();
}

std::vector<features::HistoryEntry> Service::ReadOnline(UserId user, bool& degraded) {
  // Without the store (Redis down) the model alone still answers: the snapshot's history, not the
  // events since. While the store is down, one request per probe interval tries it, so that the
  // others do not each wait for its timeout.
  StatusOr<features::FeatureStore::UserState> state = UnavailableError("feature store unreadable");
  const int64_t now_ns = SteadyClock::now().time_since_epoch().count();
  int64_t probe_at = store_probe_at_.load();
  if (!store_degraded_.load() ||
      (now_ns >= probe_at &&
       store_probe_at_.compare_exchange_strong(probe_at, now_ns + kStoreProbeInterval.count()))) {
    state = store_->ReadUserState(user);
  }
  degraded = !state.ok();
  if (degraded) {
    store_read_failures_->Inc();
    if (!store_degraded_.exchange(true)) {
      LogLine(StrCat("feature store unreadable, serving from the model alone: ",
                     Redact(state.status().message())),
              LogLevel::kWarning);
    }
    return {};
  }
  if (store_degraded_.load() && store_degraded_.exchange(false)) LogLine("feature store readable again");
  // A flag or catalog record another server wrote and this one has not applied yet (the sync
  // thread would within sync_interval): applied now, so that a takedown anywhere is honoured by
  // the next request here. A running sync takes well under a millisecond, unless it waits for a
  // model swap's catalog rebuild: the request waits for it at most kRequestSyncWait.
  if (state->last_change > changes_applied_.load()) {
    if (Status s = SyncChanges(/*wait=*/false); !s.ok())
      LogLine(StrCat("syncing with the store: ", s.message()));
  }
  return std::move(state->history);
}

Status Service::SyncWithStore() {
  const Status changes = SyncChanges(/*wait=*/true);
  // Events other servers appended (and counter catch-ups that failed after an append here).
  const Status counters = CatchUpCounters(Current());
  return !changes.ok() ? changes : counters;
}

Status Service::SyncChanges(bool wait) {
  // One at a time. (Not a std::timed_mutex: its try_lock_for is pthread_mutex_clocklock, which
  // ThreadSanitizer does not see, so it reports the unlock.)
  {
    std::unique_lock lock(sync_state_mutex_);
    const auto idle = [this] { return !syncing_; };
    if (wait) {
      sync_idle_.wait(lock, idle);
    } else if (!sync_idle_.wait_for(lock, kRequestSyncWait, idle)) {
      return OkStatus();
    }
    syncing_ = true;
  }
  struct Done {
    Service* self;
    ~Done() {
      {
        std::lock_guard lock(self->sync_state_mutex_);
        self->syncing_ = false;
      }
      self->sync_idle_.notify_all();
    }
  } done{this};
  constexpr size_t kPage = 256;
  uint64_t seen = changes_applied_.load();
  std::vector<features::Change> page;
  uint64_t pruned = 0;
  bool flags_changed = false;
  const auto apply_flags =
      [&](std::vector<std::pair<uint64_t, std::optional<features::VideoFlags>>> updates) {
        std::lock_guard admin(admin_mutex_);
        std::lock_guard lock(mutex_);
        for (auto& [id, f] : updates) {
          if (f && *f != features::VideoFlags{}) {
            flags_by_id_[id] = *f;
          } else {
            flags_by_id_.erase(id);
          }
        }
      };
  do {
    VREC_RETURN_IF_ERROR(store_->ScanChanges(seen, kPage, page, &pruned));
    if (pruned > seen) {
      // Entries this server never applied were pruned (it was cut off from the store for longer
      // than their retention): every flag and record is reread instead.
      VREC_ASSIGN_OR_RETURN(const uint64_t last, store_->LastChange());
      VREC_ASSIGN_OR_RETURN(auto all, store_->AllVideoFlags());
      {
        std::lock_guard admin(admin_mutex_);
        std::lock_guard lock(mutex_);
        flags_by_id_.clear();
        for (const auto& [video, f] : all) flags_by_id_[video.value] = f;
      }
      {
        std::lock_guard catalog(catalog_mutex_);
        VREC_RETURN_IF_ERROR(ApplyAllRecords(*Current().live));
      }
      LogLine(StrCat("the change log was pruned past this server's position (", seen, " < ", pruned,
                     "): reread every flag and catalog record"),
              LogLevel::kWarning);
      seen = last;
      flags_changed = true;
      continue;
    }
    for (const features::Change& c : page) {
      switch (c.kind) {
        case features::Change::Kind::kVideoFlags: {
          VREC_ASSIGN_OR_RETURN(features::VideoFlags f, store_->GetVideoFlags(VideoId{c.id}));
          apply_flags({{c.id, f}});
          flags_changed = true;
          break;
        }
        case features::Change::Kind::kVideo: {
          VREC_ASSIGN_OR_RETURN(std::optional<features::VideoRecord> v, store_->GetVideo(VideoId{c.id}));
          if (!v) break;
          std::lock_guard catalog(catalog_mutex_);
          VREC_RETURN_IF_ERROR(UpsertLive(*v));
          flags_changed = true;  // a new video widens the flag array
          break;
        }
        case features::Change::Kind::kUser: {
          VREC_ASSIGN_OR_RETURN(std::optional<features::UserRecord> u, store_->GetUser(UserId{c.id}));
          if (!u) break;
          {
            std::lock_guard catalog(catalog_mutex_);
            UpsertLive(*u);
          }
          cache_.InvalidateTag(std::to_string(c.id));
          break;
        }
      }
      seen = c.seq;
      changes_applied_total_->Inc();
    }
  } while (page.size() == kPage);
  if (flags_changed) {
    {
      std::lock_guard lock(mutex_);
      RebuildFlagsLocked();
    }
    cache_.Clear();
  }
  changes_applied_ = seen;
  return OkStatus();
}

namespace {

// Durations for the counters' watch time: the live catalog's (uploads and updates included).
LiveCounters::DurationOf DurationsOf(std::shared_ptr<LiveCatalog> live) {
  return [live = std::move(live)](VideoId id) {
    const LiveCatalog::Reader r = live->Read();
    const std::optional<uint32_t> v = r.catalog().FindVideo(id);
    return v ? r.catalog().video(*v).duration_s : data::kMissing;
  };
}

}  // namespace

StatusOr<std::shared_ptr<LiveCounters>> Service::BuildLiveCounters(
    const ServingModel& model, const std::shared_ptr<LiveCatalog>& live) const {
  VREC_ASSIGN_OR_RETURN(const uint64_t through, registry::ThroughSeqOf(model.manifest()));
  if (!model.snapshot().has_counters()) {
    LogLine(StrCat("model ", model.version(),
                   " has no counters in its snapshot (written before them): counting the events since"));
  }
  auto counters = std::make_shared<LiveCounters>(model.snapshot().shared_counters(), through);
  VREC_RETURN_IF_ERROR(counters->CatchUp(*store_, DurationsOf(live)));
  return counters;
}

Status Service::CatchUpCounters(const Snapshot& snap) {
  if (!snap.counters) return OkStatus();
  return snap.counters->CatchUp(*store_, DurationsOf(snap.live));
}

namespace {

// Bounds of the catalog API's fields (docs/security.md).
constexpr size_t kMaxTitleBytes = 1000;
constexpr size_t kMaxCategories = 32;
constexpr size_t kMaxTags = 64;
constexpr size_t kMaxNameBytes = 64;

Status FieldError(std::string_view field, std::string_view what) {
  return InvalidArgumentError(StrCat(field, ": ", what));
}

StatusOr<nlohmann::json> ParseObject(std::string_view body, std::string_view example) {
  VREC_RETURN_IF_ERROR(CheckJsonDepth(body));
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgumentError(StrCat("body must be a JSON object like ", example));
  }
  return j;
}

StatusOr<std::vector<std::string>> NameList(const nlohmann::json& v, std::string_view field,
                                            size_t max_items) {
  if (!v.is_array()) return FieldError(field, "expected an array of strings");
  if (v.size() > max_items) return FieldError(field, StrCat("at most ", max_items, " entries"));
  std::vector<std::string> out;
  for (const nlohmann::json& x : v) {
    if (!x.is_string()) return FieldError(field, "expected an array of strings");
    const std::string& name = x.get_ref<const std::string&>();
    if (name.empty() || name.size() > kMaxNameBytes || name.find('|') != std::string::npos) {
      return FieldError(field, StrCat("entries are 1 to ", kMaxNameBytes, " bytes without '|'"));
    }
    out.push_back(name);
  }
  return out;
}

Status LanguageOrCountry(const nlohmann::json& v, std::string_view field, size_t max, std::string& out) {
  if (v.is_null()) return OkStatus();
  if (!v.is_string()) return FieldError(field, "expected a string");
  const std::string& text = v.get_ref<const std::string&>();
  const bool ok = text.size() <= max && std::all_of(text.begin(), text.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                           c == '-' || c == '_';
                  });
  if (!ok) return FieldError(field, StrCat("at most ", max, " letters, digits, '-' or '_'"));
  out = text;
  return OkStatus();
}

// {"1h":{"plays":3,...},"24h":{...},"7d":{...},"all":{...}}
std::string CountersJson(const features::CounterValues& counters) {
  std::string body = "{";
  for (size_t w = 0; w < features::kNumCounterWindows; ++w) {
    body +=
        StrCat(w > 0 ? "," : "", JsonQuote(features::Name(static_cast<features::CounterWindow>(w))), ":{");
    for (size_t k = 0; k < features::kNumCounterKinds; ++k) {
      body += StrCat(k > 0 ? "," : "", JsonQuote(features::Name(static_cast<features::CounterKind>(k))), ":",
                     counters.v[w][k]);
    }
    body += "}";
  }
  return body + "}";
}

std::string NamesJson(const std::vector<std::string>& names) {
  std::string out = "[";
  for (size_t i = 0; i < names.size(); ++i) out += StrCat(i ? "," : "", JsonQuote(names[i]));
  return out + "]";
}

}  // namespace

void Service::PutVideo(const HttpRequest& request, const PathParams& params, HttpResponse& response) {
  auto id = ParseId(params.id, "video id");
  if (!id.ok()) return Error(request, response, id.status());
  auto body = ParseObject(request.body, R"({"title": "...", "categories": ["music"], "language": "en"})");
  if (!body.ok()) return Error(request, response, body.status());
  features::VideoRecord record;
  record.id = VideoId{*id};
  record.updated_at = clock_();
  bool upload_time_given = false;
  for (const auto& [key, value] : body->items()) {
    Status s;
    if (key == "title") {
      if (!value.is_string() || value.get_ref<const std::string&>().size() > kMaxTitleBytes) {
        s = FieldError(key, StrCat("expected a string of at most ", kMaxTitleBytes, " bytes"));
      } else {
        record.title = value.get<std::string>();
      }
    } else if (key == "categories" || key == "tags") {
      auto names = NameList(value, key, key == "categories" ? kMaxCategories : kMaxTags);
      if (!names.ok()) {
        s = names.status();
      } else {
        (key == "categories" ? record.categories : record.tags) = std::move(*names);
      }
    } else if (key == "language") {
      s = LanguageOrCountry(value, key, kMaxLanguageChars, record.language);
      record.language = AsciiStrToLower(record.language);
    } else if (key == "duration_s") {
      if (!value.is_null()) {
        if (!value.is_number() || !(value.get<double>() >= 0 && value.get<double>() <= 1e7)) {
          s = FieldError(key, "expected seconds, a number in [0, 1e7]");
        } else {
          record.duration_s = value.get<float>();
        }
      } else {
        record.duration_s = data::kMissing;
      }
    } else if (key == "upload_time") {
      if (!value.is_null()) {
        if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
            value.get<int64_t>() >= events::kMaxTimestamp) {
          s = FieldError(key, StrCat("expected unix seconds in [0, ", events::kMaxTimestamp, ")"));
        } else {
          record.upload_time = value.get<int64_t>();
          upload_time_given = true;
        }
      }
    } else if (key == "age_restricted" || key == "available") {
      if (!value.is_boolean()) {
        s = FieldError(key, "expected true or false");
      } else {
        (key == "available" ? record.available : record.age_restricted) = value.get<bool>();
      }
    } else {
      s = InvalidArgumentError(StrCat(
          "unknown field '", key.substr(0, 40),
          "' (title, categories, tags, language, duration_s, upload_time, age_restricted, available)"));
    }
    if (!s.ok()) return Error(request, response, s);
  }
  // Durable first, then recommendable; catalog writes and live-catalog rebuilds exclude each other.
  std::lock_guard catalog(catalog_mutex_);
  const Snapshot snap = Current();
  if (!upload_time_given) {  // an update keeps the upload time; a new video is uploaded now
    auto stored = store_->GetVideo(record.id);
    if (!stored.ok()) return Error(request, response, UnavailableError(stored.status().ToString()));
    record.upload_time = clock_();
    if (*stored) {
      record.upload_time = (*stored)->upload_time;
    } else if (auto v = snap.model->catalog().FindVideo(record.id)) {
      record.upload_time = snap.model->catalog().videos[*v].upload_time;
    }
  }
  if (Status s = store_->PutVideo(record); !s.ok())
    return Error(request, response, UnavailableError(s.ToString()));
  if (auto c = CurrentCanary()) (void)c->snap.live->Upsert(record);
  auto index = snap.live->Upsert(record);
  if (!index.ok()) return Error(request, response, index.status());
  {
    std::lock_guard lock(mutex_);
    if (snapshot_.live == snap.live) RebuildFlagsLocked();
  }
  cache_.Clear();  // a new video may belong in anybody's recommendations
  catalog_updates_[0]->Inc();
  Json(response, 200,
       StrCat(R"({"video_id":)", JsonQuote(std::to_string(*id)), R"(,"stored":true,"recommendable":)",
              record.available ? "true" : "false", "}"));
}

void Service::GetVideo(const HttpRequest& request, const PathParams& params, HttpResponse& response) {
  auto id = ParseId(params.id, "video id");
  if (!id.ok()) return Error(request, response, id.status());
  const Snapshot snap = Current();
  const LiveCatalog::Reader live = snap.live->Read();
  const data::CatalogView& catalog = live.catalog();
  const std::optional<uint32_t> v = catalog.FindVideo(VideoId{*id});
  if (!v) return Error(request, response, NotFoundError(StrCat("no video ", *id)));
  const data::Video& video = catalog.video(*v);
  // Snapshot videos keep their titles and tags in the mapped snapshot; uploads and updates carry them.
  const bool from_snapshot = *v < catalog.num_base_videos() && &video == &catalog.base().videos[*v];
  std::vector<std::string> categories, tags;
  for (uint16_t c : video.categories) categories.push_back(catalog.category(c));
  std::string title = video.title;
  if (from_snapshot) {
    title = std::string(snap.model->snapshot().Title(*v));
    for (std::string_view t : snap.model->snapshot().Tags(*v)) tags.emplace_back(t);
  } else {
    tags = video.tags;
  }
  uint8_t flag = *v < snap.flags->size() ? (*snap.flags)[*v] : 0;
  std::string body = StrCat(
      R"({"video_id":)", JsonQuote(std::to_string(*id)), R"(,"title":)", JsonQuote(title),
      R"(,"categories":)", NamesJson(categories), R"(,"tags":)", NamesJson(tags), R"(,"language":)",
      JsonQuote(video.language), R"(,"duration_s":)",
      data::IsMissing(video.duration_s) ? std::string("null") : FormatScore(video.duration_s),
      R"(,"upload_time":)",
      video.upload_time == data::kUnknownTime ? std::string("null") : std::to_string(video.upload_time),
      R"(,"age_restricted":)",
      video.age_restricted || (flag & filtering::kFlagAgeRestricted) ? "true" : "false", R"(,"available":)",
      video.available && !(flag & filtering::kFlagUnavailable) ? "true" : "false", R"(,"source":)",
      JsonQuote(*v >= catalog.num_base_videos() ? "upload"
                : from_snapshot                 ? "snapshot"
                                                : "update"),
      R"(,"snapshot_positives":)", *v < catalog.num_base_videos() ? snap.model->Positives(*v) : 0);
  // The live counters now (features/counters.h: complete buckets before the current one).
  body += StrCat(R"(,"counters":)", CountersJson(snap.counters->Video(VideoId{*id}, clock_())));
  Json(response, 200, body + "}");
}

void Service::Similar(const HttpRequest& request, const PathParams& params, HttpResponse& response) {
  auto video_id = ParseId(params.id, "video id");
  if (!video_id.ok()) return Error(request, response, video_id.status());
  SimilarRequest r;
  r.video = VideoId{*video_id};
  if (Status st = ParseCount(request, r.count); !st.ok()) return Error(request, response, st);
  if (const std::string* u = request.Query("user_id")) {
    auto user = ParseId(*u, "user_id");
    if (!user.ok()) return Error(request, response, user.status());
    r.user = UserId{*user};
  }
  if (const std::string* sf = request.Query("surface")) {
    if (Status st = CheckToken("surface", *sf, kMaxSurfaceChars, "-_."); !st.ok())
      return Error(request, response, st);
    r.surface = *sf;
  }
  if (Status st = ParseExclude(request, r.exclude); !st.ok()) return Error(request, response, st);
  r.now = clock_();

  // The viewer's online history, to leave out what they watched; without the store (degraded),
  // the snapshot's.
  bool degraded = false;
  std::vector<features::HistoryEntry> online;
  if (r.user) online = ReadOnline(*r.user, degraded);
  const Snapshot snap = Current();
  const LiveCatalog::Reader live = snap.live->Read();
  auto result =
      serving::Similar(*snap.model, r, online, *snap.flags, config_.variants.front().recommend, &live);
  if (!result.ok()) return Error(request, response, result.status());
  std::string body =
      StrCat(R"({"request_id":)", JsonQuote(params.request_id), R"(,"video_id":)",
             JsonQuote(std::to_string(*video_id)), R"(,"model_version":)", JsonQuote(snap.model->version()),
             ",", ItemsAndFilteredJson(result->items, result->filter), R"(,"candidates":)",
             result->candidates, degraded ? R"(,"degraded":true})" : "}");
  Json(response, 200, std::move(body));
}

void Service::PutUser(const HttpRequest& request, const PathParams& params, HttpResponse& response) {
  auto id = ParseId(params.id, "user id");
  if (!id.ok()) return Error(request, response, id.status());
  auto body =
      ParseObject(request.body, R"({"country": "BR", "language": "pt", "age": 31, "gender": "female"})");
  if (!body.ok()) return Error(request, response, body.status());
  features::UserRecord record;
  record.id = UserId{*id};
  record.updated_at = clock_();
  for (const auto& [key, value] : body->items()) {
    Status s;
    if (key == "country") {
      s = LanguageOrCountry(value, key, kMaxCountryChars, record.country);
      record.country = AsciiStrToUpper(record.country);
    } else if (key == "language") {
      s = LanguageOrCountry(value, key, kMaxLanguageChars, record.language);
      record.language = AsciiStrToLower(record.language);
    } else if (key == "age") {
      if (!value.is_null()) {
        if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > 150) {
          s = FieldError(key, "expected an integer in [0, 150]");
        } else {
          record.age = static_cast<int16_t>(value.get<int64_t>());
        }
      }
    } else if (key == "gender") {
      std::optional<data::Gender> g;
      if (value.is_string()) g = data::ParseGender(value.get_ref<const std::string&>());
      if (!value.is_null() && !g) {
        s = FieldError(key, "expected female, male, other or unknown");
      } else if (g) {
        record.gender = *g;
      }
    } else {
      s = InvalidArgumentError(
          StrCat("unknown field '", key.substr(0, 40), "' (country, language, age, gender)"));
    }
    if (!s.ok()) return Error(request, response, s);
  }
  std::lock_guard catalog(catalog_mutex_);
  if (Status s = store_->PutUser(record); !s.ok())
    return Error(request, response, UnavailableError(s.ToString()));
  UpsertLive(record);
  cache_.InvalidateTag(std::to_string(*id));
  catalog_updates_[1]->Inc();
  Json(response, 200, StrCat(R"({"user_id":)", JsonQuote(std::to_string(*id)), R"(,"stored":true})"));
}

void Service::GetUser(const HttpRequest& request, const PathParams& params, HttpResponse& response) {
  auto id = ParseId(params.id, "user id");
  if (!id.ok()) return Error(request, response, id.status());
  const Snapshot snap = Current();
  const LiveCatalog::Reader live = snap.live->Read();
  const std::optional<uint32_t> u = live.catalog().FindUser(UserId{*id});
  if (!u) return Error(request, response, NotFoundError(StrCat("no user ", *id)));
  const data::User& user = live.catalog().user(*u);
  Json(response, 200,
       StrCat(R"({"user_id":)", JsonQuote(std::to_string(*id)), R"(,"country":)", JsonQuote(user.country),
              R"(,"language":)", JsonQuote(user.language), R"(,"age":)",
              user.age < 0 ? std::string("null") : std::to_string(user.age), R"(,"gender":)",
              JsonQuote(data::Name(user.gender)), R"(,"in_snapshot":)",
              *u < snap.model->catalog().users.size() ? "true" : "false", R"(,"counters":)",
              CountersJson(snap.counters->User(UserId{*id}, clock_())), "}"));
}

void Service::AdminModels(const HttpRequest& request, const PathParams&, HttpResponse& response) {
  auto versions = registry_->List();
  if (!versions.ok()) return Error(request, response, InternalError(Redact(versions.status().message())));
  auto stack = registry_->ProductionStack();
  if (!stack.ok()) return Error(request, response, InternalError(Redact(stack.status().message())));
  auto history = registry_->History();
  if (!history.ok()) return Error(request, response, InternalError(Redact(history.status().message())));
  nlohmann::ordered_json out;
  out["served_version"] = Current().model->version();
  out["production_stack"] = *stack;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const registry::VersionInfo& v : *versions) {  // no paths: the registry's location is not the caller's
    nlohmann::ordered_json j = {{"version", v.version},
                                {"production", v.production},
                                {"created_at", v.created_at},
                                {"model_kind", v.model_kind},
                                {"metrics", v.metrics}};
    if (!v.manifest_status.ok()) j["error"] = Redact(v.manifest_status.message());
    list.push_back(std::move(j));
  }
  out["versions"] = std::move(list);
  // The newest changes, newest first.
  constexpr size_t kMaxHistory = 200;
  nlohmann::ordered_json changes = nlohmann::ordered_json::array();
  for (auto it = history->rbegin(); it != history->rend() && changes.size() < kMaxHistory; ++it) {
    changes.push_back({{"time", it->time},
                       {"action", it->action},
                       {"from", it->from},
                       {"to", it->to},
                       {"reason", it->reason}});
  }
  out["history"] = std::move(changes);
  Json(response, 200, out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

void Service::AdminRuns(const HttpRequest& request, const PathParams&, HttpResponse& response) {
  constexpr int64_t kMaxRuns = 100;
  int64_t limit = 20;
  if (const std::string* l = request.Query("limit")) {
    if (l->size() > 4 || !ParseInt64(*l, limit) || limit < 1 || limit > kMaxRuns) {
      return Error(request, response,
                   InvalidArgumentError(
                       StrCat("limit '", l->substr(0, 12), "' must be an integer in [1, ", kMaxRuns, "]")));
    }
  }
  auto runs = registry_->RecentRuns(static_cast<size_t>(limit));
  if (!runs.ok()) return Error(request, response, InternalError(Redact(runs.status().message())));
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const std::string& text : *runs) {
    auto run = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (run.is_discarded() || !run.is_object()) continue;  // a record being written, or not one
    run.erase("record_path");                              // server paths are not the caller's
    run.erase("report");
    out.push_back(std::move(run));
  }
  Json(
      response, 200,
      StrCat(R"({"runs":)", out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace), "}"));
}

void Service::AdminExperiments(const HttpRequest& request, const PathParams&, HttpResponse& response) {
  nlohmann::ordered_json out;
  out["experiment"] = config_.experiment.name;
  double total_weight = 0;
  for (const ordering::Variant& v : config_.experiment.variants) total_weight += v.weight;
  nlohmann::ordered_json variants = nlohmann::ordered_json::array();
  for (size_t i = 0; i < config_.variants.size(); ++i) {
    const std::string& name = config_.variants[i].name;
    nlohmann::ordered_json j = {{"name", name}};
    double weight = 1;
    nlohmann::ordered_json overrides = nlohmann::ordered_json::object();
    for (const ordering::Variant& v : config_.experiment.variants) {
      if (v.name != name) continue;
      weight = v.weight;
      for (const auto& [key, value] : v.overrides) overrides[key] = value;
    }
    j["share"] = total_weight > 0 ? weight / total_weight : 1.0;
    j["overrides"] = std::move(overrides);
    j["served"] = {{"personalised", static_cast<int64_t>(recommendations_[i][0]->value())},
                   {"cold_start", static_cast<int64_t>(recommendations_[i][1]->value())}};
    variants.push_back(std::move(j));
  }
  out["variants"] = std::move(variants);

  // The ledger (every server's counts): the variants of the version in production, and the
  // versions (production against a canary trial).
  if (Status s = FlushLedger(); !s.ok()) return Error(request, response, UnavailableError(s.ToString()));
  auto sums = store_->ScanSums("exp/");
  if (!sums.ok()) return Error(request, response, UnavailableError(sums.status().ToString()));
  auto data = experiments::ParseLedger(*sums);
  if (!data.ok()) return Error(request, response, data.status());
  const std::string production = model_version();
  const auto trial = CurrentCanary();
  // The period shown: the trial running, or the experiment's counts outside trials.
  const std::string epoch = EpochOf(trial.get());
  const auto report = [&](experiments::Grouping grouping,
                          const std::string& control) -> nlohmann::ordered_json {
    auto r =
        experiments::Compare(*data, epoch, grouping, production, control, "", experiments::AnalyzeOptions{});
    if (!r.ok()) return nullptr;  // nothing counted for the control yet
    return nlohmann::ordered_json::parse(experiments::ReportJson(*r));
  };
  out["report"] = {
      {"epoch", epoch},
      {"epochs", data->Epochs()},
      {"model_version", production},
      {"variants", report(experiments::Grouping::kVariantsOfVersion, config_.variants.front().name)},
      {"versions", report(experiments::Grouping::kVersions, production)}};
  if (auto c = CurrentCanary()) {
    const int64_t elapsed = clock_() - c->info.started_unix;
    const experiments::CanaryDecision d =
        experiments::DecideCanary(*data, epoch, c->info.version, production, elapsed, config_.canary);
    out["canary"] = {{"version", c->info.version},
                     {"share", c->info.share},
                     {"shadow", c->info.shadow},
                     {"baseline", c->info.baseline},
                     {"started_at", c->info.started_at},
                     {"elapsed_s", elapsed},
                     {"verdict", d.verdict == experiments::CanaryDecision::Verdict::kWait      ? "wait"
                                 : d.verdict == experiments::CanaryDecision::Verdict::kPromote ? "promote"
                                                                                               : "roll back"},
                     {"reason", d.reason},
                     {"decided_here", config_.canary_decide}};
    if (c->info.shadow && shadow_requests_->value() > 0) {
      out["canary"]["shadow_requests"] = static_cast<int64_t>(shadow_requests_->value());
      out["canary"]["shadow_overlap_items"] = static_cast<int64_t>(shadow_overlap_->value());
    }
  } else {
    out["canary"] = nullptr;
  }
  Json(response, 200, out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

void Service::Console(const HttpRequest& request, const PathParams& params, HttpResponse& response) {
  const std::string_view name = params.id.empty() ? std::string_view("index.html") : params.id;
  const EmbeddedFile* file = FindConsoleAsset(name);
  if (file == nullptr) return Error(request, response, NotFoundError("no such console asset"));
  response.status = 200;
  response.content_type = std::string(file->content_type);
  response.body = std::string(file->bytes);
  // The console loads only what the server itself serves, and no page may frame it.
  response.headers.emplace_back("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                "base-uri 'none'; frame-ancestors 'none'");
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("Cache-Control", "no-cache");
}

}  // namespace vrec::serving
