// The [trainer] keys of `vrec trainer` (offline/trainer.h), apart from the trainer itself so that
// the CLI without the training code (vrec, no LibTorch) checks and documents them too.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "vrec/config/binder.h"

namespace vrec::offline {

struct TrainerConfig {
  // A run is due this long after the last one (when anything new was exported since).
  std::chrono::seconds interval{std::chrono::hours(24 * 7)};
  // A run is due as soon as this many events were exported beyond the last run's data; 0 = only
  // the schedule.
  int64_t min_new_events = 100'000;
  // How often the trainer decides whether a run is due.
  std::chrono::milliseconds check_interval{std::chrono::minutes(10)};
  // The trainer's state (last run, its outcome); empty = <registry>/trainer/state.json.
  std::string state_file;

  // state_file after defaults.
  std::string StateFile(const std::string& registry) const;
};

// Binds trainer.interval, trainer.min_new_events, trainer.check_interval, trainer.state_file.
void BindTrainerConfig(config::Binder& binder, TrainerConfig& config);

}  // namespace vrec::offline
