// Test-only access to the Torch side of a trained TwoTowerScorer (library
// vrec_two_tower_testing, linked by tests only).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/data/dataset.h"
#include "vrec/retrieval/two_tower.h"

namespace vrec::retrieval::testing {

// Runs the Torch towers, with scorer.model()'s weights loaded into a fresh Torch net and the
// training feature pipeline, on users `users` and videos `videos` of the Fit dataset (`ds` and
// `train` as given to Fit). Writes users.size() x dim and videos.size() x dim floats. Lets tests
// check that TwoTowerModel's plain C++ forward pass matches Torch. FailedPrecondition before Fit;
// Internal on a Torch error.
Status TorchEmbeddings(const TwoTowerScorer& scorer, const data::Dataset& ds,
                       std::span<const data::Interaction> train, std::span<const uint32_t> users,
                       std::span<const uint32_t> videos, std::vector<float>& user_out,
                       std::vector<float>& video_out);

// Trains a rows x dim table (seeded random start) for steps.size() steps, step s looking up the
// rows steps[s] (repeats allowed) with loss = sum over lookups of <row, target_k>, once with the
// trainer's LazyAdam on sparse gradients (`lazy`) and once with torch::optim::Adam on dense ones
// (`dense`), both at learning rate `lr`. Writes the two final tables (rows x dim floats).
Status LazyAdamAndAdam(int rows, int dim, const std::vector<std::vector<int64_t>>& steps, float lr,
                       std::vector<float>& lazy, std::vector<float>& dense);

}  // namespace vrec::retrieval::testing
