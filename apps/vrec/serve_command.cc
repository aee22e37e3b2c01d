// `vrec serve`: the HTTP/JSON recommendation server.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "apps/vrec/commands.h"
#include "vrec/common/strings.h"
#include "vrec/common/sys.h"
#include "vrec/config/values.h"
#include "vrec/events/exporter.h"
#include "vrec/serving/http_server.h"
#include "vrec/serving/log.h"
#include "vrec/serving/service.h"

namespace vrec::app {
namespace {

struct ServeFlags {
  std::string config_path;
  std::string registry;
  int port = -1;
  std::string address;
  int threads = 0;
};

// Exports the event log beside the server (events/exporter.h): a failure is logged and retried at
// the next interval, and never stops serving. Metrics: vrec_events_exported_through and friends.
// Replicas sharing one store and one export folder: the folder's lock makes one of them the
// exporter; the others stand by (vrec_events_exporter_active 0) and the first to find the lock
// free after the exporter stopped or died takes over, resuming after the last segment written.
std::unique_ptr<events::ExportWorker> StartEventExport(serving::Service& service,
                                                       const events::ExportConfig& export_config) {
  const events::ExporterOptions options = export_config.ToOptions(service.config().registry);
  serving::MetricsRegistry& m = service.metrics();
  serving::Gauge& through =
      m.gauge("vrec_events_exported_through", "Greatest event log sequence exported to segments.");
  serving::Counter& exported = m.counter("vrec_events_exported_total", "Events exported to segments.");
  serving::Counter& segments = m.counter("vrec_events_segments_written_total", "Event segments written.");
  serving::Counter& failures = m.counter("vrec_events_export_failures_total",
                                         "Export rounds that failed (retried at the next interval).");
  serving::Gauge& active =
      m.gauge("vrec_events_exporter_active",
              "1 when this server exports; 0 while another one holds the export folder.");
  features::FeatureStore* store = &service.store();
  m.gauge_callback("vrec_events_export_lag", "Events acknowledged but not exported yet.", {},
                   [store, &through] {
                     const double last = static_cast<double>(store->LastSequence());
                     return std::max(0.0, last - through.value());
                   });
  // Failures are logged when their message changes or once a minute, not at every round.
  struct LogState {
    std::string last_error;
    std::chrono::steady_clock::time_point last_logged;
  };
  auto log = std::make_shared<LogState>();
  const std::string every = config::FormatDuration(export_config.interval);
  serving::Log(serving::LogLevel::kInfo, StrCat("exporting events to ", options.dir, " every ", every));
  return std::make_unique<events::ExportWorker>(
      [store, options] { return events::EventExporter::Open(*store, options); }, export_config.interval,
      [&exported, &segments, &failures, &through, &active, log, every](const events::ExportStats& st,
                                                                       const Status& s) {
        exported.Inc(static_cast<double>(st.events_exported));
        segments.Inc(static_cast<double>(st.segments_written));
        // Unavailable: another server holds the folder. Standing by is no failure.
        active.Set(s.code() == StatusCode::kUnavailable ? 0 : 1);
        if (s.code() == StatusCode::kUnavailable) {
          if (log->last_error != s.message()) {
            serving::Log(serving::LogLevel::kInfo, StrCat("event export standing by: ", s.message()));
            log->last_error = s.message();
          }
          return;
        }
        if (s.ok()) {
          through.Set(static_cast<double>(st.exported_through));
          if (!log->last_error.empty()) {
            serving::Log(serving::LogLevel::kInfo,
                         StrCat("event export recovered (exported through ", st.exported_through, ")"));
            log->last_error.clear();
          }
          if (st.segments_deleted > 0 || st.events_pruned > 0) {
            serving::Log(serving::LogLevel::kInfo,
                         StrCat("event retention deleted ", st.segments_deleted, " segments, pruned ",
                                st.events_pruned, " log events"));
          }
          return;
        }
        failures.Inc();
        const auto now = std::chrono::steady_clock::now();
        if (s.message() != log->last_error || now - log->last_logged >= std::chrono::minutes(1)) {
          serving::Log(serving::LogLevel::kError,
                       StrCat("event export failed (retrying every ", every, "): ", s.ToString()));
          log->last_error = s.message();
          log->last_logged = now;
        }
      });
}

Status RunServe(const ServeFlags& f) {
  serving::ServeConfig config;
  offline::PipelineOptions unused;  // the pipeline's sections are checked, not used
  PlatformConfig platform;
  VREC_RETURN_IF_ERROR(LoadConfig(f.config_path, unused, config, &platform));
  // Flags win over the file and the environment.
  if (!f.registry.empty()) config.registry = f.registry;
  if (f.port >= 0) config.port = f.port;
  if (!f.address.empty()) config.address = f.address;
  if (f.threads > 0) config.threads = f.threads;

  // SIGINT/SIGTERM stop the server cleanly: block them here, wait for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  VREC_ASSIGN_OR_RETURN(std::unique_ptr<serving::Service> service, serving::Service::Create(config));
  serving::HttpServerOptions http;
  http.address = config.address;
  http.port = config.port;
  http.threads = config.threads;
  http.idle_timeout_s = static_cast<int>(config.idle_timeout.count());
  http.header_timeout_s = static_cast<int>(config.header_timeout.count());
  http.body_timeout_s = static_cast<int>(config.body_timeout.count());
  http.write_timeout_s = static_cast<int>(config.write_timeout.count());
  http.max_body_bytes = static_cast<size_t>(config.max_body_bytes);
  http.max_connections_per_client = config.max_connections_per_client;
  // Each connection is a file descriptor; the store, the index and the libraries hold others.
  constexpr int kReservedFiles = 256;
  const int64_t files = RaiseOpenFileLimit(int64_t{config.max_connections} + kReservedFiles);
  http.max_connections =
      static_cast<int>(std::clamp<int64_t>(files - kReservedFiles, 1, config.max_connections));
  if (http.max_connections < config.max_connections) {
    serving::Log(serving::LogLevel::kWarning,
                 StrCat("the open-file limit (", files, ") allows ", http.max_connections,
                        " connections, not server.max_connections=", config.max_connections,
                        "; raise the hard limit (ulimit -Hn, LimitNOFILE=) to serve more"));
  }
  if (config.open_access()) {
    serving::Log(
        serving::LogLevel::kWarning,
        StrCat("no API keys configured: every route, admin included, is open to clients of ", config.address,
               " (loopback only); set server.api_keys and server.admin_keys before "
               "exposing it"));
  }
  http.error_log = [](std::string_view m) { serving::Log(serving::LogLevel::kError, m); };
  serving::Service* s = service.get();
  VREC_ASSIGN_OR_RETURN(auto server,
                        serving::HttpServer::Start(http, [s](const serving::HttpRequest& q,
                                                             serving::HttpResponse& r) { s->Handle(q, r); }));
  service->StartPolling();
  std::unique_ptr<events::ExportWorker> exporter;
  if (platform.exporter.enabled) exporter = StartEventExport(*service, platform.exporter);
  std::printf("serving model=%s on http://%s:%d (feature store %s)\n", service->model_version().c_str(),
              config.address.c_str(), server->port(), config.FeatureStoreUri().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  serving::Log(serving::LogLevel::kInfo, StrCat("signal ", sig, ", stopping"));
  server->Stop();
  // A last export round: what was acknowledged before the stop is in the segments.
  if (exporter) exporter->Stop();
  service->StopPolling();
  return OkStatus();
}

}  // namespace

void AddServeCommand(CLI::App& app, std::function<Status()>& run) {
  auto flags = std::make_shared<ServeFlags>();
  auto* cmd = app.add_subcommand("serve",
                                 "serve recommendations over HTTP/JSON from the registry's production model");
  cmd->add_option("--config", flags->config_path,
                  "config file (see configs/vrec.toml.example); VREC_* env vars override it");
  cmd->add_option("--registry", flags->registry, "model registry root (registry.path)");
  cmd->add_option("--port", flags->port, "TCP port (server.port); 0 picks a free one");
  cmd->add_option("--address", flags->address, "listen address (server.address)");
  cmd->add_option("--threads", flags->threads, "HTTP worker threads (server.threads)");
  cmd->callback([&run, flags] { run = [flags] { return RunServe(*flags); }; });
}

}  // namespace vrec::app
