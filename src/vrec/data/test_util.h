// Helpers for data tests: temporary folders and the shared datasets.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace vrec::data::testing {

// A fresh empty folder under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "vrec_test_XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& content) const {
    auto p = path_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }

 private:
  std::filesystem::path path_;
};

// Folder of a shared dataset ("ml-100k", "kuairand-pure-features"), from VREC_SHARED_DIR (set by
// CMake to ../shared beside the checkout). Empty when absent.
inline std::string SharedDataDir(const std::string& name) {
  const char* shared = std::getenv("VREC_SHARED_DIR");
  if (shared == nullptr) return "";
  auto dir = std::filesystem::path(shared) / "data" / name;
  return std::filesystem::is_directory(dir) ? dir.string() : "";
}

}  // namespace vrec::data::testing
