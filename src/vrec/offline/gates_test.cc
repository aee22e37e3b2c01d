#include "vrec/offline/gates.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace vrec::offline {
namespace {

using Metrics = std::map<std::string, double>;

// The four gated figures, as the pipeline names them in its metrics map.
const char* const kGated[] = {"retrieval_recall@100", "retrieval_ndcg@10", "ranker_heldout_auc",
                              "two_stage_ndcg@10"};

Gates SomeGates() {
  return {.min_retrieval_recall_at_100 = 0.25,
          .min_retrieval_ndcg_at_10 = 0.125,
          .min_ranker_auc = 0.625,
          .min_ranker_ndcg = 0.375,
          .max_regression = 0.0625};
}

// Every gated figure exactly at its minimum (the minima above are exact binary fractions).
Metrics AtTheMinimum() {
  return {{"retrieval_recall@100", 0.25},
          {"retrieval_ndcg@10", 0.125},
          {"ranker_heldout_auc", 0.625},
          {"two_stage_ndcg@10", 0.375},
          {"ranker_valid_auc", 0.01}};  // recorded, not gated
}

// No absolute minimum, margin 0.0625: only the comparison with production can fail.
Gates NoMinimum() {
  return {.min_retrieval_recall_at_100 = 0,
          .min_retrieval_ndcg_at_10 = 0,
          .min_ranker_auc = 0,
          .min_ranker_ndcg = 0,
          .max_regression = 0.0625};
}

const GateVerdict* Find(const std::vector<GateVerdict>& verdicts, const std::string& prefix) {
  for (const GateVerdict& v : verdicts) {
    if (v.name.rfind(prefix, 0) == 0) return &v;
  }
  return nullptr;
}

TEST(CheckGates, OneThresholdVerdictPerGatedFigureNamedAfterIt) {
  const std::vector<GateVerdict> v = CheckGates(SomeGates(), AtTheMinimum(), nullptr);
  ASSERT_EQ(v.size(), 4u);
  const double minima[] = {0.25, 0.125, 0.625, 0.375};
  const char* const names[] = {"retrieval_recall@100 >= 0.25", "retrieval_ndcg@10 >= 0.125",
                               "ranker_heldout_auc >= 0.625", "two_stage_ndcg@10 >= 0.375"};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(v[i].name, names[i]);
    EXPECT_EQ(v[i].threshold, minima[i]);
    EXPECT_EQ(v[i].value, minima[i]);
  }
  for (const GateVerdict& g : v) EXPECT_EQ(g.name.find("ranker_valid"), std::string::npos) << g.name;
}

TEST(CheckGates, AFigureAtItsMinimumPassesAndJustBelowFails) {
  EXPECT_TRUE(AllGatesPassed(CheckGates(SomeGates(), AtTheMinimum(), nullptr)));
  for (const char* figure : kGated) {
    Metrics m = AtTheMinimum();
    m[figure] = std::nextafter(m[figure], 0.0);
    const std::vector<GateVerdict> v = CheckGates(SomeGates(), m, nullptr);
    EXPECT_FALSE(AllGatesPassed(v)) << figure;
    for (const GateVerdict& g : v) {
      EXPECT_EQ(g.passed, g.name.rfind(figure, 0) != 0) << figure << ": " << g.name;
    }
  }
}

TEST(CheckGates, AMissingOrNaNFigureFails) {
  Metrics m = AtTheMinimum();
  m.erase("ranker_heldout_auc");
  m["two_stage_ndcg@10"] = std::numeric_limits<double>::quiet_NaN();
  const std::vector<GateVerdict> v = CheckGates(SomeGates(), m, nullptr);
  const GateVerdict* missing = Find(v, "ranker_heldout_auc");
  ASSERT_NE(missing, nullptr);
  EXPECT_FALSE(missing->passed);
  EXPECT_TRUE(std::isnan(missing->value));
  EXPECT_EQ(missing->name, "ranker_heldout_auc >= 0.625 (missing)");
  const GateVerdict* nan = Find(v, "two_stage_ndcg@10");
  ASSERT_NE(nan, nullptr);
  EXPECT_FALSE(nan->passed);
  EXPECT_TRUE(Find(v, "retrieval_recall@100")->passed);
}

TEST(CheckGates, NoProductionModelMeansThresholdsOnly) {
  const Metrics candidate = AtTheMinimum();
  const std::vector<GateVerdict> v = CheckGates(SomeGates(), candidate, nullptr);
  EXPECT_EQ(v.size(), 4u);
  for (const GateVerdict& g : v) EXPECT_EQ(g.name.find("production"), std::string::npos) << g.name;
}

