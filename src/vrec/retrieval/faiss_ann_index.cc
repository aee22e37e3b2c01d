#include "vrec/retrieval/faiss_ann_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/HNSW.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_io.h>
#include <faiss/invlists/DirectMap.h>
#include <faiss/invlists/InvertedLists.h>
#include <faiss/invlists/OnDiskInvertedLists.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "vrec/common/strings.h"
#include "vrec/common/top_k.h"
#include "vrec/retrieval/ann_index_internal.h"
#include "vrec/retrieval/inner_products.h"

namespace vrec::retrieval {
namespace {

namespace ai = ann_internal;
using idx_t = faiss::Index::idx_t;
using Kind = AnnIndexOptions::Kind;

// IVF-Flat lists of at least this many vectors in all are scanned in 8 bits (see SearchIvfFlat).
std::atomic<int64_t> int8_scan_min_vectors{ai::kDefaultInt8ScanMinVectors};

// Runs `fn`, turning FAISS (and allocation) exceptions into an Internal status naming `what`.
template <typename Fn>
Status Guard(const char* what, Fn&& fn) {
  try {
    fn();
    return OkStatus();
  } catch (const faiss::FaissException& e) {
    return InternalError(StrCat("faiss ", what, ": ", e.what()));
  } catch (const std::exception& e) {
    return InternalError(StrCat(what, ": ", e.what()));
  }
}

std::vector<idx_t> ToFaissIds(std::span<const uint64_t> ids) {
  // Ids were checked to be < 2^63 (or are looked up only), so the conversion is exact.
  return std::vector<idx_t>(ids.begin(), ids.end());
}

class FaissAnnIndex final : public AnnIndex {
 public:
  explicit FaissAnnIndex(const AnnIndexOptions& options) : opts_(options) {}

  Status Init() {
    return Guard("create index", [&] {
      switch (opts_.kind) {
        case Kind::kExact: {
          auto* map = new faiss::IndexIDMap2(new faiss::IndexFlatIP(opts_.dimension));
          map->own_fields = true;
          index_.reset(map);
          break;
        }
        case Kind::kIvf:
        case Kind::kIvfSq8:
          break;  // created by Train, once nlist is known
        case Kind::kHnsw: {
          auto* hnsw = new faiss::IndexHNSWFlat(opts_.dimension, opts_.hnsw_m, faiss::METRIC_INNER_PRODUCT);
          hnsw->hnsw.efConstruction = opts_.hnsw_ef_construction;
          hnsw->hnsw.efSearch = opts_.hnsw_ef_search;
          index_.reset(hnsw);
          break;
        }
      }
    });
  }

  Status Train(std::span<const float> vectors) override {
    VREC_RETURN_IF_ERROR(ai::CheckMatrix(vectors, opts_.dimension, "Train"));
    if (!AnnIndexOptions::IsIvf(opts_.kind)) return OkStatus();
    if (index_ != nullptr) return FailedPreconditionError("Train: the IVF index is already trained");
    const int64_t n = static_cast<int64_t>(vectors.size() / static_cast<size_t>(opts_.dimension));
    const int nlist = ChooseIvfNlist(opts_, n);
    if (n < nlist) {
      return InvalidArgumentError(StrCat("Train: ", n, " vectors cannot train ", nlist, " IVF lists"));
    }
    std::unique_ptr<faiss::IndexIVF> ivf;
    VREC_RETURN_IF_ERROR(Guard("IVF train", [&] {
      auto* quantizer = new faiss::IndexFlatIP(opts_.dimension);
      if (opts_.kind == Kind::kIvfSq8) {
        ivf = std::make_unique<faiss::IndexIVFScalarQuantizer>(
            quantizer, opts_.dimension, static_cast<size_t>(nlist), faiss::ScalarQuantizer::QT_8bit,
            faiss::METRIC_INNER_PRODUCT, /*by_residual=*/true);
        // Each dimension's range is the training residuals' [min, max] widened by a quarter on
        // both sides: vectors added after training (uploads) fall outside the bare range often
        // enough that clipping, not the 8-bit step, would dominate their error.
        static_cast<faiss::IndexIVFScalarQuantizer*>(ivf.get())->sq.rangestat_arg = 0.25f;
      } else {
        ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer, opts_.dimension, static_cast<size_t>(nlist),
                                                    faiss::METRIC_INNER_PRODUCT);
      }
      ivf->own_fields = true;
      ivf->cp.niter = opts_.ivf_train_iterations;
      ivf->cp.spherical = true;  // embeddings are L2-normalised: keep centroids on the sphere
      ivf->cp.verbose = false;
      ivf->train(n, vectors.data());
      ivf->set_direct_map_type(faiss::DirectMap::Hashtable);
    }));
    opts_.ivf_nlist = nlist;
    opts_.ivf_nprobe = ChooseIvfNprobe(opts_, nlist);
    index_ = std::move(ivf);
    return OkStatus();
  }

  Status Add(std::span<const uint64_t> ids, std::span<const float> vectors) override {
    VREC_RETURN_IF_ERROR(ai::CheckAdd(ids, vectors, opts_.dimension));
    VREC_RETURN_IF_ERROR(CheckTrained("Add"));
    if (ids.empty()) return OkStatus();
    DropInt8Lists();
    VREC_RETURN_IF_ERROR(MakeListsWritable());
    switch (opts_.kind) {
      case Kind::kExact:
        return AddExact(ids, vectors);
      case Kind::kIvf:
      case Kind::kIvfSq8:
        return AddIvf(ids, vectors);
      case Kind::kHnsw:
        return AddHnsw(ids, vectors);
    }
    return InternalError("unknown index kind");
  }

