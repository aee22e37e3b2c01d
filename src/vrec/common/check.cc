#include "vrec/common/check.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace vrec::check_internal {

void Fail(const char* file, int line, const char* condition, std::string_view message) {
  // One write of the whole line, so that concurrent failures do not interleave.
  std::string text = StrCat(file, ":", line, ": VREC_CHECK(", condition, ") failed");
  if (!message.empty()) text += StrCat(": ", message);
  text += "\n";
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
  std::abort();
}

}  // namespace vrec::check_internal
