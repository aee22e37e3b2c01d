// Exact AnnIndex in plain C++ (no FAISS): scores every vector. The fake for tests of code that
// uses an AnnIndex, and the exact reference for recall measurements. O(n*d) per query on one
// thread; memory n*(d*4 + 8) bytes plus an id hash map. Remove moves the last row into the hole.
// Thread safety as documented in ann_index.h.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "vrec/retrieval/ann_index.h"

namespace vrec::retrieval {

class BruteForceAnnIndex final : public AnnIndex {
 public:
  // Errors: InvalidArgument if dimension <= 0.
  static StatusOr<std::unique_ptr<BruteForceAnnIndex>> Create(int dimension);
  // Reads a file written by Save (path only used in messages; `f` is positioned after the magic).
  static StatusOr<std::unique_ptr<BruteForceAnnIndex>> LoadBody(std::FILE* f, const std::string& path);

  Status Train(std::span<const float> vectors) override;
  Status Add(std::span<const uint64_t> ids, std::span<const float> vectors) override;
  Status Remove(std::span<const uint64_t> ids) override;
  StatusOr<std::vector<AnnResult>> Search(std::span<const float> query, int k) const override;
  int64_t size() const override { return static_cast<int64_t>(ids_.size()); }
  int dimension() const override { return d_; }
  bool trained() const override { return true; }
  AnnIndexOptions options() const override;
  Status Save(const std::string& path) const override;
  Status Export(std::vector<uint64_t>& ids, std::vector<float>& vectors) const override {
    ids = ids_;
    vectors = vectors_;
    return OkStatus();
  }
  // Exact search has no effort knob: only checks the values.
  Status SetSearchParameters(int ivf_nprobe, int hnsw_ef_search) override {
    if (ivf_nprobe < 0 || hnsw_ef_search < 0)
      return InvalidArgumentError("SetSearchParameters: negative value");
    return OkStatus();
  }

 private:
  explicit BruteForceAnnIndex(int d) : d_(d) {}

  int d_;
  std::vector<uint64_t> ids_;                    // row -> id, size n
  std::vector<float> vectors_;                   // row-major, size n*d
  std::unordered_map<uint64_t, size_t> row_of_;  // id -> row
};

}  // namespace vrec::retrieval
