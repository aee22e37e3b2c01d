// Helpers shared by the AnnIndex implementations (argument checks, the file header). Internal to
// vrec_ann: not for use outside src/vrec/retrieval/*ann_index*.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <unordered_set>

#include "vrec/common/status.h"
#include "vrec/common/strings.h"

namespace vrec::retrieval::ann_internal {

// Every index file starts with 8 magic bytes naming the implementation that wrote it.
inline constexpr char kBruteForceMagic[8] = {'V', 'R', 'E', 'C', 'B', 'F', '0', '1'};
inline constexpr char kFaissMagic[8] = {'V', 'R', 'E', 'C', 'F', 'S', '0', '1'};

// IVF-Flat indexes of at least this many vectors scan 8-bit copies of their lists and re-score the
// best rows exactly (faiss_ann_index.cc): at 1M x 64 a probe of 256 lists scans 62.5k vectors
// (1.60 ms a query in floats; 8-bit rows, float query: 1.16-1.36; 8-bit query on VNNI: 0.73).
// Chosen before the 8-bit query, when smaller probes gained nothing (the re-scoring's random
// reads cost what the scan saved); with it, 64 lists at 1M also gain (0.46 -> 0.36 ms), and
// smaller indexes were not re-measured (docs/scale.md).
inline constexpr int64_t kDefaultInt8ScanMinVectors = 200'000;
// Sets that threshold for this process (tests); returns the previous one.
int64_t SetInt8ScanMinVectorsForTesting(int64_t n);

inline constexpr uint64_t kMaxId = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

inline Status CheckFinite(std::span<const float> values, const char* what) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return InvalidArgumentError(StrCat(what, ": value ", i, " is not finite"));
    }
  }
  return OkStatus();
}

inline Status CheckMatrix(std::span<const float> vectors, int d, const char* what) {
  if (vectors.empty() || vectors.size() % static_cast<size_t>(d) != 0) {
    return InvalidArgumentError(
        StrCat(what, ": ", vectors.size(), " floats is not a positive multiple of dimension ", d));
  }
  return CheckFinite(vectors, what);
}

// Checks the arguments of AnnIndex::Add (see its contract). Empty input is fine.
inline Status CheckAdd(std::span<const uint64_t> ids, std::span<const float> vectors, int d) {
  if (vectors.size() != ids.size() * static_cast<size_t>(d)) {
    return InvalidArgumentError(StrCat("Add: ", ids.size(), " ids need ", ids.size() * static_cast<size_t>(d),
                                       " floats (dimension ", d, "), got ", vectors.size()));
  }
  std::unordered_set<uint64_t> seen;
  seen.reserve(ids.size());
  for (uint64_t id : ids) {
    if (id > kMaxId) return InvalidArgumentError(StrCat("Add: id ", id, " is >= 2^63"));
    if (!seen.insert(id).second) return InvalidArgumentError(StrCat("Add: id ", id, " is repeated"));
  }
  return CheckFinite(vectors, "Add");
}

inline Status CheckSearch(std::span<const float> query, int k, int d) {
  if (query.size() != static_cast<size_t>(d)) {
    return InvalidArgumentError(StrCat("Search: query has ", query.size(), " floats, dimension is ", d));
  }
  if (k <= 0) return InvalidArgumentError(StrCat("Search: k must be positive, got ", k));
  return CheckFinite(query, "Search");
}

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f != nullptr) std::fclose(f);
  }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

inline Status WriteBytes(std::FILE* f, const void* data, size_t bytes, const std::string& path) {
  if (bytes != 0 && std::fwrite(data, 1, bytes, f) != bytes) {
    return InternalError(StrCat("writing ", path, ": ", std::strerror(errno)));
  }
  return OkStatus();
}

inline Status ReadBytes(std::FILE* f, void* data, size_t bytes, const std::string& path) {
  if (bytes != 0 && std::fread(data, 1, bytes, f) != bytes) {
    return DataLossError(StrCat("reading ", path, ": file is truncated"));
  }
  return OkStatus();
}

template <typename T>
Status WritePod(std::FILE* f, const T& value, const std::string& path) {
  return WriteBytes(f, &value, sizeof(T), path);
}

template <typename T>
Status ReadPod(std::FILE* f, T& value, const std::string& path) {
  return ReadBytes(f, &value, sizeof(T), path);
}

}  // namespace vrec::retrieval::ann_internal
