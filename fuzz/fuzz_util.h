// Helpers shared by the fuzz harnesses: invariant checks that abort (a crash to libFuzzer, a failed
// test to the corpus replay), temporary folders, and checks of what the service answers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vrec/common/strings.h"

// Aborts with the message when `cond` is false. Unlike assert, also active in release builds.
#define FUZZ_CHECK(cond, ...)                                                                \
  do {                                                                                       \
    if (!(cond)) ::vrec::fuzz::Fail(__FILE__, __LINE__, #cond, ::vrec::StrCat(__VA_ARGS__)); \
  } while (0)

namespace vrec::fuzz {

[[noreturn]] void Fail(const char* file, int line, const char* condition, const std::string& message);

// A fresh folder under $TMPDIR (default /tmp) whose name starts with `prefix`, removed with its
// contents when the process exits normally. Aborts when it cannot be created.
std::string MakeTempDir(std::string_view prefix);

// Writes `bytes` to `path` (replacing it). Aborts on I/O errors.
void WriteFile(const std::string& path, std::string_view bytes);

// Splits `input` at every line that is exactly `separator` ("a\n%%\nb" -> {"a", "b"} for "%%").
// The parts do not include the newline before a separator.
std::vector<std::string_view> SplitAtLines(std::string_view input, std::string_view separator);

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool IsValidUtf8(std::string_view s);

// Checks what an HTTP/JSON answer of vrec must look like: a status in [200, 599]; for
// application/json, a body that is valid UTF-8 JSON; for status >= 400, the body is
// {"error":{"code":<status>,"message":"<text>"}}. `context` is printed on failure.
void CheckJsonResponse(int status, std::string_view content_type, std::string_view body,
                       std::string_view context);

}  // namespace vrec::fuzz
