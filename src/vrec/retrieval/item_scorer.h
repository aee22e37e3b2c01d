// ItemScorer: a model that scores every video in the catalog for a user. Baselines (popularity,
// SAR) and the retrieval models implement it; the evaluation harness and candidate sources use it.
#pragma once

#include <span>
#include <string_view>

#include "vrec/common/status.h"
#include "vrec/data/dataset.h"

namespace vrec::retrieval {

class ItemScorer {
 public:
  virtual ~ItemScorer() = default;

  virtual std::string_view Name() const = 0;

  // Learns from `train` (rows of `ds`, whose users/videos they index). Not thread-safe. Returns
  // InvalidArgument when the rows cannot be learned from (e.g. empty).
  virtual Status Fit(const data::Dataset& ds, std::span<const data::Interaction> train) = 0;

  // Writes one score per video index into `scores` (size ds.videos.size() of the Fit dataset),
  // higher is better; the caller removes videos it does not want. Users unseen in training get the
  // model's cold-start scores. Thread-safe after Fit.
  virtual void ScoreAll(uint32_t user, std::span<double> scores) const = 0;

  // ScoreAll for several users at once: `scores` holds users.size() rows of equal length (the
  // catalog size), row r for users[r], each equal to what ScoreAll writes. Scorers that share work
  // across users override it (the two-tower model reads each tile of video embeddings once per
  // batch instead of once per user). Thread-safe after Fit.
  virtual void ScoreUsers(std::span<const uint32_t> users, std::span<double> scores) const {
    if (users.empty()) return;
    const size_t n = scores.size() / users.size();
    for (size_t r = 0; r < users.size(); ++r) ScoreAll(users[r], scores.subspan(r * n, n));
  }
};

}  // namespace vrec::retrieval
