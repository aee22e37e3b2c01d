#include "vrec/ranking/tree_evaluator.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "vrec/common/check.h"
#include "vrec/common/cpu_clones.h"
#include "vrec/common/strings.h"

namespace vrec::ranking {
namespace {

using nlohmann::json;

// XGBoost writes its scalar parameters as strings ("5E-1"); arrays hold plain numbers.
StatusOr<double> ParamNumber(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return DataLossError(StrCat("xgboost model: missing parameter ", key));
  if (it->is_number()) return it->get<double>();
  if (!it->is_string()) return DataLossError(StrCat("xgboost model: parameter ", key, " is not a number"));
  const std::string& s = it->get_ref<const std::string&>();
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) {
    return DataLossError(StrCat("xgboost model: parameter ", key, " = '", s, "' is not a number"));
  }
  return v;
}

// One tree as XGBoost stores it: parallel arrays indexed by node id, root = 0, leaf: left = -1.
struct RawTree {
  std::vector<int64_t> left, right, feature;
  std::vector<double> cond;  // split threshold, or the leaf value for a leaf
  std::vector<bool> default_left;
};

StatusOr<RawTree> ParseTree(const json& t, size_t tree_index, size_t num_features) {
  RawTree raw;
  try {
    raw.left = t.at("left_children").get<std::vector<int64_t>>();
    raw.right = t.at("right_children").get<std::vector<int64_t>>();
    raw.feature = t.at("split_indices").get<std::vector<int64_t>>();
    raw.cond = t.at("split_conditions").get<std::vector<double>>();
    for (const json& d : t.at("default_left")) {
      raw.default_left.push_back(d.is_boolean() ? d.get<bool>() : d.get<int64_t>() != 0);
    }
    if (auto it = t.find("split_type"); it != t.end()) {
      for (const json& s : *it) {
        if (s.get<int64_t>() != 0) {
          return InvalidArgumentError(StrCat("xgboost model: tree ", tree_index, " has a categorical split"));
        }
      }
    }
  } catch (const std::exception& e) {
    return DataLossError(StrCat("xgboost model: tree ", tree_index, ": ", e.what()));
  }
  const size_t n = raw.left.size();
  if (n == 0 || raw.right.size() != n || raw.feature.size() != n || raw.cond.size() != n ||
      raw.default_left.size() != n) {
    return DataLossError(StrCat("xgboost model: tree ", tree_index, " has inconsistent node arrays"));
  }
  for (size_t i = 0; i < n; ++i) {
    const bool leaf = raw.left[i] == -1;
    if (leaf) continue;
    if (raw.left[i] <= 0 || raw.right[i] <= 0 || static_cast<size_t>(raw.left[i]) >= n ||
        static_cast<size_t>(raw.right[i]) >= n) {
      return DataLossError(StrCat("xgboost model: tree ", tree_index, " node ", i, " has a bad child"));
    }
    if (raw.feature[i] < 0 || static_cast<size_t>(raw.feature[i]) >= num_features) {
      return DataLossError(StrCat("xgboost model: tree ", tree_index, " node ", i, " splits on feature ",
                                  raw.feature[i], " of ", num_features));
    }
  }
  return raw;
}

// Rows per dense block: one 512-bit register of floats, two or four narrower ones.
constexpr size_t kLanes = 16;
typedef float Floats __attribute__((vector_size(kLanes * sizeof(float))));
typedef uint32_t Words __attribute__((vector_size(kLanes * sizeof(uint32_t))));

// Adds the leaf of each of `num_trees` trees of depth kDepth (stored one after the other) to
// acc[lane] for the 16 rows of `columns` (the block transposed: column c's 16 values at c * 16),
// trees in model order. Each tree: every split compared for all rows at once, its outcome kept as
// bit s of the row's word, then each row's path read from its word.
// The depth is a template argument so that the loops over splits and levels unroll.
template <int kDepth>
[[gnu::always_inline]] inline void DenseTrees(const float* columns, size_t num_trees, const float* thresholds,
                                              const uint32_t* split_columns, const float* leaves,
                                              float* acc) {
  constexpr uint32_t kSplits = (1u << kDepth) - 1;
  for (size_t t = 0; t < num_trees; ++t) {
    const float* threshold = thresholds + t * kSplits;
    const uint32_t* column = split_columns + t * kSplits;
    Words right = {};
    for (uint32_t s = 0; s < kSplits; ++s) {
      Floats x;
      std::memcpy(&x, columns + size_t{column[s]} * kLanes, sizeof(x));
      right |= reinterpret_cast<Words>(x >= threshold[s]) & (1u << s);
    }
    Words node = {};
    for (int level = 0; level < kDepth; ++level) node = node * 2 + 1 + ((right >> node) & 1u);
    const float* leaf = leaves + t * (kSplits + 1);
    for (size_t r = 0; r < kLanes; ++r) acc[r] += leaf[node[r] - kSplits];
  }
}

VREC_CPU_CLONES void DenseBlock(const float* columns, size_t num_trees, int depth, const float* thresholds,
                                const uint32_t* split_columns, const float* leaves, float* acc) {
  static_assert(TreeEnsemble::kMaxDenseDepth == 5);
  switch (depth) {
    case 1:
      return DenseTrees<1>(columns, num_trees, thresholds, split_columns, leaves, acc);
    case 2:
      return DenseTrees<2>(columns, num_trees, thresholds, split_columns, leaves, acc);
    case 3:
      return DenseTrees<3>(columns, num_trees, thresholds, split_columns, leaves, acc);
    case 4:
      return DenseTrees<4>(columns, num_trees, thresholds, split_columns, leaves, acc);
    default:
      return DenseTrees<5>(columns, num_trees, thresholds, split_columns, leaves, acc);
  }
}

}  // namespace

