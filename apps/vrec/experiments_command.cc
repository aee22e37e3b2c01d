// `vrec experiments report`: the experiment ledger every server adds to (experiments/ledger.h),
// read from the online store: the variants of one model version, or the versions (production
// against a canary trial), with confidence intervals, the difference against the control and the
// guardrails. A running `vrec serve` answers the same at GET /v1/admin/experiments (RocksDB admits
// one process: use that while it runs; Redis admits any number).
#include <cstdio>
#include <ctime>
#include <memory>

#include "apps/vrec/commands.h"
#include "vrec/common/strings.h"
#include "vrec/experiments/ledger.h"
#include "vrec/features/feature_store.h"
#include "vrec/registry/registry.h"

namespace vrec::app {
namespace {

struct ExperimentsFlags {
  std::string config_path;
  std::string registry;
  std::string store;
  std::string by = "versions";  // or "variants"
  std::string version;          // variants: of this version (default: production)
  std::string control;          // default: production (versions), the first variant (variants)
  std::string surface;          // empty: every surface pooled
  std::string epoch;            // default: the trial running, else the experiment's
  double alpha = 0.05;
  bool json = false;
};

Status RunReport(const ExperimentsFlags& f) {
  offline::PipelineOptions unused_pipeline;
  serving::ServeConfig serve;
  VREC_RETURN_IF_ERROR(LoadConfig(f.config_path, unused_pipeline, serve, nullptr));
  if (!f.registry.empty()) serve.registry = f.registry;
  if (!f.store.empty()) serve.feature_store = f.store;
  if (serve.registry.empty()) return InvalidArgumentError("give --registry DIR (registry.path)");
  VREC_ASSIGN_OR_RETURN(registry::ModelRegistry reg, registry::ModelRegistry::Open(serve.registry));
  VREC_ASSIGN_OR_RETURN(std::optional<std::string> production, reg.ProductionVersion());
  auto store = features::FeatureStore::Open(serve.FeatureStoreUri(), {});
  if (!store.ok()) {
    if (store.status().code() == StatusCode::kFailedPrecondition) {
      return FailedPreconditionError(StrCat(
          store.status().message(), "; while vrec serve runs, read GET /v1/admin/experiments instead"));
    }
    return store.status();
  }
  VREC_ASSIGN_OR_RETURN(auto sums, (*store)->ScanSums("exp/"));
  VREC_ASSIGN_OR_RETURN(experiments::LedgerData data, experiments::ParseLedger(sums));
  const bool by_versions = f.by == "versions";
  std::string control = f.control;
  const std::string version = f.version.empty() ? production.value_or("") : f.version;
  if (control.empty()) control = by_versions ? version : serve.variants.front().name;
  experiments::AnalyzeOptions options;
  options.alpha = f.alpha;
  VREC_ASSIGN_OR_RETURN(std::optional<registry::CanaryInfo> canary, reg.Canary());
  std::string epoch = f.epoch;
  if (epoch.empty()) {
    epoch = canary ? experiments::TrialEpoch(canary->version, canary->started_unix)
                   : experiments::ExperimentEpoch(serve.experiment.name);
  }
  VREC_ASSIGN_OR_RETURN(experiments::Report report,
                        experiments::Compare(data, epoch,
                                             by_versions ? experiments::Grouping::kVersions
                                                         : experiments::Grouping::kVariantsOfVersion,
                                             version, control, f.surface, options));
  if (f.json) {
    std::printf("%s\n", experiments::ReportJson(report).c_str());
    return OkStatus();
  }
  std::printf("epoch=%s (epochs: %s)\n", epoch.c_str(), StrJoin(data.Epochs(), ", ").c_str());
  std::printf("%s", experiments::ReportText(report).c_str());
  if (canary) {
    const int64_t elapsed = std::time(nullptr) - canary->started_unix;
    const experiments::CanaryDecision d = experiments::DecideCanary(
        data, epoch, canary->version, production.value_or(""), elapsed, serve.canary);
    std::printf("canary=%s share=%g elapsed_s=%lld verdict=%s%s%s\n", canary->version.c_str(), canary->share,
                static_cast<long long>(elapsed),
                d.verdict == experiments::CanaryDecision::Verdict::kWait      ? "wait"
                : d.verdict == experiments::CanaryDecision::Verdict::kPromote ? "promote"
                                                                              : "rollback",
                d.reason.empty() ? "" : " reason=", d.reason.c_str());
  }
  return OkStatus();
}

}  // namespace

void AddExperimentsCommand(CLI::App& app, std::function<Status()>& run) {
  auto* experiments_cmd = app.add_subcommand("experiments", "online experiments and canary trials");
  experiments_cmd->require_subcommand(1);
  auto flags = std::make_shared<ExperimentsFlags>();
  auto* cmd = experiments_cmd->add_subcommand(
      "report",
      "per arm: CTR, completion rate, watch time per impression, like and skip rates with confidence "
      "intervals, the difference against the control and its significance, errors and latency");
  cmd->add_option("--config", flags->config_path, "config file ([feature_store], [experiment], [canary])");
  cmd->add_option("--registry", flags->registry, "model registry root (registry.path)");
  cmd->add_option("--store", flags->store,
                  "feature store URI (feature_store.uri; default rocksdb://<registry>/state)");
  cmd->add_option("--by", flags->by, "compare model versions or the variants of one version")
      ->check(CLI::IsMember({"versions", "variants"}));
  cmd->add_option("--version", flags->version, "--by variants: the version (default: production)");
  cmd->add_option("--control", flags->control,
                  "the control arm (default: production, or the first variant of the experiment)");
  cmd->add_option("--surface", flags->surface, "one surface only (default: all pooled)");
  cmd->add_option("--epoch", flags->epoch,
                  "the period: trial-<version>-<start> or exp-<experiment> (default: the trial running, else "
                  "the experiment's counts outside trials)");
  cmd->add_option("--alpha", flags->alpha, "1 - confidence level, and the significance level")
      ->check(CLI::Range(0.0001, 0.5));
  cmd->add_flag("--json", flags->json, "print the report as JSON");
  cmd->callback([&run, flags] { run = [flags] { return RunReport(*flags); }; });
}

}  // namespace vrec::app
