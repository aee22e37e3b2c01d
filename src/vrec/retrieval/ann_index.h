// Approximate nearest-neighbour (ANN) index over item embeddings: the candidate generator of the
// retrieval stage. Vectors are float, of a fixed dimension d, compared by inner product (the
// embeddings are L2-normalised, so this is cosine similarity: higher is better).
//
// Implementations:
//   - BruteForceAnnIndex (brute_force_ann_index.h): exact, plain C++. The fake for tests elsewhere
//     and the exact reference for recall measurements.
//   - FAISS (faiss_ann_index.h, made by MakeAnnIndex): exact (flat), IVF-Flat and HNSW.
//
// Ids are caller-chosen uint64 values below 2^63 (FAISS stores ids as int64). Add has upsert
// semantics: adding an id that is present replaces its vector, so an id is never returned twice.
//
// Thread safety (all implementations): const methods (Search, size, dimension, trained, Save) may
// run concurrently with each other. Train, Add and Remove need exclusive access: the caller must
// not run them concurrently with any other method (e.g. guard the index with a std::shared_mutex,
// or build a new index and swap a pointer).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vrec/common/status.h"

namespace vrec::retrieval {

// One search hit: the item id and its inner product with the query.
struct AnnResult {
  uint64_t id = 0;
  float score = 0.0f;
  friend bool operator==(const AnnResult&, const AnnResult&) = default;
};

struct AnnIndexOptions {
  enum class Kind {
    kExact,  // every vector is scored: recall 1.0, ~33 ms per query at 1M x 64 (FAISS flat)
    kIvf,    // inverted file with flat (uncompressed) lists; needs Train before Add
    kHnsw,   // graph index; removal is by tombstone (see faiss_ann_index.h)
    // IVF whose lists hold each vector's residual to its centroid in 8 bits per dimension (FAISS
    // IndexIVFScalarQuantizer QT_8bit): 4x less list memory than kIvf (64 + 8 id bytes per
    // 64-d vector instead of 256 + 8), scores within ~1e-2 of the exact ones. For catalogs whose
    // flat lists do not fit the memory budget (docs/scale.md).
    kIvfSq8,
  };
  Kind kind = Kind::kIvf;
  static bool IsIvf(Kind k) { return k == Kind::kIvf || k == Kind::kIvfSq8; }

  // Vector dimension; must be > 0.
  int dimension = 0;

  // IVF: number of lists (k-means centroids). 0 = chosen from the catalog size n (see below):
  // 4*sqrt(n) rounded to a power of two, at most 65536 and at most one list per 39 training
  // vectors (FAISS's minimum for a sound k-means). 1M -> 4096.
  int ivf_nlist = 0;
  // IVF: lists scanned per query. 0 = chosen from nlist: max(32, nlist / 128), at most nlist: a
  // starting point (recall@500 0.96 on 1M random unit vectors, 0.76 on 1M trained embeddings). The
  // pipeline raises it until recall is measured on real queries (ann_tuning.h).
  int ivf_nprobe = 0;
  // IVF: catalog size used to choose nlist when it is 0. 0 = the number of training vectors (set
  // it when training on a sample of the catalog).
  int64_t expected_num_vectors = 0;
  // IVF: k-means iterations in Train (FAISS's default is 25; 10 loses little recall and halves
  // training time, which dominates the build on a machine with a slow BLAS).
  int ivf_train_iterations = 10;

  // HNSW: graph degree (FAISS's M). Memory is about (d*4 + M*2*4) bytes per vector.
  int hnsw_m = 32;
  // HNSW: candidate list size at build time.
  int hnsw_ef_construction = 40;
  // HNSW: candidate list size at query time; the search uses max(hnsw_ef_search, k).
  // Measured at 1M: efSearch 500 -> recall@500 0.89 (1.3 ms); 2000 -> 0.95 (9.1 ms).
  int hnsw_ef_search = 512;
};

// Returns "exact", "ivf" or "hnsw".
const char* AnnIndexKindName(AnnIndexOptions::Kind kind);

// Resolves the IVF nlist / nprobe that an index with `options` uses when trained on `num_train`
// vectors (0 fields replaced by the rules above). Exposed so that benchmarks can print them.
int ChooseIvfNlist(const AnnIndexOptions& options, int64_t num_train);
int ChooseIvfNprobe(const AnnIndexOptions& options, int nlist);

// Abstract ANN index. See the file comment for thread safety.
class AnnIndex {
 public:
  virtual ~AnnIndex() = default;

  // Learns the index structure from `vectors` (size n*d, row-major; a representative sample of the
  // catalog is enough). Needed once, before the first Add, by indexes where trained() is false
  // (IVF); a no-op returning OK for exact and HNSW indexes.
  // Errors: InvalidArgument if vectors.size() is not a positive multiple of d, a value is not finite,
  // or there are fewer vectors than IVF lists; FailedPrecondition if already trained; Internal if the
  // library fails. Not thread-safe (exclusive).
  virtual Status Train(std::span<const float> vectors) = 0;

