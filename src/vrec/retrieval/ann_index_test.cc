#include "vrec/retrieval/ann_index.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "vrec/common/strings.h"
#include "vrec/retrieval/ann_index_internal.h"
#include "vrec/retrieval/ann_testing.h"
#include "vrec/retrieval/brute_force_ann_index.h"

namespace vrec::retrieval {
namespace {

using Kind = AnnIndexOptions::Kind;
using testing::ClusteredData;
using testing::Normalize;

constexpr int kDim = 32;

std::span<const float> Row(const std::vector<float>& m, size_t i, int d = kDim) {
  return std::span<const float>(m).subspan(i * d, d);
}

std::vector<uint64_t> Iota(uint64_t first, size_t n) {
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = first + i;
  return ids;
}

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/vrec_ann_" + name + "_" + std::to_string(::getpid());
}

// Which implementation a contract test runs against.
enum class Impl { kBruteForce, kExact, kIvf, kHnsw, kIvfSq8 };

std::string ImplName(const ::testing::TestParamInfo<Impl>& info) {
  switch (info.param) {
    case Impl::kBruteForce:
      return "BruteForce";
    case Impl::kExact:
      return "FaissExact";
    case Impl::kIvf:
      return "FaissIvf";
    case Impl::kHnsw:
      return "FaissHnsw";
    case Impl::kIvfSq8:
      return "FaissIvfSq8";
  }
  return "Unknown";
}

std::unique_ptr<AnnIndex> NewIndex(Impl impl, int d = kDim) {
  if (impl == Impl::kBruteForce) {
    auto index = BruteForceAnnIndex::Create(d);
    EXPECT_TRUE(index.ok()) << index.status().ToString();
    return std::move(index).value();
  }
  AnnIndexOptions options;
  options.dimension = d;
  options.kind = impl == Impl::kExact    ? Kind::kExact
                 : impl == Impl::kIvf    ? Kind::kIvf
                 : impl == Impl::kIvfSq8 ? Kind::kIvfSq8
                                         : Kind::kHnsw;
  auto index = MakeAnnIndex(options);
  EXPECT_TRUE(index.ok()) << index.status().ToString();
  return std::move(index).value();
}

// One contract, every implementation (gorse's storage test pattern).
class AnnIndexContractTest : public ::testing::TestWithParam<Impl> {
 protected:
  static constexpr int kN = 3000;

  void SetUp() override {
    data_ = gen_.Sample(kN);
    index_ = NewIndex(GetParam());
    ASSERT_TRUE(index_->Train(data_).ok());
    ASSERT_TRUE(index_->trained());
    ASSERT_TRUE(index_->Add(Iota(0, kN), data_).ok());
    ASSERT_EQ(index_->size(), kN);
  }

  // IVF kinds only see the vectors in the lists they probe.
  bool Probes() const { return GetParam() == Impl::kIvf || GetParam() == Impl::kIvfSq8; }
  // How far a score may be from the exact inner product: 8-bit lists are approximate.
  float Tolerance() const { return GetParam() == Impl::kIvfSq8 ? 2e-2f : 1e-4f; }

  std::vector<AnnResult> Search(std::span<const float> q, int k) const {
    auto r = index_->Search(q, k);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<AnnResult>();
  }

  ClusteredData gen_{60, kDim, 0.3f, 42};
  std::vector<float> data_;
  std::unique_ptr<AnnIndex> index_;
};

TEST_P(AnnIndexContractTest, ReturnsTheTrueNearestBestFirst) {
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.0f, 0.01f);
  for (size_t i = 0; i < kN; i += 37) {
    std::vector<float> q(Row(data_, i).begin(), Row(data_, i).end());
    for (auto& x : q) x += noise(rng);
    Normalize(q.data(), kDim);
    auto results = Search(q, 20);
    ASSERT_EQ(results.size(), 20u);
    EXPECT_EQ(results[0].id, i);
    EXPECT_GT(results[0].score, 0.99f - Tolerance());
    for (size_t r = 1; r < results.size(); ++r) EXPECT_GE(results[r - 1].score, results[r].score);
  }
}