  Status Remove(std::span<const uint64_t> ids) override {
    if (index_ == nullptr) return OkStatus();  // untrained IVF: holds nothing
    if (opts_.kind == Kind::kHnsw) {
      for (uint64_t id : ids) Tombstone(id);
      return OkStatus();
    }
    std::vector<idx_t> present = PresentIds(ids);
    if (present.empty()) return OkStatus();
    DropInt8Lists();
    VREC_RETURN_IF_ERROR(MakeListsWritable());
    return Guard("remove_ids", [&] {
      if (AnnIndexOptions::IsIvf(opts_.kind)) {
        // The hashtable direct map only supports IDSelectorArray.
        faiss::IDSelectorArray sel(present.size(), present.data());
        index_->remove_ids(sel);
      } else {
        faiss::IDSelectorBatch sel(present.size(), present.data());
        index_->remove_ids(sel);
      }
    });
  }

  StatusOr<std::vector<AnnResult>> Search(std::span<const float> query, int k) const override {
    VREC_RETURN_IF_ERROR(ai::CheckSearch(query, k, opts_.dimension));
    VREC_RETURN_IF_ERROR(CheckTrained("Search"));
    std::vector<AnnResult> out;
    const int64_t live = size();
    if (live == 0) return out;
    const idx_t want = std::min<idx_t>(k, live);
    std::vector<float> scores;
    std::vector<idx_t> labels;
    Status status;
    switch (opts_.kind) {
      case Kind::kExact:
        if (SearchFlat(query.data(), want, out)) break;
        status = Guard("flat search", [&] { RawSearch(query.data(), want, nullptr, scores, labels); });
        if (status.ok()) AppendResults(scores, labels, want, out);
        break;
      case Kind::kIvf:
        if (SearchIvfFlat(query.data(), want, out)) break;
        [[fallthrough]];
      case Kind::kIvfSq8:
        status = Guard("IVF search", [&] {
          faiss::SearchParametersIVF params;
          params.nprobe = static_cast<size_t>(opts_.ivf_nprobe);
          RawSearch(query.data(), want, &params, scores, labels);
        });
        if (status.ok()) AppendResults(scores, labels, want, out);
        break;
      case Kind::kHnsw:
        status = SearchHnsw(query.data(), want, out);
        break;
    }
    if (!status.ok()) return status;
    return out;
  }

  int64_t size() const override {
    if (index_ == nullptr) return 0;
    return static_cast<int64_t>(index_->ntotal) - tombstones_;
  }
  int dimension() const override { return opts_.dimension; }
  bool trained() const override { return index_ != nullptr; }
  AnnIndexOptions options() const override { return opts_; }

  // File: magic, the options (fixed-size fields), for HNSW the node -> id table (-1 = tombstone),
  // a flag, then the FAISS index (faiss::write_index) if there is one.
  Status Save(const std::string& path) const override {
    ai::File f(std::fopen(path.c_str(), "wb"));
    if (!f) return InternalError(StrCat("cannot open ", path, " for writing: ", std::strerror(errno)));
    std::FILE* fp = f.get();
    VREC_RETURN_IF_ERROR(ai::WriteBytes(fp, ai::kFaissMagic, sizeof(ai::kFaissMagic), path));
    VREC_RETURN_IF_ERROR(ai::WritePod(fp, static_cast<int32_t>(opts_.kind), path));
    for (int v : {opts_.dimension, opts_.ivf_nlist, opts_.ivf_nprobe, opts_.ivf_train_iterations,
                  opts_.hnsw_m, opts_.hnsw_ef_construction, opts_.hnsw_ef_search}) {
      VREC_RETURN_IF_ERROR(ai::WritePod(fp, static_cast<int32_t>(v), path));
    }
    VREC_RETURN_IF_ERROR(ai::WritePod(fp, opts_.expected_num_vectors, path));
    VREC_RETURN_IF_ERROR(ai::WritePod(fp, static_cast<int64_t>(node_to_id_.size()), path));
    VREC_RETURN_IF_ERROR(ai::WriteBytes(fp, node_to_id_.data(), node_to_id_.size() * sizeof(idx_t), path));
    const uint8_t has_index = index_ != nullptr ? 1 : 0;
    VREC_RETURN_IF_ERROR(ai::WritePod(fp, has_index, path));
    if (has_index) VREC_RETURN_IF_ERROR(Guard("write_index", [&] { faiss::write_index(index_.get(), fp); }));
    if (std::fclose(f.release()) != 0)
      return InternalError(StrCat("closing ", path, ": ", std::strerror(errno)));
    return OkStatus();
  }

