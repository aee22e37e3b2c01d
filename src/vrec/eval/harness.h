// The offline evaluation harness. Reproduces Microsoft Recommenders' MovieLens protocol: for every
// test user that has training history, score every video seen in training, drop the user's own
// training videos, take the top k, and average the metrics over those users.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vrec/data/dataset.h"
#include "vrec/data/split.h"
#include "vrec/retrieval/item_scorer.h"

namespace vrec::eval {

struct EvalOptions {
  int k = 10;                                   // depth of MAP, nDCG, precision, recall, coverage, diversity
  std::vector<int> recall_depths = {100, 500};  // extra Recall@N (candidate quality of retrieval)
  // Depths of EvalReport::recall_curve. Those beyond the catalog (the videos in training) are
  // replaced by one point at the catalog's size. Empty: no curve.
  std::vector<int> recall_curve_depths = {1, 5, 10, 20, 50, 100, 200, 500};
  bool compute_auc = true;  // per-user AUC over all candidate videos
  int threads = 2;
  // At most this many test users (0 = all): beyond it, a fixed random sample of them (by
  // sample_seed), so that evaluating a large catalog costs a bounded number of full scorings. The
  // metrics are then means over the sample (EvalReport::users of users_total).
  int64_t max_users = 0;
  uint64_t sample_seed = 42;
  // Non-empty: progress lines with an ETA on stderr under this label (every 10 s, long runs only).
  std::string progress_label;
};

// The evaluated users whose number of training rows lies in [min_rows, max_rows]
// (EvalReport::by_activity): how well a model serves light and heavy users.
struct ActivityBucket {
  int64_t min_rows = 0, max_rows = 0;  // a power-of-two range: [2^b, 2^(b+1) - 1]
  int64_t users = 0;
  double ndcg = 0, recall = 0;  // means over the bucket's users, at EvalOptions::k
};

// How much the top-k lists lean towards popular videos. A video's popularity is its number of
// training rows; its popularity percentile (0-100) is the share of catalog videos less popular than
// it, counting ties as half (a uniformly random pick averages 50). The "head" is the most popular
// tenth of the catalog (rounded up; ties by the lower video index).
struct PopularityBias {
  double recommended_percentile = 0;  // mean over every slot of every evaluated top-k list
  double test_percentile = 0;         // mean over the held-out (user, video) pairs that could be recommended
  double recommended_head_share = 0;  // share of top-k slots holding a head video
  double test_head_share = 0;         // share of those held-out pairs whose video is in the head
  // Gini coefficient of how often each catalog video appears in the top-k lists: 0 when every
  // video appears equally often, towards 1 when a few videos fill every list.
  double gini = 0;
};

struct EvalReport {
  int k = 10;               // EvalOptions::k: the depth of map, ndcg, precision, recall, coverage
  int64_t users = 0;        // test users evaluated
  int64_t users_total = 0;  // test users with training history (> users when sampled)
  double map = 0, ndcg = 0, precision = 0, recall = 0;
  std::vector<std::pair<int, double>> recall_at;  // (depth, mean recall)
  double auc = 0;                                 // mean per-user AUC (0 when not computed)
  double coverage = 0;                            // distinct videos in all top-k lists / videos in training
  double diversity = 0;                           // mean intra-list category diversity of the top-k lists
  std::vector<std::pair<int, double>> recall_curve;  // (depth, mean recall), depth ascending
  std::vector<ActivityBucket> by_activity;           // non-empty buckets, fewest rows first
  PopularityBias popularity;

  double RecallAt(int depth) const;
};

// Scores with a fitted `scorer`. `split` rows index `ds`. Deterministic: ties in score are broken by
// the lower video index, and sums are taken in user order whatever the thread count. Users are
// scored in small batches (ItemScorer::ScoreUsers); per user only the top max(k, recall depths, curve depths)
// are kept (a selection, not a sort of the catalog) and the AUC counts pairs without sorting. The
// recall curve, activity buckets and popularity figures come from the same kept lists.
EvalReport Evaluate(const data::Dataset& ds, const data::Split& split, const retrieval::ItemScorer& scorer,
                    const EvalOptions& options);

// The users Evaluate measures, ascending: those with test and training rows, or the sample of them
// that options.max_users and sample_seed select.
std::vector<uint32_t> EvaluatedUsers(const data::Dataset& ds, const data::Split& split,
                                     const EvalOptions& options);

}  // namespace vrec::eval
