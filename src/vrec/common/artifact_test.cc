#include "vrec/common/artifact.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <numeric>

#include "vrec/common/sys.h"

namespace vrec {
namespace {

namespace fs = std::filesystem;

class ArtifactTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vrec_artifact_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = (fs::path(dir_) / "a.vart").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void WriteSample() {
    auto w = ArtifactWriter::Create(path_, 7);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    std::vector<uint32_t> ids(1000);
    std::iota(ids.begin(), ids.end(), 5u);
    const std::vector<double> values = {1.5, -2.25};
    ASSERT_TRUE((*w)->Add<uint32_t>("ids", ids).ok());
    ASSERT_TRUE((*w)->Add<double>("values", values).ok());
    ASSERT_TRUE((*w)->AddString("names", "alpha\nbeta").ok());
    ASSERT_TRUE((*w)->Add<uint8_t>("empty", std::span<const uint8_t>()).ok());
    ASSERT_TRUE((*w)->Finish().ok());
  }

  // Flips one byte of the file at `offset`.
  void Corrupt(uint64_t offset) {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x40);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(&c, 1);
  }

  std::string dir_, path_;
};

TEST_F(ArtifactTest, RoundTripsAlignedSections) {
  WriteSample();
  EXPECT_FALSE(fs::exists(path_ + ".tmp"));
  auto a = MappedArtifact::Open(path_);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ((*a)->content_version(), 7u);
  EXPECT_TRUE((*a)->Verify().ok());
  auto ids = (*a)->Get<uint32_t>("ids");
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->size(), 1000u);
  EXPECT_EQ((*ids)[0], 5u);
  EXPECT_EQ((*ids)[999], 1004u);
  auto values = (*a)->Get<double>("values");
  ASSERT_TRUE(values.ok());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(values->data()) % 64, 0u) << "sections start on cache lines";
  EXPECT_EQ((*values)[1], -2.25);
  EXPECT_EQ(*(*a)->GetString("names"), "alpha\nbeta");
  EXPECT_TRUE((*a)->Get<uint8_t>("empty")->empty());
  EXPECT_EQ((*a)->SectionNames(), (std::vector<std::string>{"ids", "values", "names", "empty"}));
}

TEST_F(ArtifactTest, WrongElementSizeOrMissingSectionIsAnError) {
  WriteSample();
  auto a = MappedArtifact::Open(path_);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->Get<uint64_t>("names").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ((*a)->Get<uint32_t>("nope").status().code(), StatusCode::kNotFound);
}

TEST_F(ArtifactTest, ABitFlipInASectionIsFoundByVerify) {
  WriteSample();
  Corrupt(64 + 100);  // inside "ids"
  auto a = MappedArtifact::Open(path_);
  ASSERT_TRUE(a.ok()) << "opening reads only the header and the table";
  const Status s = (*a)->Verify();
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("section 'ids' checksum mismatch"), std::string::npos) << s.message();
}

TEST_F(ArtifactTest, TruncatedCorruptOrForeignFilesAreRefusedAtOpen) {
  WriteSample();
  const auto size = fs::file_size(path_);
  Corrupt(size - 10);  // the table
  EXPECT_EQ(MappedArtifact::Open(path_).status().code(), StatusCode::kDataLoss);
  WriteSample();
  fs::resize_file(path_, size - 64);
  Status s = MappedArtifact::Open(path_).status();
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.message();
  std::ofstream(path_, std::ios::trunc) << std::string(200, 'x');
  EXPECT_EQ(MappedArtifact::Open(path_).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(MappedArtifact::Open(dir_ + "/missing").status().code(), StatusCode::kNotFound);
}

TEST_F(ArtifactTest, ANewerContainerVersionIsNamedInTheError) {
  WriteSample();
  std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(8);
  const uint32_t v = kArtifactContainerVersion + 1;
  f.write(reinterpret_cast<const char*>(&v), 4);
  f.close();
  const Status s = MappedArtifact::Open(path_).status();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("container version 2; this build reads version 1"), std::string::npos)
      << s.message();
}

TEST_F(ArtifactTest, RejectsBadAndRepeatedNamesAndAnUnfinishedWriterLeavesNothing) {
  {
    auto w = ArtifactWriter::Create(path_, 1);
    ASSERT_TRUE(w.ok());
    const std::vector<int> x = {1};
    EXPECT_EQ((*w)->Add<int>("", x).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ((*w)->Add<int>(std::string(41, 'n'), x).code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE((*w)->Add<int>("x", x).ok());
    EXPECT_EQ((*w)->Add<int>("x", x).code(), StatusCode::kInvalidArgument);
  }
  EXPECT_FALSE(fs::exists(path_));
  EXPECT_FALSE(fs::exists(path_ + ".tmp"));
}

TEST(ArtifactChecksum, DependsOnEveryByteAndTheLength) {
  std::vector<std::byte> a(100, std::byte{0});
  const uint64_t base = ArtifactChecksum(a);
  for (size_t i = 0; i < a.size(); ++i) {
    auto b = a;
    b[i] = std::byte{1};
    EXPECT_NE(ArtifactChecksum(b), base) << i;
  }
  EXPECT_NE(ArtifactChecksum(std::span(a).first(99)), base);
}

}  // namespace
}  // namespace vrec
