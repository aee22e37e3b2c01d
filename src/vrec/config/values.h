// Parsing and formatting of typed config values, shared by config::Binder and by callers that
// read dynamic sections themselves (Binder::Prefix), so that both accept exactly the same text.
// Every parser takes the whole value (no surrounding spaces: Source already trims) and returns
// InvalidArgument with a message that quotes the value and says what was expected. Pure functions;
// thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vrec/common/status.h"

namespace vrec::config {

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
