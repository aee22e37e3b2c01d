// `vrec pipeline run`: preprocess -> train retrieval and ranker -> evaluate -> gates -> deploy.
#include <chrono>
#include <cstdio>
#include <memory>

#include "apps/vrec/commands.h"
#include "vrec/common/csv.h"
#include "vrec/common/strings.h"
#include "vrec/common/sys.h"
#include "vrec/config/binder.h"
#include "vrec/data/synth.h"
#include "vrec/offline/pipeline.h"
#include "vrec/offline/platform_data.h"

namespace vrec::app {
namespace {

struct PipelineFlags {
  DataSource source;
  std::string synthetic;  // size name or USERSxVIDEOSxROWS
  std::string config_path;
  bool platform = false;   // the production snapshot + exported events and catalog updates
  std::string events_dir;  // their export folder (implies platform)
  offline::PipelineOptions options;
  bool no_promote = false;
  int threads = 2;
  bool json = false;  // one JSON object instead of name=value lines
};

// Synthetic platform sizes for `--synthetic`.
StatusOr<data::SynthConfig> SynthSize(const std::string& size) {
  data::SynthConfig c;
  if (size == "small") {
    c.num_users = 5'000, c.num_videos = 10'000, c.num_interactions = 400'000;
  } else if (size == "medium") {
    c.num_users = 20'000, c.num_videos = 50'000, c.num_interactions = 2'000'000;
  } else if (size == "large") {
    c.num_users = 100'000, c.num_videos = 100'000, c.num_interactions = 5'000'000;
  } else if (size == "xlarge") {
    // The spec's seed scale (issue 11): 1M videos.
    c.num_users = 100'000, c.num_videos = 1'000'000, c.num_interactions = 10'000'000;
  } else {
    const std::vector<std::string_view> parts = SplitNonEmpty(size, 'x');
    int64_t n[3];
    bool ok = parts.size() == 3;
    for (size_t i = 0; ok && i < 3; ++i) ok = ParseInt64(parts[i], n[i]) && n[i] > 0;
    if (!ok) {
      return InvalidArgumentError(
          StrCat("--synthetic '", size,
                 "': expected small, medium, large, xlarge or USERSxVIDEOSxROWS (e.g. 5000x10000x400000)"));
    }
    c.num_users = n[0], c.num_videos = n[1], c.num_interactions = n[2];
  }
  // The simulated period ends at the start of today (UTC), so that the data is "fresh" for a
  // server started now (ages, recencies and freshness filters read the wall clock).
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  c.end_time = now - now % 86400;
  // Progress lines only where generation takes long enough to want them.
  c.quiet = c.num_interactions < 5'000'000;
  return c;
}

Status RunPipelineCommand(PipelineFlags& f, CLI::App& cmd) {
  offline::PipelineOptions& o = f.options;
  serving::ServeConfig unused;  // the server's sections are checked, not used
  PlatformConfig platform;
  VREC_RETURN_IF_ERROR(LoadConfig(f.config_path, o, unused, &platform));
  // Flags given on the command line win over the file and the environment.
  const auto given = [&](const char* name) { return cmd.count(name) > 0; };
  for (const auto& [flag, field] : std::initializer_list<std::pair<const char*, double*>>{
           {"--gate-retrieval-recall", &o.gates.min_retrieval_recall_at_100},
           {"--gate-retrieval-ndcg", &o.gates.min_retrieval_ndcg_at_10},
           {"--gate-ranker-auc", &o.gates.min_ranker_auc},
           {"--gate-ranker-ndcg", &o.gates.min_ranker_ndcg},
           {"--gate-max-regression", &o.gates.max_regression}}) {
    if (given(flag)) *field = cmd.get_option(flag)->as<double>();
  }
  if (given("--split")) o.split = cmd.get_option("--split")->as<std::string>();
  if (given("--test-fraction")) o.test_fraction = cmd.get_option("--test-fraction")->as<double>();
  o.promote = !f.no_promote;
  o.validate_for_serving = LoadsForServing;
  o.model.two_tower.threads = f.threads;
  o.model.sar.threads = f.threads;
  o.model.ranker.threads = f.threads;
  o.model.threads = f.threads;
  o.eval_threads = f.threads;

  const bool from_platform = f.platform || !f.events_dir.empty();
  const int sources = (f.source.movielens_dir.empty() ? 0 : 1) + (f.source.generic_dir.empty() ? 0 : 1) +
                      (f.synthetic.empty() ? 0 : 1) + (from_platform ? 1 : 0);
  if (sources != 1)
    return InvalidArgumentError(
        "give exactly one data source: --movielens DIR, --data DIR, --synthetic SIZE or --platform");
  data::Dataset ds;
  if (from_platform) {
    offline::PlatformSource source{
        .registry = o.registry,
        .export_dir = f.events_dir.empty() ? platform.exporter.ExportDir(o.registry) : f.events_dir};
    VREC_ASSIGN_OR_RETURN(offline::PlatformData p, offline::LoadPlatformData(source));
    for (const std::string& w : p.warnings) std::fprintf(stderr, "pipeline: warning: %s\n", w.c_str());
    std::fprintf(stderr, "pipeline: %s\n", p.Describe().c_str());
    o.source = p.Describe();
    o.manifest_params[offline::kThroughSeqParam] = std::to_string(p.through_seq);
    ds = std::move(p.dataset);
  } else if (!f.synthetic.empty()) {
    VREC_ASSIGN_OR_RETURN(data::SynthConfig sc, SynthSize(f.synthetic));
    sc.threads = f.threads;
    Stopwatch clock;
    VREC_ASSIGN_OR_RETURN(ds, data::GenerateSynthetic(sc));
    std::fprintf(
        stderr,
        "pipeline: synthetic data: %lld users, %lld videos, %lld rows in %.1f s (peak RSS %lld MiB)\n",
        static_cast<long long>(sc.num_users), static_cast<long long>(sc.num_videos),
        static_cast<long long>(sc.num_interactions), clock.Seconds(),
        static_cast<long long>(PeakRssBytes() >> 20));
    o.source = StrCat("synthetic ", f.synthetic, " (", sc.num_users, " users, ", sc.num_videos, " videos, ",
                      sc.num_interactions, " rows, seed ", sc.seed, ")");
  } else {
    VREC_ASSIGN_OR_RETURN(ds, f.source.Load());
    o.source = f.source.movielens_dir.empty() ? StrCat("generic ", f.source.generic_dir)
                                              : StrCat("movielens ", f.source.movielens_dir);
    // MovieLens' published protocol is the stratified split; keep it unless told otherwise.
    if (!f.source.movielens_dir.empty() && !given("--split")) o.split = "stratified";
  }
  VREC_ASSIGN_OR_RETURN(offline::PipelineRecord rec, offline::RunPipeline(ds, o));
  using O = CommandOutput;
  CommandOutput out(f.json);
  for (const auto& [name, value] : rec.metrics) out.Line({O::Num(name, value)});
  for (const auto& [step, seconds] : rec.step_seconds) out.Line({O::Num("seconds." + step, seconds, 1)});
  for (const auto& [step, mb] : rec.step_peak_rss_mb) out.Line({O::Num("peak_rss_mb." + step, mb, 0)});
  out.Line({O::Text("record", rec.record_path)});
  if (!rec.report_path.empty()) out.Line({O::Text("report", rec.report_path)});
  if (!rec.gates_passed) {
    std::string failed;
    for (const offline::GateVerdict& g : rec.gates) {
      if (!g.passed) failed += StrCat(failed.empty() ? "" : "; ", g.name, " (got ", g.value, ")");
    }
    out.Line({O::Text("gates", "failed")});
    out.Finish();
    return GatesFailedError(StrCat("nothing deployed; production stays ",
                                   rec.production_before ? *rec.production_before : "empty", ": ", failed));
  }
  out.Line({O::Text("version", *rec.version), O::Field{"promoted", rec.promoted ? "true" : "false", false},
            O::Field{"canary", rec.canary ? "true" : "false", false}});
  out.Finish();
  return OkStatus();
}

}  // namespace

void AddPipelineCommand(CLI::App& app, std::function<Status()>& run) {
  auto* pipeline = app.add_subcommand("pipeline", "the training pipeline");
  pipeline->require_subcommand(1);
  auto flags = std::make_shared<PipelineFlags>();
  auto* cmd = pipeline->add_subcommand(
      "run", "preprocess -> train retrieval and ranker -> evaluate -> gates -> register and promote");
  cmd->add_option("--registry", flags->options.registry, "model registry root (created when missing)")
      ->required();
  flags->source.AddFlags(*cmd);
  cmd->add_option("--synthetic", flags->synthetic,
                  "generate a synthetic platform: small, medium, large, xlarge (100k users, 1M videos, 10M "
                  "rows) or UxVxR");
  cmd->add_flag("--platform", flags->platform,
                "train on the production model's snapshot plus the events and catalog updates exported since "
                "(events.export_dir, default <registry>/events)");
  cmd->add_option("--events", flags->events_dir, "the export folder for --platform (implies it)");
  cmd->add_option("--config", flags->config_path, "config file ([pipeline], [training], [gates] sections)");
  cmd->add_option("--split", flags->options.split,
                  "temporal | stratified | timecut (default: pipeline.split, temporal; stratified for "
                  "MovieLens)")
      ->check(CLI::IsMember({"temporal", "stratified", "timecut"}));
  cmd->add_option(
         "--test-fraction", flags->options.test_fraction,
         "timecut: share of the rows, the latest by time, held out (default: pipeline.test_fraction, "
         "0.2)")
      ->check(CLI::Range(0.01, 0.99));
  cmd->add_option("--gate-retrieval-recall", flags->options.gates.min_retrieval_recall_at_100,
                  "minimum two-tower Recall@100");
  cmd->add_option("--gate-retrieval-ndcg", flags->options.gates.min_retrieval_ndcg_at_10,
                  "minimum two-tower nDCG@10");
  cmd->add_option("--gate-ranker-auc", flags->options.gates.min_ranker_auc, "minimum ranker validation AUC");
  cmd->add_option("--gate-ranker-ndcg", flags->options.gates.min_ranker_ndcg,
                  "minimum two-stage nDCG@10 on the held-out split");
  cmd->add_option("--gate-max-regression", flags->options.gates.max_regression,
                  "largest drop below production allowed on a gated figure");
  cmd->add_flag("--no-promote", flags->no_promote, "register the version but leave production alone");
  cmd->add_option("--canary", flags->options.canary_share,
                  "put a version that passes the gates on trial for this share of users first; vrec serve "
                  "promotes or rolls it back by its [canary] policy")
      ->check(CLI::Range(0.0001, 1.0));
  cmd->add_option("--threads", flags->threads, "training threads")->capture_default_str();
  cmd->add_flag("--json", flags->json, "print one JSON object of the figures instead of name=value lines");
  cmd->callback([&run, flags, cmd] { run = [flags, cmd] { return RunPipelineCommand(*flags, *cmd); }; });
}

}  // namespace vrec::app
