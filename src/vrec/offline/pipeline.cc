#include "vrec/offline/pipeline.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "vrec/common/hash.h"
#include "vrec/common/strings.h"
#include "vrec/common/sys.h"
#include "vrec/data/generic_csv.h"
#include "vrec/data/split.h"
#include "vrec/eval/harness.h"
#include "vrec/ranking/features.h"
#include "vrec/registry/manifest.h"
#include "vrec/registry/model_layout.h"
#include "vrec/registry/registry.h"
#include "vrec/retrieval/retriever.h"
#include "vrec/snapshot/serving_snapshot.h"

namespace vrec::offline {
namespace {

namespace fs = std::filesystem;

// The options that change what a run trains, as text: part of the inputs hash and the record.
std::string OptionsText(const PipelineOptions& o) {
  const TwoStageOptions& m = o.model;
  return StrCat("split=", o.split, " test_per_user=", o.test_per_user, " train_ratio=", o.train_ratio,
                " split_seed=", o.split_seed, " label_fraction=", m.label_fraction,
                " label_folds=", m.label_folds, " candidates=", m.candidates,
                " two_tower.dim=", m.two_tower.output_dim, " two_tower.max_epochs=", m.two_tower.max_epochs,
                " ranker.objective=", m.ranker.objective, " ranker.rounds=", m.ranker.num_rounds,
                " ranker.depth=", m.ranker.max_depth, " ranker.eta=", m.ranker.learning_rate,
                " ease.lambda=", m.ease.lambda, " ease.videos=", m.ease.max_videos, " seed=", m.seed);
}

std::map<std::string, double> Figures(const eval::EvalReport& r, std::string_view prefix) {
  const std::string p(prefix);
  return {{p + "map", r.map},
          {p + "ndcg@10", r.ndcg},
          {p + "precision@10", r.precision},
          {p + "recall@10", r.recall},
          {p + "recall@100", r.RecallAt(100)},
          {p + "auc", r.auc},
          {p + "coverage@10", r.coverage}};
}

Status WriteRecord(const PipelineRecord& r, const std::string& options_text, const std::string& source,
                   const std::string& path) {
  nlohmann::json j;
  j["run_id"] = r.run_id;
  j["started_at"] = r.started_at;
  j["source"] = source;
  j["inputs_hash"] = r.inputs_hash;
  j["options"] = options_text;
  j["step_seconds"] = r.step_seconds;
  j["metrics"] = r.metrics;
  nlohmann::json gates = nlohmann::json::array();
  for (const GateVerdict& g : r.gates) {
    gates.push_back({{"gate", g.name}, {"value", g.value}, {"threshold", g.threshold}, {"passed", g.passed}});
  }
  j["gates"] = gates;
  j["gates_passed"] = r.gates_passed;
  j["production_before"] = r.production_before ? nlohmann::json(*r.production_before) : nlohmann::json();
  j["version"] = r.version ? nlohmann::json(*r.version) : nlohmann::json();
  j["promoted"] = r.promoted;
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << j.dump(2) << "\n";
    if (!out) return InternalError(StrCat("cannot write ", tmp));
  }
  fs::rename(tmp, path, ec);
  if (ec) return InternalError(StrCat("cannot rename ", tmp, ": ", ec.message()));
  return OkStatus();
}

// Writes everything serving needs into `dir` (see registry/model_layout.h).
Status ExportModel(const data::Dataset& ds, const data::Split& split, const TwoStageScorer& scorer,
                   const PipelineRecord& record, const PipelineOptions& o, const std::string& options_text,
                   const std::string& dir) {
  const retrieval::TwoTowerScorer& tt = scorer.two_tower();
  VREC_ASSIGN_OR_RETURN(auto index, retrieval::BuildCatalogIndex(tt.model(), ds, tt.video_positives()));
  const std::string data_hash = data::TrainingDataHash(ds, split.train);
  retrieval::RetrievalBundle bundle{tt.model(), std::move(index)};
  VREC_RETURN_IF_ERROR(
      bundle.Save((fs::path(dir) / registry::kRetrievalDir).string(), data_hash, record.metrics));
  VREC_RETURN_IF_ERROR(scorer.ranker().Save((fs::path(dir) / registry::kRankerDir).string()));
  VREC_RETURN_IF_ERROR(data::WriteGenericCsv(ds, (fs::path(dir) / registry::kCatalogDir).string()));
  // Everything serving derives from the snapshot, fitted on all of it (as production serves the
  // whole log), written once here so that servers map it instead of refitting at every start.
  snapshot::SnapshotOptions so;
  so.sar = o.model.sar;
  so.ease = o.model.ease;
  VREC_ASSIGN_OR_RETURN(auto serving, snapshot::ServingSnapshot::Build(ds, ds.interactions, so));
  VREC_RETURN_IF_ERROR(serving->Save((fs::path(dir) / registry::kServingSnapshotFile).string()));

  registry::Manifest m;
  m.model_kind = registry::kModelKind;
  m.created_at = registry::NowUtcIso8601();
  m.feature_schema = ranking::RankingFeatureSchema();
  m.feature_schema_hash = HashHex(m.feature_schema);
  m.training_data_hash = data_hash;
  m.metrics = record.metrics;
  m.files = {{"retrieval", registry::kRetrievalDir},
             {"ranker", registry::kRankerDir},
             {"catalog", registry::kCatalogDir},
             {"serving", registry::kServingSnapshotFile}};
  m.params = {{"options", options_text},
              {"run_id", record.run_id},
              {"inputs_hash", record.inputs_hash},
              {"sar.half_life_days", StrCat(o.model.sar.half_life_days)},
              {"ease.lambda", StrCat(o.model.ease.lambda)},
              {"ease.max_videos", StrCat(o.model.ease.max_videos)},
              // What the served models cover, as fitted on the whole snapshot.
              {"ease.videos_modelled", StrCat(serving->ease().modelled_videos())},
              {"ease.positive_coverage", StrCat(serving->ease().positive_coverage())},
              {"sar.neighbours_per_video", StrCat(serving->sar().neighbours())},
              {"ease.max_history", StrCat(o.model.ease.max_history)},
              {"candidates", StrCat(o.model.candidates)},
              {"source", o.source}};
  for (const auto& [key, value] : o.manifest_params) m.params[key] = value;
  return registry::WriteManifest(dir, m);
}

}  // namespace

