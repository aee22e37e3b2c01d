#include "vrec/ranking/tree_evaluator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "vrec/common/strings.h"

namespace vrec::ranking {
namespace {

// An XGBoost JSON model (the parts FromXGBoostJson reads) with base_score 0.5 and the given trees,
// each an object of XGBoost's parallel node arrays.
std::string Model(const std::vector<std::string>& trees) {
  return StrCat(R"({"learner": {"learner_model_param": {"base_score": "5E-1", "num_class": "0"},)",
                R"("objective": {"name": "rank:pairwise"}, "gradient_booster": {"name": "gbtree",)",
                R"("model": {"trees": [)", StrJoin(trees, ","), "]}}}}");
}

std::string Tree(const std::string& left, const std::string& right, const std::string& features,
                 const std::string& conditions, const std::string& default_left) {
  return StrCat(R"({"left_children": [)", left, R"(], "right_children": [)", right,
                R"(], "split_indices": [)", features, R"(], "split_conditions": [)", conditions,
                R"(], "default_left": [)", default_left, "]}");
}

// x0 < 1 ? (x1 < 2 ? 10 : 20) : 30; missing x0 goes right, missing x1 goes left.
std::string TwoLevelTree() {
  return Tree("1, 3, -1, -1, -1", "2, 4, -1, -1, -1", "0, 1, 0, 0, 0", "1, 2, 30, 10, 20", "0, 1, 0, 0, 0");
}

TEST(TreeEnsemble, ScoresLikeXGBoostsPredictor) {
  StatusOr<TreeEnsemble> e = TreeEnsemble::FromXGBoostJson(Model({TwoLevelTree()}), 2);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->num_trees(), 1u);
  EXPECT_EQ(e->max_depth(), 2);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // Rows: (x0, x1). The split threshold itself goes right.
  const std::vector<float> rows = {0, 0, 0, 2, 1, 0, nan, 0, 0, nan};
  std::vector<float> out(5);
  e->Predict(rows.data(), 5, out.data());
  EXPECT_EQ(out, (std::vector<float>{10.5f, 20.5f, 30.5f, 30.5f, 10.5f}));
}

TEST(TreeEnsemble, SumsTheTreesOverBlocksOfRows) {
  StatusOr<TreeEnsemble> e = TreeEnsemble::FromXGBoostJson(
      Model({TwoLevelTree(), Tree("-1", "-1", "0", "100", "0"), TwoLevelTree()}), 2);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  // More rows than one block of the evaluator, alternating between two leaves.
  const size_t n = 70;
  std::vector<float> rows(2 * n), out(n);
  for (size_t r = 0; r < n; ++r) rows[2 * r] = r % 2 == 0 ? 0.0f : 5.0f;
  e->Predict(rows.data(), n, out.data());
  for (size_t r = 0; r < n; ++r) EXPECT_EQ(out[r], r % 2 == 0 ? 120.5f : 160.5f) << r;
}

TEST(TreeEnsemble, RejectsASplitWhoseChildrenAreOneNode) {
  // Laid out, the right child would sit past the end of the tree's nodes.
  StatusOr<TreeEnsemble> e = TreeEnsemble::FromXGBoostJson(
      Model({Tree("1, -1, -1", "1, -1, -1", "0, 0, 0", "1, 2, 3", "1, 0, 0")}), 1);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(e.status().message().find("tree 0 is not a tree"), std::string::npos) << e.status().message();
}

TEST(TreeEnsemble, RejectsAChildSharedByTwoSplits) {
  // Nodes 1 and 2 both point at node 3 (node 6 is unreachable): within the node count, so only
  // the reached-twice check catches it.
  StatusOr<TreeEnsemble> e = TreeEnsemble::FromXGBoostJson(
      Model({Tree("1, 3, 3, -1, -1, -1, -1", "2, 4, 5, -1, -1, -1, -1", "0, 0, 0, 0, 0, 0, 0",
                  "1, 2, 3, 4, 5, 6, 7", "1, 1, 1, 0, 0, 0, 0")}),
      1);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kDataLoss);
}

TEST(TreeEnsemble, RejectsACycle) {
  StatusOr<TreeEnsemble> e = TreeEnsemble::FromXGBoostJson(
      Model({Tree("1, 0, -1", "2, 2, -1", "0, 0, 0", "1, 2, 3", "1, 1, 0")}), 1);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kDataLoss);
}

