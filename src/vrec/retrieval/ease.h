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
// score 0 in ScoreAll and NaN ("not modelled") in ScoreVideos. Memory: 4 K^2 bytes (64 MiB at
// K = 4096); fit time grows with K^3 (LAPACK Cholesky). Thread-safe after Fit.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "vrec/retrieval/item_scorer.h"

namespace vrec::retrieval {

struct EaseOptions {
  double lambda = 500.0;  // L2 penalty; ML-100K's published setting for binary feedback
  int max_videos = 4096;  // K: the most popular videos (by positives) that get weights
  // The user's most recent distinct positives that ScoreAll reads (0 = all); serving reads the same
  // number, so that training features and serving features agree for heavy users.
  int max_history = 200;
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
  // B[from, to]; 0 when either video has no weights.
  double Weight(uint32_t from, uint32_t to) const;
  bool Modelled(uint32_t video) const { return video < slot_.size() && slot_[video] >= 0; }
  size_t modelled_videos() const { return modelled_; }
  const EaseOptions& options() const { return options_; }

 private:
  EaseOptions options_;
  size_t modelled_ = 0;
  std::vector<int32_t> slot_;                     // video -> row of B, -1 when not modelled
  std::vector<float> weights_;                    // B, modelled_ x modelled_, row = history video
  std::vector<std::vector<uint32_t>> histories_;  // per user: most recent distinct positives
};

}  // namespace vrec::retrieval