StatusOr<PipelineRecord> RunPipeline(const data::Dataset& ds, const PipelineOptions& o) {
  PipelineRecord rec;
  rec.started_at = registry::NowUtcIso8601();
  const std::string options_text = OptionsText(o);
  VREC_ASSIGN_OR_RETURN(registry::ModelRegistry reg, registry::ModelRegistry::Open(o.registry));
  const auto say = [](const std::string& s) { std::fprintf(stderr, "pipeline: %s\n", s.c_str()); };

  // 1. Preprocess.
  Stopwatch clock;
  VREC_RETURN_IF_ERROR(ds.Validate());
  data::Split split;
  if (o.split == "temporal") {
    split = data::TemporalSplit(ds.interactions, o.test_per_user);
  } else if (o.split == "stratified") {
    split = data::StratifiedSplit(ds.interactions, o.train_ratio, data::StratifyBy::kItem, o.split_seed);
  } else {
    return InvalidArgumentError(StrCat("unknown split '", o.split, "' (known: temporal, stratified)"));
  }
  if (split.train.empty() || split.test.empty()) {
    return InvalidArgumentError(StrCat("the ", o.split, " split left ", split.train.size(), " training and ",
                                       split.test.size(),
                                       " test rows: not enough data to train and evaluate"));
  }
  rec.inputs_hash = HashHex(StrCat(data::TrainingDataHash(ds, split.train), "|", options_text));
  rec.run_id = StrCat(rec.started_at, "-", rec.inputs_hash.substr(0, 8));
  for (char& c : rec.run_id) {
    if (c == ':') c = '-';
  }
  rec.record_path = (fs::path(o.registry) / "runs" / (rec.run_id + ".json")).string();
  rec.step_seconds["preprocess"] = clock.Seconds();
  say(StrCat("preprocess: ", split.train.size(), " train rows, ", split.test.size(), " test rows (", o.split,
             " split) in ", rec.step_seconds["preprocess"], " s"));

  // Everything after preprocessing leaves a record, also when a step fails.
  auto fail = [&](Status s) -> Status {
    rec.metrics["failed"] = 1;
    Status w = WriteRecord(rec, options_text, o.source, rec.record_path);
    if (!w.ok()) say(StrCat("could not write the run record: ", w.message()));
    return s;
  };

  // 2. Train (retrieval and ranker; see TwoStageScorer for the parallel final fit).
  clock.Reset();
  TwoStageScorer scorer(o.model);
  if (Status s = scorer.Fit(ds, split.train); !s.ok()) return fail(s);
  rec.step_seconds["train"] = clock.Seconds();
  for (const auto& [step, seconds] : scorer.fit_seconds()) rec.step_seconds["train." + step] = seconds;
  say(StrCat("train: ", rec.step_seconds["train"], " s"));

  // 3. Evaluate.
  clock.Reset();
  eval::EvalOptions eo;
  eo.threads = o.eval_threads;
  const eval::EvalReport retrieval_report = eval::Evaluate(ds, split, scorer.two_tower(), eo);
  eo.recall_depths = {100};
  const eval::EvalReport full_report = eval::Evaluate(ds, split, scorer, eo);
  rec.metrics = Figures(retrieval_report, "retrieval_");
  rec.metrics.merge(Figures(full_report, "two_stage_"));
  rec.metrics["ranker_valid_auc"] = scorer.ranker_report().valid_auc;
  rec.metrics["ranker_valid_ndcg"] = scorer.ranker_report().valid_ndcg;
  rec.metrics["ranker_best_iteration"] = scorer.ranker_report().best_iteration;
  const HeldOutRanking heldout = scorer.EvaluateHeldOut(split.test, o.eval_threads);
  rec.metrics["ranker_heldout_auc"] = heldout.ranker_auc;
  rec.metrics["retrieval_order_heldout_auc"] = heldout.retrieval_order_auc;
  rec.metrics["ranker_heldout_groups"] = static_cast<double>(heldout.groups);
  rec.metrics["test_users"] = static_cast<double>(full_report.users);
  rec.step_seconds["evaluate"] = clock.Seconds();
  say(StrCat("evaluate: retrieval ndcg@10 ", retrieval_report.ndcg, " recall@100 ",
             retrieval_report.RecallAt(100), "; two-stage ndcg@10 ", full_report.ndcg,
             "; ranker held-out auc ", heldout.ranker_auc, " (retrieval order ", heldout.retrieval_order_auc,
             "), valid auc ", scorer.ranker_report().valid_auc, " ndcg ", scorer.ranker_report().valid_ndcg));

  // 4. Gates, against the thresholds and the production model.
  auto production = reg.ProductionVersion();
  if (!production.ok()) return fail(production.status());
  rec.production_before = *production;
  std::optional<registry::Manifest> production_manifest;
  if (rec.production_before) {
    auto m = registry::ReadManifest(reg.VersionPath(*rec.production_before));
    if (m.ok()) {
      production_manifest = std::move(m).value();
    } else {
      say(StrCat("production ", *rec.production_before, " has no readable manifest (", m.status().message(),
                 "): comparing with thresholds only"));
    }
  }
  rec.gates = CheckGates(o.gates, rec.metrics, production_manifest ? &production_manifest->metrics : nullptr);
  rec.gates_passed = AllGatesPassed(rec.gates);
  for (const GateVerdict& g : rec.gates) {
    say(StrCat("gate ", g.passed ? "PASS " : "FAIL ", g.name, ": ", g.value));
  }

  // 5. Deploy.
  clock.Reset();
  if (rec.gates_passed) {
    auto staging = reg.BeginVersion();
    if (!staging.ok()) return fail(staging.status());
    if (Status s = ExportModel(ds, split, scorer, rec, o, options_text, *staging); !s.ok()) {
      std::error_code ec;
      fs::remove_all(*staging, ec);
      return fail(s);
    }
    auto version = reg.CommitVersion(*staging);
    if (!version.ok()) return fail(version.status());
    rec.version = *version;
    if (o.promote) {
      if (Status s = reg.Promote(*version, StrCat("pipeline run ", rec.run_id, ": all gates passed"),
                                 o.validate_for_serving);
          !s.ok()) {
        return fail(s);
      }
      rec.promoted = true;
    }
    say(StrCat("deploy: registered ", *version,
               rec.promoted ? ", promoted to production" : ", not promoted"));
  } else {
    say(StrCat("deploy: gates failed; nothing registered, production stays ",
               rec.production_before ? *rec.production_before : std::string("empty")));
  }
  rec.step_seconds["deploy"] = clock.Seconds();
  VREC_RETURN_IF_ERROR(WriteRecord(rec, options_text, o.source, rec.record_path));
  return rec;
}

}  // namespace vrec::offline
