// The [events] keys of the event export (the exporter that `vrec serve` runs beside the server and
// `vrec events export` runs alone), apart from the server's own [events] keys (serve_config.h), so
// that the CLI binds them next to the others and `vrec config example` documents them.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "vrec/config/binder.h"
#include "vrec/events/exporter.h"

namespace vrec::events {

struct ExportConfig {
  // Whether `vrec serve` exports in the background (`vrec events export` always does).
  bool enabled = true;
  // The export folder; empty = <registry>/events.
  std::string dir;
  // Time between two exports of `vrec serve` (and of `vrec events export` without --once).
  std::chrono::milliseconds interval{std::chrono::seconds(10)};
  // Most events in one segment file.
  int64_t segment_max_events = 100'000;
  // Segments whose hour ended longer ago are deleted; 0 keeps them forever.
  std::chrono::seconds segment_retention{std::chrono::hours(24 * 30)};
  // The store's exported log entries older than this are pruned; 0 keeps the store's whole log.
  std::chrono::seconds log_retention{0};
  // How often the catalog files are refreshed and retention applied.
  std::chrono::milliseconds housekeeping_interval{std::chrono::seconds(60)};

  // The export folder after defaults (absolute when `registry` is).
  std::string ExportDir(const std::string& registry) const;
  // Exporter options for folder ExportDir(registry).
  ExporterOptions ToOptions(const std::string& registry) const;
};

// Binds the keys above (events.export, events.export_dir, ...) to `binder`, with their rules
// across fields (log_retention <= a non-zero segment_retention).
void BindExportConfig(config::Binder& binder, ExportConfig& config);

}  // namespace vrec::events
