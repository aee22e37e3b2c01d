// objectives_sim: ranking for watch time, completions and likes against the single-objective
// ranker, judged by the synthetic platform's ground truth.
//
// For each seed: generates a synthetic platform (data::GenerateSynthetic), holds out each user's
// last 10 events as the pipeline does, trains the two-stage model with its objective heads on the
// rest (offline::TwoStageScorer, as `vrec pipeline run` trains it), and for a sample of users
// orders each user's ranked candidates by every policy: the ranker alone (today's ranking), each
// head alone, and blends (ranking::Blend, as serving's stage 3 computes them). Videos the serving
// filters would drop (taken down, age-restricted for a minor or a user of unknown age) are left
// out first. Each policy's top 10 is then scored by the TRUE expectations of the platform's
// response model (data::SyntheticWorld, rebuilt from the same config), per shown video:
//   watch_time_s_at_10   expected watch seconds, summed over the 10 (ExpectedWatchRatio x duration)
//   like_rate_at_10      like chance, mean over the 10
//   skip_rate_at_10      skip chance, mean over the 10
//   completion_rate_at_10 chance of a play to the end, mean over the 10
// and, for scale, two oracles that know the truth (the best top 10 of the same candidates for
// watch time and for likes). Prints name=value lines per seed and the mean over seeds, with each
// policy's change against the ranker.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "vrec/data/split.h"
#include "vrec/data/synth.h"
#include "vrec/offline/two_stage.h"
#include "vrec/ranking/objectives.h"

namespace {

using vrec::ranking::BlendWeights;
using vrec::ranking::Objective;

struct Policy {
  std::string name;
  BlendWeights weights;
  int oracle = -1;  // >= 0: orders by the truth of metric `oracle` instead (0 watch, 1 like)
};

struct Metrics {
  double watch_s = 0, like = 0, skip = 0, complete = 0;
  Metrics& operator+=(const Metrics& o) {
    watch_s += o.watch_s, like += o.like, skip += o.skip, complete += o.complete;
    return *this;
  }
  Metrics Scaled(double f) const { return {watch_s * f, like * f, skip * f, complete * f}; }
};

void Print(const std::string& prefix, const Metrics& m) {
  std::printf("%s.watch_time_s_at_10=%.2f\n", prefix.c_str(), m.watch_s);
  std::printf("%s.like_rate_at_10=%.5f\n", prefix.c_str(), m.like);
  std::printf("%s.skip_rate_at_10=%.5f\n", prefix.c_str(), m.skip);
  std::printf("%s.completion_rate_at_10=%.5f\n", prefix.c_str(), m.complete);
}

void PrintChange(const std::string& prefix, const Metrics& m, const Metrics& base) {
  std::printf("%s.watch_time_vs_ranker=%+.2f%%\n", prefix.c_str(), 100 * (m.watch_s / base.watch_s - 1));
  std::printf("%s.like_rate_vs_ranker=%+.2f%%\n", prefix.c_str(), 100 * (m.like / base.like - 1));
  std::printf("%s.skip_rate_vs_ranker=%+.2f%%\n", prefix.c_str(), 100 * (m.skip / base.skip - 1));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"objective heads and blends vs the single-objective ranker on the synthetic platform's truth"};
  vrec::data::SynthConfig config;
  config.num_users = 4000;
  config.num_videos = 8000;
  config.num_interactions = 300'000;
  config.quiet = true;
  std::vector<uint64_t> seeds = {42};
  int eval_users = 2000, top = 10, epochs = 30, label_folds = 2, threads = 2;
  app.add_option("--users", config.num_users, "synthetic platform: users");
  app.add_option("--videos", config.num_videos, "synthetic platform: videos");
  app.add_option("--interactions", config.num_interactions, "synthetic platform: rows");
  app.add_option("--seeds", seeds, "platform seeds (one platform and one model per seed)");
  app.add_option("--eval-users", eval_users, "users sampled for the evaluation (at most all)");
  app.add_option("--top", top, "list length judged");
  app.add_option("--two-tower-epochs", epochs, "two-tower epochs (upper bound; early stopping)");
  app.add_option("--label-folds", label_folds, "ranker label folds");
  app.add_option("--threads", threads, "training threads");
  CLI11_PARSE(app, argc, argv);

