// Stage 1 of the online pipeline: candidate generation. The user tower runs at request time on the
// user's features and latest history (so a watch changes the very next result), and the ANN index
// returns the nearest videos. Also builds and updates the video index from the video tower.
//
// Thread safety: Retrieve is const and safe to call concurrently, provided nobody mutates the
// index at the same time (see AnnIndex).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vrec/common/ids.h"
#include "vrec/common/status.h"
#include "vrec/retrieval/ann_index.h"
#include "vrec/retrieval/two_tower_model.h"

namespace vrec::retrieval {

// Where a candidate came from, kept for explanations and per-source metrics.
enum class CandidateSource : uint8_t { kTwoTower, kSar, kPopular };

struct Candidate {
  VideoId video;
  float score = 0;  // the source's own score (inner product for the two-tower)
  CandidateSource source = CandidateSource::kTwoTower;
};

class Retriever {
 public:
  // Neither is owned; both must outlive the retriever. The index holds video embeddings of
  // `model`'s video tower, keyed by VideoId.
  // `fresh`, when given, holds videos embedded after the index was built (uploads and updated
  // videos, by the same video tower); it is searched beside the index and wins on a shared id.
  Retriever(const TwoTowerModel& model, const AnnIndex& index, const AnnIndex* fresh = nullptr)
      : model_(model), index_(index), fresh_(fresh) {}

  // The `n` nearest videos to the user's embedding, best first (fewer when the indexes hold
  // fewer). InvalidArgument when n <= 0 or the model and index dimensions differ.
  StatusOr<std::vector<Candidate>> Retrieve(const UserInput& user, int n) const;
  // The `n` videos nearest to `query` (a vector of the model's dimension: a user's embedding, or a
  // video's for "similar videos"), best first, over the index and the fresh index.
  StatusOr<std::vector<Candidate>> Nearest(std::span<const float> query, int n) const;

 private:
  const TwoTowerModel& model_;
  const AnnIndex& index_;
  const AnnIndex* fresh_;
};

// Embeds `videos` with the video tower and upserts them into `index` (a new upload or an update
// is searchable as soon as this returns). Each VideoInput needs an id. InvalidArgument when one
// has none; errors of AnnIndex::Add otherwise.
Status AddVideos(const TwoTowerModel& model, std::span<const VideoInput> videos, AnnIndex& index);

// Builds an index of `options` over `videos` (training IVF on all of them, or on a sample of
// `max_train` when larger). `options.dimension` is taken from the model.
StatusOr<std::unique_ptr<AnnIndex>> BuildVideoIndex(const TwoTowerModel& model,
                                                    std::span<const VideoInput> videos,
                                                    AnnIndexOptions options, int64_t max_train = 200'000);

// The index over every video of `catalog` (`positives[v]` training positives per video, the
// popularity input of the video tower): `kind` (AnnIndexKindName: exact, ivf, ivf_sq8, hnsw) or
// "auto": exact search below 100k videos, IVF from there on. InvalidArgument on another kind;
// errors of BuildVideoIndex.
StatusOr<std::unique_ptr<AnnIndex>> BuildCatalogIndex(const TwoTowerModel& model,
                                                      const data::Dataset& catalog,
                                                      std::span<const int64_t> positives,
                                                      std::string_view kind = "auto");

// The user-tower embeddings of up to `n` random users of `catalog` that have positive events
// (data::PreferenceWeight > 0; their distinct videos at the strongest weight, as the trainer and
// the server pool a history): the queries the video index answers in production, for measuring it
// (ann_tuning.h). Row-major, dimension() floats per user; fewer rows when fewer users qualify.
std::vector<float> EmbedSampleUsers(const TwoTowerModel& model, const data::Dataset& catalog, int n,
                                    uint64_t seed);

// A deployable retrieval model: the two-tower model and its video index in one directory
// (two_tower.vart, videos.index, manifest.json listing both).
struct RetrievalBundle {
  TwoTowerModel model;
  std::unique_ptr<AnnIndex> index;

  // Writes both into `dir` and records the index in the manifest. Internal on I/O errors.
  Status Save(const std::string& dir, const std::string& training_data_hash,
              const std::map<std::string, double>& metrics) const;
  // Errors of TwoTowerModel::Load and LoadAnnIndex; FailedPrecondition when the index dimension
  // does not match the model's.
  static StatusOr<RetrievalBundle> Load(const std::string& dir, const AnnLoadOptions& index_options = {});
};

}  // namespace vrec::retrieval
