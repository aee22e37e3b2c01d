#include "vrec/events/export_config.h"

#include <filesystem>

namespace vrec::events {

std::string ExportConfig::ExportDir(const std::string& registry) const {
  if (!dir.empty()) return dir;
  return (std::filesystem::path(registry) / "events").string();
}

ExporterOptions ExportConfig::ToOptions(const std::string& registry) const {
  ExporterOptions o;
  o.dir = ExportDir(registry);
  o.max_segment_events = static_cast<size_t>(segment_max_events);
  o.retention = segment_retention;
  o.log_retention = log_retention;
  o.housekeeping_interval = housekeeping_interval;
  return o;
}

void BindExportConfig(config::Binder& b, ExportConfig& c) {
  b.Bool("events.export", &c.enabled,
         {.help = "vrec serve exports acknowledged events to time-partitioned segments (and catalog updates "
                  "to catalog/) in the background; training reads them (vrec pipeline run --platform)."});
  b.String("events.export_dir", &c.dir, {.help = "Export folder. Empty: <registry>/events."});
  b.Duration(
      "events.export_interval", &c.interval,
      {.min = std::chrono::milliseconds(10),
       .max = std::chrono::hours(24),
       .help = "Time between two exports; each writes one segment per up to segment_max_events new events."});
  b.Int("events.segment_max_events", &c.segment_max_events,
        {.min = 1, .max = 10'000'000, .help = "Most events in one segment file."});
  b.Duration("events.segment_retention", &c.segment_retention,
             {.min = std::chrono::seconds(0),
              .help = "Segments whose hour ended longer ago are deleted; 0 keeps them. Keep it longer than "
                      "trainer.interval, or a retraining misses the deleted events."});
  b.Duration(
      "events.log_retention", &c.log_retention,
      {.min = std::chrono::seconds(0),
       .help = "The store's log entries of segments older than this are pruned (histories stay); 0 keeps "
               "the store's whole log."});
  b.Check(c.segment_retention.count() == 0 || c.log_retention <= c.segment_retention, "events.log_retention",
          "must not exceed a non-zero events.segment_retention (segments would be deleted before their "
          "events are pruned)");
  b.Duration(
      "events.housekeeping_interval", &c.housekeeping_interval,
      {.min = std::chrono::milliseconds(10),
       .help = "How often the catalog files are refreshed (rewritten when changed) and retention applied."});
}

}  // namespace vrec::events
