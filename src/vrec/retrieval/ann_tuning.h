// Search effort chosen by measurement: the IVF lists probed (nprobe) or the HNSW candidate list
// (efSearch) that reach a recall target against exact search over the index's own vectors, for
// real queries. A rule of thumb (ChooseIvfNprobe) is a starting point only: how many lists hold a
// query's true neighbours depends on how the trained embeddings cluster. At 1M trained videos the
// rule's nprobe 32 of 4096 lists reached recall@500 0.76, and 256 reached 0.97 (docs/scale.md).
#pragma once

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/retrieval/ann_index.h"

namespace vrec::retrieval {

// Share of the exact top k that `got` found, by id: |got ∩ truth| / min(k, |truth|), averaged over
// queries (`got` and `truth` hold one result list per query, in the same order).
double IdRecallAtK(const std::vector<std::vector<AnnResult>>& got,
                   const std::vector<std::vector<AnnResult>>& truth, int k);
// Recall that counts ties as hits: a result scoring at least the exact k-th score (within 1e-5) is
// as good as any of the exact top k. Trained embeddings hold many identical vectors (videos without
// training positives share their id row and often their features); which of the tied ids an index
// returns is arbitrary, so id recall understates such an index.
double TieAwareRecallAtK(const std::vector<std::vector<AnnResult>>& got,
                         const std::vector<std::vector<AnnResult>>& truth, int k);

struct SearchEffortOptions {
  double target_recall = 0.95;  // tie-aware recall@k to reach
  int k = 500;                  // depth of the results compared
  // The effort is doubled from the index's current setting until the target is met, up to: IVF, a
  // quarter of the lists (beyond that exact search costs about as much, and the fix is another
  // index); HNSW, this efSearch.
  int max_hnsw_ef_search = 4096;
  int threads = 2;  // for the exact reference (one query per thread)
};

struct SearchEffort {
  std::string parameter;  // "ivf_nprobe", "hnsw_ef_search", or empty for an exact index
  int before = 0;         // the setting the index had
  int chosen = 0;         // the setting it has now
  double recall = 1.0;    // tie-aware recall@k at `chosen`
  double id_recall = 1.0;
  bool reached = true;  // false: the target was not met at the largest setting tried (kept)
  int queries = 0;
  int k = 0;
  std::vector<std::pair<int, double>> tried;  // setting -> tie-aware recall, in the order tried

  // One line for logs: "ivf_nprobe 32 -> 256: recall@500 0.967 (target 0.95; 32:0.762 ...)".
  std::string Summary(double target) const;
};

// Measures `index` on `queries` (n * dimension floats, row-major) against exact search over the
// vectors it holds, and leaves it at the smallest doubling of its current search effort that
// reaches `options.target_recall` (SetSearchParameters; Save keeps it). Exact indexes are left
// alone (recall 1, nothing measured). InvalidArgument when queries is empty or not a multiple of
// the dimension, k <= 0 or the target is outside (0, 1]; errors of Export, Search and
// SetSearchParameters. Not thread-safe (exclusive, like SetSearchParameters).
StatusOr<SearchEffort> TuneSearchEffort(AnnIndex& index, std::span<const float> queries,
                                        const SearchEffortOptions& options = {});

}  // namespace vrec::retrieval