StatusOr<TreeEnsemble> TreeEnsemble::FromXGBoostJson(std::string_view text, size_t num_features) {
  if (num_features == 0 || num_features > 0x7fffffffu) {
    return InvalidArgumentError(StrCat("tree ensemble: bad num_features ", num_features));
  }
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return DataLossError("xgboost model: not valid JSON");

  TreeEnsemble out;
  out.num_features_ = num_features;
  const json* trees = nullptr;
  try {
    const json& learner = doc.at("learner");
    const json& mparam = learner.at("learner_model_param");
    VREC_ASSIGN_OR_RETURN(const double base_score, ParamNumber(mparam, "base_score"));
    VREC_ASSIGN_OR_RETURN(const double num_class, ParamNumber(mparam, "num_class"));
    if (num_class > 1) return InvalidArgumentError("xgboost model: multi-class models are not supported");
    if (mparam.contains("num_target")) {
      VREC_ASSIGN_OR_RETURN(const double num_target, ParamNumber(mparam, "num_target"));
      if (num_target > 1) return InvalidArgumentError("xgboost model: multi-target models are not supported");
    }
    // Ranking and squared-error objectives output the margin as is. Logistic ones store
    // base_score as a probability and output the sigmoid of the margin (XGBoost's ProbToMargin
    // and PredTransform, in float as XGBoost computes them).
    const std::string objective = learner.at("objective").at("name").get<std::string>();
    out.logistic_ = objective == "binary:logistic" || objective == "reg:logistic";
    if (objective.rfind("rank:", 0) != 0 && objective != "reg:squarederror" && !out.logistic_) {
      return InvalidArgumentError(StrCat("xgboost model: objective ", objective, " is not supported"));
    }
    if (out.logistic_ && !(base_score > 0 && base_score < 1)) {
      return DataLossError(StrCat("xgboost model: logistic base_score ", base_score, " is not in (0, 1)"));
    }
    const json& booster = learner.at("gradient_booster");
    if (booster.at("name").get<std::string>() != "gbtree") {
      return InvalidArgumentError(
          StrCat("xgboost model: booster ", booster.at("name").dump(), " is not supported (gbtree only)"));
    }
    trees = &booster.at("model").at("trees");
    if (!trees->is_array()) return DataLossError("xgboost model: trees is not an array");
    out.base_score_ = static_cast<float>(base_score);
    if (out.logistic_) out.base_score_ = -std::log(1.0f / out.base_score_ - 1.0f);
  } catch (const std::exception& e) {
    return DataLossError(StrCat("xgboost model: ", e.what()));
  }

  std::vector<uint32_t> order;  // raw node ids of the tree in output order
  std::vector<uint32_t> depth;  // by output position
  for (size_t t = 0; t < trees->size(); ++t) {
    VREC_ASSIGN_OR_RETURN(RawTree raw, ParseTree((*trees)[t], t, num_features));
    const size_t n = raw.left.size();
    // Breadth-first layout, children of a split written side by side. A node reached twice (a
    // cycle, a shared child, or a split whose two children are the same node) is rejected: its
    // position would be overwritten and a parent's children would no longer sit side by side.
    const uint32_t base = static_cast<uint32_t>(out.nodes_.size());
    order.assign(1, 0);
    depth.assign(1, 0);
    std::vector<uint32_t> pos(n, 0);
    std::vector<bool> reached(n, false);
    reached[0] = true;
    uint32_t max_depth = 0;
    for (size_t i = 0; i < order.size(); ++i) {
      const uint32_t id = order[i];
      pos[id] = static_cast<uint32_t>(i);
      max_depth = std::max(max_depth, depth[i]);
      if (raw.left[id] == -1) continue;
      const auto left = static_cast<size_t>(raw.left[id]), right = static_cast<size_t>(raw.right[id]);
      if (reached[left] || reached[right] || left == right || depth[i] + 1 > 255) {
        return DataLossError(StrCat("xgboost model: tree ", t, " is not a tree"));
      }
      reached[left] = reached[right] = true;
      order.push_back(static_cast<uint32_t>(left));
      order.push_back(static_cast<uint32_t>(right));
      depth.push_back(depth[i] + 1);
      depth.push_back(depth[i] + 1);
    }
    for (size_t i = 0; i < order.size(); ++i) {
      const uint32_t id = order[i];
      Node node{};
      if (raw.left[id] == -1) {
        node.threshold = std::numeric_limits<float>::quiet_NaN();
        node.feature = 0;
        node.left = base + static_cast<uint32_t>(i);
        node.leaf_value = static_cast<float>(raw.cond[id]);
      } else {
        node.threshold = static_cast<float>(raw.cond[id]);
        node.feature = static_cast<uint32_t>(raw.feature[id]) | (raw.default_left[id] ? 0u : kMissingRight);
        // Breadth-first: the right child was appended right after the left one.
        node.left = base + pos[static_cast<size_t>(raw.left[id])];
        // Predict walks to left + 1 for "right": anything else would score with the wrong leaves.
        VREC_CHECK(pos[static_cast<size_t>(raw.right[id])] == pos[static_cast<size_t>(raw.left[id])] + 1,
                   "tree ", t, " node ", id);
        node.leaf_value = 0;
      }
      out.nodes_.push_back(node);
    }
    out.roots_.push_back(base);
    out.depths_.push_back(static_cast<uint8_t>(max_depth));
  }
  out.BuildDense();
  return out;
}

