#include "vrec/eval/metrics.h"

#include <algorithm>
#include <cmath>

namespace vrec::eval {
namespace {

bool IsRelevant(std::span<const uint32_t> relevant, uint32_t item) {
  return std::binary_search(relevant.begin(), relevant.end(), item);
}

size_t Depth(std::span<const uint32_t> ranked, int k) {
  return std::min(ranked.size(), static_cast<size_t>(k));
}

int Hits(std::span<const uint32_t> ranked, std::span<const uint32_t> relevant, int k) {
  int hits = 0;
  for (size_t r = 0; r < Depth(ranked, k); ++r) hits += IsRelevant(relevant, ranked[r]);
  return hits;
}

}  // namespace

double PrecisionAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> relevant, int k) {
  return static_cast<double>(Hits(ranked, relevant, k)) / k;
}

double RecallAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> relevant, int k) {
  if (relevant.empty()) return 0.0;
  return static_cast<double>(Hits(ranked, relevant, k)) / static_cast<double>(relevant.size());
}

double AveragePrecisionAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> relevant, int k) {
  if (relevant.empty()) return 0.0;
  double sum = 0.0;
  int hits = 0;
  for (size_t r = 0; r < Depth(ranked, k); ++r) {
    if (IsRelevant(relevant, ranked[r])) sum += static_cast<double>(++hits) / static_cast<double>(r + 1);
  }
  return sum / static_cast<double>(relevant.size());
}

double NdcgAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> relevant, int k) {
  if (relevant.empty()) return 0.0;
  double dcg = 0.0;
  for (size_t r = 0; r < Depth(ranked, k); ++r) {
    if (IsRelevant(relevant, ranked[r])) dcg += 1.0 / std::log1p(static_cast<double>(r + 1));
  }
  double idcg = 0.0;
  const size_t ideal = std::min(relevant.size(), static_cast<size_t>(k));
  for (size_t r = 0; r < ideal; ++r) idcg += 1.0 / std::log1p(static_cast<double>(r + 1));
  return dcg / idcg;
}

double Auc(std::span<const double> positive_scores, std::span<const double> negative_scores) {
  if (positive_scores.empty() || negative_scores.empty()) return 0.5;
  std::vector<double> neg(negative_scores.begin(), negative_scores.end());
  std::sort(neg.begin(), neg.end());
  double wins = 0.0;
  for (double p : positive_scores) {
    auto lo = std::lower_bound(neg.begin(), neg.end(), p);
    auto hi = std::upper_bound(lo, neg.end(), p);
    wins += static_cast<double>(lo - neg.begin()) + 0.5 * static_cast<double>(hi - lo);
  }
  return wins / (static_cast<double>(positive_scores.size()) * static_cast<double>(neg.size()));
}

double IntraListDiversity(std::span<const std::vector<uint16_t>> categories) {
  const size_t n = categories.size();
  if (n < 2) return 0.0;
  double sum = 0.0;
  std::vector<uint16_t> common;
  for (size_t a = 0; a < n; ++a) {
    for (size_t b = a + 1; b < n; ++b) {
      common.clear();
      std::set_intersection(categories[a].begin(), categories[a].end(), categories[b].begin(),
                            categories[b].end(), std::back_inserter(common));
      const size_t uni = categories[a].size() + categories[b].size() - common.size();
      const double jaccard = uni == 0 ? 1.0 : static_cast<double>(common.size()) / static_cast<double>(uni);
      sum += 1.0 - jaccard;
    }
  }
  return sum / (static_cast<double>(n) * static_cast<double>(n - 1) / 2.0);
}

}  // namespace vrec::eval
