#include "vrec/retrieval/two_tower_model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "vrec/common/artifact.h"
#include "vrec/common/hash.h"
#include "vrec/registry/manifest.h"
#include "vrec/retrieval/two_tower_features.h"

namespace vrec::retrieval {
namespace {

namespace ttf = two_tower_features;

// A tiny model with deterministic pseudo-random weights: 3 users (ids 11..13), 4 videos (ids
// 101..104), categories "drama" and "comedy"; widths id 4, features 2, text 3 (16 buckets),
// hidden {5}, output 4.
TwoTowerModel MakeTinyModel() {
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<float>(static_cast<double>(state >> 40) / static_cast<double>(1ULL << 24) - 0.5);
  };
  auto table = [&](int rows, int dim) {
    TwoTowerModel::Table t;
    t.rows = rows;
    t.dim = dim;
    std::vector<float> data;
    for (int k = 0; k < rows * dim; ++k) data.push_back(next());
    t.data = FlatArray<float>(std::move(data));
    return t;
  };
  auto layer = [&](int in, int out) {
    TwoTowerModel::Layer l;
    l.in = in;
    l.out = out;
    for (int k = 0; k < in * out; ++k) l.weight.push_back(next());
    for (int k = 0; k < out; ++k) l.bias.push_back(next() * 0.1f);
    return l;
  };
  const int id = 4, f = 2, text = 3, buckets = 16, hidden = 5, out = 4;
  const int lang = static_cast<int>(ttf::kLanguageBuckets);
  TwoTowerModel::Weights w;
  w.user_id = table(4, id);
  w.age = table(static_cast<int>(ttf::kAgeBuckets), f);
  w.gender = table(static_cast<int>(ttf::kGenderBuckets), f);
  w.country = table(lang, f);
  w.user_language = table(lang, f);
  w.history = table(5, id);
  w.video_id = table(5, id);
  w.categories = table(3, f);
  w.video_language = table(lang, f);
  w.duration = table(static_cast<int>(ttf::kDurationBuckets), f);
  w.year = table(static_cast<int>(ttf::kYearBuckets), f);
  w.popularity = table(static_cast<int>(ttf::kPopularityBuckets), f);
  w.text = table(buckets, text);
  w.user_mlp = {layer(2 * id + 4 * f, hidden), layer(hidden, out)};
  w.video_mlp = {layer(id + 5 * f + text, hidden), layer(hidden, out)};
  TwoTowerModel m;
  m.Set({buckets, true}, std::move(w), {{11, 1}, {12, 2}, {13, 3}}, {{101, 1}, {102, 2}, {103, 3}, {104, 4}},
        {{"drama", 1}, {"comedy", 2}});
  return m;
}

UserInput SomeUser() {
  UserInput u;
  u.id = UserId{12};
  u.age = 31;
  u.gender = data::Gender::kFemale;
  u.country = "US";
  u.language = "en";
  u.history = {{VideoId{101}, 4.0f}, {VideoId{103}, 2.5f}};
  return u;
}

VideoInput SomeVideo() {
  VideoInput v;
  v.id = VideoId{102};
  v.categories = {"drama", "comedy"};
  v.language = "fr";
  v.duration_s = 5400;
  v.upload_time = 946684800;  // 2000-01-01
  v.title = "The Night Of The Hunter";
  v.tags = {"Noir", "classic"};
  v.positives = 17;
  return v;
}

std::vector<float> User(const TwoTowerModel& m, const UserInput& in) {
  std::vector<float> e(static_cast<size_t>(m.dimension()));
  m.EmbedUser(in, e);
  return e;
}
std::vector<float> Video(const TwoTowerModel& m, const VideoInput& in) {
  std::vector<float> e(static_cast<size_t>(m.dimension()));
  m.EmbedVideo(in, e);
  return e;
}
float Dot(const std::vector<float>& a, const std::vector<float>& b) {
  float s = 0;
  for (size_t d = 0; d < a.size(); ++d) s += a[d] * b[d];
  return s;
}

// A fresh directory under the temp folder, removed at destruction.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() /
             ("vrec_two_tower_model_test_" + std::to_string(::getpid()) + "_" + name)) {
    std::filesystem::remove_all(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string str() const { return path.string(); }
};

TEST(TwoTowerModel, EmbeddingsAreUnitLength) {
  const TwoTowerModel m = MakeTinyModel();
  ASSERT_EQ(m.dimension(), 4);
  for (const auto& e :
       {User(m, SomeUser()), Video(m, SomeVideo()), User(m, UserInput{}), Video(m, VideoInput{})}) {
    EXPECT_NEAR(Dot(e, e), 1.0f, 1e-5f);
  }
  EXPECT_TRUE(m.KnowsUser(UserId{11}));
  EXPECT_FALSE(m.KnowsUser(UserId{14}));
  EXPECT_TRUE(m.KnowsVideo(VideoId{104}));
  EXPECT_FALSE(m.KnowsVideo(VideoId{105}));
}

TEST(TwoTowerModel, UnseenIdsUseTheUnknownRowAndUnseenHistoryIsSkipped) {
  const TwoTowerModel m = MakeTinyModel();
  UserInput a = SomeUser(), b = SomeUser();
  a.id = UserId{999};
  b.id = std::nullopt;
  EXPECT_EQ(User(m, a), User(m, b));
  b.history.emplace_back(VideoId{555}, 5.0f);  // unknown video
  b.history.emplace_back(VideoId{104}, 0.0f);  // not a positive
  EXPECT_EQ(User(m, a), User(m, b));
  b.history.emplace_back(VideoId{104}, 3.0f);
  EXPECT_NE(User(m, a), User(m, b));

  VideoInput v = SomeVideo(), w = SomeVideo();
  v.id = VideoId{12345};
  w.id = std::nullopt;
  w.categories.push_back("no-such-category");
  EXPECT_EQ(Video(m, v), Video(m, w));
}

TEST(TwoTowerModel, SaveThenLoadGivesBitIdenticalEmbeddings) {
  const TwoTowerModel m = MakeTinyModel();
  TempDir dir("roundtrip");
  ASSERT_TRUE(m.Save(dir.str(), "abc", {{"recall@100", 0.5}}).ok());
  StatusOr<TwoTowerModel> loaded = TwoTowerModel::Load(dir.str());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  for (const UserInput& u : {SomeUser(), UserInput{}}) {
    const auto x = User(m, u), y = User(*loaded, u);
    ASSERT_EQ(x.size(), y.size());
    EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)), 0);
  }
  const auto x = Video(m, SomeVideo()), y = Video(*loaded, SomeVideo());
  EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)), 0);
  EXPECT_TRUE(loaded->KnowsUser(UserId{13}));
  EXPECT_TRUE(loaded->KnowsVideo(VideoId{101}));

  StatusOr<registry::Manifest> manifest = registry::ReadManifest(dir.str());
  ASSERT_TRUE(manifest.ok());
  EXPECT_EQ(manifest->model_kind, "two-tower");
  EXPECT_EQ(manifest->feature_schema, TwoTowerModel::FeatureSchema());
  EXPECT_EQ(manifest->training_data_hash, "abc");
  EXPECT_EQ(manifest->files.at("weights"), "two_tower.vart");
  EXPECT_EQ(manifest->params.at("text_buckets"), "16");
  EXPECT_EQ(manifest->params.at("hidden"), "5");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path), {}), 2);  // no temporary left
  EXPECT_TRUE(loaded->Verify().ok());
}

