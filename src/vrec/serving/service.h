// The HTTP/JSON service of `vrec serve`: routes, authentication and rate limits, the production
// model (loaded from the registry off the I/O threads and swapped atomically when production
// changes), the online state (feature store, admin flags), the response cache and the metrics.
//
// Routes (the table in service.cc, Service::Routes(); scope: who may call it):
//   GET  /v1/users/{user_id}/recommendations?count=&device=&country=&language=&surface=   user
//   GET  /v1/users/{user_id}/history     the user's online events (since the snapshot)     user
//   POST /v1/events                      one event or {"events": [...]}; durable first      user
//   POST /v1/admin/videos/{video_id}     {"available": bool, "age_restricted": bool}        admin
//   POST /v1/admin/reload                check the registry now (202; runs in the background) admin
//   GET  /v1/admin/model                 the version served, production, load progress      admin
//   PUT  /v1/videos/{video_id}           upload or update a video (generic format fields)    admin
//   GET  /v1/videos/{video_id}           a video's fields and live counters                   user
//   PUT  /v1/users/{user_id}             create or update a user's profile                    admin
//   GET  /v1/users/{user_id}             a user's profile and live counters                   user
//   GET  /v1/videos/{video_id}/similar   "up next"                                            user
//   GET  /v1/admin/models                versions with figures, production stack, history    admin
//   GET  /v1/admin/runs?limit=           the newest pipeline runs (registry runs/)            admin
//   GET  /v1/admin/experiments           variants, shares, requests served per variant        admin
//   GET  /healthz  /readyz  /metrics  /openapi.json                                          public
//   GET  /console, /console/{asset}      the web console's page and assets (compiled in; it
//                                        shows nothing without a key that reaches the admin
//                                        routes, or from loopback on an open server)         public
// recommendations also take exclude=, explain=true, and variant= (an admin key only: serve that
// experiment variant instead of the user's).
// A path that exists with another method gets 405 with Allow; an unknown path 404. Every bound a
// request must respect is documented in docs/security.md.
//
// Keys (X-Api-Key): api_keys reach user routes, admin_keys reach user and admin routes; a valid
// user key on an admin route gets 403, a missing or unknown key 401. Keys are compared in constant
// time. With no keys configured every route is open (FinishServeConfig then allows loopback
// addresses only). Rate limits: a token bucket per key, and per peer address for requests without
// a valid key; over the limit: 429 with Retry-After.
//
// Models: the production version is loaded at Create. When it does not load (corrupt, schema
// mismatch), the newest loadable version of the registry's rollback stack is served instead, and
// /readyz and /metrics (vrec_model_fallback) say so. A version that failed to load is not tried
// again until the production pointer changes. Loads run on the polling thread, never on an I/O
// thread.
//
// Thread safety: Handle may be called concurrently from any number of threads. Nothing it or the
// polling thread runs lets an exception escape.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/events/ingestor.h"
#include "vrec/features/feature_store.h"
#include "vrec/registry/registry.h"
#include "vrec/serving/http_server.h"
#include "vrec/serving/live_catalog.h"
#include "vrec/serving/live_counters.h"
#include "vrec/serving/metrics.h"
#include "vrec/serving/rate_limiter.h"
#include "vrec/serving/response_cache.h"
#include "vrec/serving/serve_config.h"
#include "vrec/serving/serving_model.h"

namespace vrec::serving {

class Service {
 public:
  // Who may call a route.
  enum class Scope { kPublic, kUser, kAdmin };
  // One row of the routing table.
  struct RouteInfo {
    const char* method;
    const char* pattern;  // "/v1/users/{user_id}/history": {name} matches one path segment
    Scope scope;
    const char* summary;
    const char* query;  // the query parameters it takes, comma-separated ("": none)
  };
  // Every route, in matching order.
  static std::span<const RouteInfo> Routes();

  // Opens the registry and the feature store and loads the production model (or, when it does not
  // load, the newest loadable version of the rollback stack). Unavailable when the registry has no
  // production version yet or no version of its stack loads; errors of the parts otherwise.
  // `clock` returns unix seconds (tests pass a fixed one); empty = the system clock. `kv`, when
  // given, replaces the store named by config.feature_store (tests inject fault-injecting stores).
  static StatusOr<std::unique_ptr<Service>> Create(ServeConfig config, std::function<int64_t()> clock = {},
                                                   std::unique_ptr<features::KeyValueStore> kv = nullptr);
  ~Service();

