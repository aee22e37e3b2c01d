// `vrec trainer`: retrains on the platform's exported data on a schedule or after N new events,
// through the pipeline's gates (offline/trainer.h). vrec-train only (it trains).
#include <signal.h>

#include <cstdio>
#include <ctime>
#include <memory>

#include "apps/vrec/commands.h"
#include "vrec/common/strings.h"
#include "vrec/offline/pipeline.h"
#include "vrec/offline/trainer.h"

namespace vrec::app {
namespace {

struct TrainerFlags {
  std::string config_path;
  std::string registry;
  std::string events_dir;
  bool once = false;
  bool force = false;
  int threads = 2;
};

void PrintRun(const offline::TrainerRun& run) {
  std::printf("due=%s new_events=%llu exported_through=%llu ran=%s", run.decision.due ? "true" : "false",
              static_cast<unsigned long long>(run.decision.new_events),
              static_cast<unsigned long long>(run.decision.exported_through), run.ran ? "true" : "false");
  if (run.ran) std::printf(" seconds=%.1f outcome=\"%s\"", run.seconds, run.outcome.c_str());
  std::printf("\n");
  std::fflush(stdout);
}

Status RunTrainer(const TrainerFlags& f) {
  offline::TrainerOptions t;
  serving::ServeConfig unused;
  PlatformConfig platform;
  VREC_RETURN_IF_ERROR(LoadConfig(f.config_path, t.pipeline, unused, &platform));
  t.config = platform.trainer;
  t.pipeline.registry = f.registry;
  t.pipeline.validate_for_serving = LoadsForServing;
  t.pipeline.model.two_tower.threads = f.threads;
  t.pipeline.model.sar.threads = f.threads;
  t.pipeline.model.ranker.threads = f.threads;
  t.pipeline.eval_threads = f.threads;
  t.export_dir = f.events_dir.empty() ? platform.exporter.ExportDir(f.registry) : f.events_dir;
  t.run_pipeline = offline::RunPipeline;

  // SIGINT/SIGTERM end the wait between checks. During a run they are left to their default
  // action (the process ends at once): the pipeline registers nothing half-written, and the next
  // start decides again.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  VREC_ASSIGN_OR_RETURN(std::unique_ptr<offline::Trainer> trainer, offline::Trainer::Open(std::move(t)));
  const auto check = platform.trainer.check_interval;
  std::fprintf(stderr, "trainer: registry %s, events %s, state %s; checking every %lld ms (last run: %s)\n",
               f.registry.c_str(),
               (f.events_dir.empty() ? platform.exporter.ExportDir(f.registry) : f.events_dir).c_str(),
               trainer->state_file().c_str(), static_cast<long long>(check.count()),
               trainer->state().runs == 0 ? "none" : trainer->state().last_outcome.c_str());
  while (true) {
    pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
    auto run = trainer->RunOnce(f.force);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    if (f.once) {
      VREC_RETURN_IF_ERROR(run.status());
      PrintRun(*run);
      return run->ran ? run->status : OkStatus();
    }
    if (!run.ok()) {
      std::fprintf(stderr, "trainer: %s (checking again in %lld ms)\n", run.status().ToString().c_str(),
                   static_cast<long long>(check.count()));
    } else if (!run->ran) {
      std::fprintf(stderr, "trainer: not due: %s\n", run->decision.reason.c_str());
    } else {
      std::fprintf(stderr, "trainer: state saved; next check in %lld ms\n",
                   static_cast<long long>(check.count()));
    }
    timespec wait{};
    wait.tv_sec = static_cast<time_t>(check.count() / 1000);
    wait.tv_nsec = static_cast<long>((check.count() % 1000) * 1'000'000);
    if (sigtimedwait(&signals, nullptr, &wait) > 0) {
      std::fprintf(stderr, "trainer: signal, stopping\n");
      return OkStatus();
    }
  }
}

}  // namespace

void AddTrainerCommand(CLI::App& app, std::function<Status()>& run) {
  auto flags = std::make_shared<TrainerFlags>();
  auto* cmd = app.add_subcommand("trainer",
                                 "retrain on the platform's exported events on a schedule (trainer.interval) "
                                 "or after trainer.min_new_events "
                                 "new events; the pipeline's gates decide promotion");
  cmd->add_option("--registry", flags->registry, "model registry root")->required();
  cmd->add_option("--config", flags->config_path,
                  "config file ([trainer], [events], [pipeline], [training], [gates])");
  cmd->add_option("--events", flags->events_dir,
                  "the export folder (events.export_dir; default <registry>/events)");
  cmd->add_flag("--once", flags->once, "decide once, run when due, and exit (non-zero when the run failed)");
  cmd->add_flag("--force", flags->force, "run even when not due");
  cmd->add_option("--threads", flags->threads, "training threads")->capture_default_str();
  cmd->callback([&run, flags] { run = [flags] { return RunTrainer(*flags); }; });
}

}  // namespace vrec::app