TEST(TwoTowerModel, RefusesAnotherFeatureSchemaOrModelKind) {
  TempDir dir("schema");
  ASSERT_TRUE(MakeTinyModel().Save(dir.str(), "", {}).ok());
  StatusOr<registry::Manifest> m = registry::ReadManifest(dir.str());
  ASSERT_TRUE(m.ok());

  registry::Manifest other = *m;
  other.feature_schema = TwoTowerModel::FeatureSchema() + ";extra:feature";
  other.feature_schema_hash = HashHex(other.feature_schema);
  ASSERT_TRUE(registry::WriteManifest(dir.str(), other).ok());
  Status s = TwoTowerModel::Load(dir.str()).status();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("feature schema mismatch"), std::string::npos) << s.ToString();

  other = *m;
  other.model_kind = "ranker";
  ASSERT_TRUE(registry::WriteManifest(dir.str(), other).ok());
  EXPECT_EQ(TwoTowerModel::Load(dir.str()).status().code(), StatusCode::kFailedPrecondition);

  ASSERT_TRUE(registry::WriteManifest(dir.str(), *m).ok());
  EXPECT_TRUE(TwoTowerModel::Load(dir.str()).ok());
}

TEST(TwoTowerModel, MissingFilesAreNotFound) {
  EXPECT_EQ(TwoTowerModel::Load("/nonexistent/vrec/model").status().code(), StatusCode::kNotFound);
  TempDir dir("missing");
  ASSERT_TRUE(MakeTinyModel().Save(dir.str(), "", {}).ok());
  std::filesystem::remove(dir.path / "two_tower.vart");
  EXPECT_EQ(TwoTowerModel::Load(dir.str()).status().code(), StatusCode::kNotFound);
}

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
void WriteAll(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(TwoTowerModel, TruncatedOrCorruptWeightsAreDataLoss) {
  TempDir dir("corrupt");
  ASSERT_TRUE(MakeTinyModel().Save(dir.str(), "", {}).ok());
  const std::filesystem::path file = dir.path / "two_tower.vart";
  const std::string good = ReadAll(file);
  ASSERT_GT(good.size(), 100u);
  // Truncation and damage to the container's header or section table: refused at load.
  for (size_t len :
       {size_t{0}, size_t{7}, size_t{8}, size_t{20}, good.size() / 2, good.size() - 9, good.size() - 1}) {
    WriteAll(file, good.substr(0, len));
    EXPECT_EQ(TwoTowerModel::Load(dir.str()).status().code(), StatusCode::kDataLoss) << "length " << len;
  }
  for (size_t pos : {size_t{3}, good.size() - 20, good.size() - 3}) {
    std::string bad = good;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x5a);
    WriteAll(file, bad);
    EXPECT_EQ(TwoTowerModel::Load(dir.str()).status().code(), StatusCode::kDataLoss) << "byte " << pos;
  }
  // A flipped weight maps (the load reads no weight) and is caught by Verify, which promotion runs.
  std::string bad = good;
  bad[good.size() / 4] = static_cast<char>(bad[good.size() / 4] ^ 0x5a);
  WriteAll(file, bad);
  StatusOr<TwoTowerModel> flipped = TwoTowerModel::Load(dir.str());
  if (flipped.ok()) {
    const Status s = flipped->Verify();
    EXPECT_EQ(s.code(), StatusCode::kDataLoss);
    EXPECT_NE(s.message().find("checksum"), std::string::npos) << s.message();
  } else {
    EXPECT_EQ(flipped.status().code(), StatusCode::kDataLoss);
  }
  WriteAll(file, good);
  StatusOr<TwoTowerModel> loaded = TwoTowerModel::Load(dir.str());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE(loaded->Verify().ok());
}

