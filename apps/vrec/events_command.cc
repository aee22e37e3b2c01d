// `vrec events export`: exports the online store's event log and catalog records into segments
// (events/exporter.h) when no server holds the store (RocksDB admits one process; a running
// `vrec serve` exports itself, see events.export).
#include <signal.h>

#include <cstdio>
#include <ctime>
#include <memory>

#include "apps/vrec/commands.h"
#include "vrec/common/strings.h"
#include "vrec/events/exporter.h"
#include "vrec/features/feature_store.h"

namespace vrec::app {
namespace {

struct EventsExportFlags {
  std::string config_path;
  std::string registry;
  std::string store;
  std::string out;
  bool once = false;
};

void PrintStats(const events::ExportStats& st) {
  std::printf(
      "segments_written=%zu events_exported=%llu catalog_written=%d segments_deleted=%zu events_pruned=%llu "
      "exported_through=%llu\n",
      st.segments_written, static_cast<unsigned long long>(st.events_exported), st.catalog_written ? 1 : 0,
      st.segments_deleted, static_cast<unsigned long long>(st.events_pruned),
      static_cast<unsigned long long>(st.exported_through));
  std::fflush(stdout);
}

Status RunEventsExport(const EventsExportFlags& f) {
  offline::PipelineOptions unused_pipeline;
  serving::ServeConfig serve;
  PlatformConfig platform;
  VREC_RETURN_IF_ERROR(LoadConfig(f.config_path, unused_pipeline, serve, &platform));
  if (!f.registry.empty()) serve.registry = f.registry;
  if (!f.store.empty()) serve.feature_store = f.store;
  if (!f.out.empty()) platform.exporter.dir = f.out;
  if (serve.registry.empty() && (serve.feature_store.empty() || platform.exporter.dir.empty())) {
    return InvalidArgumentError("give --registry DIR (or both --store URI and --out DIR)");
  }

  // SIGINT/SIGTERM end the loop after a last round.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  features::FeatureStoreOptions store_options;
  store_options.max_history = static_cast<size_t>(serve.max_history);
  auto store = features::FeatureStore::Open(serve.FeatureStoreUri(), store_options);
  if (!store.ok()) {
    if (store.status().code() == StatusCode::kFailedPrecondition) {
      return FailedPreconditionError(StrCat(
          store.status().message(), "; a running vrec serve exports the events itself (events.export)"));
    }
    return store.status();
  }
  VREC_ASSIGN_OR_RETURN(std::unique_ptr<events::EventExporter> exporter,
                        events::EventExporter::Open(**store, platform.exporter.ToOptions(serve.registry)));
  std::fprintf(stderr, "events: exporting %s to %s\n", serve.FeatureStoreUri().c_str(),
               exporter->options().dir.c_str());
  events::ExportStats stats;
  if (f.once) {
    VREC_RETURN_IF_ERROR(exporter->ExportOnce(&stats, /*housekeeping=*/true));
    PrintStats(stats);
    return OkStatus();
  }
  const auto interval = platform.exporter.interval;
  while (true) {
    const Status s = exporter->ExportOnce(&stats);
    if (!s.ok()) {
      std::fprintf(stderr, "events: export failed (retrying): %s\n", s.ToString().c_str());
    } else if (stats.segments_written > 0 || stats.catalog_written || stats.segments_deleted > 0) {
      PrintStats(stats);
    }
    timespec wait{};
    wait.tv_sec = static_cast<time_t>(interval.count() / 1000);
    wait.tv_nsec = static_cast<long>((interval.count() % 1000) * 1'000'000);
    if (sigtimedwait(&signals, nullptr, &wait) > 0) break;
  }
  VREC_RETURN_IF_ERROR(exporter->ExportOnce(&stats, /*housekeeping=*/true));
  PrintStats(stats);
  return OkStatus();
}

}  // namespace

void AddEventsCommand(CLI::App& app, std::function<Status()>& run) {
  auto* events_cmd = app.add_subcommand("events", "the event log");
  events_cmd->require_subcommand(1);
  auto flags = std::make_shared<EventsExportFlags>();
  auto* cmd = events_cmd->add_subcommand(
      "export",
      "export the store's events (and catalog records) into time-partitioned gzip segments for training");
  cmd->add_option("--config", flags->config_path, "config file ([events] export keys, [feature_store])");
  cmd->add_option("--registry", flags->registry, "model registry root (registry.path)");
  cmd->add_option("--store", flags->store,
                  "feature store URI (feature_store.uri; default rocksdb://<registry>/state)");
  cmd->add_option("--out", flags->out, "export folder (events.export_dir; default <registry>/events)");
  cmd->add_flag("--once", flags->once,
                "export what is there and exit (default: every events.export_interval)");
  cmd->callback([&run, flags] { run = [flags] { return RunEventsExport(*flags); }; });
}

}  // namespace vrec::app
