// ServingSnapshot: everything `vrec serve` derives from a model's training snapshot, computed once
// by the pipeline and written as one artifact file (serving.vart) that the server memory-maps:
// the catalog, each user's recent history, video popularity, the cold-start lists, the item-item
// neighbours (SAR, top-K per video), the EASE weights, the ranking aggregates and the engagement
// counters as of the snapshot. Serving computes only what depends on the request or on events
// after the snapshot (the pipeline precomputes; serving maps).
//
// Immutable after Build or Load; every method is const and safe to call concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "vrec/common/artifact.h"
#include "vrec/common/flat_array.h"
#include "vrec/common/status.h"
#include "vrec/data/dataset.h"
#include "vrec/features/counters.h"
#include "vrec/ranking/features.h"
#include "vrec/retrieval/ease.h"
#include "vrec/retrieval/sar.h"
#include "vrec/snapshot/catalog_artifact.h"

namespace vrec::snapshot {

// Content version of serving.vart (MappedArtifact::content_version). Bump it when a section
// changes meaning; Load refuses other versions with an error naming both.
inline constexpr uint32_t kServingSnapshotVersion = 1;

// One event of a user's history as the online stages read it. 24 bytes, stored as is.
struct HistoryItem {
  uint32_t video = 0;  // dense catalog index
  data::EventType type = data::EventType::kPlay;
  int64_t time = 0;
  float watch_ratio = data::kMissing;
  float rating = data::kMissing;
};
static_assert(sizeof(HistoryItem) == 24);

struct SnapshotOptions {
  int cold_start_list = 500;        // length of the popular and fresh lists kept for cold start
  int max_history_per_user = 1000;  // most recent snapshot events kept per user
  retrieval::SarOptions sar;        // as the ranker's training fitted it (neighbours, half-life)
  retrieval::EaseOptions ease;
};

class ServingSnapshot {
 public:
  // Computes the snapshot of `catalog` (users, videos, categories) and `rows` (its interactions,
  // all of them): the pipeline's last step, or the upgrade of a model written before snapshots
  // existed. Fits SAR, EASE and the aggregates with `options`.
  // Errors: InvalidArgument when there are no rows; errors of the fits.
  static StatusOr<std::shared_ptr<const ServingSnapshot>> Build(data::Dataset catalog,
                                                                std::span<const data::Interaction> rows,
                                                                const SnapshotOptions& options);

  // Writes the snapshot to `path` (atomically: a temporary file renamed into place).
  Status Save(const std::string& path) const;

  // Maps a snapshot written by Save. Checks the structure, not the checksums (Verify does).
  // Errors: those of MappedArtifact::Open; FailedPrecondition naming both versions when the file's
  // content version is not kServingSnapshotVersion; DataLoss naming the section that is missing
  // or inconsistent.
  static StatusOr<std::shared_ptr<const ServingSnapshot>> Load(const std::string& path);

  // Reads every section and checks its checksum (a loaded snapshot only); OK for a built one.
  Status Verify() const;

  const data::Dataset& catalog() const { return catalog_; }
  // Title and tags of a video (mapped; empty for a built snapshot's videos without them).
  std::string_view Title(uint32_t video) const;
  std::vector<std::string_view> Tags(uint32_t video) const;

  // The user's most recent snapshot events, oldest first; empty for users outside it.
  std::span<const HistoryItem> History(uint32_t user) const;
  // Positive events per video in the snapshot.
  int64_t Positives(uint32_t video) const { return video < positives_.size() ? positives_[video] : 0; }
  // Cold start: the most popular videos among users of that country / language (either may be
  // empty), best first; the global list when the pair has too few users.
  std::span<const uint32_t> Popular(std::string_view country, std::string_view language) const;
  // The newest uploads with at least one positive, newest first: in `language` when the catalog
  // has enough of them, else in any language.
  std::span<const uint32_t> Fresh(std::string_view language) const;
  // Latest interaction time of the snapshot (the model's "as of").
  int64_t data_end_time() const { return data_end_time_; }

  const retrieval::SarScorer& sar() const { return *sar_; }
  const retrieval::EaseScorer& ease() const { return *ease_; }
  const ranking::FeatureAggregates& aggregates() const { return *aggregates_; }
  // The engagement counters of every snapshot event (features/counters.h), read in place: serving
  // adds the events after the snapshot to them. Empty when has_counters() is false (a snapshot
  // written before counters existed).
  const features::CounterReader& counters() const { return *counters_; }
  std::shared_ptr<const features::CounterReader> shared_counters() const { return counters_; }
  bool has_counters() const { return has_counters_; }

  // Bytes of each part (mapped or owned), for the memory report (`vrec_model_bytes`).
  std::map<std::string, uint64_t> ComponentBytes() const;

 private:
  ServingSnapshot() = default;
  // Builds the locale and language indexes over the cold-start lists.
  void IndexColdStart();

  std::shared_ptr<const MappedArtifact> artifact_;  // null for a built snapshot
  data::Dataset catalog_;
  StringColumn titles_;
  FlatArray<uint64_t> tag_ptr_;
  StringColumn tags_;
  FlatArray<uint64_t> history_ptr_;  // users + 1 offsets into history_
  FlatArray<HistoryItem> history_;
  FlatArray<int64_t> positives_;
  int64_t data_end_time_ = 0;
  // Cold start: lists laid end to end; list i is lists_[ptr_[i] .. ptr_[i + 1]).
  FlatArray<uint32_t> popular_;
  StringColumn popular_keys_;  // "country|language", "country|", "|language"
  FlatArray<uint64_t> popular_ptr_;
  FlatArray<uint32_t> popular_lists_;
  FlatArray<uint32_t> fresh_;
  StringColumn fresh_keys_;  // languages
  FlatArray<uint64_t> fresh_ptr_;
  FlatArray<uint32_t> fresh_lists_;
  std::unordered_map<std::string_view, std::span<const uint32_t>> popular_by_locale_;
  std::unordered_map<std::string_view, std::span<const uint32_t>> fresh_by_language_;
  std::vector<std::string> owned_keys_;  // backs the keys of a built snapshot

  std::shared_ptr<const retrieval::SarScorer> sar_;
  std::shared_ptr<const retrieval::EaseScorer> ease_;
  std::shared_ptr<const ranking::FeatureAggregates> aggregates_;
  std::shared_ptr<const features::CounterReader> counters_;
  bool has_counters_ = true;
};

}  // namespace vrec::snapshot
