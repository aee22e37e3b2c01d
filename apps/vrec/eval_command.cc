#include <cstdio>
#include <memory>
#include <optional>

#include "apps/vrec/commands.h"
#include "vrec/common/strings.h"
#include "vrec/common/sys.h"
#include "vrec/data/generic_csv.h"
#include "vrec/data/split.h"
#include "vrec/eval/harness.h"
#include "vrec/eval/report_html.h"
#include "vrec/offline/two_stage.h"
#include "vrec/registry/manifest.h"
#include "vrec/retrieval/ease.h"
#include "vrec/retrieval/popularity.h"
#include "vrec/retrieval/rank_fusion.h"
#include "vrec/retrieval/retriever.h"
#include "vrec/retrieval/sar.h"
#include "vrec/retrieval/two_tower.h"

namespace vrec::app {
namespace {

struct EvalFlags {
  DataSource source;
  std::string model = "sar";  // one model, or several separated by commas
  std::string split = "stratified";
  double ratio = 0.75;
  uint32_t seed = 42;
  std::optional<uint32_t> model_seed;  // the models' seed; --seed when not given
  int test_per_user = 10;
  double test_fraction = data::kDefaultTimeCutTestFraction;  // timecut split
  int k = 10;
  int threads = 2;
  double blend_weight = 0.5;  // weight of SAR in two-tower+sar (two-tower has 1)
  std::string save_dir;       // two-tower: write the deployable model here
  std::string report_path;    // write the HTML evaluation report here
  offline::TwoStageOptions two_stage;
  bool json = false;                  // one JSON object instead of name=value lines
  std::optional<int> history_sample;  // two-tower: TwoTowerOptions::history_sample when given

