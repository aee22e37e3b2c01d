// Subcommands of the vrec CLI: each registers its flags on the app and returns the exit code when run.
#pragma once

#include <functional>
#include <string>

#include "CLI/CLI.hpp"
#include "vrec/common/status.h"
#include "vrec/config/binder.h"
#include "vrec/data/dataset.h"
#include "vrec/events/export_config.h"
#include "vrec/offline/pipeline.h"
#include "vrec/offline/trainer_config.h"
#include "vrec/serving/serve_config.h"

namespace vrec::app {

// Exit codes of every command: 0 success, 1 an error, 2 a usage error (unknown or malformed
// flags), 3 the pipeline's quality gates failed (a model was trained and evaluated, nothing was
// deployed).
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitGatesFailed = 3;
// The status of a pipeline run whose gates failed (FailedPrecondition, `message` after "gates
// failed, "); ExitCodeOf maps it to kExitGatesFailed.
Status GatesFailedError(std::string_view message);
int ExitCodeOf(const Status& status);

// Registers `vrec data synth` and `vrec data import`. `run` is set to the chosen action.
void AddDataCommands(CLI::App& app, std::function<Status()>& run);
// Registers `vrec eval`.
void AddEvalCommand(CLI::App& app, std::function<Status()>& run);
// Registers `vrec models list|promote|rollback` (the model registry).
void AddModelsCommand(CLI::App& app, std::function<Status()>& run);
// Registers `vrec pipeline run` (train, evaluate, gate, deploy).
void AddPipelineCommand(CLI::App& app, std::function<Status()>& run);
// Registers `vrec serve` (the HTTP/JSON server).
void AddServeCommand(CLI::App& app, std::function<Status()>& run);
// Registers `vrec config example|check` (the documented config file).
void AddConfigCommand(CLI::App& app, std::function<Status()>& run);
// Registers `vrec events export` (the event log into segments, without a server).
void AddEventsCommand(CLI::App& app, std::function<Status()>& run);
void AddExperimentsCommand(CLI::App& app, std::function<Status()>& run);
// Registers `vrec trainer` (retraining on a schedule or after N new events; vrec-train only).
void AddTrainerCommand(CLI::App& app, std::function<Status()>& run);
// Binds the pipeline's config keys ([pipeline], [training], [gates]).
void BindPipelineKeys(config::Binder& binder, offline::PipelineOptions& options);
// The settings of the platform loop: the event export and the trainer.
struct PlatformConfig {
  events::ExportConfig exporter;   // [events] export keys
  offline::TrainerConfig trainer;  // [trainer]
};

// Reads config file `path` (empty = none) and the VREC_* environment into every command's settings
// (fields keep their current values as defaults). InvalidArgument listing every problem of any.
// `platform` may be null when the caller does not use those keys (they are still checked).
Status LoadConfig(const std::string& path, offline::PipelineOptions& pipeline, serving::ServeConfig& serve,
                  PlatformConfig* platform = nullptr);

// Loads the model directory `path` with serving's own loader (ServingModel::Load): the check run
// before `vrec models promote|rollback` and the pipeline's promotion move the production pointer.
Status LoadsForServing(const std::string& version, const std::string& path);

// What `vrec eval` and `vrec pipeline run` print: name=value lines (the default, greppable, what
// the README quotes) or, with --json, one JSON object of the same names when the command ends
// (a line's `prefix` becomes "prefix." in front of its names).
class CommandOutput {
 public:
  struct Field {
    std::string name;
    std::string value;  // formatted: a number (Num) or text
    bool text = false;  // quoted in JSON
  };
  static Field Num(std::string name, double value, int decimals = 6);
  static Field Int(std::string name, int64_t value);
  static Field Text(std::string name, std::string value);

  explicit CommandOutput(bool json) : json_(json) {}
  // Text: prints "[prefix ]a=1 b=2". JSON: keeps the fields (a later one of the same name wins).
  void Line(std::initializer_list<Field> fields, std::string_view prefix = {});
  // JSON: prints the object (nothing in text mode). Call once, also before returning an error.
  void Finish();

 private:
  bool json_;
  std::vector<Field> fields_;
};

// Where the data comes from: exactly one of the three is set.
struct DataSource {
  std::string movielens_dir;
  std::string generic_dir;
  void AddFlags(CLI::App& cmd);
  StatusOr<data::Dataset> Load() const;
};

}  // namespace vrec::app