// Version 1 weights (one checksummed stream): damage anywhere is refused at load.
TEST(TwoTowerModel, TruncatedOrCorruptVersionOneWeightsAreDataLoss) {
  TempDir dir("corrupt_v1");
  std::filesystem::copy(VREC_TESTDATA_DIR "/two_tower_v1", dir.path,
                        std::filesystem::copy_options::recursive);
  const std::filesystem::path bin = dir.path / "two_tower.bin";
  const std::string good = ReadAll(bin);
  ASSERT_GT(good.size(), 100u);
  for (size_t len : {size_t{8}, size_t{20}, good.size() / 2, good.size() - 9, good.size() - 1}) {
    WriteAll(bin, good.substr(0, len));
    EXPECT_EQ(TwoTowerModel::Load(dir.str()).status().code(), StatusCode::kDataLoss) << "length " << len;
  }
  for (size_t pos : {size_t{9}, size_t{40}, good.size() / 2, good.size() - 3}) {
    std::string bad = good;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x5a);
    WriteAll(bin, bad);
    EXPECT_EQ(TwoTowerModel::Load(dir.str()).status().code(), StatusCode::kDataLoss) << "byte " << pos;
  }
  WriteAll(bin, good + "x");
  EXPECT_EQ(TwoTowerModel::Load(dir.str()).status().code(), StatusCode::kDataLoss);
  WriteAll(bin, good);
  EXPECT_TRUE(TwoTowerModel::Load(dir.str()).ok());
}

// A file with a valid checksum whose counts claim far more data than it holds: rejected before
// anything of that size is allocated.
TEST(TwoTowerModel, HugeCountsWithAValidChecksumAreDataLoss) {
  TempDir dir("huge");
  ASSERT_TRUE(MakeTinyModel().Save(dir.str(), "", {}).ok());
  std::string bytes = "VRECTT01";
  auto put32 = [&](uint32_t v) {
    for (int k = 0; k < 4; ++k) bytes.push_back(static_cast<char>((v >> (8 * k)) & 0xff));
  };
  put32(16);
  put32(1);
  put32(0xffffffffu);  // user_id rows
  put32(0xffffffffu);  // dim
  Hasher h;
  h.Update(bytes);
  const uint64_t sum = h.Value();
  for (int k = 0; k < 8; ++k) bytes.push_back(static_cast<char>((sum >> (8 * k)) & 0xff));
  WriteAll(dir.path / "two_tower.vart", bytes);  // a version 1 stream under the manifest's name
  EXPECT_EQ(TwoTowerModel::Load(dir.str()).status().code(), StatusCode::kDataLoss);
}

