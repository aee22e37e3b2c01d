#include "vrec/retrieval/inner_products.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "vrec/common/check.h"
#include "vrec/common/cpu_clones.h"

namespace vrec::retrieval {
namespace {

// Rows per lane block (one 512-bit register of floats) and per tile (dim x kTile floats of the
// transposed tile stay in L2; each lane block's dim x 16 floats stay in L1 across the queries).
constexpr size_t kLanes = 16;
constexpr size_t kTile = 1024;

// The kernel, compiled for AVX-512, AVX2 and baseline x86-64 and picked at load time. Every clone
// does the same float operations in the same order (see the header), only more lanes at once.
// kQueries queries share each load of a lane block and keep independent accumulators: one
// accumulator alone is a chain of dependent adds (an add's latency per dimension), several keep
// the vector units busy.
constexpr size_t kQueries = 8;

// 16 floats in one value: a 512-bit register under AVX-512, two or four narrower ones otherwise
// (GCC's vector extension; each lane's operations are the scalar ones).
typedef float Lanes __attribute__((vector_size(kLanes * sizeof(float))));

template <size_t Q>
[[gnu::always_inline]] inline void LaneBlock(const float* queries, const float* tile, size_t dim,
                                             size_t padded_rows, size_t r0, size_t lanes, float* out,
                                             size_t out_stride) {
  Lanes acc[Q] = {};
  for (size_t d = 0; d < dim; ++d) {
    Lanes col;
    std::memcpy(&col, tile + d * padded_rows + r0, sizeof(col));
    for (size_t q = 0; q < Q; ++q) acc[q] += col * queries[q * dim + d];
  }
  for (size_t q = 0; q < Q; ++q) {
    float lane[kLanes];
    std::memcpy(lane, &acc[q], sizeof(lane));
    std::memcpy(out + q * out_stride + r0, lane, lanes * sizeof(float));
  }
}

VREC_CPU_CLONES void TileProducts(const float* queries, size_t num_queries, const float* tile, size_t dim,
                                  size_t tile_rows, size_t padded_rows, float* out, size_t out_stride) {
  for (size_t r0 = 0; r0 < padded_rows; r0 += kLanes) {
    const size_t lanes = std::min(kLanes, tile_rows - r0);
    size_t q = 0;
    for (; q + kQueries <= num_queries; q += kQueries) {
      LaneBlock<kQueries>(queries + q * dim, tile, dim, padded_rows, r0, lanes, out + q * out_stride,
                          out_stride);
    }
    for (; q < num_queries; ++q) {
      LaneBlock<1>(queries + q * dim, tile, dim, padded_rows, r0, lanes, out + q * out_stride, out_stride);
    }
  }
}

// One query against consecutive rows: each row's products summed 16 lanes at a time across the
// dimensions, the lanes then added pairwise (see QueryInnerProducts).
VREC_CPU_CLONES void RowProducts(const float* query, const float* rows, size_t n, size_t dim, float* out) {
  const size_t blocks = dim / kLanes;
  for (size_t r = 0; r < n; ++r) {
    const float* row = rows + r * dim;
    Lanes acc = {};
    for (size_t b = 0; b < blocks; ++b) {
      Lanes x, y;
      std::memcpy(&x, row + b * kLanes, sizeof(x));
      std::memcpy(&y, query + b * kLanes, sizeof(y));
      acc += x * y;
    }
    float lane[kLanes];
    std::memcpy(lane, &acc, sizeof(lane));
    for (size_t width = kLanes / 2; width >= 1; width /= 2) {
      for (size_t l = 0; l < width; ++l) lane[l] += lane[l + width];
    }
    float s = lane[0];
    for (size_t d = blocks * kLanes; d < dim; ++d) s += row[d] * query[d];
    out[r] = s;
  }
}

// Blocks of 16 rows of 8-bit codes against one float query: each query component times a column
// of 16 codes (widened int8 -> int16 -> int32 -> float: GCC compiles each step to one or two
// vector instructions, a direct int8 -> int32 or int8 -> float to scalar code), four
// accumulators so that the adds do not wait on each other.
typedef int8_t Codes __attribute__((vector_size(kLanes)));
typedef int16_t Shorts __attribute__((vector_size(kLanes * sizeof(int16_t))));
typedef int32_t Ints __attribute__((vector_size(kLanes * sizeof(int32_t))));
static_assert(kLanes == kInt8Block);

VREC_CPU_CLONES void BlockProductsInt8(const float* query, const int8_t* codes, const float* scales,
                                       size_t blocks, size_t dim, float* out) {
  for (size_t b = 0; b < blocks; ++b) {
    const int8_t* block = codes + b * dim * kLanes;
    Lanes acc[4] = {};
    for (size_t d = 0; d < dim; d += 4) {
      for (size_t j = 0; j < 4 && d + j < dim; ++j) {
        Codes c;
        std::memcpy(&c, block + (d + j) * kLanes, sizeof(c));
        acc[j] += __builtin_convertvector(__builtin_convertvector(__builtin_convertvector(c, Shorts), Ints),
                                          Lanes) *
                  query[d + j];
      }
    }
    Lanes scale;
    std::memcpy(&scale, scales + b * kLanes, sizeof(scale));
    const Lanes sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) * scale;
    std::memcpy(out + b * kLanes, &sum, sizeof(sum));
  }
}

}  // namespace

