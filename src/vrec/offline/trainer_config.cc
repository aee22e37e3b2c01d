#include "vrec/offline/trainer_config.h"

#include <filesystem>

namespace vrec::offline {

std::string TrainerConfig::StateFile(const std::string& registry) const {
  if (!state_file.empty()) return state_file;
  return (std::filesystem::path(registry) / "trainer" / "state.json").string();
}

void BindTrainerConfig(config::Binder& b, TrainerConfig& c) {
  b.Duration(
      "trainer.interval", &c.interval,
      {.min = std::chrono::seconds(1),
       .help = "vrec trainer retrains this long after its last run, when events or catalog updates were "
               "exported since (the spec's weekly schedule)."});
  b.Int(
      "trainer.min_new_events", &c.min_new_events,
      {.min = 0,
       .help = "vrec trainer retrains as soon as this many events were exported beyond the data of the last "
               "run; 0 = on the schedule only."});
  b.Duration("trainer.check_interval", &c.check_interval,
             {.min = std::chrono::milliseconds(10),
              .max = std::chrono::hours(24),
              .help = "How often vrec trainer decides whether a run is due."});
  b.String("trainer.state_file", &c.state_file,
           {.help = "The trainer's state (its last run), so that a restart does not retrain at once. Empty: "
                    "<registry>/trainer/state.json."});
}

}  // namespace vrec::offline
