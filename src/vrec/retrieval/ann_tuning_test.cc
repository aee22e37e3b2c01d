#include "vrec/retrieval/ann_tuning.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>

#include "vrec/retrieval/ann_testing.h"
#include "vrec/retrieval/brute_force_ann_index.h"

namespace vrec::retrieval {
namespace {

using Kind = AnnIndexOptions::Kind;
using Results = std::vector<std::vector<AnnResult>>;

constexpr int kDim = 32;
constexpr int kN = 20000;

std::vector<uint64_t> Iota(size_t n) {
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = i + 1;
  return ids;
}

std::unique_ptr<AnnIndex> Build(Kind kind, const std::vector<float>& data, int nlist, int nprobe,
                                int ef = 16) {
  AnnIndexOptions o;
  o.kind = kind;
  o.dimension = kDim;
  o.ivf_nlist = nlist;
  o.ivf_nprobe = nprobe;
  o.hnsw_ef_search = ef;
  auto index = MakeAnnIndex(o);
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  if (!(*index)->trained()) {
    EXPECT_TRUE((*index)->Train(data).ok());
  }
  EXPECT_TRUE((*index)->Add(Iota(data.size() / kDim), data).ok());
  return std::move(index).value();
}

// Tie-aware recall@k of `index` as it is now, against a plain C++ brute-force reference (not the
// FAISS flat index the tuning uses): the check is independent of the code under test.
double MeasuredRecall(const AnnIndex& index, const std::vector<float>& data,
                      const std::vector<float>& queries, int k) {
  auto exact = BruteForceAnnIndex::Create(kDim);
  EXPECT_TRUE(exact.ok());
  EXPECT_TRUE((*exact)->Add(Iota(data.size() / kDim), data).ok());
  Results truth, got;
  for (size_t i = 0; i < queries.size() / kDim; ++i) {
    const auto q = std::span<const float>(queries).subspan(i * kDim, kDim);
    truth.push_back((*exact)->Search(q, k).value());
    got.push_back(index.Search(q, k).value());
  }
  return TieAwareRecallAtK(got, truth, k);
}

TEST(AnnRecall, IdRecallCountsIdsAndTieAwareRecallCountsScoresAsGoodAsTheKth) {
  const Results truth = {{{1, 0.9f}, {2, 0.8f}, {3, 0.7f}}, {{7, 0.5f}, {8, 0.4f}}};
  // Query 0: id 1 found, id 4 ties the 3rd score, id 5 is worse. Query 1: both found.
  const Results got = {{{1, 0.9f}, {4, 0.7f}, {5, 0.1f}}, {{8, 0.4f}, {7, 0.5f}}};
  EXPECT_DOUBLE_EQ(IdRecallAtK(got, truth, 3), (1.0 / 3 + 1.0) / 2);
  EXPECT_DOUBLE_EQ(TieAwareRecallAtK(got, truth, 3), (2.0 / 3 + 1.0) / 2);
  EXPECT_DOUBLE_EQ(IdRecallAtK(truth, truth, 3), 1.0);
}

TEST(TuneSearchEffort, RaisesIvfProbesUntilTheTargetRecallIsMeasured) {
  testing::ClusteredData gen(200, kDim, 0.6f / std::sqrt(float{kDim}), 1234);
  const std::vector<float> data = gen.Sample(kN);
  const std::vector<float> queries = gen.Sample(200);
  auto index = Build(Kind::kIvf, data, 256, 1);
  const double at_one = MeasuredRecall(*index, data, queries, 100);
  ASSERT_LT(at_one, 0.95) << "the test needs a start below the target";

  auto e = TuneSearchEffort(*index, queries, {.target_recall = 0.95, .k = 100});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->parameter, "ivf_nprobe");
  EXPECT_EQ(e->before, 1);
  EXPECT_TRUE(e->reached) << e->Summary(0.95);
  EXPECT_EQ(index->options().ivf_nprobe, e->chosen);
  EXPECT_GE(e->recall, 0.95);
  // The chosen setting is the first doubling that reached the target: every earlier one fell short.
  ASSERT_GE(e->tried.size(), 2u);
  for (size_t i = 0; i + 1 < e->tried.size(); ++i) {
    EXPECT_EQ(e->tried[i].first, 1 << i);
    EXPECT_LT(e->tried[i].second, 0.95);
  }
  EXPECT_EQ(e->tried.back().first, e->chosen);
  EXPECT_NEAR(e->tried.front().second, at_one, 1e-9);
  // Independently measured, and kept by Save.
  EXPECT_NEAR(MeasuredRecall(*index, data, queries, 100), e->recall, 1e-9);
  const std::string path =
      (std::filesystem::path(::testing::TempDir()) / ("vrec_tune_" + std::to_string(::getpid()))).string();
  ASSERT_TRUE(index->Save(path).ok());
  auto loaded = LoadAnnIndex(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ((*loaded)->options().ivf_nprobe, e->chosen);
  std::filesystem::remove(path);
  EXPECT_NE(e->Summary(0.95).find("ivf_nprobe 1 -> "), std::string::npos) << e->Summary(0.95);
}

TEST(TuneSearchEffort, KeepsASettingThatAlreadyReachesTheTarget) {
  testing::ClusteredData gen(200, kDim, 0.6f / std::sqrt(float{kDim}), 99);
  const std::vector<float> data = gen.Sample(kN);
  auto index = Build(Kind::kIvf, data, 64, 16);
  auto e = TuneSearchEffort(*index, gen.Sample(100), {.target_recall = 0.5, .k = 50});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_TRUE(e->reached);
  EXPECT_EQ(e->chosen, 16);
  EXPECT_EQ(e->tried.size(), 1u);
  EXPECT_EQ(index->options().ivf_nprobe, 16);
}

TEST(TuneSearchEffort, StopsAtAQuarterOfTheListsAndSaysTheTargetWasNotReached) {
  // Uniform directions: no cluster structure, so a quarter of the lists misses true neighbours.
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> data(static_cast<size_t>(kN) * kDim), queries(100 * kDim);
  for (float& x : data) x = normal(rng);
  for (float& x : queries) x = normal(rng);
  for (size_t i = 0; i < data.size() / kDim; ++i) testing::Normalize(&data[i * kDim], kDim);
  for (size_t i = 0; i < queries.size() / kDim; ++i) testing::Normalize(&queries[i * kDim], kDim);
  auto index = Build(Kind::kIvf, data, 128, 4);
  auto e = TuneSearchEffort(*index, queries, {.target_recall = 1.0, .k = 100});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_FALSE(e->reached);
  EXPECT_EQ(e->chosen, 32);
  EXPECT_LT(e->recall, 1.0);
  EXPECT_EQ(index->options().ivf_nprobe, 32);
  EXPECT_NE(e->Summary(1.0).find("NOT reached"), std::string::npos);
}

TEST(TuneSearchEffort, TunesHnswCandidateListToo) {
  testing::ClusteredData gen(200, kDim, 0.6f / std::sqrt(float{kDim}), 7);
  const std::vector<float> data = gen.Sample(5000);
  const std::vector<float> queries = gen.Sample(100);
  auto index = Build(Kind::kHnsw, data, 0, 0, 16);
  auto e = TuneSearchEffort(*index, queries, {.target_recall = 0.99, .k = 20});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->parameter, "hnsw_ef_search");
  EXPECT_EQ(e->before, 16);
  EXPECT_TRUE(e->reached) << e->Summary(0.99);
  EXPECT_EQ(index->options().hnsw_ef_search, e->chosen);
  EXPECT_NEAR(MeasuredRecall(*index, data, queries, 20), e->recall, 1e-9);
}

TEST(TuneSearchEffort, ExactIndexesNeedNoTuning) {
  testing::ClusteredData gen(10, kDim, 0.3f, 1);
  const std::vector<float> data = gen.Sample(500);
  auto index = Build(Kind::kExact, data, 0, 0);
  auto e = TuneSearchEffort(*index, gen.Sample(5), {});
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->parameter.empty());
  EXPECT_TRUE(e->tried.empty());
  EXPECT_DOUBLE_EQ(e->recall, 1.0);
}

TEST(TuneSearchEffort, BadInputIsInvalidArgumentAndChangesNothing) {
  testing::ClusteredData gen(20, kDim, 0.3f, 2);
  const std::vector<float> data = gen.Sample(4000);
  auto index = Build(Kind::kIvf, data, 32, 2);
  const std::vector<float> queries = gen.Sample(3);
  const std::vector<float> ragged(queries.begin(), queries.end() - 1);
  for (const auto& [q, o] :
       std::vector<std::pair<std::vector<float>, SearchEffortOptions>>{{{}, {}},
                                                                       {ragged, {}},
                                                                       {queries, {.k = 0}},
                                                                       {queries, {.target_recall = 1.5}},
                                                                       {queries, {.target_recall = 0}}}) {
    auto e = TuneSearchEffort(*index, q, o);
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument) << e.status().ToString();
  }
  EXPECT_EQ(index->options().ivf_nprobe, 2);
}

}  // namespace
}  // namespace vrec::retrieval