void QuantizeRowsInt8(std::span<const float> rows, size_t dim, std::span<int8_t> codes,
                      std::span<float> scales) {
  VREC_CHECK(dim > 0 && rows.size() % dim == 0, rows.size(), " floats in rows of width ", dim);
  const size_t n = rows.size() / dim, padded = Int8Padded(n);
  VREC_CHECK(codes.size() == padded * dim && scales.size() == padded, codes.size(), " codes and ",
             scales.size(), " scales for ", n, " rows of width ", dim);
  std::fill(codes.begin(), codes.end(), int8_t{0});
  std::fill(scales.begin(), scales.end(), 0.0f);
  for (size_t r = 0; r < n; ++r) {
    const float* x = rows.data() + r * dim;
    float top = 0;
    bool finite = true;
    for (size_t d = 0; d < dim; ++d) {
      finite = finite && std::isfinite(x[d]);
      top = std::max(top, std::abs(x[d]));
    }
    // A row with a NaN or infinite component has no 8-bit image: it scores 0 here.
    const float scale = finite && top > 0 ? top / 127.0f : 0.0f;
    if (scale == 0) continue;
    scales[r] = scale;
    int8_t* block = codes.data() + (r / kInt8Block) * dim * kInt8Block;
    for (size_t d = 0; d < dim; ++d) {
      block[d * kInt8Block + r % kInt8Block] =
          static_cast<int8_t>(std::clamp(std::nearbyint(x[d] / scale), -127.0f, 127.0f));
    }
  }
}

void QueryInt8Products(std::span<const float> query, std::span<const int8_t> codes,
                       std::span<const float> scales, size_t dim, std::span<float> out) {
  const size_t n = scales.size();
  VREC_CHECK(
      query.size() >= dim && dim > 0 && n % kInt8Block == 0 && codes.size() == n * dim && out.size() >= n,
      query.size(), " query floats, ", codes.size(), " codes, ", n, " scales of width ", dim, " into ",
      out.size(), " outputs");
  BlockProductsInt8(query.data(), codes.data(), scales.data(), n / kInt8Block, dim, out.data());
}

void QueryInnerProducts(std::span<const float> query, std::span<const float> rows, size_t dim,
                        std::span<float> out) {
  VREC_CHECK(query.size() >= dim && dim > 0, query.size(), " query floats for dimension ", dim);
  const size_t n = rows.size() / dim;
  VREC_CHECK(rows.size() == n * dim && out.size() >= n, rows.size(), " row floats of width ", dim, " into ",
             out.size(), " outputs");
  RowProducts(query.data(), rows.data(), n, dim, out.data());
}

void InnerProducts(std::span<const float> queries, size_t num_queries, std::span<const float> rows,
                   size_t dim, size_t row_begin, size_t row_end, std::span<float> out) {
  VREC_CHECK(row_begin <= row_end && row_end * dim <= rows.size(), "rows [", row_begin, ", ", row_end,
             ") of a ", rows.size(), "-float matrix of width ", dim);
  VREC_CHECK(queries.size() >= num_queries * dim, queries.size(), " floats for ", num_queries, " queries");
  const size_t n = row_end - row_begin;
  VREC_CHECK(out.size() >= num_queries * n, out.size(), " outputs for ", num_queries, " x ", n);
  if (n == 0 || num_queries == 0) return;
  thread_local std::vector<float> tile;
  for (size_t t0 = row_begin; t0 < row_end; t0 += kTile) {
    const size_t tn = std::min(kTile, row_end - t0);
    const size_t padded = (tn + kLanes - 1) / kLanes * kLanes;
    tile.assign(dim * padded, 0.0f);
    for (size_t r = 0; r < tn; ++r) {
      const float* src = rows.data() + (t0 + r) * dim;
      for (size_t d = 0; d < dim; ++d) tile[d * padded + r] = src[d];
    }
    TileProducts(queries.data(), num_queries, tile.data(), dim, tn, padded, out.data() + (t0 - row_begin), n);
  }
}

}  // namespace vrec::retrieval
