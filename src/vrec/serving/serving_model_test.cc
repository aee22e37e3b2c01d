// Model directories of both formats: format 1 (the committed tiny model: the serving state is
// computed at load) and format 2 (serving.vart, mapped). The same snapshot must serve the same
// answers whichever way it arrives.
#include "vrec/serving/serving_model.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "vrec/data/test_util.h"
#include "vrec/registry/model_layout.h"
#include "vrec/retrieval/ann_index.h"
#include "vrec/serving/recommender.h"

namespace vrec::serving {
namespace {

namespace fs = std::filesystem;

constexpr char kTinyModel[] = "tests/testdata/serving_model_v1";

// A copy of the tiny model as format 2: its snapshot (computed from catalog/ by the format 1 path)
// written to serving.vart, and the manifest's format_version set to 2.
std::string FormatTwoCopy(const ServingModel& format1, const fs::path& dir) {
  fs::copy(kTinyModel, dir, fs::copy_options::recursive);
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::add);
  EXPECT_TRUE(format1.snapshot().Save((dir / registry::kServingSnapshotFile).string()).ok());
  std::ifstream in(dir / "manifest.json");
  nlohmann::json manifest = nlohmann::json::parse(in);
  in.close();
  manifest["format_version"] = 2;
  fs::permissions(dir / "manifest.json", fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(dir / "manifest.json", std::ios::trunc) << manifest.dump(2);
  return dir.string();
}

TEST(ServingModel, FormatOneStillLoadsAndFormatTwoServesTheSameAnswers) {
  ASSERT_TRUE(fs::is_directory(kTinyModel)) << "run from the source root";
  auto a = ServingModel::Load(kTinyModel, "v1");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ((*a)->format_version(), 1);
  data::testing::TempDir tmp;
  auto b = ServingModel::Load(FormatTwoCopy(**a, tmp.path() / "v2"), "v2");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ((*b)->format_version(), 2);
  EXPECT_TRUE((*b)->Verify().ok());

  const std::vector<uint8_t> flags((*a)->catalog().videos.size(), 0);
  RecommendOptions options;
  int compared = 0;
  for (const data::User& u : (*a)->catalog().users) {
    for (const uint64_t extra : {uint64_t{0}, uint64_t{1'000'000}}) {  // catalog users, then unknown ones
      RecommendRequest r;
      r.user = UserId{u.id.value + extra};
      r.count = 20;
      r.now = (*a)->data_end_time() + 3600;
      auto x = Recommend(**a, r, {}, flags, options);
      auto y = Recommend(**b, r, {}, flags, options);
      ASSERT_TRUE(x.ok() && y.ok());
      ASSERT_EQ(x->items.size(), y->items.size()) << u.id.value;
      for (size_t i = 0; i < x->items.size(); ++i) {
        ASSERT_EQ(x->items[i].video, y->items[i].video) << u.id.value << " #" << i;
        ASSERT_EQ(x->items[i].score, y->items[i].score) << u.id.value << " #" << i;
        ASSERT_EQ(x->items[i].reason, y->items[i].reason);
      }
      ++compared;
    }
  }
  EXPECT_EQ(compared, 160);
  const auto bytes = (*b)->ComponentBytes();
  for (const char* part : {"history", "sar", "ease", "aggregates", "index", "two_tower"}) {
    EXPECT_GT(bytes.at(part), 0u) << part;
  }
}

TEST(ServingModel, AFormatTwoDirectoryWithoutItsSnapshotIsRefusedByName) {
  auto a = ServingModel::Load(kTinyModel, "v1");
  ASSERT_TRUE(a.ok());
  data::testing::TempDir tmp;
  const std::string dir = FormatTwoCopy(**a, tmp.path() / "v2");
  fs::remove(fs::path(dir) / registry::kServingSnapshotFile);
  const Status s = ServingModel::Load(dir, "v2").status();
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("serving.vart"), std::string::npos) << s.message();
}

TEST(ServingModel, TheIndexSearchEffortCanBeOverriddenAtLoad) {
  // The tiny model with an IVF index of 4 lists probing 1 in place of its exact one.
  auto a = ServingModel::Load(kTinyModel, "v1");
  ASSERT_TRUE(a.ok());
  std::vector<uint64_t> ids;
  std::vector<float> vectors;
  ASSERT_TRUE((*a)->index().Export(ids, vectors).ok());
  retrieval::AnnIndexOptions o;
  o.kind = retrieval::AnnIndexOptions::Kind::kIvf;
  o.dimension = (*a)->index().dimension();
  o.ivf_nlist = 4;
  o.ivf_nprobe = 1;
  auto ivf = retrieval::MakeAnnIndex(o);
  ASSERT_TRUE(ivf.ok());
  ASSERT_TRUE((*ivf)->Train(vectors).ok());
  ASSERT_TRUE((*ivf)->Add(ids, vectors).ok());
  data::testing::TempDir tmp;
  const fs::path dir = tmp.path() / "ivf";
  fs::copy(kTinyModel, dir, fs::copy_options::recursive);
  fs::permissions(dir / registry::kRetrievalDir, fs::perms::owner_all, fs::perm_options::add);
  const fs::path index_file = dir / registry::kRetrievalDir / "videos.index";
  fs::permissions(index_file, fs::perms::owner_write, fs::perm_options::add);
  ASSERT_TRUE((*ivf)->Save(index_file.string()).ok());

  const auto nprobe = [&](ServingModelOptions options) {
    auto m = ServingModel::Load(dir.string(), "ivf", options);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? (*m)->index().options().ivf_nprobe : -1;
  };
  EXPECT_EQ(nprobe({}), 1);                      // as shipped
  EXPECT_EQ(nprobe({.ivf_nprobe = 3}), 3);       // overridden
  EXPECT_EQ(nprobe({.ivf_nprobe = 100}), 4);     // at most every list
  EXPECT_EQ(nprobe({.hnsw_ef_search = 64}), 1);  // not an HNSW index: unchanged
  // The exact index of the tiny model ignores both.
  auto exact = ServingModel::Load(kTinyModel, "v1", {.ivf_nprobe = 3, .hnsw_ef_search = 64});
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ((*exact)->index().options().kind, retrieval::AnnIndexOptions::Kind::kExact);
}

}  // namespace
}  // namespace vrec::serving