TEST_P(AnnIndexContractTest, ReturnsAtMostSizeResults) {
  const size_t got = Search(Row(data_, 0), kN + 100).size();
  EXPECT_LE(got, static_cast<size_t>(kN));
  if (!Probes()) {
    EXPECT_EQ(got, static_cast<size_t>(kN));
  }
}

TEST_P(AnnIndexContractTest, AddedVectorsAreRetrievableAtOnce) {
  const std::vector<float> added = gen_.Sample(1000);
  const std::vector<uint64_t> ids = Iota(1'000'000, 1000);
  ASSERT_TRUE(index_->Add(ids, added).ok());
  EXPECT_EQ(index_->size(), kN + 1000);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto results = Search(Row(added, i), 5);
    ASSERT_FALSE(results.empty());
    EXPECT_EQ(results[0].id, ids[i]);
    EXPECT_NEAR(results[0].score, 1.0f, Tolerance());
  }
}

TEST_P(AnnIndexContractTest, RemovedIdsAreNeverReturned) {
  std::vector<uint64_t> removed;
  for (uint64_t id = 0; id < kN; id += 5) removed.push_back(id);
  removed.push_back(999'999'999);  // not present: ignored
  ASSERT_TRUE(index_->Remove(removed).ok());
  EXPECT_EQ(index_->size(), kN - kN / 5);
  const std::unordered_set<uint64_t> gone(removed.begin(), removed.end());
  for (size_t i = 0; i < kN; i += 25) {  // queries are removed vectors themselves
    for (const AnnResult& r : Search(Row(data_, i), 50)) EXPECT_FALSE(gone.count(r.id)) << r.id;
  }
  auto everything = Search(Row(data_, 0), kN);
  if (!Probes()) {
    EXPECT_EQ(everything.size(), static_cast<size_t>(kN - kN / 5));
  }
  for (const AnnResult& r : everything) EXPECT_FALSE(gone.count(r.id)) << r.id;
  // Removing twice is fine; a removed id can come back.
  ASSERT_TRUE(index_->Remove(removed).ok());
  ASSERT_TRUE(index_->Add(std::vector<uint64_t>{0}, Row(data_, 0)).ok());
  EXPECT_EQ(Search(Row(data_, 0), 1).at(0).id, 0u);
}

TEST_P(AnnIndexContractTest, ReAddingAnIdReplacesItsVector) {
  const std::vector<float> fresh = gen_.Sample(50);
  const std::vector<uint64_t> ids = Iota(100, 50);  // present ids
  ASSERT_TRUE(index_->Add(ids, fresh).ok());
  ASSERT_TRUE(index_->Add(ids, fresh).ok());  // idempotent
  EXPECT_EQ(index_->size(), kN);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto at_new = Search(Row(fresh, i), 5);
    ASSERT_FALSE(at_new.empty());
    EXPECT_EQ(at_new[0].id, ids[i]);
    EXPECT_NEAR(at_new[0].score, 1.0f, Tolerance());
    // At its old vector the id no longer scores ~1.
    for (const AnnResult& r : Search(Row(data_, ids[i]), 5)) {
      if (r.id == ids[i]) {
        EXPECT_LT(r.score, 0.999f - Tolerance());
      }
    }
  }
  auto everything = Search(Row(fresh, 0), kN);
  std::set<uint64_t> distinct;
  for (const AnnResult& r : everything) EXPECT_TRUE(distinct.insert(r.id).second) << "duplicate " << r.id;
  if (!Probes()) {
    EXPECT_EQ(distinct.size(), static_cast<size_t>(kN));
  }
}

TEST_P(AnnIndexContractTest, SaveLoadRoundTripGivesIdenticalResults) {
  // Mutate first so that tombstones / replaced entries are part of the saved state.
  ASSERT_TRUE(index_->Remove(Iota(0, 100)).ok());
  const std::vector<float> fresh = gen_.Sample(100);
  ASSERT_TRUE(index_->Add(Iota(200, 100), fresh).ok());
  const std::string path = TempPath(ImplName({GetParam(), 0}));
  ASSERT_TRUE(index_->Save(path).ok());
  auto loaded = LoadAnnIndex(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  std::remove(path.c_str());
  EXPECT_EQ((*loaded)->size(), index_->size());
  EXPECT_EQ((*loaded)->dimension(), kDim);
  EXPECT_EQ((*loaded)->options().kind, index_->options().kind);
  EXPECT_EQ((*loaded)->options().ivf_nprobe, index_->options().ivf_nprobe);
  const std::vector<float> queries = gen_.Sample(30);
  for (size_t i = 0; i < 30; ++i) {
    auto want = Search(Row(queries, i), 100);
    auto got = (*loaded)->Search(Row(queries, i), 100);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, want);
  }
  // The loaded index keeps working.
  ASSERT_TRUE((*loaded)->Remove(Iota(200, 1)).ok());
  const std::vector<float> newer = gen_.Sample(1);
  ASSERT_TRUE((*loaded)->Add(Iota(5'000'000, 1), newer).ok());
  EXPECT_EQ((*loaded)->Search(newer, 1)->at(0).id, 5'000'000u);
}