  Status Export(std::vector<uint64_t>& ids, std::vector<float>& vectors) const override {
    ids.clear();
    vectors.clear();
    if (index_ == nullptr) return OkStatus();
    const auto d = static_cast<size_t>(opts_.dimension);
    return Guard("export", [&] {
      switch (opts_.kind) {
        case Kind::kExact: {
          const auto* map = static_cast<const faiss::IndexIDMap2*>(index_.get());
          const auto* flat = static_cast<const faiss::IndexFlat*>(map->index);
          ids.assign(map->id_map.begin(), map->id_map.end());
          const auto* x = reinterpret_cast<const float*>(flat->codes.data());
          vectors.assign(x, x + ids.size() * d);
          break;
        }
        case Kind::kIvf:
        case Kind::kIvfSq8: {
          const auto* ivf = static_cast<const faiss::IndexIVF*>(index_.get());
          const faiss::InvertedLists* lists = ivf->invlists;
          const bool flat = opts_.kind == Kind::kIvf;
          ids.reserve(static_cast<size_t>(index_->ntotal));
          vectors.reserve(static_cast<size_t>(index_->ntotal) * d);
          for (size_t l = 0; l < lists->nlist; ++l) {
            const size_t n = lists->list_size(l);
            if (n == 0) continue;
            faiss::InvertedLists::ScopedIds list_ids(lists, l);
            // Mapped lists (OnDiskInvertedLists) keep a list's ids right after its codes, so they
            // need not be 8-byte aligned: copy the bytes rather than load them as idx_t.
            const size_t at = ids.size();
            ids.resize(at + n);
            static_assert(sizeof(idx_t) == sizeof(uint64_t));
            std::memcpy(ids.data() + at, list_ids.get(), n * sizeof(uint64_t));
            if (flat) {  // the codes are the vectors
              faiss::InvertedLists::ScopedCodes codes(lists, l);
              const auto* x = reinterpret_cast<const float*>(codes.get());
              vectors.insert(vectors.end(), x, x + n * d);
            } else {  // quantised residuals: decode each (approximately the vector added)
              vectors.resize((at + n) * d);
              for (size_t o = 0; o < n; ++o)
                ivf->reconstruct_from_offset(static_cast<int64_t>(l), static_cast<int64_t>(o),
                                             &vectors[(at + o) * d]);
            }
          }
          break;
        }
        case Kind::kHnsw: {
          const auto* hnsw = static_cast<const faiss::IndexHNSWFlat*>(index_.get());
          const auto* x = reinterpret_cast<const float*>(
              static_cast<const faiss::IndexFlat*>(hnsw->storage)->codes.data());
          for (size_t node = 0; node < node_to_id_.size(); ++node) {
            if (node_to_id_[node] < 0) continue;
            ids.push_back(static_cast<uint64_t>(node_to_id_[node]));
            vectors.insert(vectors.end(), x + node * d, x + (node + 1) * d);
          }
          break;
        }
      }
    });
  }

  Status SetSearchParameters(int ivf_nprobe, int hnsw_ef_search) override {
    if (ivf_nprobe < 0 || hnsw_ef_search < 0) {
      return InvalidArgumentError(StrCat("SetSearchParameters: ivf_nprobe ", ivf_nprobe, ", hnsw_ef_search ",
                                         hnsw_ef_search, " (>= 0)"));
    }
    if (ivf_nprobe > 0 && AnnIndexOptions::IsIvf(opts_.kind))
      opts_.ivf_nprobe = std::clamp(ivf_nprobe, 1, std::max(1, opts_.ivf_nlist));
    if (hnsw_ef_search > 0) {
      opts_.hnsw_ef_search = hnsw_ef_search;
      // Also the index's own default, in case a FAISS search path reads it rather than the
      // per-query parameters (model_ann_bench at 1M: efSearch 500 and 2000 searched alike).
      if (auto* hnsw = dynamic_cast<faiss::IndexHNSWFlat*>(index_.get()))
        hnsw->hnsw.efSearch = hnsw_ef_search;
    }
    return OkStatus();
  }

  Status LoadBody(std::FILE* fp, const std::string& path, const AnnLoadOptions& load) {
    int32_t kind = 0;
    VREC_RETURN_IF_ERROR(ai::ReadPod(fp, kind, path));
    if (kind < 0 || kind > static_cast<int32_t>(Kind::kIvfSq8)) {
      return DataLossError(StrCat(path, ": unknown index kind ", kind));
    }
    opts_.kind = static_cast<Kind>(kind);
    for (int* v : {&opts_.dimension, &opts_.ivf_nlist, &opts_.ivf_nprobe, &opts_.ivf_train_iterations,
                   &opts_.hnsw_m, &opts_.hnsw_ef_construction, &opts_.hnsw_ef_search}) {
      int32_t x = 0;
      VREC_RETURN_IF_ERROR(ai::ReadPod(fp, x, path));
      *v = x;
    }
    VREC_RETURN_IF_ERROR(ai::ReadPod(fp, opts_.expected_num_vectors, path));
    int64_t nodes = 0;
    VREC_RETURN_IF_ERROR(ai::ReadPod(fp, nodes, path));
    if (opts_.dimension <= 0 || nodes < 0 || nodes > (int64_t{1} << 40)) {
      return DataLossError(StrCat(path, ": corrupt header"));
    }
    node_to_id_.resize(static_cast<size_t>(nodes));
    VREC_RETURN_IF_ERROR(ai::ReadBytes(fp, node_to_id_.data(), node_to_id_.size() * sizeof(idx_t), path));
    uint8_t has_index = 0;
    VREC_RETURN_IF_ERROR(ai::ReadPod(fp, has_index, path));
    if (has_index) {
      // Mapping: FAISS maps the whole file read-only and points each list at its place in it (the
      // list layout on disk, codes then ids, is the mapped layout), then reads on after the lists.
      const bool map = load.map_ivf_lists && AnnIndexOptions::IsIvf(opts_.kind);
      faiss::Index* raw = nullptr;
      VREC_RETURN_IF_ERROR(
          Guard("read_index", [&] { raw = faiss::read_index(fp, map ? faiss::IO_FLAG_MMAP : 0); }));
      index_.reset(raw);
      if (map) {
        if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(index_.get())) {
          if (auto* mapped = dynamic_cast<faiss::OnDiskInvertedLists*>(ivf->invlists)) {
            // Its prefetch starts threads to touch the probed lists at every search: a cost, not a
            // help, for one query on pages that are usually cached.
            mapped->prefetch_nthread = 0;
          }
        }
      }
    }
    VREC_RETURN_IF_ERROR(CheckLoaded(path));
    // Built before returning when the caller asks (AnnLoadOptions::scan_lists_in_background: a
    // swap, whose old model serves meanwhile); otherwise beside the caller (0.25 s at 1M videos),
    // so that loading does not wait for it, and searches scan the float lists until it is done.
    // The thread inherits the caller's priority (vrec serve loads on a lowered one).
    if (!Int8Wanted()) return OkStatus();
    if (!load.scan_lists_in_background) {
      Publish(TryBuildInt8Lists());
      return OkStatus();
    }
    int8_building_.store(true);
    int8_builder_ = std::jthread([this] {
      Publish(TryBuildInt8Lists());
      int8_building_.store(false);
    });
    return OkStatus();
  }

