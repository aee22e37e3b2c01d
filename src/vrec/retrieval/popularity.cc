#include "vrec/retrieval/popularity.h"

#include <algorithm>
#include <unordered_set>

namespace vrec::retrieval {

Status PopularityScorer::Fit(const data::Dataset& ds, std::span<const data::Interaction> train) {
  if (train.empty()) return InvalidArgumentError("popularity: no training rows");
  counts_.assign(ds.videos.size(), 0.0);
  std::unordered_set<uint64_t> seen;
  seen.reserve(train.size());
  for (const data::Interaction& x : train) {
    if (data::PreferenceWeight(x) <= 0) continue;
    if (seen.insert((static_cast<uint64_t>(x.user) << 32) | x.video).second) counts_[x.video] += 1.0;
  }
  return OkStatus();
}

void PopularityScorer::ScoreAll(uint32_t /*user*/, std::span<double> scores) const {
  std::copy(counts_.begin(), counts_.end(), scores.begin());
}

}  // namespace vrec::retrieval
