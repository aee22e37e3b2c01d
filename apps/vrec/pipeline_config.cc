// The pipeline's config keys, apart from the pipeline command: `vrec config` and `vrec serve`
// check the whole shared config file without linking the training code (LibTorch).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "apps/vrec/commands.h"
#include "vrec/common/strings.h"
#include "vrec/config/binder.h"
#include "vrec/offline/pipeline.h"

namespace vrec::app {

namespace {
constexpr std::string_view kGatesFailed = "gates failed, ";
}  // namespace

Status GatesFailedError(std::string_view message) {
  return FailedPreconditionError(StrCat(kGatesFailed, message));
}

CommandOutput::Field CommandOutput::Num(std::string name, double value, int decimals) {
  if (!std::isfinite(value)) return {std::move(name), "null", false};
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, value);
  return {std::move(name), buf, false};
}

CommandOutput::Field CommandOutput::Int(std::string name, int64_t value) {
  return {std::move(name), std::to_string(value), false};
}

CommandOutput::Field CommandOutput::Text(std::string name, std::string value) {
  return {std::move(name), std::move(value), true};
}

void CommandOutput::Line(std::initializer_list<Field> fields, std::string_view prefix) {
  if (!json_) {
    std::string line(prefix);
    for (const Field& f : fields) line += StrCat(line.empty() ? "" : " ", f.name, "=", f.value);
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    return;
  }
  for (const Field& f : fields) {
    Field named{prefix.empty() ? f.name : StrCat(prefix, ".", f.name), f.value, f.text};
    auto it =
        std::find_if(fields_.begin(), fields_.end(), [&](const Field& g) { return g.name == named.name; });
    if (it != fields_.end()) {
      *it = std::move(named);
    } else {
      fields_.push_back(std::move(named));
    }
  }
}

void CommandOutput::Finish() {
  if (!json_) return;
  nlohmann::ordered_json object = nlohmann::ordered_json::object();  // in the order printed
  for (const Field& f : fields_) {
    object[f.name] =
        f.text ? nlohmann::ordered_json(f.value) : nlohmann::ordered_json::parse(f.value, nullptr, false);
  }
  std::printf("%s\n", object.dump().c_str());
  std::fflush(stdout);
  fields_.clear();
}

int ExitCodeOf(const Status& status) {
  if (status.ok()) return 0;
  if (status.code() == StatusCode::kFailedPrecondition && status.message().starts_with(kGatesFailed))
    return kExitGatesFailed;
  return kExitError;
}