  const std::vector<Policy> policies = {
      {"ranker", {.ranker = 1}},
      {"watch_head", {.ranker = 0, .watch = 1}},
      {"completion_head", {.ranker = 0, .complete = 1}},
      {"like_head", {.ranker = 0, .like = 1}},
      {"blend_watch", {.ranker = 1, .watch = 1}},
      {"blend_like", {.ranker = 1, .like = 1}},
      {"blend_balanced", {.ranker = 1, .watch = 0.5, .complete = 0.5, .like = 0.5}},
      {"oracle_watch", {}, 0},
      {"oracle_like", {}, 1},
  };
  std::map<std::string, Metrics> total;
  std::printf("users=%lld videos=%lld interactions=%lld seeds=%zu eval_users=%d top=%d\n",
              static_cast<long long>(config.num_users), static_cast<long long>(config.num_videos),
              static_cast<long long>(config.num_interactions), seeds.size(), eval_users, top);
  for (const uint64_t seed : seeds) {
    config.seed = seed;
    config.threads = threads;
    const auto start = std::chrono::steady_clock::now();
    auto ds = vrec::data::GenerateSynthetic(config);
    auto world = vrec::data::SyntheticWorld::Build(config);
    if (!ds.ok() || !world.ok()) {
      std::fprintf(stderr, "objectives_sim: %s\n",
                   (!ds.ok() ? ds.status() : world.status()).ToString().c_str());
      return 1;
    }
    const vrec::data::Split split = vrec::data::TemporalSplit(ds->interactions, 10);
    vrec::offline::TwoStageOptions o;
    o.two_tower.max_epochs = epochs;
    o.two_tower.threads = threads;
    o.two_tower.verbose = false;
    o.label_folds = label_folds;
    o.threads = threads;
    o.ranker.threads = threads;
    o.head.threads = threads;
    o.seed = seed;
    vrec::offline::TwoStageScorer scorer(o);
    if (const vrec::Status s = scorer.Fit(*ds, split.train); !s.ok()) {
      std::fprintf(stderr, "objectives_sim: %s\n", s.ToString().c_str());
      return 1;
    }
    const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string run = "seed" + std::to_string(seed);
    std::printf("%s.train_s=%.1f\n", run.c_str(), train_s);
    std::printf("%s.ranker_train_groups=%lld\n", run.c_str(),
                static_cast<long long>(scorer.ranker_train_groups()));
    for (const auto& [name, r] : scorer.head_reports()) {
      std::printf("%s.head.%s.valid_%s=%.5f\n", run.c_str(), name.c_str(), r.metric.c_str(), r.valid_metric);
      std::printf("%s.head.%s.valid_auc=%.4f\n", run.c_str(), name.c_str(), r.valid_auc);
    }
    for (Objective h : vrec::ranking::kObjectives) {
      if (scorer.heads().get(h) == nullptr) {
        std::fprintf(stderr, "objectives_sim: the %s head was not trained (too little signal)\n",
                     std::string(vrec::ranking::Name(h)).c_str());
        return 1;
      }
    }

    // A fixed random sample of users.
    std::vector<uint32_t> users(ds->users.size());
    std::iota(users.begin(), users.end(), 0u);
    std::mt19937_64 rng(seed + 7);
    std::shuffle(users.begin(), users.end(), rng);
    users.resize(std::min(users.size(), static_cast<size_t>(eval_users)));

    std::map<std::string, Metrics> sums;
    int counted = 0;
    std::vector<float> blended;
    for (const uint32_t u : users) {
      vrec::offline::CandidateScores c = scorer.ScoreCandidates(u);
      // What serving's filters would drop: taken down; age-restricted for a minor or an unknown age.
      const int age = ds->users[u].age;
      std::vector<size_t> keep;
      for (size_t i = 0; i < c.videos.size(); ++i) {
        const vrec::data::Video& v = ds->videos[c.videos[i]];
        if (v.available && !(v.age_restricted && (age < 0 || age < 18))) keep.push_back(i);
      }
      if (keep.size() < static_cast<size_t>(top)) continue;
      const size_t n = keep.size();
      std::vector<float> ranker(n);
      std::array<std::vector<float>, vrec::ranking::kNumObjectives> heads;
      std::vector<double> true_watch(n), true_like(n), true_skip(n), true_complete(n);
      for (size_t k = 0; k < n; ++k) {
        const size_t i = keep[k];
        const uint32_t v = c.videos[i];
        ranker[k] = c.ranker[i];
        for (size_t h = 0; h < heads.size(); ++h) heads[h].push_back(c.heads[h][i]);
        true_watch[k] = world->ExpectedWatchRatio(u, v) * ds->videos[v].duration_s;
        true_like[k] = world->LikeProbability(u, v);
        true_skip[k] = world->SkipProbability(u, v);
        true_complete[k] = world->CompletionProbability(u, v);
      }
      for (const Policy& p : policies) {
        blended.resize(n);
        if (p.oracle < 0) {
          vrec::ranking::Blend(p.weights, ranker, heads, blended);
        } else {
          const std::vector<double>& truth = p.oracle == 0 ? true_watch : true_like;
          for (size_t k = 0; k < n; ++k) blended[k] = static_cast<float>(truth[k]);
        }
        std::vector<size_t> order(n);
        std::iota(order.begin(), order.end(), size_t{0});
        std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](size_t a, size_t b) {
          return blended[a] != blended[b] ? blended[a] > blended[b] : a < b;
        });
        Metrics m;
        for (int r = 0; r < top; ++r) {
          const size_t k = order[static_cast<size_t>(r)];
          m.watch_s += true_watch[k];
          m.like += true_like[k] / top;
          m.skip += true_skip[k] / top;
          m.complete += true_complete[k] / top;
        }
        sums[p.name] += m;
      }
      ++counted;
    }
    std::printf("%s.users_evaluated=%d\n", run.c_str(), counted);
    for (const Policy& p : policies) {
      const Metrics m = sums[p.name].Scaled(1.0 / counted);
      Print(run + "." + p.name, m);
      total[p.name] += m.Scaled(1.0 / static_cast<double>(seeds.size()));
    }
    std::fflush(stdout);
  }
  for (const Policy& p : policies) {
    Print("mean." + p.name, total[p.name]);
    if (p.name != "ranker") PrintChange("mean." + p.name, total[p.name], total["ranker"]);
  }
  return 0;
}
