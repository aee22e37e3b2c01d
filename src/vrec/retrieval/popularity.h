// Most-popular baseline: a video's score is the number of distinct training users with positive
// feedback on it (data::PreferenceWeight > 0). The same list for everyone.
#pragma once

#include <vector>

#include "vrec/retrieval/item_scorer.h"

namespace vrec::retrieval {

class PopularityScorer final : public ItemScorer {
 public:
  std::string_view Name() const override { return "pop"; }
  Status Fit(const data::Dataset& ds, std::span<const data::Interaction> train) override;
  void ScoreAll(uint32_t user, std::span<double> scores) const override;

 private:
  std::vector<double> counts_;
};

}  // namespace vrec::retrieval
