#include "vrec/registry/manifest.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace vrec::registry {
namespace {

class ManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "vrec_manifest_XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

Manifest Sample() {
  Manifest m;
  m.model_kind = "two-tower";
  m.created_at = "2026-11-26T10:30:00Z";
  m.feature_schema = "user:id,age;video:id,title";
  m.feature_schema_hash = HashHex(m.feature_schema);
  m.training_data_hash = "0123456789abcdef";
  m.metrics = {{"recall@100", 0.61}, {"ndcg@10", 0.41}};
  m.files = {{"weights", "model.pt"}, {"index", "index.faiss"}};
  m.params = {{"epochs", "20"}};
  return m;
}

TEST(Hash, IsStableFnv1a64) {
  EXPECT_EQ(HashHex(""), "cbf29ce484222325");
  EXPECT_EQ(HashHex("a"), "af63dc4c8601ec8c");
  Hasher h;
  h.Update("a");
  EXPECT_EQ(h.Hex(), HashHex("a"));
}

TEST(UtcIso8601, FormatsUnixSeconds) {
  EXPECT_EQ(UtcIso8601(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(UtcIso8601(893286638), "1998-04-22T23:10:38Z");  // date -u -d @893286638
}

TEST_F(ManifestTest, RoundTrips) {
  ASSERT_TRUE(WriteManifest(dir_, Sample()).ok());
  auto m = ReadManifest(dir_);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->model_kind, "two-tower");
  EXPECT_EQ(m->metrics.at("recall@100"), 0.61);
  EXPECT_EQ(m->files.at("index"), "index.faiss");
  EXPECT_EQ(m->params.at("epochs"), "20");
  EXPECT_TRUE(CheckCompatible(*m, "two-tower", HashHex("user:id,age;video:id,title")).ok());
}

TEST_F(ManifestTest, SchemaMismatchIsAClearError) {
  ASSERT_TRUE(WriteManifest(dir_, Sample()).ok());
  auto m = ReadManifest(dir_);
  ASSERT_TRUE(m.ok());
  Status s = CheckCompatible(*m, "two-tower", HashHex("user:id;video:id"));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("feature schema mismatch"), std::string::npos);
  EXPECT_EQ(CheckCompatible(*m, "ranker", m->feature_schema_hash).code(), StatusCode::kFailedPrecondition);
}

TEST_F(ManifestTest, MissingCorruptAndNewerManifestsAreRefused) {
  EXPECT_EQ(ReadManifest(dir_).status().code(), StatusCode::kNotFound);
  std::ofstream(dir_ + "/manifest.json") << "{not json";
  EXPECT_EQ(ReadManifest(dir_).status().code(), StatusCode::kDataLoss);
  Manifest m = Sample();
  m.format_version = kModelFormatVersion + 1;
  ASSERT_TRUE(WriteManifest(dir_, m).ok());
  EXPECT_EQ(ReadManifest(dir_).status().code(), StatusCode::kFailedPrecondition);
  m = Sample();
  m.feature_schema_hash = "0000000000000000";
  ASSERT_TRUE(WriteManifest(dir_, m).ok());
  EXPECT_EQ(ReadManifest(dir_).status().code(), StatusCode::kDataLoss);
}

// Found by fuzz/manifest_fuzz: {"format_version":14e85} converted a double to int (undefined
// behaviour, UBSan abort); 4294967297 and 1.5 narrowed to a silent version 1.
TEST_F(ManifestTest, FormatVersionMustBeAPositiveIntegerInRange) {
  const Manifest sample = Sample();
  const auto with_version = [&](const std::string& version) {
    std::ofstream(dir_ + "/manifest.json")
        << R"({"format_version":)" << version << R"(,"model_kind":"two-tower","feature_schema":")"
        << sample.feature_schema << R"(","feature_schema_hash":")" << sample.feature_schema_hash << R"("})";
    return ReadManifest(dir_).status().code();
  };
  EXPECT_EQ(with_version("1"), StatusCode::kOk);
  for (const char* bad : {"14e85", "1.5", "1.0", "0", "-1", "-9223372036854775808", "\"1\"", "null"}) {
    EXPECT_EQ(with_version(bad), StatusCode::kDataLoss) << bad;
  }
  EXPECT_EQ(with_version("2"), StatusCode::kOk);
  EXPECT_EQ(with_version("3"), StatusCode::kOk);  // objective heads
  for (const char* newer : {"4", "4294967297", "18446744073709551615"}) {
    EXPECT_EQ(with_version(newer), StatusCode::kFailedPrecondition) << newer;
  }
}

}  // namespace
}  // namespace vrec::registry
