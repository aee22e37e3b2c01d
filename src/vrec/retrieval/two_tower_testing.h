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

}  // namespace vrec::retrieval::testing
