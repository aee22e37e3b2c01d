// The event exporter: copies the FeatureStore's durable event log into immutable, time-partitioned,
// gzip-compressed segments in the generic data format, and its catalog records into catalog
// files, so that training never reads the live store (layout: events/segments.h). Applies the
// retention of the segments and, optionally, prunes the store's exported log entries.
//
// Exactly once: the cursor is the greatest sequence present in the export folder (segments.h), a
// segment is published by an atomic rename after an fsync, and an exporter never keeps a cursor
// across a failure (it rereads the folder). A crash at any point (kill -9, power loss) therefore
// neither loses an acknowledged event nor writes one twice.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "vrec/common/durable_file.h"
#include "vrec/common/status.h"
#include "vrec/features/feature_store.h"

namespace vrec::events {

struct ExporterOptions {
  // The export folder (created when missing). Required.
  std::string dir;
  // Most events in one segment; a backlog becomes several segments. Must be > 0. Default 100000.
  size_t max_segment_events = 100'000;
  // Segments whose hour ended more than this long ago are deleted. 0 keeps them forever.
  // Default 30 days (longer than the trainer's interval, so every segment is trained on first).
  std::chrono::seconds retention{std::chrono::hours(24 * 30)};
  // The store's log entries in segments whose hour ended more than this long ago are pruned
  // (FeatureStore::PruneEvents). 0 never prunes the store's log. Default 0.
  std::chrono::seconds log_retention{0};
  // How often ExportOnce also refreshes the catalog files (rewritten only when their records
  // changed) and applies retention. Default 60 s.
  std::chrono::milliseconds housekeeping_interval{std::chrono::seconds(60)};
  // Unix seconds now: the partition of new segments and the reference of retention. Default (empty):
  // the system clock.
  std::function<int64_t()> clock;
};

// What one ExportOnce did.
struct ExportStats {
  size_t segments_written = 0;
  uint64_t events_exported = 0;
  bool catalog_written = false;   // a catalog file was replaced
  size_t segments_deleted = 0;    // by retention
  uint64_t events_pruned = 0;     // from the store's log
  uint64_t exported_through = 0;  // the cursor afterwards
};

// Exports one FeatureStore into one folder. Owns the folder's LOCK for its lifetime; does not own
// the store, which must outlive it. Not thread-safe: one thread calls its methods (ExportWorker
// runs it on its own thread); the store may be written concurrently by any number of threads.
class EventExporter {
 public:
  // Creates the folder, takes its lock and removes temporary files left by a crashed exporter.
  // Errors: InvalidArgument for bad options (log_retention longer than a non-zero retention:
  // segments would be deleted before their events are pruned); Unavailable when another exporter
  // holds the folder;
  // Internal on I/O errors.
  static StatusOr<std::unique_ptr<EventExporter>> Open(features::FeatureStore& store,
                                                       ExporterOptions options);

  // Exports every event the store has durably logged after the cursor (segments of at most
  // max_segment_events); then, when housekeeping_interval has passed since the last time (or on
  // the first call, or when `housekeeping` is set), rewrites the catalog files whose records
  // changed and applies retention.
  // `stats` (when not null) says what was done, also on error (the work before the error).
  // Errors: FailedPrecondition when the store's log ends before the cursor (the store was
  // replaced: exporting would skip its events); DataLoss for overlapping segments or a corrupt
  // log record; Internal on I/O errors. After an error nothing half-written is visible and the
  // next call starts from the folder again.
  Status ExportOnce(ExportStats* stats = nullptr, bool housekeeping = false);

  // The greatest sequence exported so far (as of the last ExportOnce or Open).
  uint64_t exported_through() const { return cursor_.value_or(0); }
  const ExporterOptions& options() const { return options_; }

 private:
  EventExporter(features::FeatureStore& store, ExporterOptions options, FileLock lock);
  int64_t Now() const;
  // The cursor, read from the folder when not known.
  StatusOr<uint64_t> Cursor();
  // Writes one segment of the given events (sequence order); publishes it atomically.
  Status WriteSegment(const std::vector<std::pair<uint64_t, features::Event>>& events, int64_t now);
  Status ExportEvents(ExportStats& stats);
  // Rewrites the catalog files whose records changed since they were last written.
  Status ExportCatalog(ExportStats& stats);
  Status ApplyRetention(int64_t now, ExportStats& stats);

  features::FeatureStore& store_;
  const ExporterOptions options_;
  FileLock lock_;
  std::optional<uint64_t> cursor_;  // unknown after an error: read from the folder again
  std::optional<std::chrono::steady_clock::time_point> last_housekeeping_;
  // Hash of each catalog file's contents as last written or read (empty: unknown).
  std::string videos_hash_, users_hash_;
};

// Runs EventExporter::ExportOnce on a background thread every `interval`, and once more at Stop.
// The exporter is opened on that thread, and opened again after a failed open: a failure is
// reported to `on_round` and retried at the next interval, and never stops the caller.
class ExportWorker {
 public:
  using Opener = std::function<StatusOr<std::unique_ptr<EventExporter>>()>;
  // Called after every round (and every failed open) with its stats and status, on the worker's
  // thread.
  using RoundCallback = std::function<void(const ExportStats&, const Status&)>;
  ExportWorker(Opener open, std::chrono::milliseconds interval, RoundCallback on_round);
  ~ExportWorker();  // calls Stop
  ExportWorker(const ExportWorker&) = delete;
  ExportWorker& operator=(const ExportWorker&) = delete;

  // Stops the thread after a last round (exporting what the store acknowledged until now).
  // Idempotent.
  void Stop();

 private:
  void Run();
  // Opens the exporter when needed, then exports once.
  void Round();

  Opener open_;
  std::unique_ptr<EventExporter> exporter_;  // used by the worker thread only
  const std::chrono::milliseconds interval_;
  RoundCallback on_round_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace vrec::events
