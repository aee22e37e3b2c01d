// The training pipeline (the spec's Step Functions flow) as one call:
//
//   preprocess (validate, split, hash the inputs)
//     -> train retrieval and ranker (TwoStageScorer: the ranker's labels come from a slice the
//        towers did not train on; the final retrieval refit runs beside the ranker's training)
//     -> evaluate on the held-out split (the same harness as `vrec eval`)
//     -> gates (gates.h): every threshold, and "not worse than production by more than a margin"
//     -> deploy: a new immutable registry version, promoted to production only when all gates pass
//
// Every run writes a record (inputs hash, options, per-step seconds, metrics, gate verdicts,
// outcome) to <registry>/runs/<run id>.json, whatever the outcome, and every run that got as far as
// the gates an HTML report beside it, <run id>.html (eval/report_html.h: both models' figures,
// recall curves, nDCG by user activity, popularity bias, the gate verdicts).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/data/dataset.h"
#include "vrec/data/split.h"
#include "vrec/offline/gates.h"
#include "vrec/offline/two_stage.h"

namespace vrec::offline {

struct PipelineOptions {
  std::string registry;  // registry root (created when missing)
  std::string source;    // human-readable description of the data source, for the record
  // "temporal" (each user's last test_per_user), "stratified" or "timecut" (the latest
  // test_fraction of the rows by time; data::TimeCutSplit).
  std::string split = "temporal";
  int test_per_user = 10;                                    // temporal split
  double test_fraction = data::kDefaultTimeCutTestFraction;  // timecut split
  double train_ratio = 0.75;                                 // stratified split
  uint32_t split_seed = 42;                                  // stratified split
  TwoStageOptions model;                                     // retrieval + ranker training
  Gates gates;                                               // gates.h
  bool promote = true;  // false: register the version but leave production alone
  // > 0: a version that passes the gates goes on trial for this share of users first
  // (registry::ModelRegistry::StartCanary; vrec serve promotes or rolls it back by its canary
  // policy) instead of straight to production. Without a production version, it is promoted.
  double canary_share = 0;
  // Run on the new version before it is promoted (registry::ModelRegistry::VersionValidator); the
  // CLI passes serving's own loader, so production never points at a version servers refuse.
  std::function<Status(const std::string& version, const std::string& path)> validate_for_serving;
  int eval_threads = 2;
  // Written into the new version's manifest params beside the pipeline's own (provenance of the
  // data, e.g. platform_data.h's events.through_seq).
  std::map<std::string, std::string> manifest_params;
  // Evaluation scores every catalog video for every test user; beyond this many scores (test users
  // x catalog videos) it measures a fixed random sample of test users instead (eval::EvalOptions::
  // max_users): 10,000 users at 1M videos, everyone on smaller catalogs. The record states the
  // sample size (metrics test_users and test_users_total). 0 = always every user.
  int64_t eval_max_scores = 10'000'000'000;
  // The shipped video index (retrieval::BuildCatalogIndex): auto (exact below 100k videos, IVF
  // beyond), exact, ivf, ivf_sq8 (4x smaller lists) or hnsw.
  std::string video_index = "auto";
  // The shipped index's search effort (IVF lists probed, HNSW efSearch) is the smallest doubling of
  // its rule-of-thumb setting whose recall@index_recall_depth against exact search reaches this, for
  // the real user-tower embeddings of index_recall_queries sampled users (retrieval/ann_tuning.h).
  // The record's metrics hold what was measured. 0 = keep the rule of thumb, unmeasured.
  double index_recall_target = 0.95;
  int index_recall_depth = 500;
  int index_recall_queries = 500;
};

struct PipelineRecord {
  std::string run_id;  // UTC time + short hash, also the record's file name
  std::string started_at;
  std::string inputs_hash;  // training rows + options
  std::map<std::string, double> step_seconds;
  // Peak resident memory of the process (MiB) at the end of each step: where the peak was reached.
  std::map<std::string, double> step_peak_rss_mb;
  std::map<std::string, double> metrics;
  std::vector<GateVerdict> gates;
  bool gates_passed = false;
  std::optional<std::string> production_before;
  std::optional<std::string> version;  // registered version (only when the gates passed)
  bool promoted = false;
  bool canary = false;  // put on trial beside production (PipelineOptions::canary_share)
  std::string record_path;
  std::string report_path;  // empty when the report could not be written (a warning, not an error)
};

// Runs the pipeline on `ds`. Returns the record when the run completed, whether or not the gates
// passed (check record.gates_passed); errors of the steps otherwise (the record file is still
// written for failures after preprocessing). A failed gate registers nothing and leaves
// production unchanged.
StatusOr<PipelineRecord> RunPipeline(const data::Dataset& ds, const PipelineOptions& options);

}  // namespace vrec::offline
