#include "vrec/retrieval/inner_products.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace vrec::retrieval {
namespace {

// The scalar loop InnerProducts must reproduce bit for bit.
float ScalarDot(const float* u, const float* v, size_t dim) {
  float s = 0;
  for (size_t d = 0; d < dim; ++d) s += u[d] * v[d];
  return s;
}

TEST(InnerProducts, EqualsTheScalarLoopBitForBitOnEveryRowOfABatch) {
  // Sizes that leave partial lane blocks and a partial tile; values of mixed magnitude, so that a
  // different summation order or a fused multiply-add would change low bits somewhere.
  const size_t dim = 37, rows = 2500, queries = 5;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> m(rows * dim), q(queries * dim);
  for (float& x : m) x = normal(rng) * (rng() % 4 == 0 ? 1000.0f : 0.001f);
  for (float& x : q) x = normal(rng);
  for (auto [begin, end] : {std::pair<size_t, size_t>{0, rows}, {3, 1100}, {7, 7}}) {
    std::vector<float> out(queries * (end - begin), -1.0f);
    InnerProducts(q, queries, m, dim, begin, end, out);
    for (size_t i = 0; i < queries; ++i) {
      for (size_t r = begin; r < end; ++r) {
        const float want = ScalarDot(&q[i * dim], &m[r * dim], dim);
        const float got = out[i * (end - begin) + (r - begin)];
        ASSERT_EQ(std::memcmp(&want, &got, sizeof(float)), 0) << "query " << i << " row " << r;
      }
    }
  }
}

TEST(QueryInnerProducts, EqualsTheExactSumToFloatRoundingForEveryWidth) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const size_t dim : {size_t{1}, size_t{8}, size_t{16}, size_t{37}, size_t{64}}) {
    const size_t rows = 301;
    std::vector<float> m(rows * dim), q(dim);
    for (float& x : m) x = normal(rng);
    for (float& x : q) x = normal(rng);
    std::vector<float> out(rows, -1.0f);
    QueryInnerProducts(q, m, dim, out);
    for (size_t r = 0; r < rows; ++r) {
      double exact = 0, magnitude = 0;
      for (size_t d = 0; d < dim; ++d) {
        exact += static_cast<double>(q[d]) * m[r * dim + d];
        magnitude += std::abs(static_cast<double>(q[d]) * m[r * dim + d]);
      }
      ASSERT_NEAR(out[r], exact, 1e-6 * magnitude + 1e-7) << "dim " << dim << " row " << r;
    }
  }
}

TEST(QueryInt8Products, StaysWithinTheQuantisationBoundForEveryWidth) {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const size_t dim : {size_t{1}, size_t{16}, size_t{37}, size_t{64}}) {
    const size_t rows = 45, padded = Int8Padded(rows), width = Int8Width(dim);  // a partial last block
    ASSERT_EQ(padded, 48u);
    std::vector<float> m(rows * dim), q(dim);
    for (float& x : m) x = normal(rng) * (rng() % 3 == 0 ? 30.0f : 1.0f);
    for (float& x : q) x = normal(rng);
    std::fill(m.begin(), m.begin() + static_cast<ptrdiff_t>(dim), 0.0f);  // a zero row: scale 0
    m[dim] = std::nanf("");                                               // a row without an image
    std::vector<uint8_t> codes(padded * width, 1);
    std::vector<float> scales(padded, -1.0f), out(padded, -1.0f), portable(padded, -1.0f);
    QuantizeRowsInt8(m, dim, codes, scales);
    Int8Query query;
    QuantizeQueryInt8(q, dim, query);
    QueryInt8Products(query, codes, scales, dim, out);
    // The integer sums make the portable kernel's floats the same as the vector one's.
    const bool previous = SetInt8VnniForTesting(false);
    QueryInt8Products(query, codes, scales, dim, portable);
    SetInt8VnniForTesting(previous);
    double q_abs = 0, q_top = 0;
    for (float x : q) {
      q_abs += std::abs(x);
      q_top = std::max(q_top, std::abs(static_cast<double>(x)));
    }
    const double q_step = q_top / 127.0;
    EXPECT_EQ(out[0], 0.0f);
    EXPECT_EQ(out[1], 0.0f) << "dim " << dim;
    for (size_t r = 2; r < rows; ++r) {
      double exact = 0, top = 0, x_abs = 0;
      for (size_t d = 0; d < dim; ++d) {
        exact += static_cast<double>(q[d]) * m[r * dim + d];
        top = std::max(top, std::abs(static_cast<double>(m[r * dim + d])));
        x_abs += std::abs(static_cast<double>(m[r * dim + d]));
      }
      // Each code is within half a step of its component, the row's step top / 127, the query's
      // q_step.
      const double bound =
          top / 127.0 / 2.0 * (q_abs + static_cast<double>(dim) * q_step / 2.0) + q_step / 2.0 * x_abs;
      ASSERT_NEAR(out[r], exact, bound * 1.001 + 1e-5) << "dim " << dim << " row " << r;
      ASSERT_EQ(out[r], portable[r]) << "dim " << dim << " row " << r;
    }
    for (size_t r = rows; r < padded; ++r) EXPECT_EQ(out[r], 0.0f) << "padding row " << r;
    // A zero query scores every row 0.
    std::vector<float> zero(dim, 0.0f);
    QuantizeQueryInt8(zero, dim, query);
    QueryInt8Products(query, codes, scales, dim, out);
    for (size_t r = 0; r < padded; ++r) ASSERT_EQ(out[r], 0.0f) << "zero query, row " << r;
  }
}

}  // namespace
}  // namespace vrec::retrieval
