// The XGBoost backend of Ranker, exposed for tests and benchmarks (callers use ranker.h).
// This header does not include XGBoost: the booster is held as an opaque handle, and only
// xgboost_ranker.cc includes <xgboost/c_api.h>.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/ranking/ranker.h"
#include "vrec/ranking/tree_evaluator.h"

namespace vrec::ranking {

// A trained XGBoost ranking model.
//
// Score() runs the compiled evaluator (TreeEnsemble) built from the booster's JSON model: it is
// const, lock-free and thread-safe, and ~3x faster than XGBoost's predictor on one thread for
// 200 rows (bench/ranker_bench.cc). XGBoost's own predictor stays available as the reference
// (ScoreWithXGBoost) and computes Contributions(); every call on the booster handle is
// serialized by a mutex, because XGBoost's predict calls are not safe for concurrent use of one
// handle in all versions.
//
// Options used by the backend beyond ranker.h: early_stopping_rounds = 0 disables early stopping
// (all num_rounds rounds are kept). The booster keeps only the best rounds (it is sliced after
// early stopping), so the saved model and every scorer use exactly those.
class XGBoostRanker final : public Ranker {
 public:
  // Takes ownership of `booster` (an XGBoost BoosterHandle). Compiles the evaluator; DataLoss or
  // Internal when the booster's model cannot be read back.
  static StatusOr<std::unique_ptr<XGBoostRanker>> Create(void* booster,
                                                         std::vector<std::string> feature_names,
                                                         const RankerOptions& options, int best_iteration);
  ~XGBoostRanker() override;
  XGBoostRanker(const XGBoostRanker&) = delete;
  XGBoostRanker& operator=(const XGBoostRanker&) = delete;

  const std::vector<std::string>& feature_names() const override { return feature_names_; }
  const std::string& objective() const override { return options_.objective; }
  Status Score(std::span<const float> features, size_t rows, std::span<float> out) const override;
  Status Contributions(std::span<const float> features, size_t rows, std::vector<float>& out) const override;
  Status Save(const std::string& dir) const override;

  // Same contract as Score, through XGBoosterPredictFromDense (one thread, serialized).
  Status ScoreWithXGBoost(std::span<const float> features, size_t rows, std::span<float> out) const;

  const TreeEnsemble& compiled() const { return ensemble_; }
  const RankerOptions& options() const { return options_; }
  int best_iteration() const { return best_iteration_; }  // boosting rounds kept

 private:
  XGBoostRanker(void* booster, std::vector<std::string> feature_names, const RankerOptions& options,
                int best_iteration);
  Status CheckShapes(std::span<const float> features, size_t rows, size_t out_size) const;

  void* booster_;  // BoosterHandle, owned; used under mu_ only
  mutable std::mutex mu_;
  std::vector<std::string> feature_names_;
  RankerOptions options_;
  int best_iteration_;
  TreeEnsemble ensemble_;
};

namespace ranking_internal {

// InvalidArgument naming every bad option at once.
Status ValidateOptions(const RankerOptions& options);

}  // namespace ranking_internal

}  // namespace vrec::ranking
