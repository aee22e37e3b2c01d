// MakeAnnIndex / LoadAnnIndex and the IVF parameter rules (ann_index.h).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "vrec/common/strings.h"
#include "vrec/retrieval/ann_index.h"
#include "vrec/retrieval/ann_index_internal.h"
#include "vrec/retrieval/brute_force_ann_index.h"
#include "vrec/retrieval/faiss_ann_index.h"

namespace vrec::retrieval {

namespace ai = ann_internal;

namespace {

constexpr int kMaxNlist = 65536;
// FAISS warns below 39 training points per centroid: k-means is then poorly determined.
constexpr int64_t kMinTrainPerList = 39;
// Probe 1/128 of the lists (at least 32, which keeps recall high for small catalogs where lists are
// few and small): recall@500 0.96 at 1M random unit vectors. Trained embeddings are more
// concentrated and need more; the pipeline measures how many (ann_tuning.h).
constexpr int kMinNprobe = 32;
constexpr int kNlistPerProbe = 128;

Status ValidateOptions(const AnnIndexOptions& o) {
  std::string bad;
  auto check = [&bad](bool ok, std::string_view what) {
    if (!ok) bad += StrCat(bad.empty() ? "" : "; ", what);
  };
  check(o.dimension > 0, StrCat("dimension must be positive, got ", o.dimension));
  check(o.ivf_nlist >= 0 && o.ivf_nlist <= kMaxNlist, StrCat("ivf_nlist must be in [0, ", kMaxNlist, "]"));
  check(o.ivf_nprobe >= 0, "ivf_nprobe must be >= 0");
  check(o.expected_num_vectors >= 0, "expected_num_vectors must be >= 0");
  check(o.ivf_train_iterations > 0, "ivf_train_iterations must be positive");
  check(o.hnsw_m >= 2 && o.hnsw_m <= 512, "hnsw_m must be in [2, 512]");
  check(o.hnsw_ef_construction > 0, "hnsw_ef_construction must be positive");
  check(o.hnsw_ef_search > 0, "hnsw_ef_search must be positive");
  if (!bad.empty()) return InvalidArgumentError(StrCat("AnnIndexOptions: ", bad));
  return OkStatus();
}

}  // namespace

const char* AnnIndexKindName(AnnIndexOptions::Kind kind) {
  switch (kind) {
    case AnnIndexOptions::Kind::kExact:
      return "exact";
    case AnnIndexOptions::Kind::kIvf:
      return "ivf";
    case AnnIndexOptions::Kind::kHnsw:
      return "hnsw";
    case AnnIndexOptions::Kind::kIvfSq8:
      return "ivf_sq8";
  }
  return "unknown";
}

int ChooseIvfNlist(const AnnIndexOptions& options, int64_t num_train) {
  if (options.ivf_nlist > 0) return options.ivf_nlist;
  const int64_t n = options.expected_num_vectors > 0 ? options.expected_num_vectors : num_train;
  // 4*sqrt(n) rounded to the nearest power of two (in log scale): 1M -> 4000 -> 4096.
  const double target = 4.0 * std::sqrt(static_cast<double>(std::max<int64_t>(n, 1)));
  int nlist = 1 << std::clamp(static_cast<int>(std::lround(std::log2(target))), 0, 16);
  nlist = std::min(nlist, kMaxNlist);
  nlist = static_cast<int>(std::min<int64_t>(nlist, std::max<int64_t>(1, num_train / kMinTrainPerList)));
  return std::max(nlist, 1);
}

int ChooseIvfNprobe(const AnnIndexOptions& options, int nlist) {
  const int nprobe =
      options.ivf_nprobe > 0 ? options.ivf_nprobe : std::max(kMinNprobe, nlist / kNlistPerProbe);
  return std::clamp(nprobe, 1, std::max(nlist, 1));
}

StatusOr<std::unique_ptr<AnnIndex>> MakeAnnIndex(const AnnIndexOptions& options) {
  VREC_RETURN_IF_ERROR(ValidateOptions(options));
  return MakeFaissAnnIndex(options);
}

StatusOr<std::unique_ptr<AnnIndex>> LoadAnnIndex(const std::string& path, const AnnLoadOptions& options) {
  ai::File f(std::fopen(path.c_str(), "rb"));
  if (!f) return NotFoundError(StrCat("cannot open ", path, ": ", std::strerror(errno)));
  char magic[8] = {};
  if (std::fread(magic, 1, sizeof(magic), f.get()) != sizeof(magic)) {
    return DataLossError(StrCat(path, ": not an ANN index file (too short)"));
  }
  if (std::memcmp(magic, ai::kBruteForceMagic, sizeof(magic)) == 0) {
    VREC_ASSIGN_OR_RETURN(auto index, BruteForceAnnIndex::LoadBody(f.get(), path));
    return std::unique_ptr<AnnIndex>(std::move(index));
  }
  if (std::memcmp(magic, ai::kFaissMagic, sizeof(magic)) == 0) {
    return LoadFaissAnnIndexBody(f.get(), path, options);
  }
  return DataLossError(StrCat(path, ": not an ANN index file (bad magic)"));
}

uint64_t AnnIndex::MemoryBytes() const {
  const AnnIndexOptions o = options();
  const auto n = static_cast<uint64_t>(std::max<int64_t>(0, size()));
  const auto d = static_cast<uint64_t>(std::max(0, dimension()));
  const uint64_t code_bytes = o.kind == AnnIndexOptions::Kind::kIvfSq8 ? d : d * sizeof(float);
  uint64_t bytes = n * (code_bytes + sizeof(int64_t));
  if (AnnIndexOptions::IsIvf(o.kind)) bytes += static_cast<uint64_t>(std::max(0, o.ivf_nlist)) * d * 4;
  if (o.kind == AnnIndexOptions::Kind::kHnsw)
    bytes += n * static_cast<uint64_t>(std::max(0, o.hnsw_m)) * 2 * 4;
  return bytes;
}

}  // namespace vrec::retrieval
