// A TwoTowerModel with random weights of production shapes, for benchmarks and for tests of code
// that only needs *a* model (retriever, serving). Latency does not depend on the weights' values.
#pragma once

#include <cstdint>

#include "vrec/retrieval/two_tower_model.h"

namespace vrec::retrieval::testing {

struct RandomModelShape {
  int64_t num_users = 1000;    // users with an id row (ids 1..num_users)
  int64_t num_videos = 10000;  // videos with an id row (ids 1..num_videos)
  int num_categories = 20;     // categories "c0".."c19"
  int id_dim = 64;
  int feature_dim = 16;
  int text_dim = 32;
  int text_buckets = 1 << 15;
  int hidden1 = 256, hidden2 = 128, output_dim = 64;
};

TwoTowerModel RandomTwoTowerModel(const RandomModelShape& shape, uint64_t seed);

}  // namespace vrec::retrieval::testing
