// Small helpers shared by the benchmark programs.
#pragma once

#include <algorithm>
#include <vector>

namespace vrec::bench {

// The q-quantile (0..1) of `v` by the nearest-rank rule; `v` must not be empty.
inline double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

}  // namespace vrec::bench
