// Subcommands of the vrec CLI: each registers its flags on the app and returns the exit code when run.
#pragma once

#include <functional>
#include <string>

#include "CLI/CLI.hpp"
#include "vrec/common/status.h"
#include "vrec/data/dataset.h"

namespace vrec::app {

// Registers `vrec data synth` and `vrec data import`. `run` is set to the chosen action.
void AddDataCommands(CLI::App& app, std::function<Status()>& run);
// Registers `vrec eval`.
void AddEvalCommand(CLI::App& app, std::function<Status()>& run);

// Where the data comes from: exactly one of the three is set.
struct DataSource {
  std::string movielens_dir;
  std::string generic_dir;
  void AddFlags(CLI::App& cmd);
  StatusOr<data::Dataset> Load() const;
};

}  // namespace vrec::app
