// The HTTP/JSON service of `vrec serve`: routes, authentication, the production model (loaded from
// the registry and swapped atomically when production changes), the online state (feature store,
// admin flags), the response cache and the metrics.
//
//   GET  /v1/users/{user_id}/recommendations?count=N&device=&country=&language=&surface=
//   GET  /v1/users/{user_id}/history     the user's online events (since the model's snapshot)
//   POST /v1/events                      one event or {"events": [...]}; durable before the reply
//   POST /v1/admin/videos/{video_id}     {"available": bool, "age_restricted": bool}
//   POST /v1/admin/reload                check the registry now
//   GET  /v1/admin/model                 the version being served
//   GET  /healthz  /readyz  /metrics
//
// Thread safety: Handle may be called concurrently from any number of threads.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/events/ingestor.h"
#include "vrec/features/feature_store.h"
#include "vrec/registry/registry.h"
#include "vrec/serving/http_server.h"
#include "vrec/serving/metrics.h"
#include "vrec/serving/response_cache.h"
#include "vrec/serving/serve_config.h"
#include "vrec/serving/serving_model.h"

namespace vrec::serving {

class Service {
 public:
  // Opens the registry and the feature store and loads the production model. Unavailable when the
  // registry has no production version yet; errors of the parts otherwise.
  // `clock` returns unix seconds (tests pass a fixed one); empty = the system clock.
  static StatusOr<std::unique_ptr<Service>> Create(ServeConfig config, std::function<int64_t()> clock = {});
  ~Service();

  // Routes one request. Never throws; errors become JSON error responses.
  void Handle(const HttpRequest& request, HttpResponse& response);

  // Loads the production version if it differs from the one being served and swaps it in. Requests
  // in flight finish on the old one. Errors leave the current model serving.
  Status ReloadIfChanged();
  // Starts / stops the background thread that calls ReloadIfChanged every poll interval.
  void StartPolling();
  void StopPolling();

  std::string model_version() const;
  MetricsRegistry& metrics() { return metrics_; }

  // Routes, for metrics labels: the last one collects everything unrouted.
  static constexpr int kNumRoutes = 8;
  static constexpr int kOtherRoute = kNumRoutes - 1;

 private:
  // What one request reads: the model and the admin flags laid over its catalog.
  struct Snapshot {
    std::shared_ptr<const ServingModel> model;
    std::shared_ptr<const std::vector<uint8_t>> flags;  // filtering bits per catalog video
  };

  Service(ServeConfig config, std::function<int64_t()> clock);
  Snapshot Current() const;
  // Rebuilds the flag array of `model` from flags_by_id_ (mutex_ held by the caller).
  std::shared_ptr<const std::vector<uint8_t>> BuildFlags(const ServingModel& model) const;

  void Recommend(const HttpRequest& request, std::string_view user_text, HttpResponse& response);
  void History(std::string_view user_text, HttpResponse& response);
  void PostEvents(const HttpRequest& request, HttpResponse& response);
  void AdminVideo(const HttpRequest& request, std::string_view video_text, HttpResponse& response);
  bool Authorized(const HttpRequest& request, bool admin) const;

  ServeConfig config_;
  std::function<int64_t()> clock_;
  std::unique_ptr<registry::ModelRegistry> registry_;
  std::unique_ptr<features::FeatureStore> store_;
  std::unique_ptr<events::EventIngestor> ingestor_;  // appends durably, then invalidates the cache
  MetricsRegistry metrics_;
  ResponseCache cache_;

  mutable std::mutex mutex_;  // guards snapshot_ and flags_by_id_
  Snapshot snapshot_;
  std::unordered_map<uint64_t, features::VideoFlags> flags_by_id_;
  std::mutex reload_mutex_;  // one reload at a time

  std::thread poller_;
  std::mutex poll_mutex_;
  std::condition_variable poll_cv_;
  bool stop_polling_ = false;

  // Metrics on the hot path, registered once (registration takes the registry's lock; updates are
  // atomics).
  struct RouteMetrics {
    Histogram* latency = nullptr;
    std::array<std::atomic<Counter*>, 600> by_code{};  // by HTTP status, registered on first use
  };
  RouteMetrics route_metrics_[kNumRoutes];
  std::vector<std::array<Counter*, 2>> recommendations_;  // per variant: personalised, cold start
  Histogram* stage_latency_[5] = {};                      // user_state, retrieve, filter, rank, order
  Counter* filter_removed_[filtering::kNumFilters] = {};
  Counter* events_accepted_ = nullptr;
  Counter* reloads_ok_ = nullptr;
  Counter* reloads_failed_ = nullptr;
};

}  // namespace vrec::serving
