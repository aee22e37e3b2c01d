// Blends several candidate sources by weighted reciprocal rank fusion: a video's score is
// sum over sources of weight / (k + its rank in that source), ranks from 1. Rank-based, so
// sources with incomparable score scales (inner products, SAR sums, counts) mix without tuning.
// Thread-safe after Fit when every part is.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vrec/retrieval/item_scorer.h"

namespace vrec::retrieval {

class RankFusionScorer final : public ItemScorer {
 public:
  struct Part {
    std::unique_ptr<ItemScorer> scorer;
    double weight = 1.0;
  };
  // `k` damps the head: 60 is the usual choice (Cormack et al. 2009).
  RankFusionScorer(std::string name, std::vector<Part> parts, double k = 60.0);

  std::string_view Name() const override { return name_; }
  // Fits every part in turn; the first error is returned.
  Status Fit(const data::Dataset& ds, std::span<const data::Interaction> train) override;
  void ScoreAll(uint32_t user, std::span<double> scores) const override;

 private:
  std::string name_;
  std::vector<Part> parts_;
  double k_;
};

}  // namespace vrec::retrieval