void TreeEnsemble::BuildDense() {
  if (roots_.empty() || max_depth() > kMaxDenseDepth) return;
  auto is_leaf = [&](uint32_t i) { return nodes_[i].left == i; };
  for (uint32_t i = 0; i < nodes_.size(); ++i) {
    if (!is_leaf(i) && !(nodes_[i].threshold > -std::numeric_limits<float>::infinity())) return;
  }
  std::vector<DenseRun> runs;
  for (size_t t = 0; t < roots_.size(); ++t) {
    // A lone leaf becomes one split that never goes right.
    const int depth = std::max(1, static_cast<int>(depths_[t]));
    const size_t splits = (size_t{1} << depth) - 1;
    if (runs.empty() || runs.back().depth != depth) {
      runs.push_back(
          {.depth = depth, .first_split = dense_thresholds_.size(), .first_leaf = dense_leaves_.size()});
    }
    ++runs.back().trees;
    const size_t first_split = dense_thresholds_.size(), first_leaf = dense_leaves_.size();
    dense_thresholds_.resize(first_split + splits, 0.0f);
    dense_columns_.resize(first_split + splits, 0);
    dense_leaves_.resize(first_leaf + splits + 1, 0.0f);
    float* threshold = dense_thresholds_.data() + first_split;
    uint32_t* column = dense_columns_.data() + first_split;
    float* leaf = dense_leaves_.data() + first_leaf;
    // Writes the subtree of `node` at heap position `pos` (`level` steps below the root).
    auto fill = [&](auto& self, uint32_t node, size_t pos, int level) -> void {
      const Node& n = nodes_[node];
      if (level == depth) {
        VREC_CHECK(is_leaf(node), "tree ", t, " is deeper than ", depth);
        leaf[pos - splits] = n.leaf_value;
        return;
      }
      if (is_leaf(node)) {
        threshold[pos] = std::numeric_limits<float>::quiet_NaN();
        self(self, node, 2 * pos + 1, level + 1);
        self(self, node, 2 * pos + 2, level + 1);
        return;
      }
      threshold[pos] = n.threshold;
      column[pos] = (n.feature & ~kMissingRight) +
                    ((n.feature & kMissingRight) != 0 ? static_cast<uint32_t>(num_features_) : 0u);
      self(self, n.left, 2 * pos + 1, level + 1);
      self(self, n.left + 1, 2 * pos + 2, level + 1);
    };
    fill(fill, roots_[t], 0, 0);
  }
  dense_runs_ = std::move(runs);
}