 private:
  // 8-bit copies of the IVF-Flat lists, in list order: each vector's residual to its list's
  // centroid (smaller than the vector, so the 8-bit step is finer), QuantizeRowsInt8. A score is
  // <query, centroid> + <query, residual>. The scan reads a quarter of the float lists' bytes.
  struct Int8Lists {
    // nlist + 1: list l's rows start at row begin[l] (a multiple of kInt8Block: each list's last
    // block is padded) and are followed by begin[l + 1] - begin[l] - size[l] padding rows.
    std::vector<size_t> begin;
    std::vector<size_t> size;    // nlist: the list's vectors
    std::vector<uint8_t> codes;  // begin[nlist] rows x Int8Width(dimension), in blocks (inner_products.h)
    std::vector<float> scales;   // begin[nlist] rows
  };

  const faiss::IndexIVFFlat* IvfFlat() const {
    const auto* ivf = dynamic_cast<const faiss::IndexIVFFlat*>(index_.get());
    if (ivf == nullptr || ivf->metric_type != faiss::METRIC_INNER_PRODUCT ||
        ivf->code_size != static_cast<size_t>(opts_.dimension) * sizeof(float))
      return nullptr;
    return ivf;
  }

  bool Int8Wanted() const {
    if (index_ == nullptr || index_->ntotal < int8_min_vectors_)
      return false;  // cheap test first: per search
    const faiss::IndexIVFFlat* ivf = IvfFlat();
    const auto* coarse = ivf ? dynamic_cast<const faiss::IndexFlat*>(ivf->quantizer) : nullptr;
    return coarse != nullptr && coarse->ntotal == static_cast<idx_t>(ivf->nlist);
  }

  std::unique_ptr<const Int8Lists> BuildInt8Lists() const {
    const faiss::IndexIVFFlat* ivf = IvfFlat();
    const auto* coarse = dynamic_cast<const faiss::IndexFlat*>(ivf->quantizer);
    const size_t dim = static_cast<size_t>(opts_.dimension);
    auto out = std::make_unique<Int8Lists>();
    out->begin.assign(ivf->nlist + 1, 0);
    out->size.assign(ivf->nlist, 0);
    for (size_t l = 0; l < ivf->nlist; ++l) {
      out->size[l] = ivf->invlists->list_size(l);
      out->begin[l + 1] = out->begin[l] + Int8Padded(out->size[l]);
    }
    const size_t rows = out->begin.back();
    const size_t width = Int8Width(dim);
    out->codes.resize(rows * width);
    out->scales.resize(rows);
    std::vector<float> aligned;
    for (size_t l = 0; l < ivf->nlist; ++l) {
      const size_t n = out->size[l], padded = out->begin[l + 1] - out->begin[l];
      if (n == 0) continue;
      faiss::InvertedLists::ScopedCodes codes(ivf->invlists, l);
      aligned.resize(n * dim);
      std::memcpy(aligned.data(), codes.get(), n * dim * sizeof(float));
      const float* centroid = coarse->get_xb() + l * dim;
      for (size_t i = 0; i < n * dim; ++i) aligned[i] -= centroid[i % dim];
      QuantizeRowsInt8(aligned, dim,
                       std::span<uint8_t>(out->codes).subspan(out->begin[l] * width, padded * width),
                       std::span<float>(out->scales).subspan(out->begin[l], padded));
    }
    return out;
  }

  // Null when memory runs out: the float lists are scanned instead.
  std::unique_ptr<const Int8Lists> TryBuildInt8Lists() const {
    try {
      return BuildInt8Lists();
    } catch (const std::exception&) {
      int8_failed_.store(true);
      return nullptr;
    }
  }

