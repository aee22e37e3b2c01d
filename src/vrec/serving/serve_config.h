// The configuration of `vrec serve`: typed, with defaults in the member initialisers, read from an
// optional config file (configs/vrec.conf.example documents every key) and VREC_* environment
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
  std::string address = "127.0.0.1";    // listen address
  int port = 8080;                      // TCP port; 0 picks a free one (printed at start)
  int threads = 2;                      // HTTP worker threads (each runs whole requests)
  std::vector<std::string> api_keys;    // keys accepted in X-Api-Key for /v1/*; empty = open
  std::vector<std::string> admin_keys;  // keys for /v1/admin/*; empty = the api_keys
  // [registry]
  std::string registry;                           // model registry root (required)
  std::chrono::milliseconds poll_interval{1000};  // how often production is checked
  // [feature_store]
  std::string feature_store;  // URI; empty = rocksdb://<registry>/state
  int64_t max_history = 500;  // online events kept per user
  // [cache]
  std::chrono::milliseconds cache_ttl{1000};  // response cache TTL; 0 disables it
  int64_t cache_entries = 100'000;
  // [retrieval] [ranking] [filtering] [ordering]
  RecommendOptions recommend;
  // [experiment]
  ordering::ExperimentOptions experiment;  // no variants = no experiment ("default" variant)
  std::vector<VariantOptions> variants;    // derived: one per experiment variant, in order

  // The feature store URI after defaults.
  std::string FeatureStoreUri() const;
};

// Applies one override of an experiment variant ("retrieval.candidates", "ranking.enabled",
// "ranking.candidates", or an ordering.* key) to `options`. InvalidArgument for an unknown key or
// a bad value.
Status ApplyOverride(std::string_view key, std::string_view value, RecommendOptions& options);

// Binds every key of ServeConfig to `binder` (used by the CLI's config loading and by the test that checks
// the example file documents every key).
void BindServeConfig(config::Binder& binder, ServeConfig& config);

// Checks what binding cannot (cross-field rules, the experiment's variants) and derives
// config.variants. InvalidArgument listing every problem.
Status FinishServeConfig(ServeConfig& config);

}  // namespace vrec::serving
