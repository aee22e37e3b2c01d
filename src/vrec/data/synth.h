// Synthetic video-platform generator (the spec's preprocessing step generates synthetic data).
// Deterministic by seed, whatever the thread count. See synth.cc for the model.
#pragma once

#include <cstdint>
#include <string>

#include "vrec/common/status.h"
#include "vrec/data/dataset.h"

namespace vrec::data {

struct SynthConfig {
  uint64_t seed = 42;
  int64_t num_users = 10'000;
  int64_t num_videos = 20'000;
  int64_t num_interactions = 500'000;  // rows in Dataset::interactions, all event types together
  // End of the simulated period (unix seconds) and its length. Fixed defaults keep runs reproducible.
  int64_t end_time = 1'767'225'600;  // 2026-01-01T00:00:00Z
  int days = 30;
  // Folder with KuaiRand's video_features_basic_pure.csv to calibrate durations, tags and upload
  // times; empty uses the built-in quantile tables (derived from the same file).
  std::string calibration_dir;
  int threads = 2;
  bool quiet = false;  // no progress lines
};

// Generates users, videos and interactions. InvalidArgument for non-positive sizes; errors from
// reading the calibration file are returned as they are.
StatusOr<Dataset> GenerateSynthetic(const SynthConfig& config);

}  // namespace vrec::data