  // The 8-bit lists when the index wants them (null: scan the float lists). After a load, a thread
  // builds them; after a change, the first search does (Add and Remove drop them).
  // The lists stay until the next Add or Remove, which may not run beside a search (ann_index.h).
  const Int8Lists* Int8() const {
    const Int8Lists* lists = int8_.load(std::memory_order_acquire);
    if (lists != nullptr || int8_building_.load() || int8_failed_.load() || !Int8Wanted()) return lists;
    std::lock_guard lock(int8_mutex_);
    if (int8_.load(std::memory_order_acquire) == nullptr && !int8_failed_.load())
      Publish(TryBuildInt8Lists());
    return int8_.load(std::memory_order_acquire);
  }

  // Owned by the index, published to searches by one release store (a plain pointer: searches
  // read it on every query, and never while Add or Remove frees it).
  void Publish(std::unique_ptr<const Int8Lists> lists) const {
    if (lists == nullptr) return;
    int8_owned_ = std::move(lists);
    int8_.store(int8_owned_.get(), std::memory_order_release);
  }

  // Before a change: waits for a build in progress (it reads the lists) and drops the lists.
  void DropInt8Lists() {
    if (int8_builder_.joinable()) int8_builder_.join();
    int8_.store(nullptr);
    int8_owned_.reset();
    int8_failed_.store(false);
  }

  // A mapped IVF index (AnnLoadOptions::map_ivf_lists) has read-only lists: copy them into memory
  // before the first change.
  Status MakeListsWritable() {
    if (!AnnIndexOptions::IsIvf(opts_.kind) || index_ == nullptr) return OkStatus();
    auto* ivf = static_cast<faiss::IndexIVF*>(index_.get());
    if (dynamic_cast<faiss::ArrayInvertedLists*>(ivf->invlists) != nullptr) return OkStatus();
    return Guard("copy mapped IVF lists", [&] {
      auto lists = std::make_unique<faiss::ArrayInvertedLists>(ivf->nlist, ivf->code_size);
      for (size_t l = 0; l < ivf->nlist; ++l) {
        const size_t n = ivf->invlists->list_size(l);
        if (n == 0) continue;
        faiss::InvertedLists::ScopedIds ids(ivf->invlists, l);
        faiss::InvertedLists::ScopedCodes codes(ivf->invlists, l);
        lists->add_entries(l, n, ids.get(), codes.get());
      }
      ivf->replace_invlists(lists.release(), /*own=*/true);
    });
  }

  Status CheckTrained(const char* what) const {
    if (index_ == nullptr) {
      return FailedPreconditionError(StrCat(what, ": the IVF index must be trained first (call Train)"));
    }
    return OkStatus();
  }

  // Checks that a loaded FAISS index has the structure this kind needs, and rebuilds derived state.
  Status CheckLoaded(const std::string& path) {
    const bool has = index_ != nullptr;
    if (!AnnIndexOptions::IsIvf(opts_.kind) && !has)
      return DataLossError(StrCat(path, ": missing FAISS index"));
    if (has && index_->d != opts_.dimension) return DataLossError(StrCat(path, ": dimension mismatch"));
    switch (opts_.kind) {
      case Kind::kExact:
        if (dynamic_cast<faiss::IndexIDMap2*>(index_.get()) == nullptr) {
          return DataLossError(StrCat(path, ": expected a FAISS IndexIDMap2"));
        }
        break;
      case Kind::kIvf:
      case Kind::kIvfSq8:
        if (has) {
          const bool sq8 = opts_.kind == Kind::kIvfSq8;
          auto* ivf =
              sq8 ? static_cast<faiss::IndexIVF*>(dynamic_cast<faiss::IndexIVFScalarQuantizer*>(index_.get()))
                  : static_cast<faiss::IndexIVF*>(dynamic_cast<faiss::IndexIVFFlat*>(index_.get()));
          if (ivf == nullptr || ivf->direct_map.type != faiss::DirectMap::Hashtable) {
            return DataLossError(StrCat(path, ": expected a FAISS ",
                                        sq8 ? "IndexIVFScalarQuantizer" : "IndexIVFFlat",
                                        " with a hashtable direct map"));
          }
        }
        break;
      case Kind::kHnsw: {
        if (dynamic_cast<faiss::IndexHNSWFlat*>(index_.get()) == nullptr ||
            static_cast<int64_t>(node_to_id_.size()) != index_->ntotal) {
          return DataLossError(StrCat(path, ": expected a FAISS IndexHNSWFlat matching its id table"));
        }
        id_to_node_.clear();
        tombstones_ = 0;
        for (size_t node = 0; node < node_to_id_.size(); ++node) {
          if (node_to_id_[node] < 0) {
            ++tombstones_;
          } else if (!id_to_node_.emplace(node_to_id_[node], static_cast<idx_t>(node)).second) {
            return DataLossError(StrCat(path, ": id ", node_to_id_[node], " appears twice"));
          }
        }
        break;
      }
    }
    return OkStatus();
  }

  bool Contains(idx_t id) const {
    switch (opts_.kind) {
      case Kind::kExact:
        return static_cast<const faiss::IndexIDMap2*>(index_.get())->rev_map.count(id) != 0;
      case Kind::kIvf:
      case Kind::kIvfSq8:
        return static_cast<const faiss::IndexIVF*>(index_.get())->direct_map.hashtable.count(id) != 0;
      case Kind::kHnsw:
        return id_to_node_.count(id) != 0;
    }
    return false;
  }

