#include "vrec/retrieval/brute_force_ann_index.h"

#include <algorithm>
#include <cstring>
#include <queue>

#include "vrec/common/strings.h"
#include "vrec/retrieval/ann_index_internal.h"

namespace vrec::retrieval {

namespace ai = ann_internal;

StatusOr<std::unique_ptr<BruteForceAnnIndex>> BruteForceAnnIndex::Create(int dimension) {
  if (dimension <= 0) return InvalidArgumentError(StrCat("dimension must be positive, got ", dimension));
  return std::unique_ptr<BruteForceAnnIndex>(new BruteForceAnnIndex(dimension));
}

Status BruteForceAnnIndex::Train(std::span<const float> vectors) {
  return ai::CheckMatrix(vectors, d_, "Train");
}

Status BruteForceAnnIndex::Add(std::span<const uint64_t> ids, std::span<const float> vectors) {
  VREC_RETURN_IF_ERROR(ai::CheckAdd(ids, vectors, d_));
  const size_t d = static_cast<size_t>(d_);
  for (size_t i = 0; i < ids.size(); ++i) {
    const float* v = vectors.data() + i * d;
    auto [it, inserted] = row_of_.try_emplace(ids[i], ids_.size());
    if (inserted) {
      ids_.push_back(ids[i]);
      vectors_.insert(vectors_.end(), v, v + d);
    } else {
      std::memcpy(vectors_.data() + it->second * d, v, d * sizeof(float));
    }
  }
  return OkStatus();
}

Status BruteForceAnnIndex::Remove(std::span<const uint64_t> ids) {
  const size_t d = static_cast<size_t>(d_);
  for (uint64_t id : ids) {
    auto it = row_of_.find(id);
    if (it == row_of_.end()) continue;
    // Move the last row into the hole so that rows stay dense.
    const size_t row = it->second;
    const size_t last = ids_.size() - 1;
    row_of_.erase(it);
    if (row != last) {
      ids_[row] = ids_[last];
      std::memcpy(vectors_.data() + row * d, vectors_.data() + last * d, d * sizeof(float));
      row_of_[ids_[row]] = row;
    }
    ids_.pop_back();
    vectors_.resize(last * d);
  }
  return OkStatus();
}

StatusOr<std::vector<AnnResult>> BruteForceAnnIndex::Search(std::span<const float> query, int k) const {
  VREC_RETURN_IF_ERROR(ai::CheckSearch(query, k, d_));
  const size_t d = static_cast<size_t>(d_);
  const size_t keep = std::min(static_cast<size_t>(k), ids_.size());
  // Min-heap of the best `keep` so far; ties broken by smaller id so that results are deterministic.
  auto better = [](const AnnResult& a, const AnnResult& b) {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  };
  std::priority_queue<AnnResult, std::vector<AnnResult>, decltype(better)> heap(better);
  if (keep == 0) return std::vector<AnnResult>();
  for (size_t row = 0; row < ids_.size(); ++row) {
    const float* v = vectors_.data() + row * d;
    float s = 0.0f;
    for (size_t j = 0; j < d; ++j) s += v[j] * query[j];
    AnnResult r{ids_[row], s};
    if (heap.size() < keep) {
      heap.push(r);
    } else if (better(r, heap.top())) {
      heap.pop();
      heap.push(r);
    }
  }
  std::vector<AnnResult> out(heap.size());
  for (size_t i = out.size(); i-- > 0;) {
    out[i] = heap.top();
    heap.pop();
  }
  return out;
}

AnnIndexOptions BruteForceAnnIndex::options() const {
  AnnIndexOptions o;
  o.kind = AnnIndexOptions::Kind::kExact;
  o.dimension = d_;
  return o;
}

// File: magic, int32 d, int64 n, uint64 ids[n], float vectors[n*d] (native byte order).
Status BruteForceAnnIndex::Save(const std::string& path) const {
  ai::File f(std::fopen(path.c_str(), "wb"));
  if (!f) return InternalError(StrCat("cannot open ", path, " for writing: ", std::strerror(errno)));
  VREC_RETURN_IF_ERROR(ai::WriteBytes(f.get(), ai::kBruteForceMagic, sizeof(ai::kBruteForceMagic), path));
  VREC_RETURN_IF_ERROR(ai::WritePod(f.get(), static_cast<int32_t>(d_), path));
  VREC_RETURN_IF_ERROR(ai::WritePod(f.get(), static_cast<int64_t>(ids_.size()), path));
  VREC_RETURN_IF_ERROR(ai::WriteBytes(f.get(), ids_.data(), ids_.size() * sizeof(uint64_t), path));
  VREC_RETURN_IF_ERROR(ai::WriteBytes(f.get(), vectors_.data(), vectors_.size() * sizeof(float), path));
  if (std::fclose(f.release()) != 0)
    return InternalError(StrCat("closing ", path, ": ", std::strerror(errno)));
  return OkStatus();
}

StatusOr<std::unique_ptr<BruteForceAnnIndex>> BruteForceAnnIndex::LoadBody(std::FILE* f,
                                                                           const std::string& path) {
  int32_t d = 0;
  int64_t n = 0;
  VREC_RETURN_IF_ERROR(ai::ReadPod(f, d, path));
  VREC_RETURN_IF_ERROR(ai::ReadPod(f, n, path));
  if (d <= 0 || d > (1 << 20) || n < 0 || n > (int64_t{1} << 40)) {
    return DataLossError(StrCat(path, ": corrupt header (d=", d, ", n=", n, ")"));
  }
  std::unique_ptr<BruteForceAnnIndex> index(new BruteForceAnnIndex(d));
  const size_t count = static_cast<size_t>(n);
  index->ids_.resize(count);
  index->vectors_.resize(count * static_cast<size_t>(d));
  VREC_RETURN_IF_ERROR(ai::ReadBytes(f, index->ids_.data(), count * sizeof(uint64_t), path));
  VREC_RETURN_IF_ERROR(
      ai::ReadBytes(f, index->vectors_.data(), index->vectors_.size() * sizeof(float), path));
  index->row_of_.reserve(count);
  for (size_t row = 0; row < count; ++row) {
    if (!index->row_of_.emplace(index->ids_[row], row).second) {
      return DataLossError(StrCat(path, ": id ", index->ids_[row], " appears twice"));
    }
  }
  return index;
}

}  // namespace vrec::retrieval
