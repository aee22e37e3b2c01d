// Deployment gates: the figures a candidate model must reach before the pipeline registers it.
//
// Two kinds of gate, over the same gated figures (by name in the pipeline's metrics map, all
// measured on the held-out split):
//
//   retrieval_recall@100   the two-tower model alone          >= Gates::min_retrieval_recall_at_100
//   retrieval_ndcg@10      the two-tower model alone          >= Gates::min_retrieval_ndcg_at_10
//   ranker_heldout_auc     the ranker over each user's retrieval candidates (hard negatives;
//                          TwoStageScorer::EvaluateHeldOut)   >= Gates::min_ranker_auc
//   two_stage_ndcg@10      the whole two-stage ranking, i.e. what the ranker serves
//                                                             >= Gates::min_ranker_ndcg
//
// and, for each of them the production model also recorded, "not worse than production by more
// than Gates::max_regression". (The ranker's figures on its validation groups, labelled by a slice
// of each user's positives only, are recorded as ranker_valid_auc/ndcg but not gated: they count
// the user's other unseen positives as negatives, by design.)
#pragma once

#include <map>
#include <string>
#include <vector>

namespace vrec::offline {

// Deployment thresholds. Defaults are the spec's evaluation thresholds.
struct Gates {
  double min_retrieval_recall_at_100 = 0.1;
  double min_retrieval_ndcg_at_10 = 0.3;
  double min_ranker_auc = 0.6;
  double min_ranker_ndcg = 0.3;
  // A candidate may not fall below production on any gated figure by more than this (absolute).
  double max_regression = 0.02;
};

// One gate's outcome, as printed by the pipeline and written to its run record.
struct GateVerdict {
  std::string name;  // what was required, e.g. "retrieval_recall@100 >= 0.1"
  double value = 0;  // the candidate's figure (NaN when the candidate lacks it)
  double threshold = 0;
  bool passed = false;  // value >= threshold
};

// Checks the candidate's figures `candidate` against `gates` and, when `production` is not null,
// against the production model's recorded figures. Returns, in this order:
//
//   1. One threshold verdict per gated figure (the table above), named "<figure> >= <minimum>":
//      passes when the candidate's figure is at least the minimum (equal passes). A figure missing
//      from `candidate` fails, named "<figure> >= <minimum> (missing)" with value NaN; so does a
//      NaN figure (under its plain name).
//   2. One regression verdict per gated figure that `production` also has, named
//      "<figure> >= production <p> - <max_regression>", threshold p - max_regression: passes when
//      the candidate is worse than production by at most max_regression. Skipped (no verdict) when
//      `production` is null (no production model, or its manifest is unreadable) or lacks the
//      figure (a model recorded before the figure was gated).
//
// The model may be deployed only when every verdict passed. Pure function; thread-safe.
std::vector<GateVerdict> CheckGates(const Gates& gates, const std::map<std::string, double>& candidate,
                                    const std::map<std::string, double>* production);

// True when every verdict passed (also for none).
bool AllGatesPassed(const std::vector<GateVerdict>& verdicts);

}  // namespace vrec::offline