  std::vector<idx_t> PresentIds(std::span<const uint64_t> ids) const {
    std::vector<idx_t> present;
    for (uint64_t id : ids) {
      if (id <= ai::kMaxId && Contains(static_cast<idx_t>(id))) present.push_back(static_cast<idx_t>(id));
    }
    return present;
  }

  Status AddExact(std::span<const uint64_t> ids, std::span<const float> vectors) {
    auto* map = static_cast<faiss::IndexIDMap2*>(index_.get());
    auto* flat = static_cast<faiss::IndexFlat*>(map->index);
    const size_t d = static_cast<size_t>(opts_.dimension);
    std::vector<idx_t> new_ids;
    std::vector<float> new_vectors;
    for (size_t i = 0; i < ids.size(); ++i) {
      const float* v = vectors.data() + i * d;
      auto it = map->rev_map.find(static_cast<idx_t>(ids[i]));
      if (it != map->rev_map.end()) {
        // Upsert: overwrite the stored vector in place (IndexFlat stores raw floats as its codes).
        std::memcpy(flat->codes.data() + static_cast<size_t>(it->second) * flat->code_size, v,
                    d * sizeof(float));
      } else {
        new_ids.push_back(static_cast<idx_t>(ids[i]));
        new_vectors.insert(new_vectors.end(), v, v + d);
      }
    }
    if (new_ids.empty()) return OkStatus();
    return Guard("flat add_with_ids", [&] {
      map->add_with_ids(static_cast<idx_t>(new_ids.size()), new_vectors.data(), new_ids.data());
    });
  }

  Status AddIvf(std::span<const uint64_t> ids, std::span<const float> vectors) {
    // FAISS IVF keeps duplicate ids; remove the old entries first so that Add is an upsert.
    std::vector<idx_t> present = PresentIds(ids);
    std::vector<idx_t> all = ToFaissIds(ids);
    return Guard("IVF add_with_ids", [&] {
      if (!present.empty()) {
        faiss::IDSelectorArray sel(present.size(), present.data());
        index_->remove_ids(sel);
      }
      index_->add_with_ids(static_cast<idx_t>(all.size()), vectors.data(), all.data());
    });
  }

  Status AddHnsw(std::span<const uint64_t> ids, std::span<const float> vectors) {
    const idx_t first = index_->ntotal;
    VREC_RETURN_IF_ERROR(
        Guard("HNSW add", [&] { index_->add(static_cast<idx_t>(ids.size()), vectors.data()); }));
    for (size_t i = 0; i < ids.size(); ++i) {
      Tombstone(ids[i]);
      const idx_t node = first + static_cast<idx_t>(i);
      node_to_id_.push_back(static_cast<idx_t>(ids[i]));
      id_to_node_[static_cast<idx_t>(ids[i])] = node;
    }
    return OkStatus();
  }

  void Tombstone(uint64_t id) {
    if (id > ai::kMaxId) return;
    auto it = id_to_node_.find(static_cast<idx_t>(id));
    if (it == id_to_node_.end()) return;
    node_to_id_[static_cast<size_t>(it->second)] = -1;
    id_to_node_.erase(it);
    ++tombstones_;
  }

  void RawSearch(const float* q, idx_t k, const faiss::SearchParameters* params, std::vector<float>& scores,
                 std::vector<idx_t>& labels) const {
    scores.assign(static_cast<size_t>(k), 0.0f);
    labels.assign(static_cast<size_t>(k), -1);
    index_->search(1, q, k, scores.data(), labels.data(), params);
  }

  // Exact search of a flat inner-product index with QueryInnerProducts (as SearchIvfFlat below,
  // for the same reason: 10k videos took ~0.7 ms per query with FAISS's scalar loop). False for
  // any other layout.
  bool SearchFlat(const float* q, idx_t want, std::vector<AnnResult>& out) const {
    const auto* map = dynamic_cast<const faiss::IndexIDMap2*>(index_.get());
    const auto* flat = map ? dynamic_cast<const faiss::IndexFlat*>(map->index) : nullptr;
    const size_t dim = static_cast<size_t>(opts_.dimension);
    if (flat == nullptr || flat->metric_type != faiss::METRIC_INNER_PRODUCT || flat->d != opts_.dimension ||
        map->id_map.size() != static_cast<size_t>(flat->ntotal)) {
      return false;
    }
    const auto n = static_cast<size_t>(flat->ntotal);
    thread_local std::vector<float> scores;
    thread_local std::vector<uint32_t> best;
    thread_local TopK top;
    scores.resize(n);
    QueryInnerProducts(std::span<const float>(q, dim), std::span<const float>(flat->get_xb(), n * dim), dim,
                       scores);
    top.Reset(static_cast<size_t>(want));
    for (size_t i = 0; i < n; ++i) top.Push(scores[i], static_cast<uint32_t>(i));
    top.Finish(best);
    for (const uint32_t i : best) out.push_back({static_cast<uint64_t>(map->id_map[i]), scores[i]});
    return true;
  }