TEST_P(AnnIndexContractTest, ExportGivesEveryLiveVectorWithItsId) {
  ASSERT_TRUE(index_->Remove(Iota(0, 10)).ok());
  const std::vector<float> fresh = gen_.Sample(5);
  ASSERT_TRUE(index_->Add(Iota(20, 5), fresh).ok());  // replaces 20..24
  std::vector<uint64_t> ids;
  std::vector<float> vectors;
  ASSERT_TRUE(index_->Export(ids, vectors).ok());
  ASSERT_EQ(ids.size(), static_cast<size_t>(kN - 10));
  ASSERT_EQ(vectors.size(), ids.size() * kDim);
  std::set<uint64_t> seen;
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_TRUE(seen.insert(ids[i]).second) << "id " << ids[i] << " twice";
    ASSERT_GE(ids[i], 10u);
    const std::vector<float>& source = ids[i] >= 20 && ids[i] < 25 ? fresh : data_;
    const size_t row = ids[i] >= 20 && ids[i] < 25 ? ids[i] - 20 : ids[i];
    for (int j = 0; j < kDim; ++j)
      if (GetParam() == Impl::kIvfSq8) {
        ASSERT_NEAR(vectors[i * kDim + j], source[row * kDim + j], Tolerance()) << "id " << ids[i];
      } else {
        ASSERT_EQ(vectors[i * kDim + j], source[row * kDim + j]) << "id " << ids[i];
      }
  }
}

TEST_P(AnnIndexContractTest, SearchParametersChangeWithoutARebuild) {
  EXPECT_EQ(index_->SetSearchParameters(-1, 0).code(), StatusCode::kInvalidArgument);
  const AnnIndexOptions before = index_->options();
  ASSERT_TRUE(index_->SetSearchParameters(0, 0).ok());  // leaves both as they are
  EXPECT_EQ(index_->options().ivf_nprobe, before.ivf_nprobe);
  EXPECT_EQ(index_->options().hnsw_ef_search, before.hnsw_ef_search);
  ASSERT_TRUE(index_->SetSearchParameters(1, 700).ok());
  if (Probes()) {
    EXPECT_EQ(index_->options().ivf_nprobe, 1);
    // Probing one list finds fewer of the true neighbours than the default did.
    const std::vector<float> queries = gen_.Sample(20);
    double narrow = 0;
    for (size_t i = 0; i < 20; ++i) narrow += static_cast<double>(Search(Row(queries, i), 200).size());
    ASSERT_TRUE(index_->SetSearchParameters(1'000'000, 0).ok());  // clamped to nlist: every list
    EXPECT_EQ(index_->options().ivf_nprobe, index_->options().ivf_nlist);
    double wide = 0;
    for (size_t i = 0; i < 20; ++i) wide += static_cast<double>(Search(Row(queries, i), 200).size());
    EXPECT_LT(narrow, wide);
  }
  if (GetParam() == Impl::kHnsw) {
    EXPECT_EQ(index_->options().hnsw_ef_search, 700);
  }
}

