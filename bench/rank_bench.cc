// Stage-3 latency: EASE lookups + feature assembly + ranker for 200 candidates of one request on one
// thread, the way the server runs it. A synthetic platform gives realistic aggregates; the ranker is trained
// on it (or loaded with --ranker DIR, e.g. a model written by the pipeline). Prints name=value.
//
// The live counters' cost in the same run: every request is ranked twice, with a read of the live
// counters of its user and of each candidate at the request time (what counter features cost the
// ranking stage) and without, in alternating order, so both see the same requests and the same
// machine noise; plus the cost of applying an event to them and their memory.
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
#include "vrec/features/counters.h"
#include "vrec/ranking/features.h"
#include "vrec/ranking/ranker.h"
#include "vrec/ranking/xgboost_ranker.h"
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
  // The live counters after the whole log, as a server holds them (snapshot base + events).
  features::EngagementCounters counters;
  {
    Stopwatch apply;
    for (const data::Interaction& x : ds->interactions) counters.Apply(features::CounterEventOf(*ds, x));
    const double s = apply.Seconds();
    counters.Compact(now);
    std::printf("counters_apply_ns_per_event=%.0f counters_videos=%zu counters_users=%zu counters_mib=%.1f\n",
                s * 1e9 / static_cast<double>(ds->interactions.size()), counters.videos(), counters.users(),
                static_cast<double>(counters.bytes()) / (1 << 20));
  }
  int64_t counters_sink = 0;
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
  const auto* xgb = dynamic_cast<const ranking::XGBoostRanker*>(ranker.get());
  if (xgb !=
      nullptr) {  // the evaluation Score uses, and the trees' size (a complete depth-4 tree has 31 nodes)
    const ranking::TreeEnsemble& e = xgb->compiled();
    std::printf("dense=%d mean_nodes_per_tree=%.1f\n", e.dense() ? 1 : 0,
                static_cast<double>(e.num_nodes()) / static_cast<double>(std::max<size_t>(1, e.num_trees())));
  }

  // [0]: with the live counters (as served), [1]: without.
  std::vector<double> ease_us[2], assemble_us[2], score_us[2], total_us[2];
  std::vector<double> walk_us;  // the same trees walked (TreeEnsemble::PredictByWalking), after each Score
  std::vector<float> walked(static_cast<size_t>(candidates));
  std::vector<float> features, scores(static_cast<size_t>(candidates));
  for (int r = 0; r < requests; ++r) {
    uint32_t user;
    std::vector<uint32_t> videos;
    std::vector<ranking::CandidateSignals> request_signals;
    random_request(user, videos, request_signals);
    for (int pass = 0; pass < 2; ++pass) {
      const int variant = (r + pass) % 2;
      std::vector<ranking::CandidateSignals> signals = request_signals;
      Stopwatch t;
      add_ease(user, videos, signals);
      const double e = t.Seconds();
      features.clear();
      agg.Assemble(user, ranking::RequestContext{.time = now}, videos, signals, features);
      if (variant == 0) {
        const features::CounterValues u = counters.User(ds->users[user].id, now);
        counters_sink += u(features::CounterKind::kPlays, features::CounterWindow::kDay);
        for (uint32_t v : videos) {
          const features::CounterValues c = counters.Video(ds->videos[v].id, now);
          counters_sink += c(features::CounterKind::kPlays, features::CounterWindow::kHour) +
                           c(features::CounterKind::kCompletions, features::CounterWindow::kWeek);
        }
      }
      const double a = t.Seconds();
      if (!ranker->Score(features, videos.size(), scores).ok()) return 1;
      const double total = t.Seconds();
      if (xgb != nullptr && variant == 1) {
        Stopwatch w;
        xgb->compiled().PredictByWalking(features.data(), videos.size(), walked.data());
        walk_us.push_back(w.Seconds() * 1e6);
      }
      ease_us[variant].push_back(e * 1e6);
      assemble_us[variant].push_back((a - e) * 1e6);
      score_us[variant].push_back((total - a) * 1e6);
      total_us[variant].push_back(total * 1e6);
    }
  }
  std::printf("candidates=%d requests=%d\n", candidates, requests);
  for (int variant = 0; variant < 2; ++variant) {
    const char* tag = variant == 0 ? "" : "no_counters_";
    std::printf("%sease_p50_us=%.1f %sease_p99_us=%.1f\n", tag, Percentile(ease_us[variant], 0.5), tag,
                Percentile(ease_us[variant], 0.99));
    std::printf("%sassemble_p50_us=%.1f %sassemble_p99_us=%.1f\n", tag, Percentile(assemble_us[variant], 0.5),
                tag, Percentile(assemble_us[variant], 0.99));
    std::printf("%sscore_p50_us=%.1f %sscore_p99_us=%.1f\n", tag, Percentile(score_us[variant], 0.5), tag,
                Percentile(score_us[variant], 0.99));
    std::printf("%srank_total_p50_ms=%.3f %srank_total_p99_ms=%.3f\n", tag,
                Percentile(total_us[variant], 0.5) / 1e3, tag, Percentile(total_us[variant], 0.99) / 1e3);
  }
  if (!walk_us.empty()) {
    std::printf("walk_score_p50_us=%.1f walk_score_p99_us=%.1f\n", Percentile(walk_us, 0.5),
                Percentile(walk_us, 0.99));
  }
  std::printf("counters_read_checksum=%lld\n", static_cast<long long>(counters_sink));
  std::printf("counters_p50_ratio=%.3f counters_p99_ratio=%.3f\n",
              Percentile(total_us[0], 0.5) / Percentile(total_us[1], 0.5),
              Percentile(total_us[0], 0.99) / Percentile(total_us[1], 0.99));
  return 0;
}
