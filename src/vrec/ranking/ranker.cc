// Backend-independent parts of the ranking stage: data validation and ranking metrics.
#include "vrec/ranking/ranker.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "vrec/common/strings.h"
#include "vrec/ranking/xgboost_ranker.h"

namespace vrec::ranking {

Status RankingData::Validate() const {
  const size_t f = num_features();
  if (f == 0) return InvalidArgumentError("ranking data: no feature names");
  const size_t n = rows();
  if (features.size() != n * f) {
    return InvalidArgumentError(
        StrCat("ranking data: ", features.size(), " feature values for ", n, " rows x ", f, " features"));
  }
  uint64_t total = 0;
  for (size_t g = 0; g < group_sizes.size(); ++g) {
    if (group_sizes[g] == 0) return InvalidArgumentError(StrCat("ranking data: group ", g, " is empty"));
    total += group_sizes[g];
  }
  if (total != n) {
    return InvalidArgumentError(
        StrCat("ranking data: group sizes sum to ", total, " but there are ", n, " rows"));
  }
  for (size_t i = 0; i < n; ++i) {
    if (!(labels[i] >= 0) || std::isinf(labels[i])) {
      return InvalidArgumentError(
          StrCat("ranking data: row ", i, " has label ", labels[i], " (labels must be finite and >= 0)"));
    }
  }
  std::vector<std::string> sorted = feature_names;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i].empty()) return InvalidArgumentError("ranking data: empty feature name");
    if (i > 0 && sorted[i] == sorted[i - 1]) {
      return InvalidArgumentError(StrCat("ranking data: duplicate feature name '", sorted[i], "'"));
    }
  }
  return OkStatus();
}

double MeanNdcgAtK(std::span<const float> scores, std::span<const float> labels,
                   std::span<const uint32_t> group_sizes, int k) {
  double sum = 0;
  size_t begin = 0;
  std::vector<size_t> order;
  std::vector<float> ideal;
  // NaN scores rank lowest, so the sort has a strict weak order.
  auto key = [&](size_t i) {
    return std::isnan(scores[i]) ? -std::numeric_limits<float>::infinity() : scores[i];
  };
  for (const uint32_t size : group_sizes) {
    const size_t cut = std::min<size_t>(size, static_cast<size_t>(std::max(k, 0)));
    order.resize(size);
    std::iota(order.begin(), order.end(), begin);
    // Stable: ties keep input order, so the figure is reproducible.
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key(a) > key(b); });
    ideal.assign(labels.begin() + static_cast<std::ptrdiff_t>(begin),
                 labels.begin() + static_cast<std::ptrdiff_t>(begin + size));
    std::sort(ideal.begin(), ideal.end(), std::greater<>());
    double dcg = 0, idcg = 0;
    for (size_t i = 0; i < cut; ++i) {
      const double discount = 1.0 / std::log2(static_cast<double>(i) + 2.0);
      dcg += (std::exp2(static_cast<double>(labels[order[i]])) - 1.0) * discount;
      idcg += (std::exp2(static_cast<double>(ideal[i])) - 1.0) * discount;
    }
    sum += idcg > 0 ? dcg / idcg : 1.0;
    begin += size;
  }
  return group_sizes.empty() ? 0.0 : sum / static_cast<double>(group_sizes.size());
}

double MeanGroupAuc(std::span<const float> scores, std::span<const float> labels,
                    std::span<const uint32_t> group_sizes) {
  double sum = 0;
  size_t counted = 0, begin = 0;
  std::vector<size_t> order;
  // NaN scores rank lowest (and tie with each other), so the sort has a strict weak order.
  auto key = [&](size_t i) {
    return std::isnan(scores[i]) ? -std::numeric_limits<float>::infinity() : scores[i];
  };
  for (const uint32_t size : group_sizes) {
    order.resize(size);
    std::iota(order.begin(), order.end(), begin);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key(a) < key(b); });
    // Mann-Whitney: sum of the (tie-averaged, 1-based) ranks of the positives.
    double rank_sum = 0;
    size_t pos = 0;
    for (size_t i = 0; i < size;) {
      size_t j = i;
      while (j < size && key(order[j]) == key(order[i])) ++j;
      const double avg_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
      for (size_t m = i; m < j; ++m) {
        if (labels[order[m]] > 0) {
          rank_sum += avg_rank;
          ++pos;
        }
      }
      i = j;
    }
    const size_t neg = size - pos;
    if (pos > 0 && neg > 0) {
      const double p = static_cast<double>(pos);
      sum += (rank_sum - p * (p + 1) / 2.0) / (p * static_cast<double>(neg));
      ++counted;
    }
    begin += size;
  }
  return counted == 0 ? 0.0 : sum / static_cast<double>(counted);
}

namespace ranking_internal {

Status ValidateOptions(const RankerOptions& o) {
  std::vector<std::string> bad;
  if (o.objective != "rank:ndcg" && o.objective != "rank:pairwise" && o.objective != "rank:map" &&
      o.objective != "reg:squarederror" && o.objective != "binary:logistic") {
    bad.push_back(
        StrCat("objective '", o.objective,
               "' (rank:ndcg, rank:pairwise, rank:map; reg:squarederror or binary:logistic for heads)"));
  }
  if (o.num_rounds < 1) bad.push_back(StrCat("num_rounds ", o.num_rounds, " (>= 1)"));
  if (o.early_stopping_rounds < 0) {
    bad.push_back(StrCat("early_stopping_rounds ", o.early_stopping_rounds, " (>= 0; 0 = off)"));
  }
  if (o.eval_at < 1) bad.push_back(StrCat("eval_at ", o.eval_at, " (>= 1)"));
  if (o.max_depth < 1 || o.max_depth > 16) bad.push_back(StrCat("max_depth ", o.max_depth, " (1..16)"));
  if (!(o.learning_rate > 0 && o.learning_rate <= 1)) {
    bad.push_back(StrCat("learning_rate ", o.learning_rate, " (0, 1]"));
  }
  if (!(o.min_child_weight >= 0)) bad.push_back(StrCat("min_child_weight ", o.min_child_weight, " (>= 0)"));
  if (!(o.subsample > 0 && o.subsample <= 1)) bad.push_back(StrCat("subsample ", o.subsample, " (0, 1]"));
  if (!(o.colsample_bytree > 0 && o.colsample_bytree <= 1)) {
    bad.push_back(StrCat("colsample_bytree ", o.colsample_bytree, " (0, 1]"));
  }
  if (!(o.lambda >= 0)) bad.push_back(StrCat("lambda ", o.lambda, " (>= 0)"));
  if (o.threads < 1) bad.push_back(StrCat("threads ", o.threads, " (>= 1)"));
  if (o.seed > static_cast<uint64_t>(INT64_MAX)) bad.push_back(StrCat("seed ", o.seed, " (< 2^63)"));
  if (bad.empty()) return OkStatus();
  return InvalidArgumentError(StrCat("ranker options: bad ", StrJoin(bad, "; ")));
}

}  // namespace ranking_internal
}  // namespace vrec::ranking