TEST(TreeEnsemble, RejectsChildrenAndFeaturesOutOfRange) {
  EXPECT_EQ(TreeEnsemble::FromXGBoostJson(
                Model({Tree("1, -1, -1", "3, -1, -1", "0, 0, 0", "1, 2, 3", "1, 0, 0")}), 1)
                .status()
                .code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(TreeEnsemble::FromXGBoostJson(
                Model({Tree("1, -1, -1", "2, -1, -1", "1, 0, 0", "1, 2, 3", "1, 0, 0")}), 1)
                .status()
                .code(),
            StatusCode::kDataLoss);
}

// A random tree of at most `max_depth` levels over `features` features: each node splits with
// probability 0.8 above the last level; thresholds in [-2, 2]; random missing directions.
std::string RandomTree(std::mt19937& rng, int max_depth, size_t features) {
  std::vector<std::string> left, right, feature, condition, default_left;
  std::vector<int> depth = {0};
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  for (size_t i = 0; i < depth.size(); ++i) {
    const bool split = depth[i] < max_depth && (i == 0 || unit(rng) < 0.8f);
    if (!split) {
      left.push_back("-1"), right.push_back("-1"), feature.push_back("0");
      condition.push_back(StrCat(unit(rng) - 0.5f)), default_left.push_back("0");
      continue;
    }
    left.push_back(StrCat(depth.size())), right.push_back(StrCat(depth.size() + 1));
    depth.push_back(depth[i] + 1), depth.push_back(depth[i] + 1);
    feature.push_back(StrCat(static_cast<size_t>(unit(rng) * static_cast<float>(features)) % features));
    condition.push_back(StrCat(4.0f * unit(rng) - 2.0f));
    default_left.push_back(unit(rng) < 0.5f ? "1" : "0");
  }
  return Tree(StrJoin(left, ","), StrJoin(right, ","), StrJoin(feature, ","), StrJoin(condition, ","),
              StrJoin(default_left, ","));
}

// Rows of `features` values: normal, with missing values, infinities and exact thresholds.
std::vector<float> RandomRows(std::mt19937& rng, size_t rows, size_t features) {
  std::normal_distribution<float> normal(0.0f, 1.5f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x(rows * features);
  for (float& v : x) {
    const float u = unit(rng);
    v = u < 0.15f   ? std::numeric_limits<float>::quiet_NaN()
        : u < 0.18f ? inf
        : u < 0.21f ? -inf
                    : normal(rng);
  }
  return x;
}

TEST(TreeEnsemble, DenseEvaluationEqualsTheWalkBitForBit) {
  std::mt19937 rng(7);
  const size_t features = 9;
  for (int depth = 1; depth <= TreeEnsemble::kMaxDenseDepth + 1; ++depth) {
    std::vector<std::string> trees;
    // Trees of every depth up to `depth`, in runs and alone, and lone leaves.
    for (int t = 0; t < 40; ++t) {
      trees.push_back(t % 7 == 3 ? Tree("-1", "-1", "0", StrCat(t), "0")
                                 : RandomTree(rng, t % 5 == 0 ? 1 + t % depth : depth, features));
    }
    StatusOr<TreeEnsemble> e = TreeEnsemble::FromXGBoostJson(Model(trees), features);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    EXPECT_EQ(e->dense(), depth <= TreeEnsemble::kMaxDenseDepth) << depth;
    for (const size_t rows : {1, 15, 16, 17, 100}) {
      const std::vector<float> x = RandomRows(rng, rows, features);
      std::vector<float> dense(rows), walked(rows);
      e->Predict(x.data(), rows, dense.data());
      e->PredictByWalking(x.data(), rows, walked.data());
      for (size_t r = 0; r < rows; ++r) ASSERT_EQ(dense[r], walked[r]) << "depth " << depth << " row " << r;
    }
  }
}

TEST(TreeEnsemble, WalksWhenAThresholdIsMinusInfinity) {
  // A missing value reads -inf in the dense layout: against a -inf threshold it would go right
  // where the node says left. (-1e39 is -inf as a float.)
  StatusOr<TreeEnsemble> e = TreeEnsemble::FromXGBoostJson(
      Model({Tree("1, -1, -1", "2, -1, -1", "0, 0, 0", "-1e39, 1, 2", "1, 0, 0")}), 1);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_FALSE(e->dense());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  float out = 0;
  e->Predict(&nan, 1, &out);
  EXPECT_EQ(out, 1.5f);
}

}  // namespace
}  // namespace vrec::ranking
