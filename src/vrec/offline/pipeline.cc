#include "vrec/offline/pipeline.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "vrec/common/hash.h"
#include "vrec/common/progress.h"
#include "vrec/common/strings.h"
#include "vrec/common/sys.h"
#include "vrec/data/generic_csv.h"
#include "vrec/data/split.h"
#include "vrec/eval/harness.h"
#include "vrec/eval/report_html.h"
#include "vrec/ranking/features.h"
#include "vrec/registry/manifest.h"
#include "vrec/registry/model_layout.h"
#include "vrec/registry/registry.h"
#include "vrec/retrieval/ann_tuning.h"
#include "vrec/retrieval/retriever.h"
#include "vrec/snapshot/serving_snapshot.h"

namespace vrec::offline {
namespace {

namespace fs = std::filesystem;

// The options that change what a run trains, as text: part of the inputs hash and the record.
std::string OptionsText(const PipelineOptions& o) {
  const TwoStageOptions& m = o.model;
  return StrCat(
      "split=", o.split, " test_per_user=", o.test_per_user, " test_fraction=", o.test_fraction,
      " train_ratio=", o.train_ratio, " split_seed=", o.split_seed, " label_fraction=", m.label_fraction,
      " label_folds=", m.label_folds, " candidates=", m.candidates, " ease_candidates=", m.ease_candidates,
      " two_tower.dim=", m.two_tower.output_dim, " two_tower.max_epochs=", m.two_tower.max_epochs,
      " two_tower.example_budget=", m.two_tower.example_budget,
      " two_tower.history_sample=", m.two_tower.history_sample, " ranker.objective=", m.ranker.objective,
      " ranker.rounds=", m.ranker.num_rounds, " ranker.depth=", m.ranker.max_depth,
      " ranker.eta=", m.ranker.learning_rate, " ease.lambda=", m.ease.lambda,
      " ease.videos=", m.ease.max_videos, " seed=", m.seed, " video_index=", o.video_index,
      " index_recall=", o.index_recall_target, "@", o.index_recall_depth);
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
  j["step_peak_rss_mb"] = r.step_peak_rss_mb;
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
  j["canary"] = r.canary;
  j["report"] = r.report_path.empty() ? nlohmann::json() : nlohmann::json(r.report_path);
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

// What the split held out, in words (the run's report and log).
std::string SplitDescription(const PipelineOptions& o, const data::Dataset& ds) {
  if (o.split == "temporal") return StrCat("temporal: each user's last ", o.test_per_user, " rows held out");
  if (o.split == "timecut") {
    const std::optional<int64_t> cut = data::TimeCut(ds.interactions, o.test_fraction);
    return cut ? StrCat("time cut: rows at or after ", registry::UtcIso8601(*cut), " (the latest ",
                        o.test_fraction, " of the rows) held out")
               : "time cut: every row at one time, nothing held out";
  }
  return StrCat("stratified by video: ", o.train_ratio, " of each user's rows in training, seed ",
                o.split_seed);
}

// The run's HTML report: both evaluated models, the gate verdicts and the outcome so far.
std::string RenderRunReport(const PipelineRecord& r, const PipelineOptions& o, const std::string& split,
                            const eval::EvalReport& retrieval, const eval::EvalReport& two_stage) {
  eval::ReportMeta meta;
  meta.title = StrCat("vrec pipeline run ", r.run_id);
  meta.dataset = o.source;
  meta.split = split;
  meta.generated_at = registry::NowUtcIso8601();
  meta.vrec_version = VREC_VERSION;
  const std::string before = r.production_before ? *r.production_before : std::string("none");
  std::string outcome;
  if (!r.gates_passed) {
    outcome = StrCat("gates failed: nothing registered, production stays ", before);
  } else if (r.version) {
    outcome = StrCat("registered ", *r.version, r.promoted ? ", promoted to production" : ", not promoted");
  } else {
    outcome = "gates passed; the deploy step failed (see the record)";
  }
  meta.extra = {{"run", r.run_id},
                {"started", r.started_at},
                {"outcome", outcome},
                {"production before", before},
                {"record", fs::path(r.record_path).filename().string()}};
  const auto metric = [&](const char* name) {
    const auto it = r.metrics.find(name);
    if (it == r.metrics.end()) return std::string("n/a");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", it->second);
    return std::string(buf);
  };
  meta.extra.push_back(
      {"ranker AUC over the candidates (held out)", StrCat(metric("ranker_heldout_auc"), " (retrieval order ",
                                                           metric("retrieval_order_heldout_auc"), ")")});
  const eval::ReportModel models[] = {{"two-tower (retrieval)", retrieval}, {"two-stage", two_stage}};
  std::vector<eval::ReportGate> gates;
  for (const GateVerdict& g : r.gates) gates.push_back({g.name, g.value, g.threshold, g.passed});
  return eval::RenderHtmlReport(meta, models, gates);
}

// Runs `step`, then records its seconds and the peak RSS so far under `name` and says so.
template <typename Fn>
auto Timed(PipelineRecord& rec, const std::string& name, Fn&& step) {
  Stopwatch clock;
  auto result = step();
  rec.step_seconds[name] = clock.Seconds();
  rec.step_peak_rss_mb[name] = static_cast<double>(PeakRssBytes()) / (1 << 20);
  std::fprintf(stderr, "pipeline: %s: %s (peak RSS %.0f MiB)\n", name.c_str(),
               FormatDuration(rec.step_seconds[name]).c_str(), rec.step_peak_rss_mb[name]);
  return result;
}

// Writes everything serving needs into `dir` (see registry/model_layout.h). Steps are timed into
// `record` as deploy.*.
Status ExportModel(const data::Dataset& ds, const data::Split& split, const TwoStageScorer& scorer,
                   PipelineRecord& record, const PipelineOptions& o, const std::string& options_text,
                   const std::string& dir) {
  const retrieval::TwoTowerScorer& tt = scorer.two_tower();
  auto index = Timed(record, "deploy.index", [&] {
    return retrieval::BuildCatalogIndex(tt.model(), ds, tt.video_positives(), o.video_index);
  });
  if (!index.ok()) return index.status();
  std::string effort_summary = "not measured";
  if (o.index_recall_target > 0 && (*index)->options().kind != retrieval::AnnIndexOptions::Kind::kExact) {
    auto effort = Timed(record, "deploy.index_recall", [&]() -> StatusOr<retrieval::SearchEffort> {
      const std::vector<float> queries =
          retrieval::EmbedSampleUsers(tt.model(), ds, o.index_recall_queries, /*seed=*/7);
      if (queries.empty()) return retrieval::SearchEffort{};
      return retrieval::TuneSearchEffort(**index, queries,
                                         {.target_recall = o.index_recall_target, .k = o.index_recall_depth});
    });
    if (!effort.ok()) return effort.status();
    if (effort->queries > 0) {
      effort_summary = effort->Summary(o.index_recall_target);
      record.metrics[StrCat("index_recall@", effort->k)] = effort->recall;
      record.metrics[StrCat("index_id_recall@", effort->k)] = effort->id_recall;
    } else {
      effort_summary = "not measured: no user has a positive event";
    }
    std::fprintf(stderr, "pipeline: index: %s\n", effort_summary.c_str());
  }
  const retrieval::AnnIndexOptions index_options = (*index)->options();
  const std::string data_hash = data::TrainingDataHash(ds, split.train);
  retrieval::RetrievalBundle bundle{tt.model(), std::move(index).value()};
  VREC_RETURN_IF_ERROR(Timed(record, "deploy.save_retrieval", [&] {
    return bundle.Save((fs::path(dir) / registry::kRetrievalDir).string(), data_hash, record.metrics);
  }));
  VREC_RETURN_IF_ERROR(Timed(record, "deploy.save_ranker_catalog", [&] {
    Status saved = scorer.ranker().Save((fs::path(dir) / registry::kRankerDir).string());
    if (saved.ok() && !scorer.heads().empty())
      saved = scorer.heads().Save((fs::path(dir) / registry::kHeadsDir).string());
    return saved.ok() ? data::WriteGenericCsv(ds, (fs::path(dir) / registry::kCatalogDir).string()) : saved;
  }));
  // Everything serving derives from the snapshot, fitted on all of it (as production serves the
  // whole log), written once here so that servers map it instead of refitting at every start.
  snapshot::SnapshotOptions so;
  so.sar = o.model.sar;
  so.ease = o.model.ease;
  auto serving = Timed(record, "deploy.snapshot_build",
                       [&] { return snapshot::ServingSnapshot::Build(ds, ds.interactions, so); });
  if (!serving.ok()) return serving.status();
  VREC_RETURN_IF_ERROR(Timed(record, "deploy.snapshot_save", [&] {
    return (*serving)->Save((fs::path(dir) / registry::kServingSnapshotFile).string());
  }));

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
  m.format_version = registry::kModelFormatWithoutHeads;
  if (!scorer.heads().empty()) {
    m.format_version = registry::kModelFormatVersion;
    m.files["heads"] = registry::kHeadsDir;
  }
  m.params = {{"options", options_text},
              {"run_id", record.run_id},
              {"inputs_hash", record.inputs_hash},
              {"sar.half_life_days", StrCat(o.model.sar.half_life_days)},
              {"ease.lambda", StrCat(o.model.ease.lambda)},
              {"ease.max_videos", StrCat(o.model.ease.max_videos)},
              // What the served models cover, as fitted on the whole snapshot.
              {"ease.videos_modelled", StrCat((*serving)->ease().modelled_videos())},
              {"ease.positive_coverage", StrCat((*serving)->ease().positive_coverage())},
              {"sar.neighbours_per_video", StrCat((*serving)->sar().neighbours())},
              {"ease.max_history", StrCat(o.model.ease.max_history)},
              {"candidates", StrCat(o.model.candidates)},
              {"ease_candidates", StrCat(o.model.ease_candidates)},
              {"source", o.source},
              {"index.kind", retrieval::AnnIndexKindName(index_options.kind)},
              {"index.search_effort", effort_summary}};
  if (retrieval::AnnIndexOptions::IsIvf(index_options.kind)) {
    m.params["index.ivf_nlist"] = StrCat(index_options.ivf_nlist);
    m.params["index.ivf_nprobe"] = StrCat(index_options.ivf_nprobe);
  } else if (index_options.kind == retrieval::AnnIndexOptions::Kind::kHnsw) {
    m.params["index.hnsw_ef_search"] = StrCat(index_options.hnsw_ef_search);
  }
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
  } else if (o.split == "timecut") {
    split = data::TimeCutSplit(ds.interactions, o.test_fraction);
  } else {
    return InvalidArgumentError(
        StrCat("unknown split '", o.split, "' (known: temporal, stratified, timecut)"));
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
  rec.record_path = reg.RunRecordPath(rec.run_id);
  rec.step_seconds["preprocess"] = clock.Seconds();
  rec.step_peak_rss_mb["preprocess"] = static_cast<double>(PeakRssBytes()) / (1 << 20);
  const std::string split_description = SplitDescription(o, ds);
  say(StrCat("preprocess: ", split.train.size(), " train rows, ", split.test.size(), " test rows (",
             split_description, ") in ", rec.step_seconds["preprocess"], " s"));

  // The HTML report, once both models are evaluated: at the end, or when a later step fails.
  const eval::EvalReport* evaluated[2] = {nullptr, nullptr};
  auto write_report = [&] {
    if (evaluated[0] == nullptr) return;
    const std::string path = fs::path(rec.record_path).replace_extension(".html").string();
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    Status w =
        eval::WriteHtmlReport(path, RenderRunReport(rec, o, split_description, *evaluated[0], *evaluated[1]));
    if (w.ok()) {
      rec.report_path = path;
    } else {
      say(StrCat("warning: could not write the run report: ", w.message()));
    }
  };
  // Everything after preprocessing leaves a record, also when a step fails.
  auto fail = [&](Status s) -> Status {
    rec.metrics["failed"] = 1;
    write_report();
    Status w = WriteRecord(rec, options_text, o.source, rec.record_path);
    if (!w.ok()) say(StrCat("could not write the run record: ", w.message()));
    return s;
  };

  // 2. Train (retrieval and ranker; see TwoStageScorer for the parallel final fit).
  clock.Reset();
  TwoStageScorer scorer(o.model);
  if (Status s = scorer.Fit(ds, split.train); !s.ok()) return fail(s);
  rec.step_seconds["train"] = clock.Seconds();
  rec.step_peak_rss_mb["train"] = static_cast<double>(PeakRssBytes()) / (1 << 20);
  for (const auto& [step, seconds] : scorer.fit_seconds()) rec.step_seconds["train." + step] = seconds;
  say(StrCat("train: ", FormatDuration(rec.step_seconds["train"]), " (peak RSS ",
             rec.step_peak_rss_mb["train"], " MiB)"));

  // 3. Evaluate, on every test user or (large catalogs) on a fixed sample of them, the same users for
  // every figure.
  clock.Reset();
  eval::EvalOptions eo;
  eo.threads = o.eval_threads;
  if (o.eval_max_scores > 0) {
    eo.max_users = std::max<int64_t>(
        1, o.eval_max_scores / std::max<int64_t>(1, static_cast<int64_t>(ds.videos.size())));
  }
  const std::vector<uint32_t> eval_users = eval::EvaluatedUsers(ds, split, eo);
  eo.progress_label = "pipeline: evaluate retrieval";
  const eval::EvalReport retrieval_report =
      Timed(rec, "evaluate.retrieval", [&] { return eval::Evaluate(ds, split, scorer.two_tower(), eo); });
  if (retrieval_report.users < retrieval_report.users_total) {
    say(StrCat("evaluate: a random sample of ", retrieval_report.users, " of ", retrieval_report.users_total,
               " test users (", ds.videos.size(), " videos each; eval_max_scores ", o.eval_max_scores, ")"));
  }
  eo.recall_depths = {100};
  eo.progress_label = "pipeline: evaluate two-stage";
  const eval::EvalReport full_report =
      Timed(rec, "evaluate.two_stage", [&] { return eval::Evaluate(ds, split, scorer, eo); });
  evaluated[0] = &retrieval_report;
  evaluated[1] = &full_report;
  rec.metrics = Figures(retrieval_report, "retrieval_");
  rec.metrics.merge(Figures(full_report, "two_stage_"));
  rec.metrics["ranker_valid_auc"] = scorer.ranker_report().valid_auc;
  rec.metrics["ranker_valid_ndcg"] = scorer.ranker_report().valid_ndcg;
  rec.metrics["ranker_best_iteration"] = scorer.ranker_report().best_iteration;
  for (const auto& [name, r] : scorer.head_reports())
    rec.metrics[StrCat("head_", name, "_valid_auc")] = r.valid_auc;
  rec.metrics["label_folds_used"] = scorer.label_folds_used();
  rec.metrics["two_tower_epochs"] = scorer.two_tower().epochs_trained();
  const HeldOutRanking heldout = Timed(rec, "evaluate.heldout", [&] {
    return scorer.EvaluateHeldOut(split.test, o.eval_threads,
                                  full_report.users < full_report.users_total
                                      ? std::span<const uint32_t>(eval_users)
                                      : std::span<const uint32_t>());
  });
  rec.metrics["ranker_heldout_auc"] = heldout.ranker_auc;
  rec.metrics["retrieval_order_heldout_auc"] = heldout.retrieval_order_auc;
  rec.metrics["ranker_heldout_groups"] = static_cast<double>(heldout.groups);
  rec.metrics["test_users"] = static_cast<double>(full_report.users);
  rec.metrics["test_users_total"] = static_cast<double>(full_report.users_total);
  rec.step_seconds["evaluate"] = clock.Seconds();
  rec.step_peak_rss_mb["evaluate"] = static_cast<double>(PeakRssBytes()) / (1 << 20);
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
    Status exported = ExportModel(ds, split, scorer, rec, o, options_text, *staging);
    if (exported.ok()) {
      // The directory as servers will map it, for the record (the model's size on disk).
      uint64_t bytes = 0;
      std::error_code ec;
      for (const auto& e : fs::recursive_directory_iterator(*staging, ec)) {
        if (e.is_regular_file(ec)) bytes += e.file_size(ec);
      }
      const uint64_t vart = fs::file_size(fs::path(*staging) / registry::kServingSnapshotFile, ec);
      rec.metrics["model_dir_mb"] = static_cast<double>(bytes) / (1 << 20);
      rec.metrics["serving_vart_mb"] = ec ? 0.0 : static_cast<double>(vart) / (1 << 20);
      say(StrCat("deploy: model directory ", bytes >> 20, " MiB, of which ", registry::kServingSnapshotFile,
                 " ", vart >> 20, " MiB"));
    }
    if (Status s = exported; !s.ok()) {
      std::error_code ec;
      fs::remove_all(*staging, ec);
      return fail(s);
    }
    auto version = reg.CommitVersion(*staging);
    if (!version.ok()) return fail(version.status());
    rec.version = *version;
    if (o.promote && o.canary_share > 0 && rec.production_before) {
      if (Status s = Timed(rec, "deploy.promote",
                           [&] {
                             return reg.StartCanary(
                                 {.version = *version,
                                  .share = o.canary_share,
                                  .reason = StrCat("pipeline run ", rec.run_id, ": all gates passed")},
                                 o.validate_for_serving);
                           });
          !s.ok()) {
        return fail(s);
      }
      rec.canary = true;
    } else if (o.promote) {
      if (Status s = Timed(rec, "deploy.promote",
                           [&] {
                             return reg.Promote(*version,
                                                StrCat("pipeline run ", rec.run_id, ": all gates passed"),
                                                o.validate_for_serving);
                           });
          !s.ok()) {
        return fail(s);
      }
      rec.promoted = true;
    }
    say(StrCat("deploy: registered ", *version,
               rec.promoted ? ", promoted to production"
               : rec.canary ? StrCat(", on trial for ", o.canary_share * 100, "% of users (canary)")
                            : ", not promoted"));
  } else {
    say(StrCat("deploy: gates failed; nothing registered, production stays ",
               rec.production_before ? *rec.production_before : std::string("empty")));
  }
  rec.step_seconds["deploy"] = clock.Seconds();
  rec.step_peak_rss_mb["deploy"] = static_cast<double>(PeakRssBytes()) / (1 << 20);
  write_report();
  VREC_RETURN_IF_ERROR(WriteRecord(rec, options_text, o.source, rec.record_path));
  return rec;
}

}  // namespace vrec::offline
