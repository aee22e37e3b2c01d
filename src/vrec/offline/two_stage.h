// The two-stage recommender as an ItemScorer, for offline evaluation and training: two-tower
// retrieval -> top-N candidates -> XGBoost ranker over the ranking features.
//
// Training without leakage: the ranker must learn from what users did *after* the retrieval model
// was trained, never from rows the retrieval model saw. Fit therefore holds out a random
// `label_fraction` of each user's positive training rows (the label slice). The two-tower model,
// the item-item sources (SAR similarity, EASE) and the feature aggregates are fitted on the rest; the ranker
// is trained on the retrieval candidates of each user, labelled by the label slice (graded: strong feedback
// 2, other positives 1, no interaction 0). Then, as in production, retrieval, similarity and aggregates are
// refitted on all training rows (in a thread of their own, while the ranker trains), and the ranker is
// applied to their outputs.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "vrec/ranking/features.h"
#include "vrec/ranking/objectives.h"
#include "vrec/ranking/ranker.h"
#include "vrec/retrieval/ease.h"
#include "vrec/retrieval/item_scorer.h"
#include "vrec/retrieval/sar.h"
#include "vrec/retrieval/two_tower.h"

namespace vrec::offline {

struct TwoStageOptions {
  // Share of each user's positives that label the ranker. 0.4 measured best on ML-100K (0.2: fewer
  // positives per group; 0.5: the fold retrieval models get too weak).
  double label_fraction = 0.4;
  // Label slices, each with its own retrieval fit (more ranker groups for more training time);
  // needs label_folds * label_fraction <= 1. Fold 0 alone when it has more labelled users than
  // max_label_users: a second fold would double the retrieval fits for groups the ranker can spare.
  int label_folds = 2;
  int min_positives_to_label = 5;  // users with fewer positives are not used for labels
  int candidates = 100;            // retrieval depth fed to the ranker
  // A second candidate source: EASE's best videos for the user's history, merged after the
  // two-tower's `candidates` (those already there are not repeated). Their retrieval score and rank
  // are missing: the ranker learns which source to trust from that and from the EASE rank.
  int ease_candidates = 0;
  double valid_user_fraction = 0.2;  // users whose groups form the ranker's validation set
  // Users whose label slices become ranker groups, per fold, at most (0 = all): beyond it a fixed
  // random sample of the labelled users. Groups cost candidate generation (a full retrieval scoring
  // per user) and ranker training time (~100 rows each); 25,000 keeps both bounded at 100k users
  // while leaving every smaller platform (ML-100K: 943 users) untouched.
  int64_t max_label_users = 25'000;
  int threads = 2;             // candidate generation (label folds, held-out evaluation)
  bool refit_on_full = true;   // refit retrieval on all rows before scoring
  bool binary_labels = false;  // every held-out positive is 1 (else graded 1/2)
  retrieval::TwoTowerOptions two_tower;
  retrieval::SarOptions sar;
  retrieval::EaseOptions ease;
  // Shallow, slow-learning trees: the labels are few and noisy (ML-100K: ~1500 groups). Pairwise:
  // a higher validation AUC than rank:ndcg on ML-100K in every feature set tried, and its early
  // stopping does not stall after a few rounds as rank:ndcg's did on some feature sets. Patient
  // early stopping: the validation nDCG is noisy (~370 groups); with a patience of 50 rounds it
  // stopped at round 29 of a model that keeps improving on held-out data up to ~350 rounds
  // (ML-100K two-stage nDCG@10 0.479 -> 0.489).
  ranking::RankerOptions ranker{.objective = "rank:pairwise",
                                .num_rounds = 600,
                                .early_stopping_rounds = 150,
                                .max_depth = 4,
                                .learning_rate = 0.05f,
                                .min_child_weight = 10.0f};
  // Objective heads (ranking/objectives.h), trained after the ranker on its groups and rows with
  // per-candidate labels from the same label slice: the seconds played, a play to the end, a like.
  // A head is trained only when the data carries its signal: at least min_head_positives training
  // rows with a positive label (and a quarter of that among the validation rows). Ratings carry
  // none (MovieLens): no head is trained and the model is the ranker alone, as before.
  bool heads = true;
  int64_t min_head_positives = 200;
  // Pointwise models with many positives' worth of rows: the usual depth, a faster rate than the
  // ranker's, and early stopping on the validation loss. `objective` is set per head.
  ranking::RankerOptions head{.objective = "",
                              .num_rounds = 300,
                              .early_stopping_rounds = 30,
                              .max_depth = 6,
                              .learning_rate = 0.1f,
                              .min_child_weight = 10.0f};
  uint64_t seed = 42;
  bool verbose = true;
};

// One user's ranked candidates with every model's score (TwoStageScorer::ScoreCandidates).
struct CandidateScores {
  std::vector<uint32_t> videos;                                   // in retrieval order
  std::vector<float> ranker;                                      // the ranker's score of each video
  std::array<std::vector<float>, ranking::kNumObjectives> heads;  // each head's; empty when absent
};

// Splits training rows into the part retrieval learns from and the label slice: a random
// `fraction` of the positive rows (PreferenceWeight > 0) of each user with at least
// `min_positives` of them. Every row lands in exactly one part; non-positive rows (skips,
// impressions) stay on the retrieval side. Values are indices into `train`.
struct RankerLabelSplit {
  std::vector<uint32_t> retrieval_rows;
  std::vector<uint32_t> label_rows;
};
// `fold` picks which slice of that size is held out (disjoint while (fold + 1) * fraction <= 1).
RankerLabelSplit SplitRankerLabels(std::span<const data::Interaction> train, size_t num_users,
                                   double fraction, int min_positives, uint64_t seed, int fold = 0);

// The ranker on held-out data: candidates as ScoreAll builds them, labelled 1 when the user has a
// positive held-out row on them. Unlike the validation groups, whose labels are one slice of the
// user's training positives (the user's other unseen positives sit among the negatives), every
// known positive the model has not seen is labelled here.
struct HeldOutRanking {
  double ranker_auc = 0;           // mean per-group AUC of the ranker's order
  double retrieval_order_auc = 0;  // the same groups in plain retrieval order
  int64_t groups = 0;              // users with a held-out positive among their candidates
};

class TwoStageScorer final : public retrieval::ItemScorer {
 public:
  explicit TwoStageScorer(TwoStageOptions options);
  ~TwoStageScorer() override;

