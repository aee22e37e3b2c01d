// A gradient-boosted tree ensemble compiled into flat arrays for fast scoring on one thread.
// Built from XGBoost's JSON model (no XGBoost types here: tree_evaluator.cc parses JSON only).
//
// Semantics follow XGBoost's CPU predictor exactly: at a split on feature f with threshold t,
// a row goes left when x[f] < t, right otherwise, and to the node's default child when x[f] is
// NaN (missing). The score is base_score + the sum of one leaf per tree, accumulated in float
// tree by tree in model order, as XGBoost does, so the two agree to float rounding. Logistic
// objectives (binary:logistic, reg:logistic) output the sigmoid of that margin, as XGBoost does.
//
// Immutable after construction: Predict is const and safe to call from many threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "vrec/common/status.h"

namespace vrec::ranking {

class TreeEnsemble {
 public:
  TreeEnsemble() = default;

  // Parses a model saved by XGBoost in JSON (XGBoosterSaveModelToBuffer, "format": "json").
  // `num_features` is the row width the model will be fed. DataLoss when the document is not
  // such a model or is inconsistent (child out of range, feature >= num_features, cycles);
  // InvalidArgument for models this evaluator does not support (categorical splits, several
  // outputs, a booster other than gbtree).
  static StatusOr<TreeEnsemble> FromXGBoostJson(std::string_view json, size_t num_features);

  // Scores `rows` rows of `features` (rows x num_features, row-major, NaN = missing) into `out`
  // (rows). Sizes are the caller's responsibility: raw pointers, unchecked (XGBoostRanker::Score
  // checks the spans it is given before calling this). Shallow ensembles (dense()) are scored 16
  // rows at a time in vector registers, deeper ones by walking each row down each tree; both
  // give the same floats.
  void Predict(const float* features, size_t rows, float* out) const;
  // The walk, whatever the depth: bit-identical to Predict (for tests and benchmarks of the dense
  // evaluation).
  void PredictByWalking(const float* features, size_t rows, float* out) const;
  // Every tree at most kMaxDenseDepth deep (the ranker's depth is 4), so Predict evaluates each
  // as a complete tree of its depth: every split for 16 rows at once, then each row's path.
  bool dense() const { return !dense_runs_.empty(); }
  static constexpr int kMaxDenseDepth = 5;

  size_t num_features() const { return num_features_; }
  size_t num_trees() const { return roots_.size(); }
  size_t num_nodes() const { return nodes_.size(); }
  int max_depth() const;                            // the deepest leaf over all trees (root = depth 0)
  float base_score() const { return base_score_; }  // in margin space (logit for logistic models)
  bool logistic() const { return logistic_; }       // Predict outputs sigmoid(margin)

 private:
  // 16 bytes. Children of a split are adjacent (right = left + 1), so one index is stored. A leaf
  // points at itself with a NaN threshold and "missing goes left": every comparison sends it
  // back to itself, so all rows of a block walk a tree for the same number of steps, branch-free.
  struct Node {
    float threshold;   // go right when x >= threshold; NaN for leaves
    uint32_t feature;  // column index in the low 31 bits; the top bit: missing goes right
    uint32_t left;     // absolute index of the left child in nodes_ (itself for a leaf)
    float leaf_value;  // the leaf's output; 0 for splits
  };
  static constexpr uint32_t kMissingRight = 0x80000000u;

  // Lays the trees out densely when every tree is at most kMaxDenseDepth deep and every split
  // threshold is a number above -inf (what the dense evaluation needs to agree with the walk).
  void BuildDense();
  void PredictDense(const float* features, size_t rows, float* out) const;
  // The margin -> output transform (the sigmoid for logistic models) of `n` rows into `out`.
  void Output(const float* margins, size_t n, float* out) const;

  std::vector<Node> nodes_;      // all trees, each tree's nodes contiguous
  std::vector<uint32_t> roots_;  // trees: index of the root in nodes_
  std::vector<uint8_t> depths_;  // trees: steps from the root to the deepest leaf
  // The dense layout: each tree padded to a complete tree of its own depth (at least 1), splits
  // in heap order (the children of split s are 2s + 1 and 2s + 2, then the leaves). A leaf above
  // the last level becomes a split that never goes right (NaN threshold) over copies of itself.
  // A split's column indexes the rows as PredictDense transposes them: the feature when a missing
  // value goes left (missing reads -inf there), num_features + the feature when it goes right
  // (missing reads +inf), so one comparison x >= threshold decides every row. Consecutive trees
  // of one depth form a run, evaluated by one kernel call.
  struct DenseRun {
    int depth = 0;
    size_t trees = 0;        // consecutive trees of this depth
    size_t first_split = 0;  // the first tree's splits in dense_thresholds_ and dense_columns_
    size_t first_leaf = 0;   // its leaves in dense_leaves_
  };
  std::vector<DenseRun> dense_runs_;     // empty: not dense
  std::vector<float> dense_thresholds_;  // every tree's 2^depth - 1 splits
  std::vector<uint32_t> dense_columns_;
  std::vector<float> dense_leaves_;  // every tree's 2^depth leaves
  size_t num_features_ = 0;
  float base_score_ = 0;
  bool logistic_ = false;
};

}  // namespace vrec::ranking
