#include "vrec/retrieval/inner_products.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
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

// Blocks of 16 rows of 8-bit codes (inner_products.h) against an 8-bit query: exact sums in
// 32-bit integers, then scaled. kGroup bytes hold four dimensions of a block's 16 rows.
constexpr size_t kGroup = 4 * kInt8Block;
typedef uint32_t Words __attribute__((vector_size(kGroup)));
typedef int32_t Ints __attribute__((vector_size(kGroup)));
static_assert(kLanes == kInt8Block);

// out[i] = sums[i] * scales[i] * query_scale for a block's 16 rows (both kernels).
[[gnu::always_inline]] inline void StoreScaled(Ints sums, const float* scales, float query_scale,
                                               float* out) {
  Lanes scale;
  std::memcpy(&scale, scales, sizeof(scale));
  const Lanes product = __builtin_convertvector(sums, Lanes) * scale * query_scale;
  std::memcpy(out, &product, sizeof(product));
}

// Portable: each 32-bit lane holds one row's four bytes; each byte is shifted out, multiplied by
// its query code and added (two accumulators, so that the adds do not wait on each other).
VREC_CPU_CLONES void BlockProductsInt8(const int8_t* query, int32_t bias, float query_scale,
                                       const uint8_t* codes, const float* scales, size_t blocks,
                                       size_t groups, float* out) {
  for (size_t b = 0; b < blocks; ++b) {
    const uint8_t* block = codes + b * groups * kGroup;
    Ints acc[2] = {};
    for (size_t g = 0; g < groups; ++g) {
      Words w;
      std::memcpy(&w, block + g * kGroup, sizeof(w));
      for (size_t j = 0; j < 4; ++j) {
        acc[j & 1] += __builtin_convertvector((w >> static_cast<uint32_t>(8 * j)) & 0xffu, Ints) *
                      static_cast<int32_t>(query[4 * g + j]);
      }
    }
    StoreScaled(acc[0] + acc[1] - bias, scales + b * kLanes, query_scale, out + b * kLanes);
  }
}

// AVX-512 VNNI: one vpdpbusd multiplies a group's 64 unsigned code bytes by the four signed query
// bytes and adds each row's four products to its 32-bit lane. Same integers as the portable
// kernel, same float operations after them.
// Not under ThreadSanitizer, whose builds run the baseline code only (cpu_clones.h).
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
#define VREC_HAVE_VNNI_KERNEL 1
// acc + group g's 64 code bytes times the query's four bytes for it, per row.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline __m512i DotGroup(__m512i acc,
                                                                               const uint8_t* block,
                                                                               const int8_t* query,
                                                                               size_t g) {
  int32_t four;
  std::memcpy(&four, query + 4 * g, sizeof(four));
  return _mm512_dpbusd_epi32(acc, _mm512_loadu_si512(block + g * kGroup), _mm512_set1_epi32(four));
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) void BlockProductsVnni(
    const int8_t* query, int32_t bias, float query_scale, const uint8_t* codes, const float* scales,
    size_t blocks, size_t groups, float* out) {
  for (size_t b = 0; b < blocks; ++b) {
    const uint8_t* block = codes + b * groups * kGroup;
    // Four accumulators in registers (an array indexed by g & 3 lived on the stack).
    __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    size_t g = 0;
    for (; g + 4 <= groups; g += 4) {
      acc0 = DotGroup(acc0, block, query, g);
      acc1 = DotGroup(acc1, block, query, g + 1);
      acc2 = DotGroup(acc2, block, query, g + 2);
      acc3 = DotGroup(acc3, block, query, g + 3);
    }
    for (; g < groups; ++g) acc0 = DotGroup(acc0, block, query, g);
    Ints sum;
    const __m512i total = _mm512_add_epi32(_mm512_add_epi32(acc0, acc1), _mm512_add_epi32(acc2, acc3));
    std::memcpy(&sum, &total, sizeof(sum));
    StoreScaled(sum - bias, scales + b * kLanes, query_scale, out + b * kLanes);
  }
}