void BindPipelineKeys(config::Binder& b, offline::PipelineOptions& o) {
  b.Enum("pipeline.split", &o.split,
         {{"temporal", std::string("temporal")},
          {"stratified", std::string("stratified")},
          {"timecut", std::string("timecut")}},
         {.help = "Held-out split: each user's last test_per_user events, Recommenders' stratified split "
                  "(MovieLens default), or every event at or after one time (the latest test_fraction)."});
  b.Int("pipeline.test_per_user", &o.test_per_user,
        {.min = 1, .max = 1000, .help = "Temporal split: events per user held out."});
  b.Double(
      "pipeline.test_fraction", &o.test_fraction,
      {.min = 0.01,
       .max = 0.99,
       .help = "Time cut split: share of the events, the latest, held out (test events of users or videos "
               "without a training event are dropped)."});
  b.Double("pipeline.train_ratio", &o.train_ratio,
           {.min = 0.05, .max = 0.95, .help = "Stratified split: train share."});
  b.Double("pipeline.canary_share", &o.canary_share,
           {.min = 0.0,
            .max = 1.0,
            .help = "> 0: a version that passes the gates goes on trial for this share of users first (vrec "
                    "serve promotes or rolls it back by its [canary] policy); 0 = straight to production."});
  b.Enum(
      "pipeline.video_index", &o.video_index,
      {{"auto", std::string("auto")},
       {"exact", std::string("exact")},
       {"ivf", std::string("ivf")},
       {"ivf_sq8", std::string("ivf_sq8")},
       {"hnsw", std::string("hnsw")}},
      {.help = "The shipped video index: auto (exact below 100k videos, IVF beyond), exact, ivf, ivf_sq8 "
               "(8-bit lists, 4x smaller: for catalogs whose flat lists exceed the memory budget) or hnsw."});
  b.Double(
      "pipeline.index_recall_target", &o.index_recall_target,
      {.min = 0.0,
       .max = 1.0,
       .help = "The shipped IVF/HNSW index probes the fewest lists (doubling from a rule of thumb) whose "
               "recall@index_recall_depth against exact search, for 500 sampled users' real embeddings, "
               "reaches this; the manifest says what was measured. 0 = the rule of thumb, unmeasured."});
  b.Int("pipeline.index_recall_depth", &o.index_recall_depth,
        {.min = 1,
         .max = 10'000,
         .help = "Results compared for index_recall_target (the serving depth or more)."});
  b.Int("pipeline.eval_max_scores", &o.eval_max_scores,
        {.min = 0,
         .max = int64_t{1} << 50,
         .help =
             "Evaluation scores every video for every test user; beyond this many scores (users x videos) it "
             "measures a fixed random sample of test users (10,000 at 1M videos). 0 = every user."});
  b.Int("training.max_label_users", &o.model.max_label_users,
        {.min = 0,
         .max = int64_t{1} << 40,
         .help = "Users whose label slices become ranker groups, per fold (a fixed random sample beyond it); "
                 "0 = all."});
  b.Int("training.label_folds", &o.model.label_folds,
        {.min = 1, .max = 3, .help = "Ranker label slices, each with its own retrieval fit."});
  b.Int("training.candidates", &o.model.candidates,
        {.min = 10, .max = 1000, .help = "Retrieval depth the ranker learns on."});
  b.Int("training.ease_candidates", &o.model.ease_candidates,
        {.min = 0,
         .max = 1000,
         .help = "EASE's best videos for the user's history, merged after the retrieved candidates (a "
                 "second candidate source, also at serving); 0 = retrieval only."});
  b.Int("training.two_tower_max_epochs", &o.model.two_tower.max_epochs,
        {.min = 1, .max = 1000, .help = "Two-tower epochs (upper bound; early stopping)."});
  b.Int("training.two_tower_example_budget", &o.model.two_tower.example_budget,
        {.min = 0,
         .max = int64_t{1} << 40,
         .help = "Positives a two-tower fit sees, at most (epochs x training positives; at least one epoch): "
                 "bounds the training time on large platforms. 0 = no bound."});
  b.Int("training.two_tower_history_sample", &o.model.two_tower.history_sample,
        {.min = 0,
         .max = 1 << 20,
         .help = "History videos a two-tower training step pools per user, a fresh uniform sample per "
                 "batch (scoring pools the whole history); 0 = the whole history."});
  b.Double("training.ease_lambda", &o.model.ease.lambda,
           {.min = 1e-3, .max = 1e7, .help = "EASE's L2 penalty (item-item regression ranking feature)."});
  b.Int("training.ease_videos", &o.model.ease.max_videos,
        {.min = 0,
         .max = 20000,
         .help = "Most popular videos EASE models (memory 4*N^2 bytes at serving, fit time ~N^3); 0 = every "
                 "video with a positive, up to what training.ease_memory_mb holds."});
  int64_t ease_mb = static_cast<int64_t>(o.model.ease.max_weight_bytes >> 20);
  b.Int(
      "training.ease_memory_mb", &ease_mb,
      {.min = 1, .max = 16384, .help = "Serving memory of the EASE weights when training.ease_videos is 0."});
  o.model.ease.max_weight_bytes = static_cast<uint64_t>(ease_mb) << 20;
  b.Int("training.sar_neighbours", &o.model.sar.max_neighbours,
        {.min = -1,
         .max = 1'000'000,
         .help = "Item-item neighbours kept per video; 0 = all; -1 = all that fit training.sar_memory_mb."});
  int64_t sar_mb = static_cast<int64_t>(o.model.sar.max_similarity_bytes >> 20);
  b.Int("training.sar_memory_mb", &sar_mb,
        {.min = 1,
         .max = 65536,
         .help = "Serving memory of the item-item neighbours when training.sar_neighbours is -1."});
  o.model.sar.max_similarity_bytes = static_cast<uint64_t>(sar_mb) << 20;
  b.Int("training.ranker_rounds", &o.model.ranker.num_rounds,
        {.min = 1, .max = 10000, .help = "Ranker boosting rounds (upper bound; early stopping)."});
  b.Bool(
      "training.heads", &o.model.heads,
      {.help = "Train the objective heads (expected watch time, completion, like) beside the ranker, each "
               "when the training rows carry its signal (none on ratings); [ranking.blend] weights them."});
  offline::Gates& g = o.gates;
  b.Double("gates.min_retrieval_recall_at_100", &g.min_retrieval_recall_at_100,
           {.min = 0, .max = 1, .help = "Two-tower Recall@100 on the held-out split."});
  b.Double("gates.min_retrieval_ndcg_at_10", &g.min_retrieval_ndcg_at_10,
           {.min = 0, .max = 1, .help = "Two-tower nDCG@10 on the held-out split."});
  b.Double("gates.min_ranker_auc", &g.min_ranker_auc,
           {.min = 0,
            .max = 1,
            .help = "Ranker AUC over its candidates on the held-out split (vs retrieval order)."});
  b.Double("gates.min_ranker_ndcg", &g.min_ranker_ndcg,
           {.min = 0,
            .max = 1,
            .help = "nDCG@10 of the two-stage ranking (retrieval + ranker) on the held-out split."});
  b.Double("gates.max_regression", &g.max_regression,
           {.min = 0, .max = 1, .help = "Largest drop below production allowed on any gated figure."});
}

}  // namespace vrec::app
