// Ranking metrics with the definitions of Microsoft Recommenders (python_evaluation.py), so that
// figures are comparable with its published MovieLens benchmark. Every test row is relevant.
// `ranked` is a top-k list, best first; `relevant` is sorted ascending.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace vrec::eval {

// hits in the first k / k.
double PrecisionAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> relevant, int k);
// hits in the first k / |relevant|.
double RecallAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> relevant, int k);
// sum over hits in the first k of (hit number / rank), divided by |relevant| (Recommenders' MAP).
double AveragePrecisionAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> relevant, int k);
// DCG / IDCG with binary gains and discount 1/ln(1 + rank); IDCG over min(k, |relevant|) hits.
double NdcgAtK(std::span<const uint32_t> ranked, std::span<const uint32_t> relevant, int k);
// Probability that a random positive outscores a random negative, ties counting one half.
// 0.5 when either side is empty.
double Auc(std::span<const double> positive_scores, std::span<const double> negative_scores);
// Mean over pairs of 1 - Jaccard(categories a, categories b): 0 when every item shares its
// categories, 1 when no two items share one. 0 for lists of fewer than two items.
// `categories[i]` is item ranked[i]'s category set, sorted.
double IntraListDiversity(std::span<const std::vector<uint16_t>> categories);

}  // namespace vrec::eval