  // IVF-Flat with inner product, scanned with QueryInnerProducts (inner_products.h) instead of
  // FAISS's loop: Debian's FAISS is built without AVX2, and its scalar inner product was ~30% of
  // a request's CPU at 1M videos (scoring 4096 centroids and 32 lists of ~250 vectors). Scores
  // the centroids, probes the best nprobe lists and keeps the best `want` of their vectors:
  // FAISS's search, with the vectorised sums. False (nothing appended) for any other layout,
  // which FAISS then searches.
  bool SearchIvfFlat(const float* q, idx_t want, std::vector<AnnResult>& out) const {
    const faiss::IndexIVFFlat* ivf = IvfFlat();
    const auto* coarse = ivf ? dynamic_cast<const faiss::IndexFlat*>(ivf->quantizer) : nullptr;
    const size_t dim = static_cast<size_t>(opts_.dimension);
    if (coarse == nullptr || coarse->metric_type != faiss::METRIC_INNER_PRODUCT ||
        coarse->ntotal != static_cast<idx_t>(ivf->nlist)) {
      return false;
    }
    const std::span<const float> query(q, dim);
    thread_local std::vector<float> scores;
    thread_local std::vector<uint32_t> lists;
    thread_local std::vector<idx_t> ids;
    thread_local std::vector<float> id_scores;
    thread_local std::vector<float> aligned;
    thread_local TopK top;
    scores.resize(ivf->nlist);
    QueryInnerProducts(query, std::span<const float>(coarse->get_xb(), ivf->nlist * dim), dim, scores);
    top.Reset(std::min<size_t>(static_cast<size_t>(std::max(opts_.ivf_nprobe, 1)), ivf->nlist));
    for (size_t l = 0; l < ivf->nlist; ++l) top.Push(scores[l], static_cast<uint32_t>(l));
    top.Finish(lists);
    if (const Int8Lists* int8 = Int8()) {
      SearchInt8Lists(*ivf, *int8, query, lists, scores, want, out);
      return true;
    }
    top.Reset(static_cast<size_t>(want));
    ids.clear();
    id_scores.clear();
    for (const uint32_t l : lists) {
      const size_t n = ivf->invlists->list_size(l);
      if (n == 0) continue;
      faiss::InvertedLists::ScopedCodes codes(ivf->invlists, l);
      faiss::InvertedLists::ScopedIds list_ids(ivf->invlists, l);
      // Mapped lists (OnDiskInvertedLists) sit wherever the file put them, not necessarily at
      // float or id alignment: copy the codes when misaligned, read the ids bytewise.
      const float* vectors = reinterpret_cast<const float*>(codes.get());
      if (reinterpret_cast<uintptr_t>(codes.get()) % alignof(float) != 0) {
        aligned.resize(n * dim);
        std::memcpy(aligned.data(), codes.get(), n * dim * sizeof(float));
        vectors = aligned.data();
      }
      scores.resize(n);
      QueryInnerProducts(query, std::span<const float>(vectors, n * dim), dim, scores);
      const auto* id_bytes = reinterpret_cast<const std::byte*>(list_ids.get());
      for (size_t i = 0; i < n; ++i) {
        idx_t id;
        std::memcpy(&id, id_bytes + i * sizeof(idx_t), sizeof(id));
        top.Push(scores[i], static_cast<uint32_t>(ids.size()));
        ids.push_back(id);
        id_scores.push_back(scores[i]);
      }
    }
    top.Finish(lists);
    for (const uint32_t i : lists) out.push_back({static_cast<uint64_t>(ids[i]), id_scores[i]});
    return true;
  }

  // The probed lists scanned in 8 bits, then the best rows re-scored from the float lists:
  // want + max(want / 4, 32) of them, so that rows the 8-bit error moved across the cut come back
  // (the same results as the float scan: ann_index_test; the same recall at 1M: docs/scale.md).
  // Scores are the float scan's.
  void SearchInt8Lists(const faiss::IndexIVFFlat& ivf, const Int8Lists& int8, std::span<const float> query,
                       const std::vector<uint32_t>& lists, const std::vector<float>& list_scores, idx_t want,
                       std::vector<AnnResult>& out) const {
    const size_t dim = static_cast<size_t>(opts_.dimension), width = Int8Width(dim);
    thread_local Int8Query query8;
    thread_local std::vector<float> scores;
    thread_local std::vector<uint32_t> rows;
    thread_local std::vector<std::pair<uint32_t, uint32_t>> places;  // (list, offset) per row
    thread_local std::vector<float> row;
    thread_local TopK top;
    QuantizeQueryInt8(query, dim, query8);
    top.Reset(static_cast<size_t>(want + std::max<idx_t>(want / 4, 32)));
    for (const uint32_t l : lists) {
      const size_t begin = int8.begin[l], n = int8.size[l], padded = int8.begin[l + 1] - begin;
      if (n == 0) continue;
      scores.resize(padded);
      QueryInt8Products(query8, std::span<const uint8_t>(int8.codes).subspan(begin * width, padded * width),
                        std::span<const float>(int8.scales).subspan(begin, padded), dim, scores);
      const float base = list_scores[l];
      // Most blocks of 16 hold no score that can still enter: one comparison skips them (a push
      // per row was the scan's largest cost, a branch mispredicted at random).
      for (size_t b = 0; b < n; b += kInt8Block) {
        const size_t end = std::min(n, b + kInt8Block);
        float best = scores[b];
        for (size_t i = b + 1; i < end; ++i) best = std::max(best, scores[i]);
        if (base + best < top.Bar()) continue;
        for (size_t i = b; i < end; ++i) top.Push(base + scores[i], static_cast<uint32_t>(begin + i));
      }
    }
    top.Finish(rows);
    // The rows sit at random in the float lists: ask for all of them before reading any, so that
    // their cache misses overlap.
    places.resize(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      const uint32_t r = rows[i];
      const auto l = static_cast<uint32_t>(std::upper_bound(int8.begin.begin(), int8.begin.end(), r) -
                                           int8.begin.begin() - 1);
      places[i] = {l, static_cast<uint32_t>(r - int8.begin[l])};
      faiss::InvertedLists::ScopedCodes codes(ivf.invlists, l);
      const uint8_t* at = codes.get() + places[i].second * dim * sizeof(float);
      for (size_t byte = 0; byte < dim * sizeof(float); byte += 64) __builtin_prefetch(at + byte);
    }
    row.resize(dim);
    float exact = 0;
    for (const auto& [l, offset] : places) {
      faiss::InvertedLists::ScopedCodes codes(ivf.invlists, l);
      faiss::InvertedLists::ScopedIds ids(ivf.invlists, l);
      std::memcpy(row.data(), codes.get() + offset * dim * sizeof(float), dim * sizeof(float));
      QueryInnerProducts(query, row, dim, std::span<float>(&exact, 1));
      idx_t id;
      std::memcpy(&id, reinterpret_cast<const std::byte*>(ids.get()) + offset * sizeof(idx_t), sizeof(id));
      out.push_back({static_cast<uint64_t>(id), exact});
    }
    // The best `want` of the re-scored rows, best first.
    const auto first = out.end() - static_cast<ptrdiff_t>(rows.size());
    std::stable_sort(first, out.end(),
                     [](const AnnResult& a, const AnnResult& b) { return a.score > b.score; });
    if (rows.size() > static_cast<size_t>(want)) out.erase(first + static_cast<ptrdiff_t>(want), out.end());
  }

