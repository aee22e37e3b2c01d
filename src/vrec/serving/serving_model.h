// ServingModel: one model version loaded for serving (towers, video index, ranker, and the serving
// snapshot: the catalog and everything derived from it, memory-mapped from serving.vart). Immutable after
// Load and shared by all requests through a shared_ptr<const ServingModel>: a new version is loaded beside
// the old one and swapped in, and requests in flight finish on the version they started with (see
// ModelManager in service.h).
//
// Thread safety: every method is const and safe to call concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/data/dataset.h"
#include "vrec/ranking/features.h"
#include "vrec/ranking/objectives.h"
#include "vrec/ranking/ranker.h"
#include "vrec/registry/manifest.h"
#include "vrec/retrieval/ease.h"
#include "vrec/retrieval/retriever.h"
#include "vrec/retrieval/sar.h"
#include "vrec/snapshot/serving_snapshot.h"

namespace vrec::serving {

// One event of a user's history as the online stages read it.
using HistoryItem = snapshot::HistoryItem;

struct ServingModelOptions {
  // Format 1 models only (no serving.vart): what the server then computes at load.
  int cold_start_list = 500;  // length of the popular and fresh lists kept for cold start
  int sar_threads = 1;        // threads for the item-item fit at load (the server keeps serving)
  // > 0: the video index's search effort instead of the one the pipeline measured and shipped
  // (manifest param index.search_effort): IVF lists probed (clamped to the lists there are), HNSW
  // efSearch. Trades recall for latency without a retrain; exact indexes ignore both.
  int ivf_nprobe = 0;
  int hnsw_ef_search = 0;
  // The index's 8-bit scan lists (AnnLoadOptions::scan_lists_in_background): true at a start, so
  // that the server is ready sooner; false for a swap, so that the new model is at full speed
  // when it starts serving (the old one serves while it loads).
  bool index_scan_lists_in_background = true;
};

class ServingModel {
 public:
  // Loads model directory `dir` (registry/model_layout.h) as version `version`.
  // Errors: NotFound for missing parts (a format 3 manifest that lists heads/ without the folder);
  // FailedPrecondition when the manifest is not a vrec model or its ranking feature schema differs
  // from this build's (the ranker's or a head's features); errors of the parts' loaders (DataLoss
  // for a head this build does not know).
  static StatusOr<std::shared_ptr<const ServingModel>> Load(const std::string& dir,
                                                            const std::string& version,
                                                            const ServingModelOptions& options = {});

  const std::string& version() const { return version_; }
  const registry::Manifest& manifest() const { return manifest_; }
  const data::Dataset& catalog() const { return snapshot_->catalog(); }
  const snapshot::ServingSnapshot& snapshot() const { return *snapshot_; }
  const retrieval::TwoTowerModel& two_tower() const { return bundle_.model; }
  const retrieval::AnnIndex& index() const { return *bundle_.index; }
  const retrieval::SarScorer& sar() const { return snapshot_->sar(); }
  const retrieval::EaseScorer& ease() const { return snapshot_->ease(); }
  const ranking::FeatureAggregates& aggregates() const { return snapshot_->aggregates(); }
  const ranking::Ranker& ranker() const { return *ranker_; }
  // The objective heads (format 3 directories that have them); empty otherwise.
  const ranking::ObjectiveHeads& heads() const { return heads_; }
  // Candidates the ranker was trained on per request (the ranker's group size).
  int ranker_candidates() const { return ranker_candidates_; }
  // EASE's best videos for the history merged after them, as in training (0: one source).
  int ease_candidates() const { return ease_candidates_; }
  // Latest interaction time of the catalog snapshot (the model's "as of").
  int64_t data_end_time() const { return snapshot_->data_end_time(); }
  // The model directory's format (registry::Manifest::format_version): 1 computed its serving
  // state at load, 2 mapped it, 3 may add objective heads.
  int format_version() const { return manifest_.format_version; }
  // Seconds Load took.
  double load_seconds() const { return load_seconds_; }

  // The user's most recent interactions in the snapshot, oldest first; empty for users outside it.
  std::span<const HistoryItem> BaseHistory(uint32_t user) const { return snapshot_->History(user); }
  // Training positives per video (two-tower popularity input for new uploads is 0).
  int64_t Positives(uint32_t video) const { return snapshot_->Positives(video); }
  // Cold start: the most popular videos among users of that country / language (either may be
  // empty), best first; the global list when the pair has too few users.
  std::span<const uint32_t> Popular(std::string_view country, std::string_view language) const {
    return snapshot_->Popular(country, language);
  }
  // The newest uploads with at least one positive, newest first: in `language` when the catalog
  // has enough of them, else in any language.
  std::span<const uint32_t> Fresh(std::string_view language) const { return snapshot_->Fresh(language); }

  // Reads every mapped byte of the serving snapshot and the two-tower weights and checks their
  // checksums (slow on big models: run before promotion, not on the request path). DataLoss
  // naming the corrupt section.
  Status Verify() const {
    VREC_RETURN_IF_ERROR(snapshot_->Verify());
    return bundle_.model.Verify();
  }

  // Bytes of each part, for the memory report (vrec_model_bytes{component}).
  std::map<std::string, uint64_t> ComponentBytes() const;

 private:
  ServingModel() = default;

  std::string version_;
  registry::Manifest manifest_;
  std::shared_ptr<const snapshot::ServingSnapshot> snapshot_;
  retrieval::RetrievalBundle bundle_;
  std::unique_ptr<ranking::Ranker> ranker_;
  ranking::ObjectiveHeads heads_;
  int ranker_candidates_ = 100;
  int ease_candidates_ = 0;
  double load_seconds_ = 0;
};

}  // namespace vrec::serving