std::atomic<bool> vnni_allowed{true};

bool UseVnni() {
  static const bool supported = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                                __builtin_cpu_supports("avx512vnni");
  return supported && vnni_allowed.load(std::memory_order_relaxed);
}
#else
std::atomic<bool> vnni_allowed{false};
#endif

// The 8-bit code of x at `scale` (> 0): round(x / scale) within [-127, 127].
int8_t Code(float x, float scale) {
  return static_cast<int8_t>(std::clamp(std::nearbyint(x / scale), -127.0f, 127.0f));
}

// max |x| / 127 over finite x; 0 for a zero vector or one with a non-finite component.
float Int8Scale(const float* x, size_t dim) {
  float top = 0;
  bool finite = true;
  for (size_t d = 0; d < dim; ++d) {
    finite = finite && std::isfinite(x[d]);
    top = std::max(top, std::abs(x[d]));
  }
  return finite && top > 0 ? top / 127.0f : 0.0f;
}

}  // namespace

void QuantizeRowsInt8(std::span<const float> rows, size_t dim, std::span<uint8_t> codes,
                      std::span<float> scales) {
  VREC_CHECK(dim > 0 && rows.size() % dim == 0, rows.size(), " floats in rows of width ", dim);
  const size_t n = rows.size() / dim, padded = Int8Padded(n), width = Int8Width(dim);
  VREC_CHECK(codes.size() == padded * width && scales.size() == padded, codes.size(), " codes and ",
             scales.size(), " scales for ", n, " rows of width ", dim);
  std::fill(codes.begin(), codes.end(), uint8_t{128});  // code 0
  std::fill(scales.begin(), scales.end(), 0.0f);
  for (size_t r = 0; r < n; ++r) {
    const float* x = rows.data() + r * dim;
    // A row with a NaN or infinite component has no 8-bit image: it scores 0 here.
    const float scale = Int8Scale(x, dim);
    if (scale == 0) continue;
    scales[r] = scale;
    uint8_t* block = codes.data() + (r / kInt8Block) * width * kInt8Block;
    for (size_t d = 0; d < dim; ++d) {
      block[(d / 4) * kGroup + (r % kInt8Block) * 4 + d % 4] = static_cast<uint8_t>(Code(x[d], scale) + 128);
    }
  }
}

void QuantizeQueryInt8(std::span<const float> query, size_t dim, Int8Query& out) {
  VREC_CHECK(dim > 0 && query.size() >= dim, query.size(), " query floats for dimension ", dim);
  out.codes.assign(Int8Width(dim), 0);
  out.scale = Int8Scale(query.data(), dim);
  int32_t sum = 0;
  if (out.scale > 0) {
    for (size_t d = 0; d < dim; ++d) sum += out.codes[d] = Code(query[d], out.scale);
  }
  out.bias = 128 * sum;
}

void QueryInt8Products(const Int8Query& query, std::span<const uint8_t> codes, std::span<const float> scales,
                       size_t dim, std::span<float> out) {
  const size_t n = scales.size(), width = Int8Width(dim);
  VREC_CHECK(dim > 0 && query.codes.size() == width && n % kInt8Block == 0 && codes.size() == n * width &&
                 out.size() >= n,
             query.codes.size(), " query codes, ", codes.size(), " codes, ", n, " scales of width ", dim,
             " into ", out.size(), " outputs");
#if defined(VREC_HAVE_VNNI_KERNEL)
  if (UseVnni()) {
    BlockProductsVnni(query.codes.data(), query.bias, query.scale, codes.data(), scales.data(),
                      n / kInt8Block, width / 4, out.data());
    return;
  }
#endif
  BlockProductsInt8(query.codes.data(), query.bias, query.scale, codes.data(), scales.data(), n / kInt8Block,
                    width / 4, out.data());
}

bool SetInt8VnniForTesting(bool allowed) { return vnni_allowed.exchange(allowed); }

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
