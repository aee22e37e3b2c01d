// `vrec trainer`: the spec's scheduled training workflow as a long-running process. Every
// check interval it decides whether a run is due: trainer.interval after the last run (when events
// or catalog updates were exported since), or as soon as trainer.min_new_events events were
// exported beyond the data of the last run. A run trains on the platform (platform_data.h: the
// production snapshot + exported segments + catalog updates) through the same pipeline, gates
// and registry as `vrec pipeline run`, so production changes only when every gate passes.
//
// Records: the pipeline's own <registry>/runs/<run id>.json; the trainer's state file (its last
// run: when, on which data, the outcome), written atomically after every run so that a restarted
// trainer neither retrains at once nor forgets a run; and <state dir>/runs.jsonl, one line per run.
// A failed run (an error or failed gates) is not retried until the next trigger fires (again
// min_new_events further events, or the interval), so a broken input does not retrain in a loop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "vrec/common/durable_file.h"
#include "vrec/common/status.h"
#include "vrec/data/dataset.h"
#include "vrec/offline/pipeline.h"
#include "vrec/offline/trainer_config.h"

namespace vrec::offline {

struct TrainerOptions {
  TrainerConfig config;
  // The pipeline's options as for `vrec pipeline run` (registry, model, gates, promotion,
  // validation); the trainer adds the source and events.through_seq.
  PipelineOptions pipeline;
  // The exporter's folder; empty = <registry>/events.
  std::string export_dir;
  // Runs the pipeline (RunPipeline; tests pass a fake). Required.
  std::function<StatusOr<PipelineRecord>(const data::Dataset&, const PipelineOptions&)> run_pipeline;
  // Unix seconds now. Default: the system clock.
  std::function<int64_t()> clock;
  // Where progress lines go. Default: stderr, prefixed "trainer: ".
  std::function<void(std::string_view)> log;
};

// What the trainer remembers across restarts (its state file).
struct TrainerState {
  int64_t last_run_at = 0;        // unix seconds when the last run started; 0 = never
  uint64_t last_run_through = 0;  // the exported events the last run saw (through this sequence)
  std::string catalog_hash;       // of the exported catalog files the last run saw
  std::string last_outcome;       // "promoted v000003", "registered v000003", "gates failed", "failed: ..."
  std::string last_record;        // the pipeline's run record of the last run, when it wrote one
  int64_t runs = 0;
};

struct TrainerDecision {
  bool due = false;
  std::string reason;             // why (not), for the log
  uint64_t exported_through = 0;  // the export folder's greatest sequence
  uint64_t data_through = 0;      // what production or the last run already covers
  uint64_t new_events = 0;        // exported_through - data_through (sequence numbers)
  bool catalog_changed = false;   // the exported catalog files differ from the last run's
};

struct TrainerRun {
  TrainerDecision decision;
  bool ran = false;
  Status status;                         // the run's error; OK when it completed (gates passed or not)
  std::optional<PipelineRecord> record;  // when the pipeline completed
  std::string outcome;                   // as TrainerState::last_outcome
  double seconds = 0;
};

// One trainer per registry (state file): Open takes an exclusive lock beside the state file. Not
// thread-safe.
class Trainer {
 public:
  // Reads the state file (a missing one is a fresh state) and takes the lock.
  // Errors: InvalidArgument without run_pipeline or registry; Unavailable when another trainer
  // holds the lock; DataLoss when the state file is corrupt; Internal on I/O errors.
  static StatusOr<std::unique_ptr<Trainer>> Open(TrainerOptions options);

  // Whether a run is due now, and why. Errors: those of reading the registry and the export folder.
  StatusOr<TrainerDecision> Decide() const;

  // Decides, and runs when due (or when `force`). The run's own failure is in TrainerRun::status
  // (recorded in the state like any run); errors are returned only when deciding fails or the
  // state cannot be written.
  StatusOr<TrainerRun> RunOnce(bool force = false);

  const TrainerState& state() const { return state_; }
  const std::string& state_file() const { return state_file_; }

 private:
  Trainer(TrainerOptions options, std::string state_file, FileLock lock, TrainerState state);
  int64_t Now() const;
  void Log(std::string_view line) const;
  std::string ExportDir() const;
  // Hash of the exported catalog files' bytes ("" when there are none).
  std::string CatalogHash() const;
  Status SaveState(const TrainerRun& run) const;

  TrainerOptions options_;
  std::string state_file_;
  FileLock lock_;
  TrainerState state_;
};

// "2026-11-26T10:30:00Z" (registry::NowUtcIso8601) as unix seconds; nullopt when malformed.
std::optional<int64_t> ParseUtcIso8601(std::string_view text);

}  // namespace vrec::offline
