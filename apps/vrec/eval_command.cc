#include <cstdio>
#include <memory>

#include "apps/vrec/commands.h"
#include "vrec/common/strings.h"
#include "vrec/common/sys.h"
#include "vrec/data/split.h"
#include "vrec/eval/harness.h"
#include "vrec/retrieval/popularity.h"
#include "vrec/retrieval/sar.h"
#include "vrec/retrieval/two_tower.h"

namespace vrec::app {
namespace {

struct EvalFlags {
  DataSource source;
  std::string model = "sar";
  std::string split = "stratified";
  double ratio = 0.75;
  uint32_t seed = 42;
  int test_per_user = 10;
  int k = 10;
  int threads = 2;
};

StatusOr<std::unique_ptr<retrieval::ItemScorer>> MakeScorer(const EvalFlags& f) {
  if (f.model == "sar") {
    retrieval::SarOptions o;
    o.threads = f.threads;
    return std::make_unique<retrieval::SarScorer>(o);
  }
  if (f.model == "pop") return std::make_unique<retrieval::PopularityScorer>();
  if (f.model == "two-tower") {
    retrieval::TwoTowerOptions o;
    o.threads = f.threads;
    o.seed = f.seed;
    return std::make_unique<retrieval::TwoTowerScorer>(o);
  }
  return InvalidArgumentError(StrCat("unknown model '", f.model, "' (known: sar, pop, two-tower)"));
}

Status RunEval(const EvalFlags& f) {
  VREC_ASSIGN_OR_RETURN(auto scorer, MakeScorer(f));
  VREC_ASSIGN_OR_RETURN(data::Dataset ds, f.source.Load());
  data::Split split;
  if (f.split == "stratified") {
    split = data::StratifiedSplit(ds.interactions, f.ratio, data::StratifyBy::kItem, f.seed);
  } else if (f.split == "temporal") {
    split = data::TemporalSplit(ds.interactions, f.test_per_user);
  } else {
    return InvalidArgumentError(StrCat("unknown split '", f.split, "' (known: stratified, temporal)"));
  }
  std::printf("split=%s train_rows=%zu test_rows=%zu\n", f.split.c_str(), split.train.size(),
              split.test.size());
  Stopwatch fit_clock;
  VREC_RETURN_IF_ERROR(scorer->Fit(ds, split.train));
  const double fit_s = fit_clock.Seconds();
  Stopwatch eval_clock;
  eval::EvalOptions options;
  options.k = f.k;
  options.threads = f.threads;
  eval::EvalReport r = eval::Evaluate(ds, split, *scorer, options);
  std::printf(
      "model=%s users=%lld recall@500=%.6f auc=%.6f coverage@%d=%.6f diversity@%d=%.6f fit_s=%.2f "
      "eval_s=%.2f\n",
      f.model.c_str(), static_cast<long long>(r.users), r.RecallAt(500), r.auc, f.k, r.coverage, f.k,
      r.diversity, fit_s, eval_clock.Seconds());
  std::printf("model=%s map=%.6f ndcg@%d=%.6f precision@%d=%.6f recall@%d=%.6f recall@100=%.6f\n",
              f.model.c_str(), r.map, f.k, r.ndcg, f.k, r.precision, f.k, r.recall, r.RecallAt(100));
  return OkStatus();
}

}  // namespace

void AddEvalCommand(CLI::App& app, std::function<Status()>& run) {
  auto flags = std::make_shared<EvalFlags>();
  auto* cmd = app.add_subcommand("eval", "train a model on a split and print ranking metrics");
  flags->source.AddFlags(*cmd);
  cmd->add_option("--model", flags->model, "sar | pop | two-tower")->capture_default_str();
  cmd->add_option(
         "--split", flags->split,
         "stratified (Recommenders' python_stratified_split by item) | temporal (each user's last N)")
      ->capture_default_str();
  cmd->add_option("--ratio", flags->ratio, "train ratio of the stratified split")->capture_default_str();
  cmd->add_option("--seed", flags->seed, "seed of the stratified split (numpy legacy MT19937)")
      ->capture_default_str();
  cmd->add_option("--test-per-user", flags->test_per_user, "N of the temporal split")->capture_default_str();
  cmd->add_option("--k", flags->k, "cut-off of the top-k metrics")->capture_default_str();
  cmd->add_option("--threads", flags->threads, "worker threads")->capture_default_str();
  cmd->callback([&run, flags] { run = [flags] { return RunEval(*flags); }; });
}

}  // namespace vrec::app