int TreeEnsemble::max_depth() const {
  int d = 0;
  for (uint8_t x : depths_) d = std::max(d, static_cast<int>(x));
  return d;
}

void TreeEnsemble::Output(const float* margins, size_t n, float* out) const {
  if (logistic_) {
    for (size_t r = 0; r < n; ++r) out[r] = 1.0f / (1.0f + std::exp(-margins[r]));
  } else {
    std::copy(margins, margins + n, out);
  }
}

void TreeEnsemble::Predict(const float* features, size_t rows, float* out) const {
  if (dense()) {
    PredictDense(features, rows, out);
  } else {
    PredictByWalking(features, rows, out);
  }
}

void TreeEnsemble::PredictDense(const float* features, size_t rows, float* out) const {
  const size_t width = num_features_;
  // The block transposed, twice: missing values read -inf in the first copy, +inf in the second.
  thread_local std::vector<float> columns;
  columns.resize(2 * width * kLanes);
  constexpr float kInf = std::numeric_limits<float>::infinity();
  for (size_t r0 = 0; r0 < rows; r0 += kLanes) {
    const size_t n = std::min(kLanes, rows - r0);
    for (size_t r = 0; r < kLanes; ++r) {
      const float* x = r < n ? features + (r0 + r) * width : nullptr;  // lanes past the last row: zeros
      for (size_t f = 0; f < width; ++f) {
        const float v = x != nullptr ? x[f] : 0.0f;
        columns[f * kLanes + r] = std::isnan(v) ? -kInf : v;
        columns[(width + f) * kLanes + r] = std::isnan(v) ? kInf : v;
      }
    }
    float acc[kLanes];
    std::fill(acc, acc + kLanes, base_score_);
    for (const DenseRun& run : dense_runs_) {
      DenseBlock(columns.data(), run.trees, run.depth, dense_thresholds_.data() + run.first_split,
                 dense_columns_.data() + run.first_split, dense_leaves_.data() + run.first_leaf, acc);
    }
    Output(acc, n, out + r0);
  }
}

void TreeEnsemble::PredictByWalking(const float* features, size_t rows, float* out) const {
  // Rows are walked in blocks, tree by tree, level by level: the rows of a block are independent
  // chains of loads, so the CPU overlaps them instead of waiting on one row's pointer chase
  // (1.7x faster than walking each row to its leaf; blocks of 32-100 rows measure the same).
  constexpr size_t kBlock = 32;
  const Node* nodes = nodes_.data();
  const size_t width = num_features_;
  for (size_t r0 = 0; r0 < rows; r0 += kBlock) {
    const size_t n = std::min(kBlock, rows - r0);
    const float* x[kBlock];
    float acc[kBlock];
    uint32_t idx[kBlock];
    for (size_t r = 0; r < n; ++r) {
      x[r] = features + (r0 + r) * width;
      acc[r] = base_score_;
    }
    for (size_t t = 0; t < roots_.size(); ++t) {
      const uint32_t root = roots_[t];
      for (size_t r = 0; r < n; ++r) idx[r] = root;
      for (uint32_t d = depths_[t]; d > 0; --d) {
        for (size_t r = 0; r < n; ++r) {
          const Node& node = nodes[idx[r]];
          const float v = x[r][node.feature & ~kMissingRight];
          // NaN compares false: a missing value goes right only when the node says so.
          const uint32_t right = static_cast<uint32_t>(v >= node.threshold) |
                                 (static_cast<uint32_t>(std::isnan(v)) & (node.feature >> 31));
          idx[r] = node.left + right;
        }
      }
      for (size_t r = 0; r < n; ++r) acc[r] += nodes[idx[r]].leaf_value;
    }
    Output(acc, n, out + r0);
  }
}

}  // namespace vrec::ranking
