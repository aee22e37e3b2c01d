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
#include <vector>

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

// 8-bit rows for IVF scans: row r is scales[r] * its codes, each code c = round(x / scale) in
// [-127, 127] with scale = max |x| / 127 (a zero or non-finite row: scale 0, codes 0), stored as
// the byte c + 128. The codes are stored in blocks of kInt8Block rows; within a block, four
// dimensions at a time: for dimensions 4g..4g+3, the block's 16 rows' four bytes each (64 bytes,
// row-major), so that one 512-bit multiply-add of bytes (AVX-512 VNNI) takes four dimensions of
// 16 rows with no horizontal sums. A row is Int8Width(dim) bytes (padded dimensions hold code 0);
// the last block is padded with zero rows. `rows` holds n x dim floats, `codes`
// Int8Padded(n) x Int8Width(dim) bytes and `scales` Int8Padded(n) floats (all checked).
inline constexpr size_t kInt8Block = 16;
inline size_t Int8Padded(size_t n) { return (n + kInt8Block - 1) / kInt8Block * kInt8Block; }
inline size_t Int8Width(size_t dim) { return (dim + 3) / 4 * 4; }
void QuantizeRowsInt8(std::span<const float> rows, size_t dim, std::span<uint8_t> codes,
                      std::span<float> scales);

// A query in 8 bits for QueryInt8Products, quantised like a row (scale = max |q| / 127; a zero or
// non-finite query: scale 0, and every product 0).
struct Int8Query {
  std::vector<int8_t> codes;  // Int8Width(dim), padding 0
  float scale = 0;
  int32_t bias = 0;  // 128 * the sum of codes: what the rows' +128 adds to each product
};
void QuantizeQueryInt8(std::span<const float> query, size_t dim, Int8Query& out);

// out[r] = scales[r] * query.scale * <query codes, row r's codes> for the rows of blocked `codes`
// (scales.size() of them, a multiple of kInt8Block, padding included; `out` holds as many). The
// sum is exact integer arithmetic, so every CPU gives the same floats: with AVX-512 VNNI, 64
// byte products per instruction; otherwise a portable kernel. A score is within
// scales[r] / 2 * (sum |q| + dim * query.scale / 2) + query.scale / 2 * sum |x| of <q, x>; callers
// re-score their best rows exactly.
void QueryInt8Products(const Int8Query& query, std::span<const uint8_t> codes, std::span<const float> scales,
                       size_t dim, std::span<float> out);

// Tests: false makes QueryInt8Products use the portable kernel on a CPU with VNNI (returns the
// previous setting).
bool SetInt8VnniForTesting(bool allowed);

}  // namespace vrec::retrieval
