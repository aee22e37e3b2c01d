// ranker_bench: scoring latency of the ranking stage on one thread, 200 candidates per call.
// Trains a ranker on synthetic data shaped like ours (40 features, 2000 groups x 200 rows), with
// a fixed 300 rounds (no early stopping) so the model size is known, then times XGBoost's own
// predictor (XGBoosterPredictFromDense, nthread 1) against the compiled evaluator that Score()
// ships, and the compiled evaluator's two ways (dense for trees up to 5 deep, the walk) in
// alternating rounds so both see the same machine. Prints metric=value lines; never fails on a time.
//
//   ranker_bench [--depth 4]   (the two-stage ranker's depth; 6 is the heads')
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "vrec/common/strings.h"
#include "vrec/ranking/ranker.h"
#include "vrec/ranking/xgboost_ranker.h"

namespace {

using vrec::ranking::RankingData;

constexpr size_t kFeatures = 40;
constexpr size_t kCandidates = 200;
constexpr int kCalls = 2000;

// Relevance from a few informative features (some with missing values), the rest noise.
RankingData MakeData(size_t groups, size_t rows_per_group, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  RankingData d;
  for (size_t f = 0; f < kFeatures; ++f) d.feature_names.push_back(vrec::StrCat("f", f));
  d.features.reserve(groups * rows_per_group * kFeatures);
  for (size_t g = 0; g < groups; ++g) {
    d.group_sizes.push_back(static_cast<uint32_t>(rows_per_group));
    const float user_bias = normal(rng);
    for (size_t r = 0; r < rows_per_group; ++r) {
      float x[kFeatures];
      for (float& v : x) v = normal(rng);
      x[5] = user_bias;
      const float signal =
          x[0] + 0.6f * x[1] - 0.4f * x[2] + 0.3f * x[3] * x[4] + 0.2f * x[5] * x[6] + 0.5f * normal(rng);
      d.labels.push_back(signal > 2.0f ? 3.0f : signal > 1.2f ? 2.0f : signal > 0.5f ? 1.0f : 0.0f);
      for (size_t f = 2; f < kFeatures; f += 3) {
        if (unit(rng) < 0.1f) x[f] = std::numeric_limits<float>::quiet_NaN();
      }
      d.features.insert(d.features.end(), x, x + kFeatures);
    }
  }
  return d;
}

struct Percentiles {
  double p50, p99;
};

Percentiles Summarize(std::vector<double> micros) {
  std::sort(micros.begin(), micros.end());
  auto at = [&](double q) { return micros[static_cast<size_t>(q * static_cast<double>(micros.size() - 1))]; };
  return {at(0.50), at(0.99)};
}

template <typename Fn>
std::vector<double> Time(const std::vector<std::vector<float>>& batches, Fn&& score) {
  std::vector<float> out(kCandidates);
  for (int i = 0; i < 100; ++i) score(batches[static_cast<size_t>(i) % batches.size()], out);  // warm-up
  std::vector<double> micros;
  micros.reserve(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    const auto& batch = batches[static_cast<size_t>(i) % batches.size()];
    const auto t0 = std::chrono::steady_clock::now();
    score(batch, out);
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  return micros;
}

}  // namespace

int main(int argc, char** argv) {
  int depth = 4;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--depth" && i + 1 < argc) {
      depth = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: ranker_bench [--depth N]\n");
      return 2;
    }
  }
  const RankingData train = MakeData(2000, kCandidates, 1);
  const RankingData valid = MakeData(200, kCandidates, 2);
  vrec::ranking::RankerOptions options;
  options.num_rounds = 300;
  options.early_stopping_rounds = 0;
  options.max_depth = depth;
  vrec::ranking::RankerTrainReport report;
  auto trained = vrec::ranking::TrainXGBoostRanker(train, valid, options, &report);
  if (!trained.ok()) {
    std::fprintf(stderr, "train failed: %s\n", trained.status().ToString().c_str());
    return 1;
  }
  const auto& ranker = dynamic_cast<const vrec::ranking::XGBoostRanker&>(**trained);
  const auto& ensemble = ranker.compiled();
  std::printf("train_rows=%zu\nfeatures=%zu\ntrain_threads=%d\ntrain_seconds=%.2f\n", train.rows(), kFeatures,
              options.threads, report.train_seconds);
  std::printf("valid_ndcg@%d=%.4f\nvalid_auc=%.4f\n", options.eval_at, report.valid_ndcg, report.valid_auc);
  std::printf("trees=%zu\nmax_depth=%d\nnodes=%zu\nmean_nodes_per_tree=%.1f\n", ensemble.num_trees(),
              ensemble.max_depth(), ensemble.num_nodes(),
              static_cast<double>(ensemble.num_nodes()) / static_cast<double>(ensemble.num_trees()));

  // Requests: 200 candidates each, taken from the validation groups (realistic values and NaNs).
  std::vector<std::vector<float>> batches;
  for (size_t g = 0; g < valid.group_sizes.size(); ++g) {
    const auto begin = valid.features.begin() + static_cast<std::ptrdiff_t>(g * kCandidates * kFeatures);
    batches.emplace_back(begin, begin + static_cast<std::ptrdiff_t>(kCandidates * kFeatures));
  }

  // Agreement on every batch first.
  double max_diff = 0;
  std::vector<float> a(kCandidates), b(kCandidates);
  for (const auto& batch : batches) {
    if (!ranker.Score(batch, kCandidates, a).ok() || !ranker.ScoreWithXGBoost(batch, kCandidates, b).ok()) {
      std::fprintf(stderr, "scoring failed\n");
      return 1;
    }
    for (size_t i = 0; i < kCandidates; ++i)
      max_diff = std::max(max_diff, std::fabs(double{a[i]} - double{b[i]}));
  }
  std::printf("max_abs_diff_compiled_vs_xgboost=%.3g\n", max_diff);

  const auto xgb = Summarize(Time(batches, [&](const std::vector<float>& x, std::vector<float>& out) {
    (void)ranker.ScoreWithXGBoost(x, kCandidates, out);
  }));
  const auto compiled = Summarize(Time(batches, [&](const std::vector<float>& x, std::vector<float>& out) {
    (void)ranker.Score(x, kCandidates, out);
  }));
  std::printf("candidates_per_call=%zu\ncalls=%d\n", kCandidates, kCalls);
  std::printf("xgboost_predict_p50_us=%.1f\nxgboost_predict_p99_us=%.1f\n", xgb.p50, xgb.p99);
  std::printf("compiled_p50_us=%.1f\ncompiled_p99_us=%.1f\n", compiled.p50, compiled.p99);
  std::printf("speedup_p50=%.2f\nspeedup_p99=%.2f\n", xgb.p50 / compiled.p50, xgb.p99 / compiled.p99);

  // Dense against the walk: bit-identical scores, then rounds of calls alternating between the two.
  std::printf("dense=%d\n", ensemble.dense() ? 1 : 0);
  std::vector<float> walked(kCandidates);
  for (const auto& batch : batches) {
    ensemble.Predict(batch.data(), kCandidates, a.data());
    ensemble.PredictByWalking(batch.data(), kCandidates, walked.data());
    if (a != walked) {
      std::fprintf(stderr, "Predict and PredictByWalking disagree\n");
      return 1;
    }
  }
  std::vector<double> predict_us, walk_us;
  for (int round = 0; round < 10; ++round) {
    const auto p = Time(batches, [&](const std::vector<float>& x, std::vector<float>& out) {
      ensemble.Predict(x.data(), kCandidates, out.data());
    });
    const auto w = Time(batches, [&](const std::vector<float>& x, std::vector<float>& out) {
      ensemble.PredictByWalking(x.data(), kCandidates, out.data());
    });
    predict_us.insert(predict_us.end(), p.begin(), p.end());
    walk_us.insert(walk_us.end(), w.begin(), w.end());
  }
  const auto predict = Summarize(std::move(predict_us)), walk = Summarize(std::move(walk_us));
  std::printf("predict_p50_us=%.1f\npredict_p99_us=%.1f\n", predict.p50, predict.p99);
  std::printf("walk_p50_us=%.1f\nwalk_p99_us=%.1f\n", walk.p50, walk.p99);
  std::printf("predict_vs_walk_p50=%.2f\n", walk.p50 / predict.p50);
  std::printf("shipped_scorer=compiled\n");
  return 0;
}
