// Exhaustive inner products of a batch of query vectors with the rows of a row-major matrix (the
// exact scoring behind TwoTowerScorer::ScoreAll / ScoreUsers and exact-search references).
//
// Each score is the plain sequential float sum u[0]*v[0] + u[1]*v[1] + ... in dimension order,
// with every product and sum rounded to float, so it equals, bit for bit, what the scalar loop
//   float s = 0; for (d) s += u[d] * v[d];
// gives: the work is vectorised across rows, never across dimensions, and the file is compiled
// without floating-point contraction (no FMA). Rows are processed in tiles that the whole batch of
// queries reuses from cache, which is what makes a batch cheaper than one query at a time once the
// matrix is larger than the cache (at 1M x 64 one query streams 256 MB).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace vrec::retrieval {

// out[q * (row_end - row_begin) + (r - row_begin)] = <queries[q], rows[r]> for q < num_queries and
// r in [row_begin, row_end). `queries` holds num_queries x dim floats and `rows` at least
// row_end x dim; `out` has num_queries x (row_end - row_begin) floats (all checked).
// Thread-safe (scratch is per thread).
void InnerProducts(std::span<const float> queries, size_t num_queries, std::span<const float> rows,
                   size_t dim, size_t row_begin, size_t row_end, std::span<float> out);

// out[r] = <query, rows[r]> for every row of `rows` (rows.size() / dim of them; `out` holds at
// least that many), for ANN scans of one query: vectorised across dimensions (16 at a time, the
// lanes then summed pairwise), with no transpose, so a few thousand rows cost microseconds. The
// sums are in another order than InnerProducts', so scores may differ from its in the last bits.
void QueryInnerProducts(std::span<const float> query, std::span<const float> rows, size_t dim,
                        std::span<float> out);

// 8-bit rows for IVF scans: row r is scales[r] * its codes, each code round(x / scale) with scale =
// max |x| / 127 (a zero or non-finite row: scale 0). A score from them is within
// scale * sum |query| / 2 of the float one; callers re-score their best rows exactly. The codes
// are stored in blocks of kInt8Block rows, each block dim x kInt8Block (dimension-major), so that
// a scan multiplies one query component into 16 rows at once with no horizontal sums; the last
// block is padded with zero rows. `rows` holds n x dim floats, `codes` Int8Padded(n) x dim and
// `scales` Int8Padded(n) (all checked).
inline constexpr size_t kInt8Block = 16;
inline size_t Int8Padded(size_t n) { return (n + kInt8Block - 1) / kInt8Block * kInt8Block; }
void QuantizeRowsInt8(std::span<const float> rows, size_t dim, std::span<int8_t> codes,
                      std::span<float> scales);

// out[r] = scales[r] * <query, row r's codes> for the rows of blocked `codes` (scales.size() of
// them, a multiple of kInt8Block, padding included; `out` holds as many).
void QueryInt8Products(std::span<const float> query, std::span<const int8_t> codes,
                       std::span<const float> scales, size_t dim, std::span<float> out);

}  // namespace vrec::retrieval
