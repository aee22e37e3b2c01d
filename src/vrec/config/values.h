// Typed config values, shared by config::Binder and by callers that read dynamic sections
// themselves (Binder::Prefix), so that both accept exactly the same values:
//   - Value: a value of a config file as TOML types it, and the As* functions that read one into
//     a C++ type (the file's rules: an integer where a number is expected is fine, a string where
//     an integer is expected is not);
//   - the Parse* functions, which read text (the environment's rules: VREC_* variables are
//     strings). Each takes the whole text (no surrounding spaces).
// Every function returns InvalidArgument with a message that quotes the value and says what was
// expected. Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vrec/common/status.h"

namespace vrec::config {

// A value of a config file. Source flattens tables into dotted keys, so kTable only occurs as an
// item of an array (TOML's arrays of tables, `[[name]]` or `x = [{...}]`); kDateTime stands for
// TOML's four date and time types. No binder accepts either: both keep their TOML text, for
// messages.
struct Value {
  enum class Type { kString, kInteger, kFloat, kBoolean, kDateTime, kArray, kTable };
  Type type = Type::kString;
  std::string text;          // kString: the string; kDateTime, kTable: the value as TOML text
  int64_t integer = 0;       // kInteger
  double number = 0;         // kFloat (may be inf or nan: TOML has them)
  bool boolean = false;      // kBoolean
  std::vector<Value> items;  // kArray, in order

  static Value String(std::string s) { return {.type = Type::kString, .text = std::move(s)}; }
  static Value Integer(int64_t v) { return {.type = Type::kInteger, .integer = v}; }
  static Value Float(double v) { return {.type = Type::kFloat, .number = v}; }
  static Value Boolean(bool v) { return {.type = Type::kBoolean, .boolean = v}; }
  static Value Array(std::vector<Value> items) { return {.type = Type::kArray, .items = std::move(items)}; }

  bool operator==(const Value&) const = default;
};

// The value as TOML writes it, so that a TOML parser reads it back equal: 8080, 0.5, 1e+300, true,
// "a \"quoted\" text" (QuoteString, common/strings.h), ["a", "b"]. Floats are written in their
// shortest exact form (a whole float without '.' or exponent gets ".0", so that it stays a float).
std::string ToToml(const Value& value);

// For messages: the value's TOML type with an article, then the value: `a string "8080"`,
// `an integer 10`, `an array ["a", 1]`; a text longer than 60 characters is cut with "...".
std::string DescribeValue(const Value& value);

// A file value read as the binders read it. Errors say what was expected and what was given
// ("expected an integer, got a string \"8080\"").
// An integer.
StatusOr<int64_t> AsInt(const Value& value);
// A finite number: an integer or a float (not inf or nan).
StatusOr<double> AsDouble(const Value& value);
// true or false.
StatusOr<bool> AsBool(const Value& value);
// A string.
StatusOr<std::string> AsString(const Value& value);
// An array of strings (possibly empty).
StatusOr<std::vector<std::string>> AsStringList(const Value& value);
// A string that ParseDuration reads ("250ms", "1h30m"), or the integer 0. Any other number is
// refused with a hint: a bare 10 could mean seconds or milliseconds.
StatusOr<std::chrono::nanoseconds> AsDuration(const Value& value);

// A decimal integer with an optional sign: "42", "-7", "+3". Error when it is not one or does
// not fit in 64 bits.
StatusOr<int64_t> ParseInt(std::string_view text);

// A finite decimal number: "0.5", "-3", "1e-4". Error for anything else, including inf and nan.
StatusOr<double> ParseDouble(std::string_view text);

// true/yes/on/1 or false/no/off/0, in any letter case.
StatusOr<bool> ParseBool(std::string_view text);

// A non-negative duration: "0", or one or more <integer><unit> parts such as "250ms", "5s",
// "2m", "1h", "3d" or "1h30m", with units ns, us, ms, s, m (minutes), h, d (24 h). Error for
// a missing unit, an unknown unit, a negative or fractional amount, or more than ~292 years.
StatusOr<std::chrono::nanoseconds> ParseDuration(std::string_view text);

// The shortest text ParseDuration reads back as `d`, largest units first: "0s", "250ms",
// "1h30m", "1s500ms". Negative durations get a leading '-' (which ParseDuration rejects).
std::string FormatDuration(std::chrono::nanoseconds d);

// Splits a comma-separated list, trimming each item and dropping empty ones: "a, b,,c" gives
// {"a", "b", "c"}; "" gives {}. Items cannot contain commas.
std::vector<std::string> SplitList(std::string_view text);

// Optimal-string-alignment edit distance (insertions, deletions, substitutions and swaps of
// adjacent characters each cost 1); used for "did you mean" suggestions.
size_t EditDistance(std::string_view a, std::string_view b);

}  // namespace vrec::config
