#include "vrec/serving/service.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "vrec/common/csv.h"
#include "vrec/common/json_depth.h"
#include "vrec/common/strings.h"
#include "vrec/events/event_json.h"
#include "vrec/events/ingestor.h"
#include "vrec/ordering/experiment.h"

namespace vrec::serving {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr const char* kStageNames[] = {"user_state", "retrieve", "filter", "rank", "order"};
constexpr const char* kRouteNames[] = {
    "/healthz",   "/readyz",   "/metrics", "/v1/users/{id}/recommendations", "/v1/users/{id}/history",
    "/v1/events", "/v1/admin", "other"};
static_assert(std::size(kRouteNames) == Service::kNumRoutes);

double SecondsSince(SteadyClock::time_point t) {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

void Json(HttpResponse& r, int status, std::string body) {
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
}

void Error(HttpResponse& r, const Status& s) { r = JsonErrorResponse(s); }

// "/v1/users/42/recommendations" with prefix "/v1/users/" and suffix "/recommendations" -> "42".
bool Match(std::string_view path, std::string_view prefix, std::string_view suffix,
           std::string_view& middle) {
  if (path.size() <= prefix.size() + suffix.size() || !path.starts_with(prefix) || !path.ends_with(suffix)) {
    return false;
  }
  middle = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
  return middle.find('/') == std::string_view::npos;
}

StatusOr<uint64_t> ParseId(std::string_view text, std::string_view what) {
  uint64_t id = 0;
  if (!ParseUint64(text, id)) {
    return InvalidArgumentError(StrCat(what, " '", text, "' is not an unsigned 64-bit integer"));
  }
  return id;
}

std::string FormatScore(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", static_cast<double>(v));
  return buf;
}

}  // namespace

StatusOr<std::unique_ptr<Service>> Service::Create(ServeConfig config, std::function<int64_t()> clock) {
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
  VREC_ASSIGN_OR_RETURN(s->store_, features::FeatureStore::Open(s->config_.FeatureStoreUri(), store_options));
  // Once an event is durable it is visible to History, so the next request of its user must not
  // be answered from the cache.
  Service* self = s.get();
  s->ingestor_ = std::make_unique<events::EventIngestor>(
      *s->store_, std::vector<events::EventObserver>{[self](std::span<const features::Event> batch) {
        for (const features::Event& e : batch) self->cache_.InvalidateTag(std::to_string(e.user.value));
        self->events_accepted_->Inc(static_cast<double>(batch.size()));
      }});
  VREC_ASSIGN_OR_RETURN(auto flags, s->store_->AllVideoFlags());
  for (const auto& [video, f] : flags) s->flags_by_id_[video.value] = f;
  VREC_ASSIGN_OR_RETURN(std::optional<std::string> production, s->registry_->ProductionVersion());
  if (!production) {
    return UnavailableError(StrCat("registry ", s->config_.registry,
                                   " has no production model yet: run `vrec pipeline run --registry ",
                                   s->config_.registry, "` first"));
  }
  VREC_RETURN_IF_ERROR(s->ReloadIfChanged());
  return s;
}

Service::Service(ServeConfig config, std::function<int64_t()> clock)
    : config_(std::move(config)),
      clock_(std::move(clock)),
      cache_(static_cast<size_t>(config_.cache_entries), config_.cache_ttl) {
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
  for (int r = 0; r < kNumRoutes; ++r) {
    route_metrics_[r].latency =
        &metrics_.histogram("vrec_http_request_seconds", "HTTP request latency by route.",
                            {{"route", kRouteNames[r]}}, DefaultLatencyBuckets());
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
  reloads_ok_ = &metrics_.counter("vrec_model_reloads_total", "Model loads.", {{"result", "ok"}});
  reloads_failed_ = &metrics_.counter("vrec_model_reloads_total", "Model loads.", {{"result", "error"}});
  metrics_.gauge_callback("vrec_cache_hit_ratio", "Response cache hits / lookups since start.", {}, [this] {
    const double h = static_cast<double>(cache_.hits()), m = static_cast<double>(cache_.misses());
    return h + m > 0 ? h / (h + m) : 0.0;
  });
  metrics_.gauge_callback("vrec_cache_entries", "Responses in the cache.", {},
                          [this] { return static_cast<double>(cache_.size()); });
}

Service::~Service() { StopPolling(); }

Service::Snapshot Service::Current() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

std::string Service::model_version() const {
  Snapshot s = Current();
  return s.model ? s.model->version() : std::string();
}

std::shared_ptr<const std::vector<uint8_t>> Service::BuildFlags(const ServingModel& model) const {
  auto flags = std::make_shared<std::vector<uint8_t>>(model.catalog().videos.size(), 0);
  for (const auto& [id, f] : flags_by_id_) {
    if (auto v = model.catalog().FindVideo(VideoId{id})) {
      (*flags)[*v] = static_cast<uint8_t>((f.unavailable ? filtering::kFlagUnavailable : 0) |
                                          (f.age_restricted ? filtering::kFlagAgeRestricted : 0));
    }
  }
  return flags;
}

Status Service::ReloadIfChanged() {
  std::lock_guard reload(reload_mutex_);
  VREC_ASSIGN_OR_RETURN(std::optional<std::string> production, registry_->ProductionVersion());
  if (!production || *production == model_version()) return OkStatus();
  const auto start = SteadyClock::now();
  auto model = ServingModel::Load(registry_->VersionPath(*production), *production);
  if (!model.ok()) {
    reloads_failed_->Inc();
    return Status(model.status().code(), StrCat("loading ", *production, ": ", model.status().message()));
  }
  {
    std::lock_guard lock(mutex_);
    const std::string old = snapshot_.model ? snapshot_.model->version() : "";
    if (!old.empty())
      metrics_.gauge("vrec_model_info", "The model version being served (1).", {{"version", old}}).Set(0);
    snapshot_.model = *model;
    snapshot_.flags = BuildFlags(**model);
    metrics_.gauge("vrec_model_info", "The model version being served (1).", {{"version", *production}})
        .Set(1);
  }
  cache_.Clear();
  reloads_ok_->Inc();
  std::fprintf(stderr, "serve: model %s loaded in %.1f s (%zu videos, %zu users)\n", production->c_str(),
               SecondsSince(start), (*model)->catalog().videos.size(), (*model)->catalog().users.size());
  return OkStatus();
}

void Service::StartPolling() {
  poller_ = std::thread([this] {
    std::unique_lock lock(poll_mutex_);
    while (!stop_polling_) {
      poll_cv_.wait_for(lock, config_.poll_interval);
      if (stop_polling_) break;
      lock.unlock();
      if (Status s = ReloadIfChanged(); !s.ok()) {
        std::fprintf(stderr, "serve: reload failed, still serving %s: %s\n", model_version().c_str(),
                     s.message().c_str());
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
}

bool Service::Authorized(const HttpRequest& request, bool admin) const {
  const std::vector<std::string>& keys =
      admin && !config_.admin_keys.empty() ? config_.admin_keys : config_.api_keys;
  if (keys.empty()) return true;
  const std::string_view key = request.Header("x-api-key");
  for (const std::string& k : keys) {
    if (k == key) return true;
  }
  return false;
}

void Service::Handle(const HttpRequest& request, HttpResponse& response) {
  const auto start = SteadyClock::now();
  int route = kOtherRoute;
  std::string_view middle;
  const std::string_view path = request.path;
  const bool get = request.method == "GET", post = request.method == "POST";
  if (path == "/healthz") {
    route = 0;  // /healthz
    Json(response, 200, R"({"status":"ok"})");
  } else if (path == "/readyz") {
    route = 1;  // /readyz
    const std::string version = model_version();
    if (version.empty()) {
      Json(response, 503, R"({"status":"no model loaded"})");
    } else {
      Json(response, 200, StrCat(R"({"status":"ready","model_version":)", JsonQuote(version), "}"));
    }
  } else if (path == "/metrics") {
    route = 2;  // /metrics
    response.status = 200;
    response.content_type = std::string(kPrometheusContentType);
    response.body = metrics_.Render();
  } else if (Match(path, "/v1/users/", "/recommendations", middle)) {
    route = 3;  // /v1/users/{id}/recommendations
    if (!get) {
      response = JsonErrorResponse(405, "use GET for recommendations");
    } else if (!Authorized(request, false)) {
      Error(response, UnauthenticatedError("missing or unknown X-Api-Key"));
    } else {
      Recommend(request, middle, response);
    }
  } else if (Match(path, "/v1/users/", "/history", middle)) {
    route = 4;  // /v1/users/{id}/history
    if (!get) {
      response = JsonErrorResponse(405, "use GET for a user's history");
    } else if (!Authorized(request, false)) {
      Error(response, UnauthenticatedError("missing or unknown X-Api-Key"));
    } else {
      History(middle, response);
    }
  } else if (path == "/v1/events") {
    route = 5;  // /v1/events
    if (!post) {
      response = JsonErrorResponse(405, "use POST for events");
    } else if (!Authorized(request, false)) {
      Error(response, UnauthenticatedError("missing or unknown X-Api-Key"));
    } else {
      PostEvents(request, response);
    }
  } else if (path.starts_with("/v1/admin/")) {
    route = 6;  // /v1/admin
    if (!Authorized(request, true)) {
      Error(response, UnauthenticatedError("missing or unknown admin X-Api-Key"));
    } else if (Match(path, "/v1/admin/videos/", "", middle) && post) {
      AdminVideo(request, middle, response);
    } else if (path == "/v1/admin/reload" && post) {
      Status s = ReloadIfChanged();
      if (s.ok()) {
        Json(response, 200, StrCat(R"({"model_version":)", JsonQuote(model_version()), "}"));
      } else {
        Error(response, s);
      }
    } else if (path == "/v1/admin/model" && get) {
      Snapshot snap = Current();
      Json(response, 200,
           StrCat(R"({"model_version":)", JsonQuote(snap.model->version()), R"(,"created_at":)",
                  JsonQuote(snap.model->manifest().created_at), R"(,"videos":)",
                  snap.model->catalog().videos.size(), R"(,"users":)", snap.model->catalog().users.size(),
                  "}"));
    } else {
      Error(response, NotFoundError(StrCat("no admin route ", request.method, " ", path)));
    }
  } else {
    Error(response, NotFoundError(StrCat("no route ", request.method, " ", path)));
  }
  RouteMetrics& m = route_metrics_[route];
  const int code = response.status >= 100 && response.status < 600 ? response.status : 500;
  Counter* counter = m.by_code[code].load(std::memory_order_acquire);
  if (counter == nullptr) {  // first response with this code on this route: register (takes a lock)
    counter = &metrics_.counter("vrec_http_requests_total", "HTTP requests by route and status.",
                                {{"route", kRouteNames[route]}, {"code", std::to_string(code)}});
    m.by_code[code].store(counter, std::memory_order_release);
  }
  counter->Inc();
  m.latency->Observe(SecondsSince(start));
}

void Service::Recommend(const HttpRequest& request, std::string_view user_text, HttpResponse& response) {
  auto user_id = ParseId(user_text, "user id");
  if (!user_id.ok()) return Error(response, user_id.status());
  RecommendRequest r;
  r.user = UserId{*user_id};
  if (const std::string* c = request.Query("count")) {
    int64_t n = 0;
    if (!ParseInt64(*c, n) || n < 1 || n > 1000) {
      return Error(response,
                   InvalidArgumentError(StrCat("count '", *c, "' must be an integer in [1, 1000]")));
    }
    r.count = static_cast<int>(n);
  }
  if (const std::string* d = request.Query("device")) {
    auto device = data::ParseDevice(*d);
    if (!device)
      return Error(response,
                   InvalidArgumentError(StrCat("unknown device '", *d, "' (android, ios, web, tv)")));
    r.device = *device;
  }
  if (const std::string* c = request.Query("country")) r.country = AsciiStrToUpper(*c);
  if (const std::string* l = request.Query("language")) r.language = AsciiStrToLower(*l);
  if (const std::string* s = request.Query("surface")) {
    if (s->empty() || s->size() > 64)
      return Error(response, InvalidArgumentError("surface must be 1 to 64 characters"));
    r.surface = *s;
  }
  for (const auto& [key, value] : request.query) {
    if (key != "count" && key != "device" && key != "country" && key != "language" && key != "surface") {
      return Error(response, InvalidArgumentError(StrCat("unknown query parameter '", key, "'")));
    }
  }
  r.now = clock_();

  // The experiment variant: a deterministic hash of the user.
  const VariantOptions* variant = &config_.variants.front();
  if (!config_.experiment.variants.empty()) {
    const ordering::Variant& v = ordering::AssignVariant(config_.experiment, r.user);
    for (const VariantOptions& vo : config_.variants) {
      if (vo.name == v.name) variant = &vo;
    }
  }

  Snapshot snap = Current();
  const std::string user_tag = std::to_string(r.user.value);
  const std::string cache_key =
      StrCat(snap.model->version(), "|", variant->name, "|", user_tag, "|", r.count, "|",
             data::Name(r.device), "|", r.country, "|", r.language, "|", r.surface);
  if (auto hit = cache_.Get(cache_key)) return Json(response, 200, std::move(*hit));
  const ResponseCache::Token token = cache_.Snapshot(user_tag);

  auto t = SteadyClock::now();
  auto online = store_->History(r.user);
  if (!online.ok()) return Error(response, online.status());
  stage_latency_[0]->Observe(SecondsSince(t));

  auto result = serving::Recommend(*snap.model, r, *online, *snap.flags, variant->recommend);
  if (!result.ok()) return Error(response, result.status());
  const StageTimings& tm = result->timings;
  stage_latency_[1]->Observe(tm.retrieve_us * 1e-6);
  stage_latency_[2]->Observe(tm.filter_us * 1e-6);
  stage_latency_[3]->Observe(tm.rank_us * 1e-6);
  stage_latency_[4]->Observe(tm.order_us * 1e-6);
  for (int i = 0; i < filtering::kNumFilters; ++i) {
    filter_removed_[i]->Inc(static_cast<double>(result->filter.removed(static_cast<filtering::Filter>(i))));
  }
  recommendations_[static_cast<size_t>(variant - config_.variants.data())][result->cold_start ? 1 : 0]->Inc();

  std::string body = StrCat(R"({"user_id":)", JsonQuote(user_tag), R"(,"model_version":)",
                            JsonQuote(snap.model->version()), R"(,"variant":)", JsonQuote(variant->name),
                            R"(,"cold_start":)", result->cold_start ? "true" : "false", R"(,"items":[)");
  for (size_t i = 0; i < result->items.size(); ++i) {
    const RecommendedItem& it = result->items[i];
    if (i > 0) body += ',';
    body += StrCat(R"({"video_id":)", JsonQuote(std::to_string(it.video.value)), R"(,"score":)",
                   FormatScore(it.score), R"(,"reason":)", JsonQuote(it.reason), "}");
  }
  body += StrCat(R"(],"filtered":{)");
  for (int i = 0; i < filtering::kNumFilters; ++i) {
    const auto f = static_cast<filtering::Filter>(i);
    if (i > 0) body += ',';
    body += StrCat(JsonQuote(filtering::Name(f)), ":", result->filter.removed(f));
  }
  body += StrCat(R"(},"retrieved":)", result->retrieved, "}");
  cache_.Put(cache_key, user_tag, body, token);
  Json(response, 200, std::move(body));
}

void Service::History(std::string_view user_text, HttpResponse& response) {
  auto user_id = ParseId(user_text, "user id");
  if (!user_id.ok()) return Error(response, user_id.status());
  auto online = store_->History(UserId{*user_id});
  if (!online.ok()) return Error(response, online.status());
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

void Service::PostEvents(const HttpRequest& request, HttpResponse& response) {
  auto parsed = events::ParseEventsJson(request.body, clock_());
  if (!parsed.ok()) return Error(response, parsed.status());
  if (Status s = ingestor_->Ingest(*parsed); !s.ok()) return Error(response, s);
  Json(response, 200, StrCat(R"({"accepted":)", parsed->size(), "}"));
}

void Service::AdminVideo(const HttpRequest& request, std::string_view video_text, HttpResponse& response) {
  auto video = ParseId(video_text, "video id");
  if (!video.ok()) return Error(response, video.status());
  features::VideoFlags flags;
  {
    std::lock_guard lock(mutex_);
    if (auto it = flags_by_id_.find(*video); it != flags_by_id_.end()) flags = it->second;
  }
  if (Status s = CheckJsonDepth(request.body); !s.ok()) return Error(response, s);
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return Error(response, InvalidArgumentError(R"(body must be a JSON object like {"available": false})"));
  }
  for (const auto& [key, value] : body.items()) {
    if (!value.is_boolean())
      return Error(response, InvalidArgumentError(StrCat(key, ": expected true or false")));
    if (key == "available") {
      flags.unavailable = !value.get<bool>();
    } else if (key == "age_restricted") {
      flags.age_restricted = value.get<bool>();
    } else {
      return Error(response,
                   InvalidArgumentError(StrCat("unknown field '", key, "' (available, age_restricted)")));
    }
  }
  // Durable first, then visible: a crash in between loses nothing that was acknowledged.
  if (Status s = store_->SetVideoFlags(VideoId{*video}, flags); !s.ok()) return Error(response, s);
  {
    std::lock_guard lock(mutex_);
    flags_by_id_[*video] = flags;
    if (snapshot_.model) snapshot_.flags = BuildFlags(*snapshot_.model);
  }
  cache_.Clear();
  Json(response, 200,
       StrCat(R"({"video_id":)", JsonQuote(std::to_string(*video)), R"(,"available":)",
              flags.unavailable ? "false" : "true", R"(,"age_restricted":)",
              flags.age_restricted ? "true" : "false", "}"));
}

}  // namespace vrec::serving
