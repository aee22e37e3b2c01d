// The configuration of `vrec serve`: typed, with defaults in the member initialisers, read from an
// optional config file (configs/vrec.toml.example documents every key) and VREC_* environment
// variables (which override the file), validated at start with every error reported at once.
// Command-line flags override both (apps/vrec/serve_command.cc).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/config/binder.h"
#include "vrec/experiments/ledger.h"
#include "vrec/ordering/experiment.h"
#include "vrec/ordering/ordering.h"
#include "vrec/serving/recommender.h"

namespace vrec::serving {

// One experiment arm with its parameters already applied (see ApplyOverride).
struct VariantOptions {
  std::string name;
  RecommendOptions recommend;
};

struct ServeConfig {
  // [server]
  std::string address = "127.0.0.1";  // listen address
  int port = 8080;                    // TCP port; 0 picks a free one (printed at start)
  int threads = 2;                    // HTTP worker threads (each runs whole requests)
  bool access_log = true;             // one structured JSON line per request on stderr
  // Keys accepted in X-Api-Key. api_keys open the user routes (/v1/users, /v1/events); admin_keys
  // open those and /v1/admin/*. With neither, the API is open and the server refuses to listen
  // on anything but loopback.
  std::vector<std::string> api_keys;
  std::vector<std::string> admin_keys;
  std::chrono::seconds idle_timeout{60};    // keep-alive wait for the next request's first byte
  std::chrono::seconds header_timeout{10};  // a request's whole header, once started
  std::chrono::seconds body_timeout{30};    // a request's body
  std::chrono::seconds write_timeout{30};   // writing a response
  int max_connections = 4096;               // in all (lowered to fit RLIMIT_NOFILE at start)
  int max_connections_per_client = 256;     // per peer IP address
  int64_t max_body_bytes = 1 << 20;         // larger request bodies get 413
  // [limits] token buckets; rate 0 disables one
  double key_rate = 1000;  // requests/s per API key
  double key_burst = 2000;
  double ip_rate = 50;  // requests/s per peer address, for requests without a valid key
  double ip_burst = 100;
  int64_t max_tracked_clients = 100'000;  // buckets kept per limiter (memory bound)
  // [events]
  int64_t max_batch = 1000;                                    // events per POST
  std::chrono::seconds max_future_skew{300};                   // timestamps ahead of the clock
  std::chrono::seconds dedupe_window{std::chrono::hours(24)};  // how long event ids are remembered
  // [registry]
  std::string registry;                           // model registry root (required)
  std::chrono::milliseconds poll_interval{1000};  // how often production is checked
  // [feature_store]
  std::string feature_store;  // URI; empty = rocksdb://<registry>/state
  int64_t max_history = 500;  // online events kept per user
  // How often the store's change log and event log are read for what other servers wrote (flags,
  // catalog records, events for the counters). A request also checks the change log's head.
  std::chrono::milliseconds sync_interval{50};
  // [cache]
  std::chrono::milliseconds cache_ttl{1000};  // response cache TTL; 0 disables it
  int64_t cache_entries = 100'000;
  int64_t cache_bytes = 64 << 20;
  // [retrieval] [ranking] [filtering] [ordering]
  RecommendOptions recommend;
  // [retrieval] the video index's search effort; 0 = as the model shipped it (ServingModelOptions).
  int ivf_nprobe = 0;
  int hnsw_ef_search = 0;
  // [experiment]
  ordering::ExperimentOptions experiment;  // no variants = no experiment ("default" variant)
  std::vector<VariantOptions> variants;    // derived: one per experiment variant, in order
  // What counts as shown in the experiment ledger: every item of a response (kResponse), or only
  // the impression events clients post with the response's request_id (kClient).
  enum class Impressions { kResponse, kClient };
  Impressions impressions = Impressions::kResponse;
  std::chrono::milliseconds ledger_flush_interval{1000};  // how often the ledger is added to the store
  // [canary] A version on trial (vrec models canary) serves its share of users; this server ends
  // the trial by the policy when `canary_decide` (one server per deployment is enough).
  bool canary_decide = true;
  experiments::CanaryPolicy canary;

  // The feature store URI after defaults.
  std::string FeatureStoreUri() const;
  // No key of either kind: every route is open (to loopback clients only).
  bool open_access() const { return api_keys.empty() && admin_keys.empty(); }
};

// Applies one override of an experiment variant ("retrieval.candidates", "ranking.enabled",
// "ranking.candidates", "ranking.blend.<ranker|watch|complete|like>" (the default weights), or an
// ordering.* key) to `options`. InvalidArgument for an unknown key or a bad value.
Status ApplyOverride(std::string_view key, std::string_view value, RecommendOptions& options);

// Binds every key of ServeConfig to `binder` (used by the CLI's config loading and by the test that checks
// the example file documents every key).
void BindServeConfig(config::Binder& binder, ServeConfig& config);

// Checks what binding cannot (cross-field rules: keys vs a non-loopback address, key syntax, the
// experiment's variants) and derives config.variants. InvalidArgument listing every problem.
Status FinishServeConfig(ServeConfig& config);

// Whether `address` (an IP literal or "localhost") only reaches this machine: 127.0.0.0/8, ::1.
bool IsLoopbackAddress(std::string_view address);

}  // namespace vrec::serving
