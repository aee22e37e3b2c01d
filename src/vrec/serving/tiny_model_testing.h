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

}  // namespace vrec::serving
