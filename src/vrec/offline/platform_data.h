// Training data from the platform itself: the production model's catalog snapshot (what it was
// trained on), plus the event segments exported since (events/segments.h), plus the exported
// catalog and user updates. How `vrec pipeline run --platform` and `vrec trainer` get their data,
// without reading the live store.
//
// Which events are new: every model trained from the platform records in its manifest the last
// event sequence its snapshot includes (param kThroughSeqParam); the next run takes the segments
// after it. A model without the param (trained from an import or synthetic data) has taken none.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/data/dataset.h"
#include "vrec/registry/manifest.h"

namespace vrec::offline {

// Manifest param: the greatest exported event sequence the model's catalog snapshot includes
// (defined beside the manifest: serving reads it too).
using registry::kThroughSeqParam;

struct PlatformSource {
  std::string registry;    // the registry whose production version is the base
  std::string export_dir;  // the exporter's folder; empty = <registry>/events
};

struct PlatformData {
  data::Dataset dataset;
  std::optional<std::string> base_version;  // production version whose catalog/ is the base; none: empty base
  uint64_t base_through_seq = 0;            // kThroughSeqParam of the base (0 when absent)
  uint64_t through_seq = 0;                 // the greatest sequence `dataset` includes
  size_t segments = 0;                      // segments read
  uint64_t events_added = 0;                // rows added from them
  size_t duplicate_events = 0;              // rows skipped: an event id seen before
  size_t videos_replaced = 0, videos_added = 0;  // by catalog/videos.csv.gz (added: not in the base)
  size_t users_replaced = 0, users_added = 0;    // by catalog/users.csv.gz
  std::vector<std::string> warnings;             // e.g. segments deleted by retention before training
  // One line for logs and the run record.
  std::string Describe() const;
};

// The greatest sequence a manifest's snapshot includes: its kThroughSeqParam, 0 when absent.
// Errors: DataLoss when the param is not a number.
using registry::ThroughSeqOf;

// Builds the dataset: the base (production's catalog/, or nothing when there is no production
// version), its videos and users replaced or added by the exported catalog files (by id), then the
// rows of every segment after the base's through_seq, in sequence order (rows repeating an event id
// are skipped). Errors: FailedPrecondition when production has no catalog snapshot, or a segment
// straddles the base's through_seq (the base came from another export folder); the errors of
// reading the registry and the files (InvalidArgument "file:line: ..." for a bad row, DataLoss for
// corrupt or overlapping files).
StatusOr<PlatformData> LoadPlatformData(const PlatformSource& source);

}  // namespace vrec::offline
