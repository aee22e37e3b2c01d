#include "vrec/common/gzip.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "vrec/common/csv.h"

namespace vrec {
namespace {

namespace fs = std::filesystem;

class GzipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vrec_gzip_test_XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  static std::string ReadAll(std::istream& in) {
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  static std::string FileBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return ReadAll(in);
  }

  fs::path dir_;
};

TEST_F(GzipTest, RoundTripsLargeInputWrittenInPieces) {
  std::string expected;
  for (int i = 0; i < 200'000; ++i) expected += std::to_string(i * 7919 % 100'003) + ",x\n";
  auto w = GzipFileWriter::Create(Path("a.gz"));
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  for (size_t pos = 0; pos < expected.size(); pos += 4099) {
    ASSERT_TRUE((*w)->Write(std::string_view(expected).substr(pos, 4099)).ok());
  }
  ASSERT_TRUE((*w)->Finish().ok());
  EXPECT_EQ((*w)->uncompressed_bytes(), expected.size());
  const std::string compressed = FileBytes(Path("a.gz"));
  ASSERT_GE(compressed.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(compressed[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(compressed[1]), 0x8b);
  EXPECT_LT(compressed.size(), expected.size() / 2);
  GzipInputStream in(Path("a.gz"));
  ASSERT_TRUE(in.is_open());
  EXPECT_EQ(ReadAll(in), expected);
  EXPECT_EQ(in.error(), "");
}

TEST_F(GzipTest, EmptyFileIsAValidGzipStream) {
  auto w = GzipFileWriter::Create(Path("empty.gz"));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Finish().ok());
  GzipInputStream in(Path("empty.gz"));
  EXPECT_EQ(ReadAll(in), "");
  EXPECT_EQ(in.error(), "");
}

TEST_F(GzipTest, TruncatedFileReportsAnError) {
  std::string text;
  for (int i = 0; i < 50'000; ++i) text += "line " + std::to_string(i) + "\n";
  {
    auto w = GzipFileWriter::Create(Path("t.gz"));
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write(text).ok());
    ASSERT_TRUE((*w)->Finish().ok());
  }
  fs::resize_file(Path("t.gz"), fs::file_size(Path("t.gz")) / 2);
  GzipInputStream in(Path("t.gz"));
  const std::string got = ReadAll(in);
  EXPECT_LT(got.size(), text.size());
  EXPECT_NE(in.error(), "");
}

TEST_F(GzipTest, MissingFileIsNotOpen) {
  GzipInputStream in(Path("none.gz"));
  EXPECT_FALSE(in.is_open());
}

TEST_F(GzipTest, DelimitedReaderReadsGzipAndReportsCorruption) {
  {
    auto w = GzipFileWriter::Create(Path("rows.csv.gz"));
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write("a,b\n1,\"x,y\"\n").ok());
    ASSERT_TRUE((*w)->Finish().ok());
  }
  auto reader = DelimitedReader::Open(Path("rows.csv.gz"), ',', true);
  ASSERT_TRUE(reader.ok());
  std::vector<std::string_view> f;
  ASSERT_TRUE(reader->Next(f));
  EXPECT_EQ(f, (std::vector<std::string_view>{"a", "b"}));
  ASSERT_TRUE(reader->Next(f));
  EXPECT_EQ(f, (std::vector<std::string_view>{"1", "x,y"}));
  EXPECT_FALSE(reader->Next(f));
  EXPECT_TRUE(reader->status().ok());

  std::string big;
  for (int i = 0; i < 50'000; ++i) big += std::to_string(i) + ",v\n";
  {
    auto w = GzipFileWriter::Create(Path("cut.csv.gz"));
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write(big).ok());
    ASSERT_TRUE((*w)->Finish().ok());
  }
  fs::resize_file(Path("cut.csv.gz"), fs::file_size(Path("cut.csv.gz")) - 10);
  auto cut = DelimitedReader::Open(Path("cut.csv.gz"), ',', true);
  ASSERT_TRUE(cut.ok());
  while (cut->Next(f)) {
  }
  EXPECT_EQ(cut->status().code(), StatusCode::kDataLoss) << cut->status().ToString();

  EXPECT_EQ(DelimitedReader::Open(Path("absent.csv.gz"), ',', true).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace vrec