  std::string_view Name() const override { return "two-stage"; }
  // InvalidArgument when no user has enough positives to label the ranker; errors of the stages.
  Status Fit(const data::Dataset& ds, std::span<const data::Interaction> train) override;
  // Candidates get 1000 + their ranker score (best first); other videos keep their retrieval score
  // minus 1000, so they follow in retrieval order. Thread-safe after Fit.
  void ScoreAll(uint32_t user, std::span<double> scores) const override;
  // The same scores, retrieval scored for the whole batch at once. Thread-safe after Fit.
  void ScoreUsers(std::span<const uint32_t> users, std::span<double> scores) const override;

  const ranking::RankerTrainReport& ranker_report() const { return report_; }
  // `heldout`: rows of the Fit dataset none of the models saw (e.g. the evaluation split's test).
  // Users are spread over `threads` threads; the result does not depend on their number. `users`
  // (ascending), when not empty, restricts the groups to those users (e.g. the sample the harness
  // evaluated, eval::EvaluatedUsers).
  HeldOutRanking EvaluateHeldOut(std::span<const data::Interaction> heldout, int threads = 1,
                                 std::span<const uint32_t> users = {}) const;
  // The same validation groups in plain retrieval order: what the ranker has to beat.
  double retrieval_valid_ndcg() const { return retrieval_valid_ndcg_; }
  double retrieval_valid_auc() const { return retrieval_valid_auc_; }
  int64_t ranker_train_groups() const { return train_groups_; }
  int label_folds_used() const { return folds_used_; }
  // The fitted parts, for export to a model directory (valid after Fit).
  const retrieval::TwoTowerScorer& two_tower() const { return *sources_.two_tower; }
  const ranking::Ranker& ranker() const { return *ranker_; }
  // The heads trained (empty when the data carried none of their signals) and their reports.
  const ranking::ObjectiveHeads& heads() const { return heads_; }
  const std::map<std::string, ranking::RankerTrainReport>& head_reports() const { return head_reports_; }
  // The candidates ScoreAll ranks for `user` with the ranker's and every head's scores, for
  // policies that order them otherwise (ranking::Blend). Thread-safe after Fit.
  CandidateScores ScoreCandidates(uint32_t user) const;
  // Wall seconds of the steps of Fit: "label_folds" (fold retrieval fits and candidate
  // generation), "ranker", "heads" (after the ranker) and "retrieval" (the final refit, which runs
  // beside the label folds, the ranker and the heads).
  const std::map<std::string, double>& fit_seconds() const { return fit_seconds_; }
  int64_t ranker_train_rows() const { return train_rows_; }

 private:
  // Top-`candidates` videos of `user` by its retrieval scores `retrieval` (one per video), excluding
  // `seen` (sorted), with signals.
  void Candidates(uint32_t user, std::span<const uint32_t> seen, std::span<const double> retrieval,
                  std::vector<uint32_t>& videos, std::vector<ranking::CandidateSignals>& signals) const;
  // The ranker's scores of `user`'s candidates into `scores` (its retrieval scores on entry).
  void RankInto(uint32_t user, std::span<double> scores) const;
  // Runs fn(position, user, retrieval scores) for every user of `users` on `threads` threads, the
  // retrieval scores computed for batches of users at once; prints progress under `label` (if
  // not empty).
  template <typename Fn>
  void ForEachUser(std::span<const uint32_t> users, int threads, const std::string& label,
                   const Fn& fn) const;

  TwoStageOptions options_;
  const data::Dataset* ds_ = nullptr;
  // The retrieval sources and aggregates fitted on some rows: a label fold's while its candidates
  // are built, then the final refit's.
  struct Sources {
    std::unique_ptr<retrieval::TwoTowerScorer> two_tower;
    std::unique_ptr<retrieval::SarScorer> sar;
    std::unique_ptr<retrieval::EaseScorer> ease;
    std::unique_ptr<ranking::FeatureAggregates> features;
    std::vector<std::vector<uint32_t>> seen;  // per user: fitted videos (sorted), never re-recommended
    std::vector<bool> in_catalog;             // videos present in the fitted rows
    int64_t as_of = 0;
  };
  Sources sources_;
  std::unique_ptr<ranking::Ranker> ranker_;
  ranking::ObjectiveHeads heads_;
  std::map<std::string, ranking::RankerTrainReport> head_reports_;
  ranking::RankerTrainReport report_;
  int64_t train_groups_ = 0, train_rows_ = 0;
  int folds_used_ = 0;
  double retrieval_valid_ndcg_ = 0, retrieval_valid_auc_ = 0;
  std::map<std::string, double> fit_seconds_;
};

}  // namespace vrec::offline
