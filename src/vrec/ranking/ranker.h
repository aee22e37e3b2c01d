// Ranker: stage 3 of the pipeline. Scores (user, candidate) feature rows; trained as learning to
// rank over query groups (one group = one user request's candidates). XGBoost is the first
// backend (xgboost_ranker.cc, the only file that includes XGBoost); another (e.g. CatBoost) could
// implement the same interface.
//
// Feature rows are dense float32, row-major, `num_features` wide; NaN means missing.
// Thread safety: const methods are safe to call concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vrec/common/status.h"

namespace vrec::ranking {

// A learning-to-rank data set: rows grouped by query, consecutive rows of a group together.
struct RankingData {
  std::vector<std::string> feature_names;  // num_features names, in column order
  std::vector<float> features;             // rows x num_features, row-major, NaN = missing
  std::vector<float> labels;               // rows; graded relevance, 0 = not relevant
  std::vector<uint32_t> group_sizes;       // rows per query, in order; sums to rows

  size_t num_features() const { return feature_names.size(); }
  size_t rows() const { return labels.size(); }
  // InvalidArgument when the sizes do not add up or a label is negative/NaN.
  Status Validate() const;
};

// The same trainer fits the objective heads (objectives.h): pointwise models over the ranker's
// rows, "reg:squarederror" (e.g. watch seconds) or "binary:logistic" (labels 0/1, scores are
// probabilities); their early stopping watches the validation RMSE or log loss instead of NDCG.
struct RankerOptions {
  std::string objective = "rank:ndcg";  // or "rank:pairwise", "rank:map"; heads: see above
  int num_rounds = 300;                 // boosting rounds (upper bound with early stopping)
  int early_stopping_rounds = 30;       // stop when the validation metric has not improved
  int eval_at = 10;                     // the NDCG cut-off used for early stopping
  int max_depth = 6;
  float learning_rate = 0.1f;  // eta
  float min_child_weight = 1.0f;
  float subsample = 0.8f;
  float colsample_bytree = 0.8f;
  float lambda = 1.0f;  // L2 on leaf weights
  int threads = 2;      // training threads; scoring always uses the calling thread
  uint64_t seed = 42;
};

// Figures from training, measured on the validation data.
struct RankerTrainReport {
  int best_iteration = 0;   // rounds kept
  double valid_ndcg = 0;    // mean NDCG@eval_at over validation groups (ranking objectives only)
  double valid_auc = 0;     // mean per-group AUC (groups with both labels present; label > 0 relevant)
  std::string metric;       // what early stopping watched: "ndcg@10", "rmse" or "logloss"
  double valid_metric = 0;  // its value at the best round (NaN without early stopping)
  double train_seconds = 0;
};

class Ranker {
 public:
  virtual ~Ranker() = default;

  virtual const std::vector<std::string>& feature_names() const = 0;
  // The training objective (RankerOptions::objective): "rank:pairwise", "binary:logistic", ...
  virtual const std::string& objective() const = 0;

  // Scores `rows` rows of `features` (rows x num_features) into `out` (rows). Higher is better.
  // InvalidArgument on size mismatch. Thread-safe; uses only the calling thread.
  virtual Status Score(std::span<const float> features, size_t rows, std::span<float> out) const = 0;

  // Per-row feature contributions (SHAP values as XGBoost computes them): `out` gets
  // rows x (num_features + 1) values, the last column the bias; each row sums to its Score.
  virtual Status Contributions(std::span<const float> features, size_t rows,
                               std::vector<float>& out) const = 0;

  // Writes the model into folder `dir` (created if needed) as ranker.ubj plus ranker.json
  // (feature names, options). Internal on I/O errors.
  virtual Status Save(const std::string& dir) const = 0;
};

// Trains an XGBoost ranker on `train`, early-stopping on `valid` (same feature names required).
// InvalidArgument for bad data or options; Internal on XGBoost errors (with XGBGetLastError()).
StatusOr<std::unique_ptr<Ranker>> TrainXGBoostRanker(const RankingData& train, const RankingData& valid,
                                                     const RankerOptions& options, RankerTrainReport* report);

// Mean NDCG@k over groups, gain 2^label - 1, log2 discount. A group without a relevant row
// counts as 1, as XGBoost's ndcg@k metric does. `scores` and `labels` have sum(group_sizes) values.
double MeanNdcgAtK(std::span<const float> scores, std::span<const float> labels,
                   std::span<const uint32_t> group_sizes, int k);

// Mean per-group ROC AUC of relevant (label > 0) vs not relevant rows, ties counting one half,
// over the groups holding both; 0 when no group does.
double MeanGroupAuc(std::span<const float> scores, std::span<const float> labels,
                    std::span<const uint32_t> group_sizes);

// Loads a ranker written by Ranker::Save. NotFound when missing; DataLoss when corrupt.
StatusOr<std::unique_ptr<Ranker>> LoadRanker(const std::string& dir);

}  // namespace vrec::ranking