  // Routes one request. Never throws; errors become JSON error responses.
  void Handle(const HttpRequest& request, HttpResponse& response);

  // Reads the production pointer and, when the version to serve changed, loads it and swaps it in
  // (requests in flight finish on the old one). Skips versions that failed since the pointer last
  // changed. Runs one load at a time. OK when nothing needed loading or the load succeeded; the
  // load's error otherwise (the current model keeps serving).
  Status ReloadIfChanged();
  // Asks the polling thread to call ReloadIfChanged now; returns at once.
  void RequestReload();
  // Starts / stops the background threads: one calls ReloadIfChanged every poll interval (and on
  // RequestReload) and prunes expired event ids and changes; the other calls SyncWithStore every
  // sync interval.
  void StartPolling();
  void StopPolling();
  // Applies what other servers (and this one) wrote to the store since the last call: the change
  // log's flags and catalog records to this process's flags and live catalog, the event log's
  // events to the live counters. Errors: those of the store (the next call retries).
  Status SyncWithStore();

  // Follows the registry's canary file: loads a new trial's version (off the request threads; a
  // version that fails to load is not tried again until the trial changes), drops an ended one.
  // The polling thread calls it after ReloadIfChanged.
  Status ReloadCanaryIfChanged();
  // Ends the running trial when config.canary says so (and config.canary_decide), in the registry
  // with the figures as the reason, and reloads. The polling thread calls it.
  void DecideCanaryIfDue();
  // Adds this server's experiment ledger counts to the store (the sync thread calls it every
  // ledger flush interval); they stay pending when it fails.
  Status FlushLedger();

  std::string model_version() const;
  // Whether the model served is production's: it is; production is loading (a swap in progress,
  // the model before it keeps serving); or a fallback (production failed to load). /readyz,
  // /v1/admin/model and vrec_model_fallback report it. An empty `production` (no pointer read
  // yet) counts as served.
  enum class ModelState { kProduction, kLoading, kFallback };
  static ModelState StateOf(std::string_view serving, std::string_view production, std::string_view loading);
  MetricsRegistry& metrics() { return metrics_; }
  // The online store (thread-safe), for background work beside the service (event export).
  features::FeatureStore& store() { return *store_; }
  const ServeConfig& config() const { return config_; }

 private:
  // What one request reads: the model and the admin flags laid over its catalog.
  struct Snapshot {
    std::shared_ptr<const ServingModel> model;
    std::shared_ptr<LiveCatalog> live;                  // the model's catalog plus uploads and updates
    std::shared_ptr<const std::vector<uint8_t>> flags;  // filtering bits per video of `live`
    std::shared_ptr<LiveCounters> counters;             // the model's counters plus the log since
  };
  enum class Role { kNone, kUser, kAdmin };
  // The model-loading state, guarded by mutex_.
  struct LoadState {
    std::vector<std::string> pointer;  // the production stack as last read
    std::set<std::string> failed;      // versions that failed since the pointer last changed
    std::string last_error;            // of the last failed load, registry paths redacted
    std::string loading;               // version being loaded now, or empty
    std::chrono::steady_clock::time_point loading_since;
  };
  // Path parameters of the matched route ({user_id}, {video_id}).
  struct PathParams {
    std::string_view id;
    std::string request_id;      // X-Request-Id: the client's, or a new one (echoed in the response)
    std::string* log = nullptr;  // members the handler adds to the access log line ("k":v,...)
    Role role = Role::kNone;     // of the caller's key
  };
  using Handler = void (Service::*)(const HttpRequest&, const PathParams&, HttpResponse&);

