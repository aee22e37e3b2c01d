// FAISS adapter for AnnIndex. faiss_ann_index.cc is the only file in vrec that includes FAISS; this
// header exposes no FAISS types. Use MakeAnnIndex / LoadAnnIndex (ann_index.h) rather than these.
//
// How each kind maps onto FAISS 1.7.3:
//   - exact: IndexIDMap2 over IndexFlatIP. Replacing a present id overwrites its vector in place;
//     Remove compacts the storage (O(n) per call).
//   - ivf:   IndexIVFFlat (inner product, spherical k-means) with the hashtable direct map, so that
//     remove_ids works on arbitrary ids and present ids can be found. FAISS accepts duplicate ids
//     silently, so Add first removes ids that are present. nprobe is passed per query through
//     SearchParametersIVF (no shared mutable state, so concurrent searches are safe).
//   - hnsw:  IndexHNSWFlat (inner product). FAISS HNSW cannot remove vectors, so Remove (and the
//     replace half of an upsert) marks the old graph node as a tombstone: it stays in the graph and
//     in memory, and Search over-fetches and filters tombstones out. Rebuild the index when
//     tombstones become a large fraction of it (they cost memory and search time).
//
// FAISS exceptions are caught and returned as Internal errors naming the operation.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "vrec/retrieval/ann_index.h"

namespace vrec::retrieval {

// Creates an empty index; `options` must already be validated (see MakeAnnIndex).
StatusOr<std::unique_ptr<AnnIndex>> MakeFaissAnnIndex(const AnnIndexOptions& options);

// Reads the rest of a file written by the FAISS index's Save; `f` is positioned after the magic.
// `path` is only used in messages.
StatusOr<std::unique_ptr<AnnIndex>> LoadFaissAnnIndexBody(std::FILE* f, const std::string& path,
                                                          const AnnLoadOptions& options = {});

}  // namespace vrec::retrieval
