#include "vrec/eval/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace vrec::eval {
namespace {

// ranked: 5 3 9 1 7; relevant {1, 3, 8}: hits at ranks 2 and 4.
const std::vector<uint32_t> kRanked = {5, 3, 9, 1, 7};
const std::vector<uint32_t> kRelevant = {1, 3, 8};

TEST(Metrics, PrecisionCountsHitsOverK) {
  EXPECT_DOUBLE_EQ(PrecisionAtK(kRanked, kRelevant, 5), 2.0 / 5);
  EXPECT_DOUBLE_EQ(PrecisionAtK(kRanked, kRelevant, 2), 1.0 / 2);
  // A short list still divides by k.
  EXPECT_DOUBLE_EQ(PrecisionAtK(kRanked, kRelevant, 10), 2.0 / 10);
}

TEST(Metrics, RecallDividesByRelevantCount) {
  EXPECT_DOUBLE_EQ(RecallAtK(kRanked, kRelevant, 5), 2.0 / 3);
  EXPECT_DOUBLE_EQ(RecallAtK(kRanked, kRelevant, 3), 1.0 / 3);
  EXPECT_DOUBLE_EQ(RecallAtK(kRanked, {}, 3), 0.0);
}

TEST(Metrics, AveragePrecisionSumsHitNumberOverRank) {
  // (1/2 + 2/4) / 3
  EXPECT_DOUBLE_EQ(AveragePrecisionAtK(kRanked, kRelevant, 5), (0.5 + 0.5) / 3);
  EXPECT_DOUBLE_EQ(AveragePrecisionAtK(kRanked, kRelevant, 3), 0.5 / 3);
}

TEST(Metrics, NdcgUsesNaturalLogDiscountAndTruncatedIdeal) {
  const double dcg = 1 / std::log(3.0) + 1 / std::log(5.0);
  const double idcg = 1 / std::log(2.0) + 1 / std::log(3.0) + 1 / std::log(4.0);
  EXPECT_NEAR(NdcgAtK(kRanked, kRelevant, 5), dcg / idcg, 1e-15);
  // k = 2: ideal has min(2, 3) = 2 hits.
  EXPECT_NEAR(NdcgAtK(kRanked, kRelevant, 2), (1 / std::log(3.0)) / (1 / std::log(2.0) + 1 / std::log(3.0)),
              1e-15);
  const std::vector<uint32_t> perfect = {3, 1, 8};
  EXPECT_DOUBLE_EQ(NdcgAtK(perfect, kRelevant, 10), 1.0);
}

TEST(Metrics, AucCountsTiesAsHalf) {
  EXPECT_DOUBLE_EQ(Auc(std::vector<double>{3, 2}, std::vector<double>{1, 0}), 1.0);
  EXPECT_DOUBLE_EQ(Auc(std::vector<double>{0}, std::vector<double>{1, 2}), 0.0);
  // positive 2 beats {1} and ties {2}: (1 + 0.5) / 2
  EXPECT_DOUBLE_EQ(Auc(std::vector<double>{2}, std::vector<double>{1, 2}), 0.75);
  EXPECT_DOUBLE_EQ(Auc(std::vector<double>{}, std::vector<double>{1}), 0.5);
}

TEST(Metrics, IntraListDiversityIsMeanPairwiseJaccardDistance) {
  std::vector<std::vector<uint16_t>> same = {{1}, {1}, {1}};
  EXPECT_DOUBLE_EQ(IntraListDiversity(same), 0.0);
  std::vector<std::vector<uint16_t>> disjoint = {{1}, {2}, {3}};
  EXPECT_DOUBLE_EQ(IntraListDiversity(disjoint), 1.0);
  // pairs: {1,2}~{2}: 1 - 1/2; {1,2}~{3}: 1; {2}~{3}: 1  -> 2.5 / 3
  std::vector<std::vector<uint16_t>> mixed = {{1, 2}, {2}, {3}};
  EXPECT_DOUBLE_EQ(IntraListDiversity(mixed), 2.5 / 3);
}

}  // namespace
}  // namespace vrec::eval
