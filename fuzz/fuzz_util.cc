#include "fuzz/fuzz_util.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "vrec/serving/http_server.h"

namespace vrec::fuzz {
namespace {

std::mutex temp_dirs_mutex;
std::vector<std::string>* temp_dirs = nullptr;  // leaked on purpose: used by the atexit handler

void RemoveTempDirs() {
  std::lock_guard lock(temp_dirs_mutex);
  if (temp_dirs == nullptr) return;
  for (const std::string& d : *temp_dirs) {
    std::error_code ec;
    // Committed model versions are read-only: make them writable again before removing them.
    for (auto it = std::filesystem::recursive_directory_iterator(d, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_symlink(ec)) continue;  // permissions() would change the link's target
      std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::add, ec);
    }
    std::filesystem::remove_all(d, ec);
  }
}

}  // namespace

void Fail(const char* file, int line, const char* condition, const std::string& message) {
  std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n  %s\n", file, line, condition, message.c_str());
  std::fflush(stderr);
  std::abort();
}

std::string MakeTempDir(std::string_view prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = StrCat(tmp && *tmp ? tmp : "/tmp", "/", prefix, "XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) Fail(__FILE__, __LINE__, "mkdtemp", pattern);
  std::lock_guard lock(temp_dirs_mutex);
  if (temp_dirs == nullptr) {
    temp_dirs = new std::vector<std::string>();
    std::atexit(RemoveTempDirs);
  }
  temp_dirs->push_back(pattern);
  return pattern;
}

void WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) Fail(__FILE__, __LINE__, "write", path);
}

std::vector<std::string_view> SplitAtLines(std::string_view input, std::string_view separator) {
  std::vector<std::string_view> parts;
  const std::string marker = StrCat("\n", separator, "\n");
  size_t start = 0;
  for (;;) {
    const size_t at = input.find(marker, start);
    if (at == std::string_view::npos) break;
    parts.push_back(input.substr(start, at - start));
    start = at + marker.size();
  }
  parts.push_back(input.substr(start));
  return parts;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (b < 0x80) {
      ++i;
      continue;
    } else if ((b & 0xE0) == 0xC0) {
      len = 2;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4;
      cp = b & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    const uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

void CheckJsonResponse(int status, std::string_view content_type, std::string_view body,
                       std::string_view context) {
  FUZZ_CHECK(status >= 200 && status <= 599, context, ": status ", status);
  if (content_type != "application/json") return;
  FUZZ_CHECK(IsValidUtf8(body), context, ": the JSON body is not valid UTF-8: ", body);
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(!j.is_discarded(), context, ": the body is not JSON: ", body);
  if (status < 400) return;
  FUZZ_CHECK(j.is_object() && j.size() == 1 && j.contains("error") && j["error"].is_object(), context,
             ": error body is not {\"error\":{...}}: ", body);
  const nlohmann::json& e = j["error"];
  FUZZ_CHECK(
      e.size() == 3 && e.contains("code") && e["code"].is_number_integer() && e["code"].get<int>() == status,
      context, ": error code differs from the status ", status, ": ", body);
  // The machine-readable reason: the status's own unless a 500 names its Status code (DATA_LOSS).
  FUZZ_CHECK(e.contains("status") && e["status"].is_string() &&
                 (e["status"].get<std::string>() == vrec::serving::ErrorReason(status) || status == 500),
             context, ": error reason does not match the status ", status, ": ", body);
  FUZZ_CHECK(e.contains("message") && e["message"].is_string() && !e["message"].get<std::string>().empty(),
             context, ": error without a message: ", body);
}

}  // namespace vrec::fuzz
