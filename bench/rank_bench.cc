// Stage-3 latency: EASE lookups + feature assembly + ranker for 200 candidates of one request on one
// thread, the way the server runs it. A synthetic platform gives realistic aggregates; the ranker is trained
// on it (or loaded with --ranker DIR, e.g. a model written by the pipeline). Prints name=value.
//
//   rank_bench [--candidates 200] [--requests 2000] [--rounds 600] [--depth 4] [--ranker DIR]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "vrec/common/sys.h"
#include "vrec/data/synth.h"
#include "vrec/ranking/features.h"
#include "vrec/ranking/ranker.h"
#include "vrec/retrieval/ease.h"

namespace {

using namespace vrec;

using vrec::bench::Percentile;

}  // namespace

int main(int argc, char** argv) {
  int candidates = 200, requests = 2000, rounds = 600, depth = 4;  // two-stage defaults, no early stop
  std::string ranker_dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--candidates")
      candidates = std::atoi(argv[i + 1]);
    else if (k == "--requests")
      requests = std::atoi(argv[i + 1]);
    else if (k == "--rounds")
      rounds = std::atoi(argv[i + 1]);
    else if (k == "--ranker")
      ranker_dir = argv[i + 1];
    else if (k == "--depth")
      depth = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  data::SynthConfig sc;
  sc.num_users = 20'000;
  sc.num_videos = 100'000;
  sc.num_interactions = 1'000'000;
  sc.quiet = true;
  auto ds = data::GenerateSynthetic(sc);
  if (!ds.ok()) {
    std::fprintf(stderr, "error: %s\n", ds.status().message().c_str());
    return 1;
  }
  const int64_t now = sc.end_time;
  const auto agg = ranking::FeatureAggregates::FromRows(*ds, ds->interactions, now);
  Stopwatch ease_fit;
  retrieval::EaseScorer ease;  // shipped defaults: the 4096 most popular videos
  if (Status st = ease.Fit(*ds, ds->interactions); !st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return 1;
  }
  std::printf("ease_videos=%zu ease_fit_s=%.2f\n", ease.modelled_videos(), ease_fit.Seconds());
  // Each user's most recent distinct positives, as the server collects them.
  std::vector<std::vector<uint32_t>> histories(ds->users.size());
  {
    std::vector<std::vector<std::pair<int64_t, uint32_t>>> rows(ds->users.size());
    for (const data::Interaction& x : ds->interactions) {
      if (data::PreferenceWeight(x) > 0) rows[x.user].emplace_back(x.timestamp, x.video);
    }
    for (size_t u = 0; u < rows.size(); ++u) {
      std::sort(rows[u].begin(), rows[u].end(), std::greater<>());
      for (const auto& [t, v] : rows[u]) {
        if (histories[u].size() >= static_cast<size_t>(ease.options().max_history)) break;
        if (std::find(histories[u].begin(), histories[u].end(), v) == histories[u].end())
          histories[u].push_back(v);
      }
    }
  }
  std::vector<double> ease_scores;
  auto add_ease = [&](uint32_t user, const std::vector<uint32_t>& videos,
                      std::vector<ranking::CandidateSignals>& signals) {
    ease_scores.resize(videos.size());
    ease.ScoreVideos(histories[user], videos, ease_scores);
    for (size_t i = 0; i < videos.size(); ++i) signals[i].ease_score = static_cast<float>(ease_scores[i]);
  };
  std::mt19937_64 rng(5);
  auto random_request = [&](uint32_t& user, std::vector<uint32_t>& videos,
                            std::vector<ranking::CandidateSignals>& signals) {
    user = static_cast<uint32_t>(rng() % ds->users.size());
    videos.resize(static_cast<size_t>(candidates));
    signals.resize(videos.size());
    for (size_t i = 0; i < videos.size(); ++i) {
      // Popularity-weighted, as retrieval candidates are: the video of a random event.
      videos[i] = ds->interactions[rng() % ds->interactions.size()].video;
      signals[i] = {.retrieval_score = 1.0f - 0.002f * static_cast<float>(i),
                    .retrieval_rank = static_cast<int>(i),
                    .similarity_score = static_cast<float>(rng() % 1000) / 1000.0f,
                    .similarity_rank = static_cast<int>(rng() % videos.size())};
    }
  };

  std::unique_ptr<ranking::Ranker> ranker;
  if (!ranker_dir.empty()) {
    auto loaded = ranking::LoadRanker(ranker_dir);
    if (!loaded.ok()) {
      std::fprintf(stderr, "error: %s\n", loaded.status().message().c_str());
      return 1;
    }
    ranker = std::move(*loaded);
  } else {
    // Labels with a learnable signal (the user's affinity to the video's category), so that the
    // trees grow as in a real model.
    ranking::RankingData data[2];
    const size_t share =
        static_cast<size_t>(std::find(ranking::RankingFeatureNames().begin(),
                                      ranking::RankingFeatureNames().end(), "cross_category_share") -
                            ranking::RankingFeatureNames().begin());
    const size_t width = ranking::RankingFeatureNames().size();
    for (int g = 0; g < 1200; ++g) {
      ranking::RankingData& d = data[g % 6 == 0 ? 1 : 0];
      d.feature_names = ranking::RankingFeatureNames();
      uint32_t user;
      std::vector<uint32_t> videos;
      std::vector<ranking::CandidateSignals> signals;
      random_request(user, videos, signals);
      add_ease(user, videos, signals);
      const size_t start = d.features.size();
      agg.Assemble(user, ranking::RequestContext{.time = now}, videos, signals, d.features);
      for (size_t i = 0; i < videos.size(); ++i) {
        const float s = d.features[start + i * width + share];
        d.labels.push_back(s > 0.3f ? 2.0f : (s > 0.1f ? 1.0f : 0.0f));
      }
      d.group_sizes.push_back(static_cast<uint32_t>(videos.size()));
    }
    ranking::RankerOptions o;
    o.num_rounds = rounds;
    o.max_depth = depth;
    o.early_stopping_rounds = 0;  // keep every round: the latency of a full-size model
    ranking::RankerTrainReport report;
    auto trained = ranking::TrainXGBoostRanker(data[0], data[1], o, &report);
    if (!trained.ok()) {
      std::fprintf(stderr, "error: %s\n", trained.status().message().c_str());
      return 1;
    }
    ranker = std::move(*trained);
    std::printf("trees=%d max_depth=%d features=%zu train_s=%.2f\n", report.best_iteration, o.max_depth,
                width, report.train_seconds);
  }

  std::vector<double> ease_us, assemble_us, score_us, total_us;
  std::vector<float> features, scores(static_cast<size_t>(candidates));
  for (int r = 0; r < requests; ++r) {
    uint32_t user;
    std::vector<uint32_t> videos;
    std::vector<ranking::CandidateSignals> signals;
    random_request(user, videos, signals);
    Stopwatch t;
    add_ease(user, videos, signals);
    const double e = t.Seconds();
    features.clear();
    agg.Assemble(user, ranking::RequestContext{.time = now}, videos, signals, features);
    const double a = t.Seconds();
    if (!ranker->Score(features, videos.size(), scores).ok()) return 1;
    const double total = t.Seconds();
    ease_us.push_back(e * 1e6);
    assemble_us.push_back((a - e) * 1e6);
    score_us.push_back((total - a) * 1e6);
    total_us.push_back(total * 1e6);
  }
  std::printf("candidates=%d requests=%d\n", candidates, requests);
  std::printf("ease_p50_us=%.1f ease_p99_us=%.1f\n", Percentile(ease_us, 0.5), Percentile(ease_us, 0.99));
  std::printf("assemble_p50_us=%.1f assemble_p99_us=%.1f\n", Percentile(assemble_us, 0.5),
              Percentile(assemble_us, 0.99));
  std::printf("score_p50_us=%.1f score_p99_us=%.1f\n", Percentile(score_us, 0.5), Percentile(score_us, 0.99));
  std::printf("rank_total_p50_ms=%.3f rank_total_p99_ms=%.3f\n", Percentile(total_us, 0.5) / 1e3,
              Percentile(total_us, 0.99) / 1e3);
  return 0;
}
