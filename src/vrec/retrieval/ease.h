// EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): a linear
// item-item model with a closed-form fit.
//
//   X = users x videos, 1 where the user has positive feedback (data::PreferenceWeight > 0)
//   B = argmin ||X - X B||^2 + lambda ||B||^2  subject to diag(B) = 0
//     = I - P diag(1 / diag(P)),  P = (X^T X + lambda I)^-1
//   score(u, j) = sum over u's positives i of B[i, j]
//
// Unlike SAR's co-occurrence similarity, B accounts for the other items of the history (it is a
// regression, not a pairwise count), which makes it the stronger item-item signal on ML-100K.
// The fit inverts a dense K x K matrix, so only the K most popular videos get weights: the others
// score 0 in ScoreAll and NaN ("not modelled") in ScoreVideos. K is chosen from the catalog and a
// memory budget (EaseOptions); memory 4 K^2 bytes (256 MiB at K = 8192); fit time grows with K^3
// (LAPACK Cholesky). Thread-safe after Fit.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "vrec/common/artifact.h"
#include "vrec/common/flat_array.h"
#include "vrec/retrieval/item_scorer.h"

namespace vrec::retrieval {

struct EaseOptions {
  double lambda = 500.0;  // L2 penalty; ML-100K's published setting for binary feedback
  // K: the most popular videos (by positives) that get weights. 0 = chosen from the catalog and
  // the memory budget: every video with a positive, up to what max_weight_bytes holds.
  int max_videos = 0;
  // Serving memory of the weights (4 K^2 bytes) when max_videos is 0. 256 MiB: K up to 8192,
  // whose fit (O(K^3), LAPACK) takes seconds on two cores.
  uint64_t max_weight_bytes = uint64_t{256} << 20;
  // The user's most recent distinct positives that ScoreAll reads (0 = all); serving reads the same
  // number of what it has (the snapshot keeps 1000 events per user, the online store 500). Default
  // all: EASE is a regression over the whole history, and cutting it at 200 cost heavy users most
  // (ML-1M-prefix, 752 of 2999 users above 200 ratings: EASE nDCG@10 0.4380 -> 0.4735, two-stage
  // 0.4638 -> 0.4732; ML-100K EASE 0.4766 -> 0.4829, two-stage 0.4962 -> 0.4973).
  int max_history = 0;
};

class EaseScorer final : public ItemScorer {
 public:
  explicit EaseScorer(EaseOptions options = {}) : options_(options) {}

  std::string_view Name() const override { return "ease"; }
  // InvalidArgument when `train` has no positives or the options are out of range.
  Status Fit(const data::Dataset& ds, std::span<const data::Interaction> train) override;
  void ScoreAll(uint32_t user, std::span<double> scores) const override;

  // Serving: out[k] = sum over the distinct videos of `history` of B[h, videos[k]]; NaN when
  // videos[k] has no weights. History videos without weights add nothing. `out` has videos.size()
  // values (checked).
  void ScoreVideos(std::span<const uint32_t> history, std::span<const uint32_t> videos,
                   std::span<double> out) const;
  // The `k` modelled videos with the highest ScoreVideos scores for `history`, best first (ties:
  // the lower video index), leaving out the videos of `exclude` (ascending) and, when `scores` is
  // not null, their scores beside them. What a candidate source needs: one pass over the history's
  // rows of B, O(|history| K).
  void Top(std::span<const uint32_t> history, size_t k, std::span<const uint32_t> exclude,
           std::vector<uint32_t>& videos, std::vector<double>* scores = nullptr) const;
  // B[from, to]; 0 when either video has no weights.
  double Weight(uint32_t from, uint32_t to) const;
  // The history ScoreAll reads for a user of the Fit data (most recent distinct positives, newest
  // first); empty for other users and for a loaded scorer. ScoreAll(user)[v] is the sum, in this
  // order, of Weight(h, v) over its modelled videos h.
  std::span<const uint32_t> History(uint32_t user) const {
    return user < histories_.size() ? std::span<const uint32_t>(histories_[user])
                                    : std::span<const uint32_t>();
  }
  bool Modelled(uint32_t video) const { return video < slot_.size() && slot_[video] >= 0; }
  size_t modelled_videos() const { return modelled_; }
  // Share of the training positives that fall on modelled videos (what K leaves out).
  double positive_coverage() const { return coverage_; }
  const EaseOptions& options() const { return options_; }

  // K for `videos_with_positives` candidates under `options` (see EaseOptions::max_videos).
  static size_t ModelledVideos(size_t videos_with_positives, const EaseOptions& options);

  // Writes what serving needs (slots, weights, options, coverage) as sections <prefix>.*.
  Status Save(ArtifactWriter& out, std::string_view prefix) const;
  // Maps a scorer written by Save for a catalog of `num_videos` videos. It scores explicit
  // histories (ScoreVideos, Weight); ScoreAll has no users (zeros). DataLoss when inconsistent.
  static StatusOr<std::shared_ptr<const EaseScorer>> Load(const std::shared_ptr<const MappedArtifact>& in,
                                                          std::string_view prefix, size_t num_videos);
  uint64_t bytes() const { return weights_.size() * 4 + slot_.size() * 4; }

 private:
  static constexpr uint32_t kNoVideo = ~uint32_t{0};
  void InvertSlots();  // fills video_of_slot_ from slot_
  // The rows of B of the modelled videos of `history`, ascending, each once: the summation order
  // of ScoreVideos and Top.
  std::vector<int32_t> RowsOf(std::span<const uint32_t> history) const;

  EaseOptions options_;
  size_t modelled_ = 0;
  double coverage_ = 0;
  FlatArray<int32_t> slot_;                       // video -> row of B, -1 when not modelled
  std::vector<uint32_t> video_of_slot_;           // row of B -> video
  FlatArray<float> weights_;                      // B, modelled_ x modelled_, row = history video
  std::vector<std::vector<uint32_t>> histories_;  // per user: most recent distinct positives
};

}  // namespace vrec::retrieval
