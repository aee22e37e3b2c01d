// SAR (Simple Algorithm for Recommendation, as in Microsoft Recommenders): item-item similarity
// from co-occurrence, scored against a time-decayed user affinity.
//
//   affinity(u, i) = sum over u's rows on i of weight * 0.5^((t_now - t) / half_life)
//                    (weight = data::PreferenceWeight, t_now = latest training timestamp)
//   cooccurrence(i, j) = number of users with positive feedback on both i and j
//   similarity(i, j) = Jaccard: c_ij / (c_ii + c_jj - c_ij)   (or raw counts, or lift)
//   score(u, j) = sum_i affinity(u, i) * similarity(i, j)
//
// Similarities are kept as sparse rows, so memory grows with the number of co-occurring pairs, not
// with the square of the catalog. Thread-safe after Fit.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "vrec/common/artifact.h"
#include "vrec/common/flat_array.h"
#include "vrec/retrieval/item_scorer.h"

namespace vrec::retrieval {

struct SarOptions {
  enum class Similarity { kJaccard, kLift, kCooccurrence };
  Similarity similarity = Similarity::kJaccard;
  double half_life_days = 30.0;  // time decay of affinity; <= 0 disables decay
  // Only pairs seen together by at least this many users count (Recommenders' threshold).
  int cooccurrence_threshold = 1;
  // Each user's most recent items taken into the co-occurrence counts; 0 = all. Co-occurrence costs
  // the sum over users of their item count squared, so very heavy users are capped on big logs.
  int max_items_per_user = 0;
  // Each video keeps its most similar neighbours only (ties by index); 0 = all; -1 = chosen at Fit
  // from the catalog size so that the rows fit max_similarity_bytes (NeighboursForBudget): all of
  // them on catalogs up to ~6,500 videos, 50+ at a million. Serving maps these rows.
  int max_neighbours = -1;
  uint64_t max_similarity_bytes = uint64_t{512} << 20;
  int threads = 2;
};

// max_neighbours for a catalog of `num_videos` whose similarity rows may take `budget_bytes`: 0
// (all) when even full rows could fit, else budget / (12 bytes x videos), at least 50.
int NeighboursForBudget(size_t num_videos, uint64_t budget_bytes);

class SarScorer final : public ItemScorer {
 public:
  explicit SarScorer(SarOptions options = {}) : options_(options) {}

  std::string_view Name() const override { return "sar"; }
  Status Fit(const data::Dataset& ds, std::span<const data::Interaction> train) override;
  void ScoreAll(uint32_t user, std::span<double> scores) const override;

  // Similarity of two videos (0 when they never co-occur). For tests and explanations.
  double Similarity(uint32_t a, uint32_t b) const;
  // The `k` videos most similar to `video` (its similarity row: the videos it co-occurs with),
  // best first (ties by index), without `video` itself. Empty for a video without a row.
  std::vector<std::pair<uint32_t, double>> TopSimilar(uint32_t video, size_t k) const;
  // Decayed affinity of a user for a video (0 when none).
  double Affinity(uint32_t user, uint32_t video) const;
  // Serving: scores `videos` (distinct) against an explicit affinity (e.g. a user's recent
  // history): out[k] = sum over (i, a) in affinity of a * similarity(i, videos[k]). `out` has
  // videos.size() values (checked). Cost per history row: min(row length, ~16 x |videos|) reads.
  void ScoreVideos(std::span<const std::pair<uint32_t, double>> affinity, std::span<const uint32_t> videos,
                   std::span<double> out) const;
  // The half-life this model decays affinity with (<= 0: no decay).
  double half_life_days() const { return options_.half_life_days; }
  const SarOptions& options() const { return options_; }
  // Neighbours kept per video by the last Fit or Load (0 = all).
  int neighbours() const { return neighbours_; }

  // Writes what serving needs (the similarity rows and the options) as sections <prefix>.*.
  Status Save(ArtifactWriter& out, std::string_view prefix) const;
  // Maps a scorer written by Save for a catalog of `num_videos` videos. It scores explicit
  // affinities (ScoreVideos, Similarity); it has no per-user affinity (ScoreAll and Affinity give
  // zeros). DataLoss naming the section when one is missing or inconsistent.
  static StatusOr<std::shared_ptr<const SarScorer>> Load(const std::shared_ptr<const MappedArtifact>& in,
                                                         std::string_view prefix, size_t num_videos);
  // Bytes held by the similarity rows (mapped or owned) and the affinity.
  uint64_t bytes() const;

 private:
  // Compressed sparse rows: row r holds (col[k], val[k]) for k in [ptr[r], ptr[r+1]), by column.
  struct Csr {
    FlatArray<uint64_t> ptr;
    FlatArray<uint32_t> col;
    FlatArray<double> val;
    double Get(uint32_t row, uint32_t c) const;
  };

  SarOptions options_;
  int neighbours_ = 0;
  size_t num_videos_ = 0;
  Csr affinity_;    // users x videos
  Csr similarity_;  // videos x videos
};

}  // namespace vrec::retrieval