  uint32_t ModelSeed() const { return model_seed.value_or(seed); }  // the seed the models use
};

StatusOr<std::unique_ptr<retrieval::ItemScorer>> MakeScorer(const EvalFlags& f, const std::string& model) {
  if (model == "sar") {
    retrieval::SarOptions o;
    o.threads = f.threads;
    return std::make_unique<retrieval::SarScorer>(o);
  }
  if (model == "pop") return std::make_unique<retrieval::PopularityScorer>();
  if (model == "ease") return std::make_unique<retrieval::EaseScorer>(f.two_stage.ease);
  const uint32_t model_seed = f.ModelSeed();
  retrieval::TwoTowerOptions tt;
  tt.threads = f.threads;
  tt.seed = model_seed;
  if (f.history_sample) tt.history_sample = *f.history_sample;
  if (model == "two-tower") return std::make_unique<retrieval::TwoTowerScorer>(tt);
  if (model == "two-tower+sar") {
    retrieval::SarOptions sar;
    sar.threads = f.threads;
    std::vector<retrieval::RankFusionScorer::Part> parts;
    parts.push_back({std::make_unique<retrieval::TwoTowerScorer>(tt), 1.0});
    parts.push_back({std::make_unique<retrieval::SarScorer>(sar), f.blend_weight});
    return std::make_unique<retrieval::RankFusionScorer>(model, std::move(parts));
  }
  if (model == "two-tower+ease") {
    std::vector<retrieval::RankFusionScorer::Part> parts;
    parts.push_back({std::make_unique<retrieval::TwoTowerScorer>(tt), 1.0});
    parts.push_back({std::make_unique<retrieval::EaseScorer>(f.two_stage.ease), f.blend_weight});
    return std::make_unique<retrieval::RankFusionScorer>(model, std::move(parts));
  }
  if (model == "two-stage") {
    offline::TwoStageOptions o = f.two_stage;
    o.two_tower = tt;
    o.sar.threads = f.threads;
    o.ranker.threads = f.threads;
    o.seed = model_seed;
    o.ranker.seed = model_seed;
    return std::make_unique<offline::TwoStageScorer>(o);
  }
  return InvalidArgumentError(
      StrCat("unknown model '", model,
             "' (known: sar, pop, ease, two-tower, two-tower+sar, two-tower+ease, two-stage)"));
}

// Writes the trained two-tower model and an index over every video of `ds` into `dir`, with the
// evaluation figures in its manifest. Exact search below 100k videos, IVF above.
Status SaveTwoTower(const retrieval::TwoTowerScorer& scorer, const data::Dataset& ds,
                    const data::Split& split, const eval::EvalReport& r, int k, const std::string& dir,
                    CommandOutput& out) {
  VREC_ASSIGN_OR_RETURN(auto index,
                        retrieval::BuildCatalogIndex(scorer.model(), ds, scorer.video_positives()));
  retrieval::RetrievalBundle bundle{scorer.model(), std::move(index)};
  const std::map<std::string, double> metrics = {
      {"map", r.map},
      {StrCat("ndcg@", k), r.ndcg},
      {StrCat("precision@", k), r.precision},
      {StrCat("recall@", k), r.recall},
      {"recall@100", r.RecallAt(100)},
      {"recall@500", r.RecallAt(500)},
      {"auc", r.auc},
  };
  VREC_RETURN_IF_ERROR(bundle.Save(dir, data::TrainingDataHash(ds, split.train), metrics));
  out.Line(
      {CommandOutput::Text("saved", dir),
       CommandOutput::Int("videos", static_cast<int64_t>(ds.videos.size())),
       CommandOutput::Text("index", std::string(retrieval::AnnIndexKindName(bundle.index->options().kind)))});
  return OkStatus();
}

// The split `f` asks for.
StatusOr<data::Split> MakeSplit(const EvalFlags& f, const data::Dataset& ds) {
  if (f.split == "stratified") {
    return data::StratifiedSplit(ds.interactions, f.ratio, data::StratifyBy::kItem, f.seed);
  }
  if (f.split == "temporal") return data::TemporalSplit(ds.interactions, f.test_per_user);
  if (f.split == "timecut") return data::TimeCutSplit(ds.interactions, f.test_fraction);
  return InvalidArgumentError(StrCat("unknown split '", f.split, "' (known: stratified, temporal, timecut)"));
}

// What the split held out, in words (the report's and the time cut's line).
std::string SplitDescription(const EvalFlags& f, const data::Dataset& ds) {
  if (f.split == "temporal") return StrCat("temporal: each user's last ", f.test_per_user, " rows held out");
  if (f.split == "timecut") {
    const std::optional<int64_t> cut = data::TimeCut(ds.interactions, f.test_fraction);
    return cut ? StrCat("time cut: rows at or after ", registry::UtcIso8601(*cut), " (the latest ",
                        f.test_fraction, " of the rows) held out")
               : "time cut: every row at one time, nothing held out";
  }
  return StrCat("stratified by video: ", f.ratio, " of each user's rows in training, seed ", f.seed);
}

// Fits and evaluates `model` on `split`, printing its figures. When several models share one JSON
// object, each one's figures are under its name ("sar.ndcg@10"); lines carry model= anyway.
StatusOr<eval::EvalReport> EvalModel(const EvalFlags& f, const std::string& model, const data::Dataset& ds,
                                     const data::Split& split, bool several, CommandOutput& out) {
  VREC_ASSIGN_OR_RETURN(auto scorer, MakeScorer(f, model));
  using O = CommandOutput;
  const std::string prefix = several && f.json ? model : "";
  Stopwatch fit_clock;
  VREC_RETURN_IF_ERROR(scorer->Fit(ds, split.train));
  const double fit_s = fit_clock.Seconds();
  Stopwatch eval_clock;
  eval::EvalOptions options;
  options.k = f.k;
  options.threads = f.threads;
  eval::EvalReport r = eval::Evaluate(ds, split, *scorer, options);
  if (const auto* two_stage = dynamic_cast<const offline::TwoStageScorer*>(scorer.get())) {
    const ranking::RankerTrainReport& rr = two_stage->ranker_report();
    const std::string ranker = several && f.json ? model + ".ranker" : "ranker";
    out.Line({O::Num("valid_auc", rr.valid_auc), O::Num("valid_ndcg@10", rr.valid_ndcg),
              O::Num("retrieval_order_valid_auc", two_stage->retrieval_valid_auc()),
              O::Num("retrieval_order_valid_ndcg@10", two_stage->retrieval_valid_ndcg()),
              O::Int("best_iteration", rr.best_iteration),
              O::Int("train_groups", static_cast<int64_t>(two_stage->ranker_train_groups())),
              O::Int("train_rows", static_cast<int64_t>(two_stage->ranker_train_rows())),
              O::Num("train_s", rr.train_seconds, 2)},
             ranker);
    const offline::HeldOutRanking h = two_stage->EvaluateHeldOut(split.test, f.threads);
    out.Line(
        {O::Num("heldout_auc", h.ranker_auc), O::Num("retrieval_order_heldout_auc", h.retrieval_order_auc),
         O::Int("heldout_groups", h.groups)},
        ranker);
  }
  const std::string k = std::to_string(f.k);
  out.Line({O::Text("model", model), O::Int("users", r.users), O::Num("recall@500", r.RecallAt(500)),
            O::Num("auc", r.auc), O::Num("coverage@" + k, r.coverage), O::Num("diversity@" + k, r.diversity),
            O::Num("fit_s", fit_s, 2), O::Num("eval_s", eval_clock.Seconds(), 2)},
           prefix);
  out.Line({O::Text("model", model), O::Num("map", r.map), O::Num("ndcg@" + k, r.ndcg),
            O::Num("precision@" + k, r.precision), O::Num("recall@" + k, r.recall),
            O::Num("recall@100", r.RecallAt(100))},
           prefix);
  if (!f.save_dir.empty()) {
    VREC_RETURN_IF_ERROR(SaveTwoTower(static_cast<const retrieval::TwoTowerScorer&>(*scorer), ds, split, r,
                                      f.k, f.save_dir, out));
  }
  return r;
}

// What the report says about the data and the split.
eval::ReportMeta ReportMetaOf(const EvalFlags& f, const data::Dataset& ds) {
  eval::ReportMeta meta;
  meta.dataset = f.source.movielens_dir.empty() ? StrCat("generic ", f.source.generic_dir)
                                                : StrCat("movielens ", f.source.movielens_dir);
  meta.split = SplitDescription(f, ds);
  meta.generated_at = registry::NowUtcIso8601();
  meta.vrec_version = VREC_VERSION;
  return meta;
}

Status RunEval(const EvalFlags& f) {
  std::vector<std::string> models;
  for (std::string_view m : SplitNonEmpty(f.model, ',')) models.emplace_back(m);
  if (models.empty()) return InvalidArgumentError("--model is empty");
  for (const std::string& m : models)
    VREC_RETURN_IF_ERROR(MakeScorer(f, m).status());  // names, before loading
  if (!f.save_dir.empty()) {
    if (models != std::vector<std::string>{"two-tower"}) {
      return InvalidArgumentError("--save works with --model two-tower only");
    }
    VREC_RETURN_IF_ERROR(data::CheckOutputFolder(f.save_dir));
  }
  if (!f.report_path.empty()) VREC_RETURN_IF_ERROR(eval::CheckReportPath(f.report_path));
  VREC_ASSIGN_OR_RETURN(data::Dataset ds, f.source.Load());
  VREC_ASSIGN_OR_RETURN(data::Split split, MakeSplit(f, ds));
  if (split.train.empty() || split.test.empty()) {
    return InvalidArgumentError(StrCat("the ", f.split, " split left ", split.train.size(), " training and ",
                                       split.test.size(), " test rows: nothing to evaluate"));
  }
  CommandOutput out(f.json);
  using O = CommandOutput;
  out.Line({O::Text("split", f.split), O::Int("train_rows", static_cast<int64_t>(split.train.size())),
            O::Int("test_rows", static_cast<int64_t>(split.test.size())),
            O::Int("model_seed", f.ModelSeed())});
  if (f.split == "timecut") {
    if (const std::optional<int64_t> cut = data::TimeCut(ds.interactions, f.test_fraction)) {
      out.Line({O::Text("time_cut", registry::UtcIso8601(*cut))});
    }
  }
  std::vector<eval::ReportModel> reports;
  for (const std::string& m : models) {
    StatusOr<eval::EvalReport> r = EvalModel(f, m, ds, split, models.size() > 1, out);
    if (!r.ok()) {
      out.Finish();
      return r.status();
    }
    reports.push_back({m, std::move(r).value()});
  }
  Status written = OkStatus();
  if (!f.report_path.empty()) {
    written = eval::WriteHtmlReport(f.report_path, eval::RenderHtmlReport(ReportMetaOf(f, ds), reports));
    if (written.ok()) out.Line({O::Text("report", f.report_path)});
  }
  out.Finish();
  return written;
}

}  // namespace

void AddEvalCommand(CLI::App& app, std::function<Status()>& run) {
  auto flags = std::make_shared<EvalFlags>();
  auto* cmd = app.add_subcommand("eval", "train a model on a split and print ranking metrics");
  flags->source.AddFlags(*cmd);
  cmd->add_option("--model", flags->model,
                  "sar | pop | ease | two-tower | two-tower+sar | two-tower+ease | two-stage, or several "
                  "separated by commas (sar,ease) to compare them on the same split")
      ->capture_default_str();
  cmd->add_option(
         "--split", flags->split,
         "stratified (Recommenders' python_stratified_split by item) | temporal (each user's last N) "
         "| timecut (every row at or after one time: the latest --test-fraction of the rows)")
      ->check(CLI::IsMember({"stratified", "temporal", "timecut"}))
      ->capture_default_str();
  cmd->add_option("--ratio", flags->ratio, "train ratio of the stratified split")->capture_default_str();
  cmd->add_option(
         "--seed", flags->seed,
         "seed of the stratified split (numpy legacy MT19937), and of the models unless --model-seed")
      ->capture_default_str();
  cmd->add_option("--model-seed", flags->model_seed,
                  "seed of the models alone (two-tower initial weights and batches, the ranker's label "
                  "slices): the split stays that of --seed, so runs measure the models' seed noise");
  cmd->add_option("--test-per-user", flags->test_per_user, "N of the temporal split")->capture_default_str();
  cmd->add_option("--test-fraction", flags->test_fraction,
                  "share of the rows, the latest by time, the timecut split holds out")
      ->check(CLI::Range(0.01, 0.99))
      ->capture_default_str();
  cmd->add_option("--k", flags->k, "cut-off of the top-k metrics")->capture_default_str();
  cmd->add_option("--threads", flags->threads, "worker threads")->capture_default_str();
  cmd->add_flag("--json", flags->json, "print one JSON object of the figures instead of name=value lines");
  cmd->add_option("--blend-weight", flags->blend_weight,
                  "weight of SAR's (EASE's) ranks in two-tower+sar (two-tower+ease)")
      ->capture_default_str();
  cmd->add_option("--history-sample", flags->history_sample,
                  StrCat("two-tower: history videos a training step pools per user, a fresh sample per "
                         "batch (0 = the whole history; default ",
                         retrieval::TwoTowerOptions{}.history_sample,
                         ", as the pipeline's training.two_tower_history_sample)"))
      ->check(CLI::Range(0, 1 << 20));
  auto& ts = flags->two_stage;
  cmd->add_option("--label-fraction", ts.label_fraction,
                  "two-stage: share of each user's positives labelling the ranker")
      ->capture_default_str();
  cmd->add_option("--candidates", ts.candidates, "two-stage: retrieval depth fed to the ranker")
      ->capture_default_str();
  cmd->add_option("--ease-candidates", ts.ease_candidates,
                  "two-stage: EASE's best videos merged after the two-tower's candidates")
      ->capture_default_str();
  cmd->add_option("--label-folds", ts.label_folds, "two-stage: label slices, each with its own retrieval fit")
      ->capture_default_str();
  cmd->add_flag("!--no-refit", ts.refit_on_full,
                "two-stage: score with the retrieval model the ranker was trained on");
  cmd->add_flag("--binary-labels", ts.binary_labels, "two-stage: label every held-out positive 1");
  cmd->add_option("--ranker-objective", ts.ranker.objective,
                  "two-stage: rank:ndcg | rank:pairwise | rank:map")
      ->capture_default_str();
  cmd->add_option("--ranker-depth", ts.ranker.max_depth, "two-stage: tree depth")->capture_default_str();
  cmd->add_option("--ranker-eta", ts.ranker.learning_rate, "two-stage: learning rate")->capture_default_str();
  cmd->add_option("--ranker-min-child-weight", ts.ranker.min_child_weight, "two-stage: min child weight")
      ->capture_default_str();
  cmd->add_option("--ranker-rounds", ts.ranker.num_rounds, "two-stage: maximum boosting rounds")
      ->capture_default_str();
  cmd->add_option("--ease-lambda", ts.ease.lambda, "ease and two-stage: EASE's L2 penalty")
      ->capture_default_str();
  cmd->add_option("--ease-videos", ts.ease.max_videos, "ease and two-stage: most popular videos EASE models")
      ->capture_default_str();
  cmd->add_option("--report", flags->report_path,
                  "write a self-contained HTML report (metrics, recall@K curve, nDCG by user activity, "
                  "popularity bias) of every model to this file");
  cmd->add_option("--save", flags->save_dir,
                  "two-tower: save the trained model and its video index to this new folder");
  cmd->callback([&run, flags] { run = [flags] { return RunEval(*flags); }; });
}

}  // namespace vrec::app