  Service(ServeConfig config, std::function<int64_t()> clock);
  Snapshot Current() const;
  // Rebuilds the flag array of `live` from flags_by_id_ (mutex_ held by the caller).
  std::shared_ptr<const std::vector<uint8_t>> BuildFlags(const LiveCatalog& live) const;
  // Rebuilds the flag arrays of production's and the canary's catalogs. Caller holds mutex_.
  void RebuildFlagsLocked();
  // A catalog record written (here or by another server): into production's live catalog and the
  // canary's. Caller holds catalog_mutex_. The production catalog's status.
  Status UpsertLive(const features::VideoRecord& record);
  void UpsertLive(const features::UserRecord& record);
  // The live catalog of `model`: every catalog record of the store applied.
  StatusOr<std::shared_ptr<LiveCatalog>> BuildLiveCatalog(std::shared_ptr<const ServingModel> model) const;
  // The live counters of `model`: its snapshot's counters plus the store's log after its snapshot.
  StatusOr<std::shared_ptr<LiveCounters>> BuildLiveCounters(const ServingModel& model,
                                                            const std::shared_ptr<LiveCatalog>& live) const;
  // Applies the log's new events to the counters of `snap`. Errors: the store's (the next call
  // continues where this one stopped).
  Status CatchUpCounters(const Snapshot& snap);
  // The user's online history, read with the change log's head (changes other servers wrote are
  // applied first). Empty and `degraded` set when the store cannot be read (then one request per
  // probe interval tries it).
  std::vector<features::HistoryEntry> ReadOnline(UserId user, bool& degraded);
  // Applies the change log's entries after changes_applied_ (all of them: every flag and record
  // reread, when the log was pruned past it). One call at a time: with `wait` false, gives up
  // (OK) when another call runs for longer than kRequestSyncWait.
  Status SyncChanges(bool wait);
  // Every catalog record of the store applied to `live`.
  Status ApplyAllRecords(LiveCatalog& live) const;
  // Loads `version` and swaps it in; records a failure in load_.
  Status LoadAndSwap(const std::string& version);
  // How models load under config_ ([retrieval] ivf_nprobe / hnsw_ef_search); `serving`: another
  // model serves while this one loads (a swap or a canary), so the load finishes everything first.
  ServingModelOptions ModelOptions(bool serving) const {
    return {.ivf_nprobe = config_.ivf_nprobe,
            .hnsw_ef_search = config_.hnsw_ef_search,
            .index_scan_lists_in_background = !serving};
  }
  // LoadAndSwap's swap (or its failure record), under mutex_; the model served before goes to
  // `retired`.
  Status SwapLocked(const std::string& version, std::chrono::steady_clock::time_point start,
                    StatusOr<std::shared_ptr<const ServingModel>>& model,
                    StatusOr<std::shared_ptr<LiveCatalog>>& live,
                    StatusOr<std::shared_ptr<LiveCounters>>& counters, Snapshot& retired);
  // Drops `retired` once no request holds it any more (waiting up to 5 s), so that its memory is
  // freed on the calling (polling) thread.
  static void Retire(Snapshot retired);
  // `message` with the registry root replaced by "<registry>".
  std::string Redact(std::string_view message) const;
  Role Identify(const HttpRequest& request, std::string_view& key) const;
  void Error(const HttpRequest& request, HttpResponse& response, const Status& status);

  void Healthz(const HttpRequest& request, const PathParams& params, HttpResponse& response);
  void Readyz(const HttpRequest& request, const PathParams& params, HttpResponse& response);
  void Metrics(const HttpRequest& request, const PathParams& params, HttpResponse& response);
  void Recommend(const HttpRequest& request, const PathParams& params, HttpResponse& response);
  void History(const HttpRequest& request, const PathParams& params, HttpResponse& response);
  void PostEvents(const HttpRequest& request, const PathParams& params, HttpResponse& response);
  void AdminVideo(const HttpRequest& request, const PathParams& params, HttpResponse& response);
  void AdminReload(const HttpRequest& request, const PathParams& params, HttpResponse& response);
  void AdminModel(const HttpRequest& request, const PathParams& params, HttpResponse& response);
  void PutVideo(const HttpRequest& request, const PathParams& params, HttpResponse& response);
  void GetVideo(const HttpRequest& request, const PathParams& params, HttpResponse& response);
  void PutUser(const HttpRequest& request, const PathParams& params, HttpResponse& response);
  void GetUser(const HttpRequest& request, const PathParams& params, HttpResponse& response);
  void Similar(const HttpRequest& request, const PathParams& params, HttpResponse& response);
  void OpenApi(const HttpRequest& request, const PathParams& params, HttpResponse& response);
  void AdminModels(const HttpRequest& request, const PathParams& params, HttpResponse& response);
  void AdminRuns(const HttpRequest& request, const PathParams& params, HttpResponse& response);
  void AdminExperiments(const HttpRequest& request, const PathParams& params, HttpResponse& response);
  void Console(const HttpRequest& request, const PathParams& params, HttpResponse& response);
  static const Handler kHandlers[];

