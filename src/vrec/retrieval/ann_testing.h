// Test data for ANN index tests: L2-normalised vectors in clusters, as trained embeddings are.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace vrec::retrieval::testing {

inline void Normalize(float* v, int d) {
  double norm = 0;
  for (int j = 0; j < d; ++j) norm += double{v[j]} * v[j];
  const float inv = static_cast<float>(1.0 / std::sqrt(std::max(norm, 1e-12)));
  for (int j = 0; j < d; ++j) v[j] *= inv;
}

// n L2-normalised vectors around `centers` (row-major), each a centre plus Gaussian noise.
class ClusteredData {
 public:
  ClusteredData(int num_clusters, int d, float spread, uint32_t seed) : d_(d), spread_(spread), rng_(seed) {
    std::normal_distribution<float> normal;
    centers_.resize(static_cast<size_t>(num_clusters) * d);
    for (auto& x : centers_) x = normal(rng_);
    for (int c = 0; c < num_clusters; ++c) Normalize(&centers_[static_cast<size_t>(c) * d], d);
  }

  std::vector<float> Sample(int n) {
    std::normal_distribution<float> normal;
    std::uniform_int_distribution<size_t> pick(0, centers_.size() / d_ - 1);
    std::vector<float> out(static_cast<size_t>(n) * d_);
    for (int i = 0; i < n; ++i) {
      const float* c = &centers_[pick(rng_) * d_];
      float* v = &out[static_cast<size_t>(i) * d_];
      for (int j = 0; j < d_; ++j) v[j] = c[j] + spread_ * normal(rng_);
      Normalize(v, d_);
    }
    return out;
  }

 private:
  int d_;
  float spread_;
  std::mt19937 rng_;
  std::vector<float> centers_;
};

}  // namespace vrec::retrieval::testing
