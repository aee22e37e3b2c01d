// vrec: video recommendation engine. Flag parsing and wiring only; the work lives in src/vrec.
//
// Two executables are built from this file. `vrec-train` has every command. `vrec` leaves out the
// commands that train models (pipeline, eval, trainer), whose LibTorch closure (~290 shared
// libraries) costs ~0.5-1 s at every process start: `vrec serve` then starts in milliseconds, and
// `vrec pipeline ...`, `vrec eval ...` and `vrec trainer ...` replace the process with vrec-train
// (found beside vrec) with the same arguments.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "apps/vrec/commands.h"

namespace {

#if VREC_CLI_LEAN
// Runs vrec-train with this process's arguments. Returns only on failure.
int ExecTrainingBinary(char** argv) {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::string train =
      ((ec ? std::filesystem::path(argv[0]) : self).parent_path() / "vrec-train").string();
  argv[0] = const_cast<char*>(train.c_str());
  // The training environment scripts/env.sh sets, for a vrec run without it; each variable the
  // caller set is kept. One OpenBLAS thread (its own pool fights Torch's threads: an xlarge
  // two-tower fit ran 1.5x slower), passive OpenMP waiting (spinning workers starve each other on
  // shared cores) and a high malloc mmap threshold (page faults doubled epoch times). They are read
  // when the libraries load, so they are set here, before vrec-train starts.
  ::setenv("OPENBLAS_NUM_THREADS", "1", /*overwrite=*/0);
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
  ::setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296",
           0);
  ::execv(train.c_str(), argv);
  std::fprintf(stderr, "error: cannot run %s (the training commands live there): %s\n", train.c_str(),
               std::strerror(errno));
  return 1;
}
#endif

}  // namespace

int main(int argc, char** argv) {
#if VREC_CLI_LEAN
  if (argc >= 2 && (std::strcmp(argv[1], "pipeline") == 0 || std::strcmp(argv[1], "eval") == 0 ||
                    std::strcmp(argv[1], "trainer") == 0)) {
    return ExecTrainingBinary(argv);
  }
#endif
  CLI::App app{"vrec: a self-hosted video recommendation engine"};
  app.set_version_flag("--version", "vrec " VREC_VERSION);
  app.require_subcommand(1);
  std::function<vrec::Status()> run;
  vrec::app::AddDataCommands(app, run);
#if VREC_CLI_LEAN
  // Listed for --help; main() hands them to vrec-train before parsing.
  app.add_subcommand("eval", "evaluate a model with the benchmark protocol (runs vrec-train)")
      ->allow_extras();
  app.add_subcommand("pipeline", "the training pipeline (runs vrec-train)")->allow_extras();
  app.add_subcommand("trainer", "retrain on a schedule or after N new events (runs vrec-train)")
      ->allow_extras();
#else
  vrec::app::AddEvalCommand(app, run);
  vrec::app::AddPipelineCommand(app, run);
  vrec::app::AddTrainerCommand(app, run);
#endif
  vrec::app::AddModelsCommand(app, run);
  vrec::app::AddServeCommand(app, run);
  vrec::app::AddConfigCommand(app, run);
  vrec::app::AddEventsCommand(app, run);
  vrec::app::AddExperimentsCommand(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with code 0; every other one is a usage error, reported
    // in one line like every other error (CLI11's own report adds a second).
    if (e.get_exit_code() == 0) return app.exit(e);
    std::string message = e.what();
    std::replace(message.begin(), message.end(), '\n', ' ');
    std::fprintf(stderr, "error: %s; see --help\n", message.c_str());
    return vrec::app::kExitUsage;
  }
  if (!run) {
    std::fprintf(stderr, "error: no command given; see vrec --help\n");
    return vrec::app::kExitUsage;
  }
  vrec::Status status = run();
  if (!status.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
  }
  return vrec::app::ExitCodeOf(status);
}
