// A candidate video travelling through the online pipeline's later stages (filtering, ranking,
// ordering): a dense index into the catalog (data::Dataset::videos) and the score of the stage
// that produced it. Header-only and dependency-free so that ordering can share it without linking
// the filters (CMake target vrec_candidate).
#pragma once

#include <cstdint>

namespace vrec::filtering {

struct Candidate {
  uint32_t video = 0;  // dense index into the catalog's videos
  float score = 0;     // higher is better; its scale is the producing stage's own

  friend bool operator==(const Candidate&, const Candidate&) = default;
};

}  // namespace vrec::filtering