TEST_P(AnnIndexContractTest, MappedLoadSearchesTheSameAndCopiesTheListsOnChange) {
  const std::string path = TempPath(ImplName({GetParam(), 0}) + "_mapped");
  ASSERT_TRUE(index_->Save(path).ok());
  auto mapped = LoadAnnIndex(path, AnnLoadOptions{.map_ivf_lists = true});
  ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
  const std::vector<float> queries = gen_.Sample(20);
  for (size_t i = 0; i < 20; ++i) {
    auto got = (*mapped)->Search(Row(queries, i), 100);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, Search(Row(queries, i), 100));
  }
  std::vector<uint64_t> ids;
  std::vector<float> vectors;
  ASSERT_TRUE((*mapped)->Export(ids, vectors).ok());
  EXPECT_EQ(ids.size(), static_cast<size_t>(kN));
  // Changes work (the mapping is read-only: the lists are copied first) and leave the file alone.
  ASSERT_TRUE((*mapped)->Remove(Iota(0, 50)).ok());
  const std::vector<float> newer = gen_.Sample(1);
  ASSERT_TRUE((*mapped)->Add(Iota(7'000'000, 1), newer).ok());
  EXPECT_EQ((*mapped)->Search(newer, 1)->at(0).id, 7'000'000u);
  EXPECT_EQ((*mapped)->size(), kN - 50 + 1);
  auto again = LoadAnnIndex(path, AnnLoadOptions{.map_ivf_lists = true});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->size(), kN);
  mapped->reset();
  again->reset();
  std::remove(path.c_str());
}

TEST_P(AnnIndexContractTest, ConcurrentSearchesAgreeWithSequentialOnes) {
  const std::vector<float> queries = gen_.Sample(40);
  std::vector<std::vector<AnnResult>> want(40), got(40);
  for (size_t i = 0; i < 40; ++i) want[i] = Search(Row(queries, i), 50);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < 40; i += 4) got[i] = *index_->Search(Row(queries, i), 50);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(got, want);
}

