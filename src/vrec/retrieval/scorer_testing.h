// Test helpers shared by the ItemScorer tests.
#pragma once

#include <cstdint>

#include "vrec/data/dataset.h"

namespace vrec::retrieval::testing {

// A dataset with `users` users (ids 1..users) and `videos` videos (ids 1..videos) and no rows.
inline data::Dataset IdOnlyCatalog(int users, int videos) {
  data::Dataset ds;
  for (int u = 1; u <= users; ++u) ds.InternUser(UserId{static_cast<uint64_t>(u)});
  for (int v = 1; v <= videos; ++v) ds.InternVideo(VideoId{static_cast<uint64_t>(v)});
  return ds;
}

}  // namespace vrec::retrieval::testing
