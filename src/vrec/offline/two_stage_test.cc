#include "vrec/offline/two_stage.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "vrec/data/split.h"
#include "vrec/data/synth.h"

namespace vrec::offline {
namespace {

data::Dataset SmallPlatform() {
  data::SynthConfig sc;
  sc.num_users = 600;
  sc.num_videos = 1500;
  sc.num_interactions = 40'000;
  sc.quiet = true;
  auto ds = data::GenerateSynthetic(sc);
  EXPECT_TRUE(ds.ok());
  return std::move(*ds);
}

// No leakage by construction: the label slice and the retrieval rows never share a row.
TEST(SplitRankerLabels, PartitionsRowsAndLabelsOnlyPositivesOfActiveUsers) {
  const data::Dataset ds = SmallPlatform();
  const RankerLabelSplit s = SplitRankerLabels(ds.interactions, ds.users.size(), 0.2, 5, 7);
  std::set<uint32_t> label(s.label_rows.begin(), s.label_rows.end());
  EXPECT_EQ(s.retrieval_rows.size() + s.label_rows.size(), ds.interactions.size());
  for (uint32_t i : s.retrieval_rows) EXPECT_FALSE(label.count(i)) << "row " << i << " in both parts";
  std::vector<int> positives(ds.users.size(), 0), labelled(ds.users.size(), 0);
  for (const data::Interaction& x : ds.interactions) positives[x.user] += data::PreferenceWeight(x) > 0;
  for (uint32_t i : s.label_rows) {
    EXPECT_GT(data::PreferenceWeight(ds.interactions[i]), 0);
    ++labelled[ds.interactions[i].user];
  }
  for (size_t u = 0; u < ds.users.size(); ++u) {
    if (positives[u] < 5) {
      EXPECT_EQ(labelled[u], 0);
    } else {
      EXPECT_NEAR(labelled[u], 0.2 * positives[u], 0.51);
    }
  }
  // Deterministic by seed; folds hold out disjoint slices.
  EXPECT_EQ(SplitRankerLabels(ds.interactions, ds.users.size(), 0.2, 5, 7).label_rows, s.label_rows);
  const RankerLabelSplit next = SplitRankerLabels(ds.interactions, ds.users.size(), 0.2, 5, 7, 1);
  EXPECT_EQ(next.label_rows.size(), s.label_rows.size());
  for (uint32_t i : next.label_rows) EXPECT_FALSE(label.count(i)) << "row " << i << " in two folds";
}

TEST(TwoStageScorer, RanksRetrievalCandidatesFirstAndBeatsRetrievalOrderOnHeldOutRows) {
  const data::Dataset ds = SmallPlatform();
  const data::Split split = data::TemporalSplit(ds.interactions, 5);
  TwoStageOptions o;
  o.two_tower.max_epochs = 3;
  o.two_tower.validation_fraction = 0;
  o.two_tower.verbose = false;
  o.candidates = 50;
  o.ranker.num_rounds = 30;
  o.verbose = false;
  TwoStageScorer scorer(o);
  const Status fit = scorer.Fit(ds, split.train);
  ASSERT_TRUE(fit.ok()) << fit.message();
  EXPECT_GT(scorer.ranker_train_groups(), 0);
  EXPECT_GT(scorer.ranker_report().valid_auc, 0.5);
  std::vector<double> scores(ds.videos.size());
  scorer.ScoreAll(3, scores);
  const auto ranked = std::count_if(scores.begin(), scores.end(), [](double s) { return s > 500; });
  EXPECT_EQ(ranked, 50);

  const HeldOutRanking heldout = scorer.EvaluateHeldOut(split.test);
  EXPECT_GT(heldout.groups, 50);
  const HeldOutRanking parallel = scorer.EvaluateHeldOut(split.test, 3);
  EXPECT_EQ(parallel.ranker_auc, heldout.ranker_auc);
  EXPECT_EQ(parallel.groups, heldout.groups);
  EXPECT_GT(heldout.retrieval_order_auc, 0.55);
  EXPECT_GT(heldout.ranker_auc, heldout.retrieval_order_auc);
  // Control: the same users with random videos held out. Neither order can tell them apart.
  std::vector<data::Interaction> random = split.test;
  std::mt19937_64 rng(5);
  for (data::Interaction& x : random) x.video = static_cast<uint32_t>(rng() % ds.videos.size());
  const HeldOutRanking control = scorer.EvaluateHeldOut(random);
  EXPECT_GT(control.groups, 20);
  EXPECT_NEAR(control.ranker_auc, 0.5, 0.08);
  EXPECT_NEAR(control.retrieval_order_auc, 0.5, 0.08);
}

}  // namespace
}  // namespace vrec::offline