// Score of SomeUser() x SomeVideo() with MakeTinyModel(), as saved by the first builds of each
// weights format: tests/testdata/two_tower_v1 (the FNV-checksummed stream) and two_tower_v2 (the
// mapped artifact). Models written by older builds must keep loading and scoring the same; if a
// test fails after a feature change, the schema must change too (and the files be regenerated
// with DISABLED_WriteTestdata, keeping the old ones as refusal tests).
// (Also stored as metrics.expected_score in their manifests.)
constexpr float kExpectedScore = 0.115698315f;

TEST(TwoTowerModel, LoadsTheCommittedModelsOfEachFormat) {
  for (const char* dir : {VREC_TESTDATA_DIR "/two_tower_v1", VREC_TESTDATA_DIR "/two_tower_v2"}) {
    StatusOr<TwoTowerModel> m = TwoTowerModel::Load(dir);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->dimension(), 4);
    EXPECT_TRUE(m->KnowsVideo(VideoId{103}));
    EXPECT_NEAR(Dot(User(*m, SomeUser()), Video(*m, SomeVideo())), kExpectedScore, 1e-6f) << dir;
    EXPECT_TRUE(m->Verify().ok());
  }
}

TEST(TwoTowerModel, RefusesAnotherWeightsFormatVersionNamingBoth) {
  TempDir dir("version");
  ASSERT_TRUE(MakeTinyModel().Save(dir.str(), "", {}).ok());
  {
    auto w = ArtifactWriter::Create((dir.path / "two_tower.vart").string(), 3);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Finish().ok());
  }
  const Status s = TwoTowerModel::Load(dir.str()).status();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("version 3"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("version 2"), std::string::npos) << s.message();
}

TEST(TwoTowerModelIdRows, FindsEveryIdAndNoOther) {
  std::unordered_map<uint64_t, int64_t> rows;
  for (uint64_t i = 0; i < 5000; ++i) rows.emplace(i * 7 + 3, static_cast<int64_t>(i) + 1);
  const TwoTowerModel::IdRows ids(rows);
  EXPECT_EQ(ids.size(), rows.size());
  EXPECT_GE(ids.slots().size(), 2 * rows.size());
  for (const auto& [id, row] : rows) ASSERT_EQ(ids.Find(id), row);
  for (uint64_t id = 0; id < 40000; id += 7) ASSERT_EQ(ids.Find(id), 0);
  EXPECT_EQ(TwoTowerModel::IdRows().Find(3), 0);
  // The slots Save writes map back; bad ones are refused.
  std::vector<TwoTowerModel::IdRows::Slot> slots(ids.slots().begin(), ids.slots().end());
  auto again = TwoTowerModel::IdRows::FromSlots(FlatArray<TwoTowerModel::IdRows::Slot>(slots), rows.size(),
                                                5001, "ids");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->Find(3), 1);
  EXPECT_EQ(TwoTowerModel::IdRows::FromSlots(FlatArray<TwoTowerModel::IdRows::Slot>(slots), rows.size(), 4000,
                                             "ids")
                .status()
                .code(),
            StatusCode::kDataLoss);  // a row out of range
  EXPECT_EQ(TwoTowerModel::IdRows::FromSlots(FlatArray<TwoTowerModel::IdRows::Slot>(slots), rows.size() + 1,
                                             5001, "ids")
                .status()
                .code(),
            StatusCode::kDataLoss);  // a count that does not match
  slots.pop_back();
  EXPECT_EQ(TwoTowerModel::IdRows::FromSlots(FlatArray<TwoTowerModel::IdRows::Slot>(slots), rows.size(), 5001,
                                             "ids")
                .status()
                .code(),
            StatusCode::kDataLoss);  // not a power of two
}

TEST(TwoTowerModel, DISABLED_WriteTestdata) {
  const TwoTowerModel m = MakeTinyModel();
  const float score = Dot(User(m, SomeUser()), Video(m, SomeVideo()));
  ASSERT_TRUE(m.Save(VREC_TESTDATA_DIR "/two_tower_v2", "tiny-synthetic", {{"expected_score", score}}).ok());
  std::printf("expected score %.9g\n", static_cast<double>(score));
}

}  // namespace
}  // namespace vrec::retrieval
