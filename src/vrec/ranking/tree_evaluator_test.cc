#include "vrec/ranking/tree_evaluator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
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

}  // namespace
}  // namespace vrec::ranking
