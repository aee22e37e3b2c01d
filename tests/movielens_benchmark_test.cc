// Reproduces the published Microsoft Recommenders MovieLens 100K benchmark for SAR: same split,
// same model, same metrics, to 1e-6.
#include <gtest/gtest.h>

#include "vrec/data/movielens.h"
#include "vrec/data/split.h"
#include "vrec/data/test_util.h"
#include "vrec/eval/harness.h"
#include "vrec/retrieval/popularity.h"
#include "vrec/retrieval/sar.h"

namespace vrec {
namespace {

class MovieLensBenchmark : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = data::testing::SharedDataDir("ml-100k");
    if (dir.empty()) {
      GTEST_SKIP() << "MovieLens 100K not found: set VREC_SHARED_DIR to the folder holding data/ml-100k";
    }
    auto ds = data::LoadMovieLens100K(dir);
    ASSERT_TRUE(ds.ok()) << ds.status().message();
    ds_ = std::move(*ds);
    split_ = data::StratifiedSplit(ds_.interactions, 0.75, data::StratifyBy::kItem, 42);
  }

  eval::EvalReport Run(retrieval::ItemScorer& scorer) {
    EXPECT_TRUE(scorer.Fit(ds_, split_.train).ok());
    return eval::Evaluate(ds_, split_, scorer, eval::EvalOptions{});
  }

  data::Dataset ds_;
  data::Split split_;
};

TEST_F(MovieLensBenchmark, StratifiedSplitHasThePublishedSizes) {
  EXPECT_EQ(split_.train.size(), 75066u);
  EXPECT_EQ(split_.test.size(), 24934u);
}

TEST_F(MovieLensBenchmark, SarMatchesThePublishedFigures) {
  retrieval::SarScorer sar;
  eval::EvalReport r = Run(sar);
  EXPECT_EQ(r.users, 943);
  EXPECT_NEAR(r.map, 0.114038, 1e-6);
  EXPECT_NEAR(r.ndcg, 0.393819, 1e-6);
  EXPECT_NEAR(r.precision, 0.340615, 1e-6);
  EXPECT_NEAR(r.recall, 0.185377, 1e-6);
}

TEST_F(MovieLensBenchmark, SarBeatsMostPopular) {
  retrieval::SarScorer sar;
  retrieval::PopularityScorer pop;
  eval::EvalReport s = Run(sar);
  eval::EvalReport p = Run(pop);
  EXPECT_GT(s.ndcg, p.ndcg);
  EXPECT_GT(s.RecallAt(100), p.RecallAt(100));
  EXPECT_GT(s.coverage, p.coverage);
  EXPECT_GT(p.ndcg, 0.2);  // popularity is a strong baseline on MovieLens, not noise
}

}  // namespace
}  // namespace vrec