  static void AppendResults(const std::vector<float>& scores, const std::vector<idx_t>& labels, idx_t want,
                            std::vector<AnnResult>& out) {
    for (size_t i = 0; i < labels.size() && static_cast<idx_t>(out.size()) < want; ++i) {
      if (labels[i] >= 0) out.push_back({static_cast<uint64_t>(labels[i]), scores[i]});
    }
  }

  // HNSW nodes are numbered 0..ntotal-1; tombstoned nodes are still in the graph, so fetch more
  // than k and drop them, growing the fetch until k live results are found or all nodes are asked.
  Status SearchHnsw(const float* q, idx_t want, std::vector<AnnResult>& out) const {
    const idx_t total = index_->ntotal;
    idx_t fetch = std::min<idx_t>(total, want + std::min<idx_t>(tombstones_, std::max<idx_t>(want, 16)));
    std::vector<float> scores;
    std::vector<idx_t> labels;
    while (true) {
      out.clear();
      VREC_RETURN_IF_ERROR(Guard("HNSW search", [&] {
        faiss::SearchParametersHNSW params;
        params.efSearch = static_cast<int>(std::max<idx_t>(opts_.hnsw_ef_search, fetch));
        RawSearch(q, fetch, &params, scores, labels);
      }));
      for (size_t i = 0; i < labels.size() && static_cast<idx_t>(out.size()) < want; ++i) {
        if (labels[i] < 0) continue;
        const idx_t id = node_to_id_[static_cast<size_t>(labels[i])];
        if (id >= 0) out.push_back({static_cast<uint64_t>(id), scores[i]});
      }
      if (static_cast<idx_t>(out.size()) >= want || fetch >= total) return OkStatus();
      fetch = std::min<idx_t>(total, fetch * 4);
    }
  }

  AnnIndexOptions opts_;
  std::unique_ptr<faiss::Index> index_;  // null only for an untrained IVF index

  // HNSW only: graph node -> id (-1 = tombstone), id -> node, and the tombstone count.
  std::vector<idx_t> node_to_id_;
  std::unordered_map<idx_t, idx_t> id_to_node_;
  int64_t tombstones_ = 0;

  // IVF-Flat from int8_min_vectors_ vectors: the 8-bit lists (Int8()).
  mutable std::unique_ptr<const Int8Lists> int8_owned_;
  mutable std::atomic<const Int8Lists*> int8_{nullptr};
  mutable std::mutex int8_mutex_;
  mutable std::atomic<bool> int8_failed_{false};
  std::atomic<bool> int8_building_{false};
  const int64_t int8_min_vectors_ = int8_scan_min_vectors.load();  // the process's, at creation
  std::jthread int8_builder_;  // last: joined before anything it reads is destroyed
};

}  // namespace

int64_t ann_internal::SetInt8ScanMinVectorsForTesting(int64_t n) { return int8_scan_min_vectors.exchange(n); }

StatusOr<std::unique_ptr<AnnIndex>> MakeFaissAnnIndex(const AnnIndexOptions& options) {
  auto index = std::make_unique<FaissAnnIndex>(options);
  VREC_RETURN_IF_ERROR(index->Init());
  return std::unique_ptr<AnnIndex>(std::move(index));
}

StatusOr<std::unique_ptr<AnnIndex>> LoadFaissAnnIndexBody(std::FILE* f, const std::string& path,
                                                          const AnnLoadOptions& options) {
  auto index = std::make_unique<FaissAnnIndex>(AnnIndexOptions{});
  VREC_RETURN_IF_ERROR(index->LoadBody(f, path, options));
  return std::unique_ptr<AnnIndex>(std::move(index));
}

}  // namespace vrec::retrieval
