// The manifest of a model directory: what a directory holds and what it was trained on, so that a
// server can refuse a model that does not match its feature schema, and an operator can see where
// a model came from. Stored as manifest.json beside the model's files.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "vrec/common/hash.h"
#include "vrec/common/status.h"

namespace vrec::registry {

// Bumped when the layout of model directories changes. 2: serving.vart; 3: heads/, the objective
// heads (registry/model_layout.h). This build reads formats 1 to 3. The pipeline writes 3 only
// for a model with heads: one without (trained on ratings) stays format 2, which older servers
// read, while they refuse a model with heads by its version instead of serving it without them.
inline constexpr int kModelFormatVersion = 3;
// The format of a directory without heads.
inline constexpr int kModelFormatWithoutHeads = 2;

struct Manifest {
  int format_version = kModelFormatVersion;
  std::string model_kind;                     // e.g. "two-tower", "ranker"
  std::string created_at;                     // UTC, ISO 8601
  std::string feature_schema;                 // canonical text of the feature configuration
  std::string feature_schema_hash;            // HashHex(feature_schema)
  std::string training_data_hash;             // HashHex of the training rows (see data::TrainingDataHash)
  std::map<std::string, double> metrics;      // evaluation figures, e.g. "recall@100"
  std::map<std::string, std::string> files;   // role -> file name inside the directory
  std::map<std::string, std::string> params;  // hyperparameters, as text
};

// Manifest param: the greatest event sequence of the platform's log (features/feature_store.h)
// that the model's catalog snapshot includes; absent for models trained from an import or
// synthetic data (none included). Serving replays the log after it onto the snapshot's counters.
inline constexpr char kThroughSeqParam[] = "events.through_seq";
// Its value: 0 when absent. DataLoss when it is not a number.
StatusOr<uint64_t> ThroughSeqOf(const Manifest& manifest);

// Current UTC time as "2026-11-26T10:30:00Z".
std::string NowUtcIso8601();
// `unix_seconds` in the same form.
std::string UtcIso8601(int64_t unix_seconds);

// Writes dir/manifest.json (via a temporary file renamed into place). Internal on I/O errors.
Status WriteManifest(const std::string& dir, const Manifest& m);
// Reads dir/manifest.json. NotFound when absent; DataLoss when it is not a valid manifest;
// FailedPrecondition when its format_version is newer than this build understands.
StatusOr<Manifest> ReadManifest(const std::string& dir);
// FailedPrecondition, naming both hashes, unless `m` is of `kind` and its feature schema hash is
// `expected_schema_hash`.
Status CheckCompatible(const Manifest& m, std::string_view kind, std::string_view expected_schema_hash);

}  // namespace vrec::registry
