#include "vrec/offline/two_stage.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>
#include <set>

#include "vrec/data/split.h"
#include "vrec/data/synth.h"
#include "vrec/ranking/objectives.h"

namespace vrec::offline {
namespace {

data::SynthConfig SmallConfig() {
  data::SynthConfig sc;
  sc.num_users = 600;
  sc.num_videos = 1500;
  sc.num_interactions = 40'000;
  sc.quiet = true;
  return sc;
}

data::Dataset SmallPlatform() {
  auto ds = data::GenerateSynthetic(SmallConfig());
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

  // The batch path gives the same scores as one user at a time.
  const std::vector<uint32_t> batch = {3, 0, 7};
  std::vector<double> rows(batch.size() * ds.videos.size()), one(ds.videos.size());
  scorer.ScoreUsers(batch, rows);
  for (size_t r = 0; r < batch.size(); ++r) {
    scorer.ScoreAll(batch[r], one);
    EXPECT_TRUE(std::equal(one.begin(), one.end(), rows.begin() + static_cast<ptrdiff_t>(r * one.size())))
        << "user " << batch[r];
  }

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
  // Restricted to some users: only their groups count.
  const std::vector<uint32_t> some = {1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377};
  const HeldOutRanking restricted = scorer.EvaluateHeldOut(split.test, 2, some);
  EXPECT_GT(restricted.groups, 0);
  EXPECT_LE(restricted.groups, static_cast<int64_t>(some.size()));
}

// Quick fits for the label-fold tests: one two-tower epoch, 30 candidates, 5 rounds, no refit.
TwoStageOptions QuickLabelOptions(int label_folds) {
  TwoStageOptions o;
  o.two_tower.max_epochs = 1;
  o.two_tower.validation_fraction = 0;
  o.two_tower.verbose = false;
  o.candidates = 30;
  o.ranker.num_rounds = 5;
  o.label_folds = label_folds;
  o.refit_on_full = false;
  o.verbose = false;
  return o;
}

TEST(TwoStageScorer, MaxLabelUsersCapsTheRankerGroups) {
  const data::Dataset ds = SmallPlatform();
  const data::Split split = data::TemporalSplit(ds.interactions, 5);
  TwoStageOptions o = QuickLabelOptions(1);
  o.max_label_users = 100;
  TwoStageScorer scorer(o);
  ASSERT_TRUE(scorer.Fit(ds, split.train).ok());
  // Train and validation groups together come from at most 100 users.
  EXPECT_GT(scorer.ranker_train_groups(), 0);
  EXPECT_LE(scorer.ranker_train_groups(), 100);
  EXPECT_EQ(scorer.ranker_train_rows(), scorer.ranker_train_groups() * 30);
  o.max_label_users = 0;  // every labelled user
  TwoStageScorer all(o);
  ASSERT_TRUE(all.Fit(ds, split.train).ok());
  EXPECT_GT(all.ranker_train_groups(), 200);
}

TEST(TwoStageScorer, ASecondFoldRunsOnlyWhileTheFirstLeftLabelledUsersUnused) {
  const data::Dataset ds = SmallPlatform();
  const data::Split split = data::TemporalSplit(ds.interactions, 5);
  TwoStageOptions o = QuickLabelOptions(2);
  o.max_label_users = 100;  // fewer than the platform's labelled users: one fold is enough
  TwoStageScorer capped(o);
  ASSERT_TRUE(capped.Fit(ds, split.train).ok());
  EXPECT_EQ(capped.label_folds_used(), 1);
  o.max_label_users = 0;  // every labelled user: both folds add groups
  TwoStageScorer all(o);
  ASSERT_TRUE(all.Fit(ds, split.train).ok());
  EXPECT_EQ(all.label_folds_used(), 2);
}

// The second source: EASE's best unseen videos join each group after the two-tower's, so groups
// grow beyond `candidates` (by at most ease_candidates) and scoring ranks them the same way.
TEST(TwoStageScorer, EaseCandidatesJoinTheGroupsAndTheRankedList) {
  const data::Dataset ds = SmallPlatform();
  const data::Split split = data::TemporalSplit(ds.interactions, 5);
  TwoStageOptions o = QuickLabelOptions(1);
  o.ease_candidates = 20;
  TwoStageScorer scorer(o);
  ASSERT_TRUE(scorer.Fit(ds, split.train).ok());
  EXPECT_GT(scorer.ranker_train_rows(), scorer.ranker_train_groups() * 30);
  EXPECT_LE(scorer.ranker_train_rows(), scorer.ranker_train_groups() * 50);
  std::vector<std::set<uint32_t>> seen(ds.users.size());
  for (const data::Interaction& x : split.train) seen[x.user].insert(x.video);
  int grown = 0;
  std::vector<double> scores(ds.videos.size());
  for (uint32_t u = 0; u < 100; ++u) {
    scorer.ScoreAll(u, scores);
    int ranked = 0;
    for (uint32_t v = 0; v < scores.size(); ++v) {
      if (scores[v] < 500) continue;  // candidates score 1000 + the ranker's
      ++ranked;
      EXPECT_FALSE(seen[u].contains(v)) << u << " " << v;
    }
    EXPECT_LE(ranked, 50);
    grown += ranked > 30;
  }
  EXPECT_GT(grown, 50);
}

// Mean over users of the share of candidate pairs that `scores` orders as `truth` does (pairs tied
// in either left out): 0.5 for an order unrelated to the truth.
double Concordance(const std::vector<std::vector<float>>& scores,
                   const std::vector<std::vector<double>>& truth) {
  double sum = 0;
  int users = 0;
  for (size_t u = 0; u < scores.size(); ++u) {
    double agree = 0, pairs = 0;
    for (size_t i = 0; i < scores[u].size(); ++i) {
      for (size_t j = i + 1; j < scores[u].size(); ++j) {
        const double a = scores[u][i] - scores[u][j], b = truth[u][i] - truth[u][j];
        if (a == 0 || b == 0) continue;
        agree += (a > 0) == (b > 0);
        ++pairs;
      }
    }
    if (pairs > 0) sum += agree / pairs, ++users;
  }
  return users > 0 ? sum / users : 0.5;
}

// On a video platform the label slice holds plays, completions and likes: every head is trained,
// separates its outcome on the validation users, and orders the candidates of held-out users by
// the platform's true expectation of its outcome (data::SyntheticWorld) far better than chance.
TEST(TwoStageScorer, HeadsLearnWatchTimeCompletionAndLikesOnAVideoPlatform) {
  const data::Dataset ds = SmallPlatform();
  const data::Split split = data::TemporalSplit(ds.interactions, 5);
  TwoStageOptions o = QuickLabelOptions(2);
  o.candidates = 50;
  o.min_head_positives = 15;  // this tiny platform's label slices hold 21 liked candidates
  o.head.num_rounds = 100;
  TwoStageScorer scorer(o);
  ASSERT_TRUE(scorer.Fit(ds, split.train).ok());
  for (ranking::Objective h : ranking::kObjectives) {
    ASSERT_NE(scorer.heads().get(h), nullptr) << ranking::Name(h);
    const ranking::RankerTrainReport& r = scorer.head_reports().at(std::string(ranking::Name(h)));
    std::printf("head %s: valid %s %.4f valid_auc %.4f rounds %d\n", std::string(ranking::Name(h)).c_str(),
                r.metric.c_str(), r.valid_metric, r.valid_auc, r.best_iteration);
    EXPECT_GT(r.valid_auc, 0.6) << ranking::Name(h);
  }
  EXPECT_GT(scorer.fit_seconds().at("heads"), 0.0);

  auto world = data::SyntheticWorld::Build(SmallConfig());
  ASSERT_TRUE(world.ok());
  // Per user: each model's scores and each outcome's truth over the user's candidates.
  std::vector<std::vector<float>> ranker, heads[ranking::kNumObjectives];
  std::vector<std::vector<double>> truth[ranking::kNumObjectives];
  for (uint32_t u = 0; u < 300; u += 3) {
    const CandidateScores c = scorer.ScoreCandidates(u);
    ASSERT_EQ(c.videos.size(), 50u);
    ranker.push_back(c.ranker);
    for (size_t h = 0; h < ranking::kNumObjectives; ++h) {
      ASSERT_EQ(c.heads[h].size(), 50u);
      heads[h].push_back(c.heads[h]);
      truth[h].emplace_back();
    }
    for (uint32_t v : c.videos) {
      truth[0].back().push_back(world->ExpectedWatchRatio(u, v) * ds.videos[v].duration_s);
      truth[1].back().push_back(world->CompletionProbability(u, v));
      truth[2].back().push_back(world->LikeProbability(u, v));
    }
  }
  for (size_t h = 0; h < ranking::kNumObjectives; ++h) {
    const double head = Concordance(heads[h], truth[h]), by_ranker = Concordance(ranker, truth[h]);
    std::printf("%s truth: concordance head %.4f ranker %.4f\n",
                std::string(ranking::Name(ranking::kObjectives[h])).c_str(), head, by_ranker);
    // Measured: watch 0.76 (ranker 0.63), completion 0.77 (0.52), like 0.62 (0.55; 21 liked
    // candidates to learn from on this tiny platform).
    EXPECT_GT(head, 0.58) << ranking::Name(ranking::kObjectives[h]);
    EXPECT_GT(head, by_ranker + 0.03) << ranking::Name(ranking::kObjectives[h]);
  }
}

// Ratings carry none of the heads' signals: no head is trained and the model is the ranker alone,
// score for score.
TEST(TwoStageScorer, RatingsTrainNoHeadAndTheSameRanker) {
  data::Dataset ds = SmallPlatform();
  std::vector<data::Interaction> ratings;
  for (data::Interaction x : ds.interactions) {
    const float w = data::PreferenceWeight(x);
    if (w <= 0) continue;
    x.type = data::EventType::kRating;
    x.rating = std::min(5.0f, 1.0f + 2.0f * w);
    x.watch_time_s = x.watch_ratio = data::kMissing;
    ratings.push_back(x);
  }
  ds.interactions = ratings;
  const data::Split split = data::TemporalSplit(ds.interactions, 5);
  TwoStageOptions o = QuickLabelOptions(1);
  o.min_head_positives = 1;
  TwoStageScorer with(o);
  ASSERT_TRUE(with.Fit(ds, split.train).ok());
  EXPECT_TRUE(with.heads().empty());
  EXPECT_TRUE(with.head_reports().empty());
  o.heads = false;
  TwoStageScorer without(o);
  ASSERT_TRUE(without.Fit(ds, split.train).ok());
  for (uint32_t u = 0; u < 50; ++u) {
    const CandidateScores a = with.ScoreCandidates(u), b = without.ScoreCandidates(u);
    ASSERT_EQ(a.videos, b.videos) << u;
    ASSERT_EQ(a.ranker, b.ranker) << u;
    for (const auto& h : a.heads) EXPECT_TRUE(h.empty());
  }
}

// Candidates() reads SAR and EASE through their public per-video calls instead of ScoreAll; both
// must give ScoreAll's values bit for bit (the ranker's features, and so every figure, depend on it).
TEST(ItemItemSignals, PerVideoCallsReproduceScoreAllExactly) {
  const data::Dataset ds = SmallPlatform();
  retrieval::SarScorer sar;
  ASSERT_TRUE(sar.Fit(ds, ds.interactions).ok());
  retrieval::EaseScorer ease;
  ASSERT_TRUE(ease.Fit(ds, ds.interactions).ok());
  std::vector<std::vector<uint32_t>> seen(ds.users.size());
  for (const data::Interaction& x : ds.interactions) seen[x.user].push_back(x.video);
  std::vector<uint32_t> videos(ds.videos.size());
  std::iota(videos.begin(), videos.end(), 0);
  std::vector<double> all(ds.videos.size()), some(ds.videos.size());
  for (uint32_t u = 0; u < 50; ++u) {
    std::sort(seen[u].begin(), seen[u].end());
    seen[u].erase(std::unique(seen[u].begin(), seen[u].end()), seen[u].end());
    std::vector<std::pair<uint32_t, double>> affinity;
    for (uint32_t v : seen[u]) {
      if (const double a = sar.Affinity(u, v); a != 0) affinity.emplace_back(v, a);
    }
    sar.ScoreAll(u, all);
    sar.ScoreVideos(affinity, videos, some);
    ASSERT_EQ(all, some) << "SAR, user " << u;
    ease.ScoreAll(u, all);
    for (uint32_t v = 0; v < ds.videos.size(); ++v) {
      double sum = 0.0;
      for (uint32_t h : ease.History(u)) {
        if (ease.Modelled(h)) sum += ease.Weight(h, v);
      }
      ASSERT_EQ(ease.Modelled(v) ? sum : 0.0, all[v]) << "EASE, user " << u << " video " << v;
    }
  }
}

}  // namespace
}  // namespace vrec::offline
