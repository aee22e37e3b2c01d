// String helpers used across modules (concatenation, joining, splitting, trimming).
#pragma once

#include <charconv>
#include <concepts>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vrec {

namespace strings_internal {
inline void Append(std::string& out, std::string_view s) { out.append(s); }
inline void Append(std::string& out, const char* s) { out.append(s); }
inline void Append(std::string& out, const std::string& s) { out.append(s); }
inline void Append(std::string& out, char c) { out.push_back(c); }
template <typename T>
requires(std::integral<T> || std::floating_point<T>) &&
    (!std::same_as<T, char>)&&(!std::same_as<T, bool>)void Append(std::string& out, T v) {
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  // resize + memcpy rather than append(buf, p): GCC 12 warns falsely (-Wrestrict) on the latter.
  const size_t old = out.size(), n = static_cast<size_t>(p - buf);
  out.resize(old + n);
  std::memcpy(out.data() + old, buf, n);
}
inline void Append(std::string& out, bool b) { out.append(b ? "true" : "false"); }
}  // namespace strings_internal

// Concatenates strings, characters and numbers (numbers in their shortest exact form).
template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  (strings_internal::Append(out, args), ...);
  return out;
}

template <typename Range>
std::string StrJoin(const Range& items, std::string_view sep) {
  std::string out;
  bool first = true;
  for (const auto& item : items) {
    if (!first) out.append(sep);
    first = false;
    strings_internal::Append(out, item);
  }
  return out;
}

// `s` with every byte that is not part of a well-formed UTF-8 sequence (invalid, truncated,
// overlong or surrogate) replaced by U+FFFD, so that text echoed from a request is valid UTF-8.
std::string ValidUtf8(std::string_view s);

// `s` as a double-quoted literal that is valid both in JSON and as a TOML basic string: ValidUtf8
// first, then '"' and '\\' escaped, \n \r \t by their short escapes and the other control
// characters (U+0000 to U+001F, and DEL, which TOML forbids raw) as \u00xx.
std::string QuoteString(std::string_view s);

std::string AsciiStrToLower(std::string_view s);
std::string AsciiStrToUpper(std::string_view s);
std::string_view StripAsciiWhitespace(std::string_view s);
// Decodes %XX escapes (either case of hex digit); nullopt for a truncated or non-hex escape.
std::optional<std::string> PercentDecode(std::string_view s);
// Splits on `sep`, trims each piece and drops empty pieces.
std::vector<std::string_view> SplitNonEmpty(std::string_view s, char sep);

}  // namespace vrec