TEST_P(AnnIndexContractTest, BadInputIsInvalidArgument) {
  const std::vector<float> short_query(kDim - 1, 0.1f);
  EXPECT_EQ(index_->Search(short_query, 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(index_->Search(Row(data_, 0), 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(index_->Search(Row(data_, 0), -3).status().code(), StatusCode::kInvalidArgument);
  std::vector<float> nan_query(Row(data_, 0).begin(), Row(data_, 0).end());
  nan_query[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(index_->Search(nan_query, 10).status().code(), StatusCode::kInvalidArgument);

  EXPECT_EQ(index_->Add(Iota(9000, 2), Row(data_, 0)).code(), StatusCode::kInvalidArgument);
  const std::vector<float> two(data_.begin(), data_.begin() + 2 * kDim);
  EXPECT_EQ(index_->Add(std::vector<uint64_t>{9000, 9000}, two).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(index_->Add(std::vector<uint64_t>{uint64_t{1} << 63}, Row(data_, 0)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(index_->Add(std::vector<uint64_t>{9000}, nan_query).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(index_->size(), kN);  // failed calls change nothing
}

INSTANTIATE_TEST_SUITE_P(AllKinds, AnnIndexContractTest,
                         ::testing::Values(Impl::kBruteForce, Impl::kExact, Impl::kIvf, Impl::kHnsw,
                                           Impl::kIvfSq8),
                         ImplName);

// An index of `kind` trained on `data` (3000 vectors) and holding them under ids 0..2999; null
// (with a failure recorded) when that fails.
std::unique_ptr<AnnIndex> TrainedIndex(Kind kind, const std::vector<float>& data) {
  AnnIndexOptions options;
  options.kind = kind;
  options.dimension = kDim;
  auto index = MakeAnnIndex(options);
  if (!index.ok() || !(*index)->Train(data).ok() || !(*index)->Add(Iota(0, 3000), data).ok()) {
    ADD_FAILURE() << "cannot build a " << AnnIndexKindName(kind) << " index";
    return nullptr;
  }
  return std::move(index).value();
}

TEST(AnnIndex, EightBitListsTakeAboutAQuarterOfTheFlatListsSpace) {
  ClusteredData gen(60, kDim, 0.3f, 42);
  const std::vector<float> data = gen.Sample(3000);
  uint64_t file_bytes[2] = {}, memory_bytes[2] = {};
  int slot = 0;
  for (Kind kind : {Kind::kIvf, Kind::kIvfSq8}) {
    const std::unique_ptr<AnnIndex> index = TrainedIndex(kind, data);
    ASSERT_NE(index, nullptr);
    const std::string path = TempPath(StrCat("space_", slot));
    ASSERT_TRUE(index->Save(path).ok());
    file_bytes[slot] = std::filesystem::file_size(path);
    std::remove(path.c_str());
    memory_bytes[slot++] = index->MemoryBytes();
  }
  // Per vector: 32 floats + an 8-byte id (136 bytes) against 32 bytes + the id (40 bytes).
  EXPECT_LT(static_cast<double>(file_bytes[1]), 0.4 * static_cast<double>(file_bytes[0]));
  EXPECT_LT(static_cast<double>(memory_bytes[1]), 0.4 * static_cast<double>(memory_bytes[0]));
}

// The flat scans (our kernel, not FAISS's): the exact index, and IVF-Flat probing every list, are
// exact searches: the same ids in the same order as the brute-force reference, the same scores to
// float rounding, also after removals.
TEST(AnnIndex, FlatScansEqualTheBruteForceReference) {
  ClusteredData gen(60, kDim, 0.3f, 42);
  const std::vector<float> data = gen.Sample(3000);
  const std::vector<uint64_t> removed = {5, 17, 2999};
  auto exact = BruteForceAnnIndex::Create(kDim);
  ASSERT_TRUE(exact.ok());
  ASSERT_TRUE((*exact)->Add(Iota(0, 3000), data).ok());
  ASSERT_TRUE((*exact)->Remove(removed).ok());
  const std::vector<float> queries = gen.Sample(25);
  for (Kind kind : {Kind::kExact, Kind::kIvf}) {
    const std::unique_ptr<AnnIndex> index = TrainedIndex(kind, data);
    ASSERT_NE(index, nullptr);
    ASSERT_TRUE(index->Remove(removed).ok());
    ASSERT_TRUE(index->SetSearchParameters(1'000'000, 0).ok());
    for (size_t i = 0; i < 25; ++i) {
      auto got = index->Search(Row(queries, i), 100);
      auto want = (*exact)->Search(Row(queries, i), 100);
      ASSERT_TRUE(got.ok() && want.ok());
      ASSERT_EQ(got->size(), want->size());
      for (size_t r = 0; r < got->size(); ++r) {
        EXPECT_NEAR((*got)[r].score, (*want)[r].score, 1e-5f) << AnnIndexKindName(kind) << " query " << i;
        if ((*got)[r].id != (*want)[r].id) {  // only where scores tie to float rounding
          EXPECT_NEAR((*got)[r].score, (*want)[r].score, 1e-6f) << AnnIndexKindName(kind) << " query " << i;
        }
      }
    }
  }
}

TEST(AnnIndex, IvfNeedsTrainingBeforeSearchAndAdd) {
  AnnIndexOptions options;
  options.kind = Kind::kIvf;
  options.dimension = kDim;
  auto index = MakeAnnIndex(options);
  ASSERT_TRUE(index.ok());
  EXPECT_FALSE((*index)->trained());
  const std::vector<float> q(kDim, 0.1f);
  EXPECT_EQ((*index)->Search(q, 10).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*index)->Add(std::vector<uint64_t>{1}, q).code(), StatusCode::kFailedPrecondition);
  // Too few vectors for an explicit nlist.
  options.ivf_nlist = 64;
  auto small = MakeAnnIndex(options);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ((*small)->Train(q).code(), StatusCode::kInvalidArgument);
  // Wrong shape.
  EXPECT_EQ((*index)->Train(std::vector<float>(kDim + 1, 0.1f)).code(), StatusCode::kInvalidArgument);
}

TEST(AnnIndex, UntrainedIvfSavesAndLoads) {
  AnnIndexOptions options;
  options.kind = Kind::kIvf;
  options.dimension = 8;
  auto index = MakeAnnIndex(options);
  ASSERT_TRUE(index.ok());
  const std::string path = TempPath("untrained");
  ASSERT_TRUE((*index)->Save(path).ok());
  auto loaded = LoadAnnIndex(path);
  std::remove(path.c_str());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_FALSE((*loaded)->trained());
}

TEST(AnnIndex, BadOptionsAndFilesAreReported) {
  AnnIndexOptions options;
  options.dimension = 0;
  options.hnsw_m = 1;
  auto bad = MakeAnnIndex(options);
  ASSERT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("dimension"), std::string::npos);
  EXPECT_NE(bad.status().message().find("hnsw_m"), std::string::npos);
  EXPECT_EQ(BruteForceAnnIndex::Create(-1).status().code(), StatusCode::kInvalidArgument);

  EXPECT_EQ(LoadAnnIndex(TempPath("does_not_exist")).status().code(), StatusCode::kNotFound);
  const std::string path = TempPath("garbage");
  std::ofstream(path) << "definitely not an index";
  EXPECT_EQ(LoadAnnIndex(path).status().code(), StatusCode::kDataLoss);
  std::ofstream(path) << "VRECFS01";  // truncated
  EXPECT_EQ(LoadAnnIndex(path).status().code(), StatusCode::kDataLoss);
  std::remove(path.c_str());
}

TEST(AnnIndex, EmptyIndexReturnsNoResults) {
  for (Impl impl : {Impl::kBruteForce, Impl::kExact, Impl::kHnsw}) {
    auto index = NewIndex(impl);
    auto r = index->Search(std::vector<float>(kDim, 0.1f), 10);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->empty());
  }
}

TEST(AnnIndex, DefaultIvfParametersFollowTheCatalogSize) {
  AnnIndexOptions options;
  options.kind = Kind::kIvf;
  EXPECT_EQ(ChooseIvfNlist(options, 1'000'000), 4096);
  options.expected_num_vectors = 1'000'000;
  EXPECT_EQ(ChooseIvfNlist(options, 200'000), 4096);  // trained on a sample
  EXPECT_EQ(ChooseIvfNlist(options, 10'000), 256);    // capped at 39 vectors per list
  options.expected_num_vectors = 0;
  EXPECT_EQ(ChooseIvfNlist(options, 20'000), 512);
  EXPECT_EQ(ChooseIvfNprobe(options, 4096), 32);
  EXPECT_EQ(ChooseIvfNprobe(options, 16384), 128);
  EXPECT_EQ(ChooseIvfNprobe(options, 8), 8);
  options.ivf_nprobe = 5;
  EXPECT_EQ(ChooseIvfNprobe(options, 4096), 5);
}

// Recall of the shipped IVF defaults against the exact brute-force reference.
// Large IVF-Flat indexes scan 8-bit residuals and re-score the best rows from the float lists. On
// clustered data the results equal the float scan's (ids and scores), in memory, after Remove
// and Add, and loaded from a file (mapped, where a thread builds the 8-bit lists).
TEST(AnnIndex, EightBitScanOfLargeIvfListsGivesTheFloatScansResults) {
  constexpr int kN = 20000, kQueries = 40, kK = 100;
  ClusteredData gen(200, kDim, 0.6f / std::sqrt(float{kDim}), 77);
  const std::vector<float> data = gen.Sample(kN);
  const std::vector<float> queries = gen.Sample(kQueries);
  const std::vector<uint64_t> removed = {3, 500, 19999};
  const std::vector<float> replacement = gen.Sample(1);
  const auto build = [&](int64_t int8_from) {
    const int64_t previous = ann_internal::SetInt8ScanMinVectorsForTesting(int8_from);
    AnnIndexOptions options;
    options.kind = Kind::kIvf;
    options.dimension = kDim;
    auto index = MakeAnnIndex(options);
    ann_internal::SetInt8ScanMinVectorsForTesting(previous);
    EXPECT_TRUE(index.ok() && (*index)->Train(data).ok() && (*index)->Add(Iota(0, kN), data).ok());
    return index.ok() ? std::move(index).value() : nullptr;
  };
  const auto all = [&](const AnnIndex& index) {
    std::vector<std::vector<AnnResult>> out;
    for (size_t i = 0; i < kQueries; ++i) {
      auto r = index.Search(Row(queries, i), kK);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      out.push_back(r.ok() ? *r : std::vector<AnnResult>());
    }
    return out;
  };
  const auto expect_same = [&](const std::vector<std::vector<AnnResult>>& got,
                               const std::vector<std::vector<AnnResult>>& want, const std::string& what) {
    size_t same = 0, total = 0;
    for (size_t i = 0; i < kQueries; ++i) {
      ASSERT_EQ(got[i].size(), want[i].size()) << what;
      std::unordered_set<uint64_t> ids;
      for (const AnnResult& r : want[i]) ids.insert(r.id);
      for (size_t r = 0; r < got[i].size(); ++r) {
        same += ids.count(got[i][r].id);
        ++total;
        EXPECT_NEAR(got[i][r].score, want[i][r].score, 1e-6f) << what << " query " << i << " rank " << r;
      }
    }
    EXPECT_EQ(same, total) << what;
  };

  std::unique_ptr<AnnIndex> float_scan = build(std::numeric_limits<int64_t>::max());
  std::unique_ptr<AnnIndex> int8_scan = build(1);
  ASSERT_NE(float_scan, nullptr);
  ASSERT_NE(int8_scan, nullptr);
  ASSERT_TRUE(float_scan->SetSearchParameters(16, 0).ok());
  ASSERT_TRUE(int8_scan->SetSearchParameters(16, 0).ok());
  expect_same(all(*int8_scan), all(*float_scan), "in memory");

  for (AnnIndex* index : {float_scan.get(), int8_scan.get()}) {
    ASSERT_TRUE(index->Remove(removed).ok());
    ASSERT_TRUE(index->Add(std::vector<uint64_t>{123456}, replacement).ok());
  }
  const std::vector<std::vector<AnnResult>> want = all(*float_scan);
  expect_same(all(*int8_scan), want, "after Remove and Add");
  auto top = int8_scan->Search(replacement, 1);
  ASSERT_TRUE(top.ok() && top->size() == 1);
  EXPECT_EQ((*top)[0].id, 123456u) << "the added vector is searched in 8 bits too";

  const std::string path = TempPath("int8");
  ASSERT_TRUE(int8_scan->Save(path).ok());
  const int64_t previous = ann_internal::SetInt8ScanMinVectorsForTesting(1);
  for (bool mapped : {false, true}) {
    for (bool background : {true, false}) {
      AnnLoadOptions load;
      load.map_ivf_lists = mapped;
      load.scan_lists_in_background = background;
      auto loaded = LoadAnnIndex(path, load);
      ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
      // Searches during a background build scan the float lists; all give the same results.
      expect_same(
          all(**loaded), want,
          StrCat(mapped ? "loaded, mapped" : "loaded", background ? ", built beside" : ", built first"));
    }
  }
  ann_internal::SetInt8ScanMinVectorsForTesting(previous);
  std::remove(path.c_str());
}

TEST(AnnIndexRecall, IvfDefaultsReachRecallAtLeast90PercentOnClusteredData) {
  constexpr int kN = 20000, kQueries = 100, kK = 100;
  // Noise of norm ~0.6 around unit centres: clusters overlap but are real, as with trained embeddings.
  ClusteredData gen(200, kDim, 0.6f / std::sqrt(float{kDim}), 1234);
  const std::vector<float> data = gen.Sample(kN);
  auto exact = BruteForceAnnIndex::Create(kDim);
  ASSERT_TRUE(exact.ok());
  ASSERT_TRUE((*exact)->Add(Iota(0, kN), data).ok());
  AnnIndexOptions options;
  options.kind = Kind::kIvf;
  options.dimension = kDim;
  auto ivf = MakeAnnIndex(options);
  ASSERT_TRUE(ivf.ok());
  ASSERT_TRUE((*ivf)->Train(data).ok());
  ASSERT_TRUE((*ivf)->Add(Iota(0, kN), data).ok());
  const std::vector<float> queries = gen.Sample(kQueries);
  size_t hits = 0;
  for (size_t i = 0; i < kQueries; ++i) {
    auto truth = (*exact)->Search(Row(queries, i), kK);
    auto got = (*ivf)->Search(Row(queries, i), kK);
    ASSERT_TRUE(truth.ok() && got.ok());
    std::unordered_set<uint64_t> want;
    for (const AnnResult& r : *truth) want.insert(r.id);
    for (const AnnResult& r : *got) hits += want.count(r.id);
  }
  const double recall = static_cast<double>(hits) / (kQueries * kK);
  RecordProperty("recall_at_100", std::to_string(recall));
  EXPECT_GE(recall, 0.9) << "nlist=" << (*ivf)->options().ivf_nlist
                         << " nprobe=" << (*ivf)->options().ivf_nprobe;
}

}  // namespace
}  // namespace vrec::retrieval