  ServeConfig config_;
  std::function<int64_t()> clock_;
  std::unique_ptr<registry::ModelRegistry> registry_;
  std::unique_ptr<features::FeatureStore> store_;
  std::unique_ptr<events::EventIngestor> ingestor_;  // appends durably, then invalidates the cache
  MetricsRegistry metrics_;
  ResponseCache cache_;
  RateLimiter key_limiter_;
  RateLimiter ip_limiter_;

  // A version on trial beside production (ModelRegistry::StartCanary), loaded by the poller.
  struct CanaryState {
    registry::CanaryInfo info;
    Snapshot snap;  // no counters: video and user reads answer from production's
  };
  // The ledger's period: the trial's (experiments::TrialEpoch), or the experiment's without one.
  std::string EpochOf(const CanaryState* trial) const;
  std::shared_ptr<const CanaryState> CurrentCanary() const;
  // The ledger's arm for an event of `user` arriving now (its variant, the version serving it).
  experiments::ArmKey ArmOf(UserId user, std::string surface) const;
  // Counts an acknowledged event that answers a recommendation (it has a request_id).
  void CountAttributed(const features::Event& e);

  mutable std::mutex mutex_;  // guards snapshot_, canary_, canary_failed_, flags_by_id_ and load_
  Snapshot snapshot_;
  std::shared_ptr<const CanaryState> canary_;
  std::string canary_failed_;  // a trial version that did not load: not retried until the trial changes
  experiments::Ledger ledger_;
  std::chrono::steady_clock::time_point last_ledger_flush_{};  // by the sync thread only
  std::unordered_map<uint64_t, features::VideoFlags> flags_by_id_;
  LoadState load_;
  std::mutex reload_mutex_;  // one reload at a time
  std::mutex admin_mutex_;   // admin flag updates: read-modify-write-publish as one step
  // Catalog writes (store, then live catalog) and live catalog rebuilds (scan, then swap) exclude
  // each other, so an upload is never lost between a rebuild's scan and its swap.
  std::mutex catalog_mutex_;

  std::thread poller_;
  std::thread syncer_;
  std::mutex poll_mutex_;
  std::condition_variable poll_cv_;
  bool stop_polling_ = false;      // guarded by poll_mutex_
  bool reload_requested_ = false;  // guarded by poll_mutex_
  std::chrono::steady_clock::time_point last_prune_{};
  // The change log's greatest sequence applied to flags_by_id_ and the live catalog.
  std::atomic<uint64_t> changes_applied_{0};
  // One SyncChanges at a time: syncing_ (guarded by sync_state_mutex_) is set while one runs.
  std::mutex sync_state_mutex_;
  std::condition_variable sync_idle_;
  bool syncing_ = false;

  // Metrics on the hot path, registered once (registration takes the registry's lock; updates are
  // atomics).
  struct RouteMetrics {
    Histogram* latency = nullptr;
    std::array<std::atomic<Counter*>, 600> by_code{};  // by HTTP status, registered on first use
  };
  std::vector<RouteMetrics> route_metrics_;               // per route, then one for "other"
  std::vector<std::array<Counter*, 2>> recommendations_;  // per variant: personalised, cold start
  Histogram* stage_latency_[5] = {};                      // user_state, retrieve, filter, rank, order
  Counter* filter_removed_[filtering::kNumFilters] = {};
  Counter* events_accepted_ = nullptr;
  Counter* catalog_updates_[2] = {};  // videos, users
  Counter* events_duplicate_ = nullptr;
  Counter* reloads_ok_ = nullptr;
  Counter* reloads_failed_ = nullptr;
  Counter* changes_applied_total_ = nullptr;
  Counter* explored_items_ = nullptr;   // items in exploration slots
  Counter* shadow_requests_ = nullptr;  // requests also scored by a shadow trial
  Counter* shadow_overlap_ = nullptr;   // items the shadow's list shares with the one served, summed  //
                                        // change log entries applied (this server's and others')
  // Recommendations served from the model alone because the feature store could not be read
  // (Redis down): counted, and visible in /readyz and vrec_feature_store_degraded until a read
  // succeeds again.
  Counter* store_read_failures_ = nullptr;
  std::atomic<bool> store_degraded_{false};
  // While degraded, one request per kStoreProbeInterval tries the store; the others do not wait
  // for its timeout (steady clock, nanoseconds since epoch).
  std::atomic<int64_t> store_probe_at_{0};
  Counter* rate_limited_[2] = {};  // by key, by address
};

}  // namespace vrec::serving
