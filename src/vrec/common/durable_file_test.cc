#include "vrec/common/durable_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace vrec {
namespace {

namespace fs = std::filesystem;

class DurableFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vrec_durable_test_XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
  }
  void TearDown() override { fs::remove_all(dir_); }
  static std::string Read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  fs::path dir_;
};

TEST_F(DurableFileTest, WriteReplacesWholeFileAndLeavesNoTemporary) {
  const std::string path = (dir_ / "state.json").string();
  ASSERT_TRUE(WriteFileDurably(path, "first").ok());
  ASSERT_TRUE(WriteFileDurably(path, "second, longer").ok());
  EXPECT_EQ(Read(path), "second, longer");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  EXPECT_EQ(WriteFileDurably((dir_ / "missing" / "x").string(), "y").code(), StatusCode::kInternal);
}

TEST_F(DurableFileTest, CreatesNestedFoldersAndRefusesAFileInTheWay) {
  const fs::path nested = dir_ / "a" / "b=1" / "c";
  ASSERT_TRUE(CreateDirectoriesDurably(nested.string()).ok());
  EXPECT_TRUE(fs::is_directory(nested));
  ASSERT_TRUE(CreateDirectoriesDurably(nested.string()).ok());  // already there
  std::ofstream(dir_ / "file") << "x";
  EXPECT_FALSE(CreateDirectoriesDurably((dir_ / "file" / "sub").string()).ok());
}

TEST_F(DurableFileTest, RenameMovesAndReportsMissingSource) {
  std::ofstream(dir_ / "from") << "data";
  ASSERT_TRUE(RenameDurably((dir_ / "from").string(), (dir_ / "to").string()).ok());
  EXPECT_EQ(Read(dir_ / "to"), "data");
  EXPECT_EQ(RenameDurably((dir_ / "from").string(), (dir_ / "to").string()).code(), StatusCode::kInternal);
  EXPECT_TRUE(FsyncDirectory(dir_.string()).ok());
  EXPECT_FALSE(FsyncDirectory((dir_ / "nope").string()).ok());
}

TEST_F(DurableFileTest, LockIsExclusiveUntilReleased) {
  const std::string path = (dir_ / "LOCK").string();
  auto first = FileLock::TryAcquire(path);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(FileLock::TryAcquire(path).status().code(), StatusCode::kUnavailable);
  FileLock moved = std::move(*first);
  EXPECT_EQ(FileLock::TryAcquire(path).status().code(), StatusCode::kUnavailable);
  { FileLock released = std::move(moved); }
  EXPECT_TRUE(FileLock::TryAcquire(path).ok());
}

}  // namespace
}  // namespace vrec
