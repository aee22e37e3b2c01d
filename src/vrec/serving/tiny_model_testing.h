// Test helper: a model registry holding copies of the committed tiny serving model
// (tests/testdata/serving_model_v1), for the fuzz harnesses, the tests and the benchmarks that need a running
// Service (linked by them only).
#pragma once

#include <string>
#include <vector>

#include "vrec/common/status.h"

namespace vrec::serving {

// Creates (or opens) the registry at `root`, commits `copies` copies of the tiny model as new
// versions and promotes the first of them. Returns the committed versions in order.
StatusOr<std::vector<std::string>> MakeTinyModelRegistry(const std::string& root, int copies);

// Turns `dir`, a copy of the tiny model, into a format 3 directory with objective heads: its
// serving snapshot written to serving.vart, and heads trained on its own feature rows (every
// catalog user x every video) whose order is known: a like head that scores short videos high
// (video_log_duration_s below the rows' median) and a watch head that grows with the duration;
// no completion head.
Status AddTinyHeads(const std::string& dir);

}  // namespace vrec::serving