TEST(CheckGates, NotWorseThanProductionWithinTheMargin) {
  // Production 0.5 on every gated figure, margin 0.0625: the floor is 0.4375.
  Metrics production;
  for (const char* figure : kGated) production[figure] = 0.5;
  Metrics candidate;
  for (const char* figure : kGated) candidate[figure] = 0.4375;
  const std::vector<GateVerdict> v = CheckGates(NoMinimum(), candidate, &production);
  ASSERT_EQ(v.size(), 8u);
  for (size_t i = 0; i < 4; ++i) {
    const GateVerdict& g = v[4 + i];
    EXPECT_EQ(g.name, std::string(kGated[i]) + " >= production 0.5 - 0.0625");
    EXPECT_EQ(g.threshold, 0.4375);
    EXPECT_EQ(g.value, 0.4375);
    EXPECT_TRUE(g.passed) << g.name;
  }
  EXPECT_TRUE(AllGatesPassed(v));
}

TEST(CheckGates, WorseThanProductionBeyondTheMarginFailsThatFigureOnly) {
  // No absolute minimum: the regression verdict alone must stop the deploy.
  const Gates gates = NoMinimum();
  Metrics production;
  for (const char* figure : kGated) production[figure] = 0.5;
  for (const char* figure : kGated) {
    Metrics candidate;
    for (const char* f : kGated) candidate[f] = 0.5;
    candidate[figure] = std::nextafter(0.4375, 0.0);
    const std::vector<GateVerdict> v = CheckGates(gates, candidate, &production);
    ASSERT_EQ(v.size(), 8u);
    for (size_t i = 0; i < 8; ++i) {
      const bool failing = i >= 4 && v[i].name.rfind(figure, 0) == 0;
      EXPECT_EQ(v[i].passed, !failing) << figure << ": " << v[i].name;
    }
    EXPECT_FALSE(AllGatesPassed(v)) << figure;
  }
}

TEST(CheckGates, ACandidateBetterThanProductionPasses) {
  Metrics production;
  for (const char* figure : kGated) production[figure] = 0.5;
  Metrics candidate;
  for (const char* figure : kGated) candidate[figure] = 0.75;
  EXPECT_TRUE(AllGatesPassed(CheckGates(SomeGates(), candidate, &production)));
}

TEST(CheckGates, SkipsTheComparisonForFiguresProductionLacks) {
  // A production model recorded before the ranker's held-out AUC was gated.
  Metrics production = {{"retrieval_recall@100", 0.5},
                        {"retrieval_ndcg@10", 0.5},
                        {"two_stage_ndcg@10", 0.5},
                        {"ranker_valid_auc", 0.99}};
  Metrics candidate;
  for (const char* figure : kGated) candidate[figure] = 0.75;
  const std::vector<GateVerdict> v = CheckGates(SomeGates(), candidate, &production);
  ASSERT_EQ(v.size(), 7u);
  for (size_t i = 4; i < 7; ++i) {
    EXPECT_NE(v[i].name.find("production"), std::string::npos) << v[i].name;
    EXPECT_EQ(v[i].name.find("ranker_heldout_auc"), std::string::npos) << v[i].name;
    EXPECT_EQ(v[i].name.find("ranker_valid"), std::string::npos) << v[i].name;
  }
  EXPECT_TRUE(AllGatesPassed(v));
  // An empty production record (no figures at all): thresholds only.
  const Metrics empty;
  EXPECT_EQ(CheckGates(SomeGates(), candidate, &empty).size(), 4u);
}

TEST(CheckGates, TheDefaultsAreTheSpecsThresholds) {
  const Gates g;
  EXPECT_EQ(g.min_retrieval_recall_at_100, 0.1);
  EXPECT_EQ(g.min_retrieval_ndcg_at_10, 0.3);
  EXPECT_EQ(g.min_ranker_auc, 0.6);
  EXPECT_EQ(g.min_ranker_ndcg, 0.3);
  EXPECT_EQ(g.max_regression, 0.02);
}

TEST(AllGatesPassed, NeedsEveryVerdict) {
  EXPECT_TRUE(AllGatesPassed({}));
  EXPECT_TRUE(AllGatesPassed({{"a", 1, 0, true}, {"b", 1, 0, true}}));
  EXPECT_FALSE(AllGatesPassed({{"a", 1, 0, true}, {"b", 0, 1, false}}));
}

}  // namespace
}  // namespace vrec::offline