  // Adds or replaces (upsert) ids[i] -> vectors[i*d, (i+1)*d). A present id is replaced; the new
  // vector is searchable as soon as Add returns.
  // Errors: InvalidArgument if vectors.size() != ids.size()*d, an id is >= 2^63 or repeated within
  // `ids`, or a value is not finite; FailedPrecondition if the index needs training and is not
  // trained (IVF); Internal if the library fails. On InvalidArgument or FailedPrecondition the
  // index is unchanged; after Internal it may hold part of the batch (rebuild it).
  // Not thread-safe (exclusive).
  virtual Status Add(std::span<const uint64_t> ids, std::span<const float> vectors) = 0;

  // Removes `ids`; ids that are not present are ignored. A removed id is never returned by Search
  // again (until it is added again).
  // Errors: Internal if the library fails. Not thread-safe (exclusive).
  virtual Status Remove(std::span<const uint64_t> ids) = 0;

  // Returns up to k results, best (highest inner product) first, each id at most once. Fewer than
  // k only if the index holds fewer vectors, or (IVF) the probed lists hold fewer. Approximate for
  // IVF and HNSW.
  // Errors: InvalidArgument if query.size() != d, a value is not finite, or k <= 0;
  // FailedPrecondition if the index needs training and is not trained (IVF before Train: the
  // index is not in a state to search, the query itself is fine); Internal if the library
  // fails. Thread-safe: concurrent Search calls are fine; not concurrent with Train/Add/Remove.
  virtual StatusOr<std::vector<AnnResult>> Search(std::span<const float> query, int k) const = 0;

  // Number of live (searchable) vectors. Thread-safe like Search.
  virtual int64_t size() const = 0;
  // The vector dimension d. Thread-safe.
  virtual int dimension() const = 0;
  // False only for an index that needs Train before Add (an untrained IVF index). Thread-safe.
  virtual bool trained() const = 0;
  // The options the index runs with, with IVF nlist/nprobe resolved once trained.
  virtual AnnIndexOptions options() const = 0;

  // Approximate resident bytes of the index: the vectors, their ids and (IVF) the centroids or
  // (HNSW) the graph links. Thread-safe like Search.
  uint64_t MemoryBytes() const;

  // Writes the index to `path` (one file, replaced if it exists), to be read by LoadAnnIndex.
  // Errors: Internal on I/O failure. Thread-safe like Search.
  virtual Status Save(const std::string& path) const = 0;

  // Every live vector and its id (order unspecified): ids has size() entries, vectors size() * d
  // floats, exactly as added (IVF-Flat and HNSW-Flat store vectors uncompressed). For rebuilding
  // an index with other settings and for exact references over the same vectors.
  // Errors: Internal if the library fails. Thread-safe like Search.
  virtual Status Export(std::vector<uint64_t>& ids, std::vector<float>& vectors) const = 0;

  // Changes the query-time effort without a rebuild: IVF lists probed (`ivf_nprobe`, clamped to
  // [1, nlist]) and HNSW candidate list size (`hnsw_ef_search`); 0 leaves a value as it is, and
  // kinds without the parameter ignore it. options() reflects the new values.
  // Errors: InvalidArgument for a negative value. Not thread-safe (exclusive).
  virtual Status SetSearchParameters(int ivf_nprobe, int hnsw_ef_search) = 0;
};

// How LoadAnnIndex reads a FAISS index.
struct AnnLoadOptions {
  // IVF: map the inverted lists (the vectors and their ids) from the file instead of reading them
  // into memory (FAISS IO_FLAG_MMAP): load time and resident memory no longer grow with the
  // catalog until lists are searched, and processes that map the same file share its pages. The
  // first Add or Remove copies the lists into memory (the mapping is read-only). Other kinds
  // ignore it.
  bool map_ivf_lists = false;
  // IVF-Flat indexes of 200k vectors or more scan 8-bit copies of their lists, built after the
  // load (0.25 s of CPU at 1M vectors). True: built on a thread, and searches scan the float lists
  // (~1.7x slower at 1M) until they are ready, so the load returns sooner (a server's start).
  // False: built before Load returns (a server swapping models, whose old model serves meanwhile).
  bool scan_lists_in_background = true;
};

// Creates an empty FAISS-backed index of `options.kind`.
// Errors: InvalidArgument for a non-positive dimension or other out-of-range options.
StatusOr<std::unique_ptr<AnnIndex>> MakeAnnIndex(const AnnIndexOptions& options);

// Reads an index written by AnnIndex::Save (any implementation, including BruteForceAnnIndex).
// Errors: NotFound if `path` cannot be opened; DataLoss if the file is truncated, corrupt or not
// an index file; Internal if the library fails.
StatusOr<std::unique_ptr<AnnIndex>> LoadAnnIndex(const std::string& path, const AnnLoadOptions& options = {});

}  // namespace vrec::retrieval
