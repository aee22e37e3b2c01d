// VREC_CHECK: an invariant that must hold in every build, release included.
//
//   VREC_CHECK(row < rows_, "row ", row, " of ", rows_);
//
// When the condition is false it prints "file:line: VREC_CHECK(condition) failed: message" to
// stderr and aborts. The message parts (anything StrCat takes) are evaluated only then.
//
// Which to use (status.h has the third kind):
//   - VREC_CHECK where a violation would otherwise read or write out of bounds, or serve garbage
//     without a trace: index arithmetic on the request path, sizes of output spans, offsets read
//     back from arrays the code built itself. The cost is one predictable branch.
//   - assert() for checks too expensive for release (re-validating a whole model) or that only
//     document an invariant whose violation would be caught anyway. The asan preset keeps them live.
//   - A Status for anything that depends on input: files, requests, configuration, models on disk.
#pragma once

#include <string_view>

#include "vrec/common/strings.h"

namespace vrec::check_internal {

// Prints the failure and aborts. Out of line and cold, so the check itself stays small.
[[noreturn]] void Fail(const char* file, int line, const char* condition, std::string_view message);

template <typename... Args>
[[noreturn, gnu::cold, gnu::noinline]] void FailWith(const char* file, int line, const char* condition,
                                                     const Args&... message) {
  Fail(file, line, condition, StrCat(message...));
}

}  // namespace vrec::check_internal

#define VREC_CHECK(condition, ...)                                                                 \
  do {                                                                                             \
    if (!(condition)) [[unlikely]] {                                                               \
      ::vrec::check_internal::FailWith(__FILE__, __LINE__, #condition __VA_OPT__(, ) __VA_ARGS__); \
    }                                                                                              \
  } while (false)
