#include "vrec/retrieval/rank_fusion.h"

#include <algorithm>
#include <numeric>

namespace vrec::retrieval {

RankFusionScorer::RankFusionScorer(std::string name, std::vector<Part> parts, double k)
    : name_(std::move(name)), parts_(std::move(parts)), k_(k) {}

Status RankFusionScorer::Fit(const data::Dataset& ds, std::span<const data::Interaction> train) {
  if (parts_.empty()) return InvalidArgumentError("rank fusion: no parts");
  for (Part& p : parts_) VREC_RETURN_IF_ERROR(p.scorer->Fit(ds, train));
  return OkStatus();
}

void RankFusionScorer::ScoreAll(uint32_t user, std::span<double> scores) const {
  std::fill(scores.begin(), scores.end(), 0.0);
  std::vector<double> part(scores.size());
  std::vector<uint32_t> order(scores.size());
  for (const Part& p : parts_) {
    p.scorer->ScoreAll(user, part);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](uint32_t a, uint32_t b) { return part[a] != part[b] ? part[a] > part[b] : a < b; });
    for (size_t r = 0; r < order.size(); ++r)
      scores[order[r]] += p.weight / (k_ + static_cast<double>(r + 1));
  }
}

}  // namespace vrec::retrieval
