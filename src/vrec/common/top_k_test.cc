#include "vrec/common/top_k.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>

namespace vrec {
namespace {

TEST(TopK, EqualsAFullSortByScoreThenLowerIndex) {
  std::mt19937 rng(5);
  for (size_t k : {0u, 1u, 7u, 100u, 5000u}) {
    // Few distinct scores: many ties, which the lower index must break.
    std::vector<double> scores(3000);
    for (double& s : scores) s = static_cast<double>(rng() % 50);
    std::vector<uint32_t> order(scores.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);  // offered in any order
    TopK top(k);
    for (uint32_t i : order) top.Push(scores[i], i);
    std::vector<uint32_t> got;
    top.Finish(got);
    std::vector<uint32_t> want(scores.size());
    std::iota(want.begin(), want.end(), 0);
    std::sort(want.begin(), want.end(),
              [&](uint32_t a, uint32_t b) { return scores[a] != scores[b] ? scores[a] > scores[b] : a < b; });
    want.resize(std::min(k, want.size()));
    EXPECT_EQ(got, want) << "k=" << k;
  }
}

TEST(TopK, IsReusableAfterFinish) {
  TopK top(2);
  top.Push(1.0, 4);
  top.Push(3.0, 9);
  top.Push(2.0, 1);
  std::vector<uint32_t> out;
  top.Finish(out);
  EXPECT_EQ(out, (std::vector<uint32_t>{9, 1}));
  top.Push(0.5, 3);
  top.Finish(out);
  EXPECT_EQ(out, (std::vector<uint32_t>{3}));
}

}  // namespace
}  // namespace vrec
