#include "vrec/config/values.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>

#include "vrec/common/strings.h"

namespace vrec::config {
namespace {

struct Unit {
  std::string_view name;
  int64_t nanos;
};
// Largest first: FormatDuration walks this order, and ParseDuration matches names exactly.
constexpr std::array<Unit, 7> kUnits = {{{"d", 86'400'000'000'000},
                                         {"h", 3'600'000'000'000},
                                         {"m", 60'000'000'000},
                                         {"s", 1'000'000'000},
                                         {"ms", 1'000'000},
                                         {"us", 1'000},
                                         {"ns", 1}}};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

Status NotADuration(std::string_view text, std::string_view why) {
  return InvalidArgumentError(
      StrCat("'", text, "' is not a duration (", why, "; write e.g. 250ms, 5s, 2m, 1h, 3d or 1h30m)"));
}

}  // namespace

StatusOr<int64_t> ParseInt(std::string_view text) {
  std::string_view digits = text;
  // from_chars accepts '-' but not '+'.
  if (digits.size() > 1 && digits.front() == '+' && IsDigit(digits[1])) digits.remove_prefix(1);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec == std::errc::result_out_of_range) {
    return InvalidArgumentError(StrCat("'", text, "' does not fit in a 64-bit integer"));
  }
  if (ec != std::errc() || end != digits.data() + digits.size()) {
    return InvalidArgumentError(StrCat("'", text, "' is not an integer"));
  }
  return value;
}

StatusOr<double> ParseDouble(std::string_view text) {
  std::string_view digits = text;
  if (digits.size() > 1 && digits.front() == '+' && digits[1] != '-') digits.remove_prefix(1);
  double value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec == std::errc::result_out_of_range) {
    return InvalidArgumentError(StrCat("'", text, "' is out of the range of a double"));
  }
  if (ec != std::errc() || end != digits.data() + digits.size() || !std::isfinite(value)) {
    return InvalidArgumentError(StrCat("'", text, "' is not a finite number"));
  }
  return value;
}

StatusOr<bool> ParseBool(std::string_view text) {
  std::string lower = AsciiStrToLower(text);
  if (lower == "true" || lower == "yes" || lower == "on" || lower == "1") return true;
  if (lower == "false" || lower == "no" || lower == "off" || lower == "0") return false;
  return InvalidArgumentError(
      StrCat("'", text, "' is not a boolean (use true/false, yes/no, on/off or 1/0)"));
}

StatusOr<std::chrono::nanoseconds> ParseDuration(std::string_view text) {
  if (text == "0") return std::chrono::nanoseconds(0);
  if (text.empty()) return NotADuration(text, "it is empty");
  int64_t total = 0;
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  size_t i = 0;
  while (i < text.size()) {
    size_t digits_start = i;
    while (i < text.size() && IsDigit(text[i])) ++i;
    if (i == digits_start) {
      return NotADuration(text, text[i] == '-'   ? "it is negative"
                                : text[i] == '.' ? "amounts must be whole numbers"
                                                 : "expected a number");
    }
    int64_t amount = 0;
    auto [end, ec] = std::from_chars(text.data() + digits_start, text.data() + i, amount);
    if (ec != std::errc()) return NotADuration(text, "it is too long");
    size_t unit_start = i;
    while (i < text.size() && !IsDigit(text[i])) ++i;
    std::string_view unit_name = text.substr(unit_start, i - unit_start);
    if (unit_name.empty()) return NotADuration(text, "a unit is missing");
    if (unit_name.front() == '.') return NotADuration(text, "amounts must be whole numbers");
    auto unit =
        std::find_if(kUnits.begin(), kUnits.end(), [&](const Unit& u) { return u.name == unit_name; });
    if (unit == kUnits.end()) return NotADuration(text, StrCat("unknown unit '", unit_name, "'"));
    if (amount > (kMax - total) / unit->nanos) return NotADuration(text, "it is too long");
    total += amount * unit->nanos;
  }
  return std::chrono::nanoseconds(total);
}

std::string FormatDuration(std::chrono::nanoseconds d) {
  int64_t n = d.count();
  if (n == 0) return "0s";
  std::string out;
  // Work on the magnitude as unsigned so that the minimum int64 does not overflow.
  uint64_t rest = static_cast<uint64_t>(n);
  if (n < 0) {
    out.push_back('-');
    rest = ~rest + 1;
  }
  for (const Unit& unit : kUnits) {
    uint64_t size = static_cast<uint64_t>(unit.nanos);
    if (rest >= size) {
      out += StrCat(rest / size, unit.name);
      rest %= size;
    }
  }
  return out;
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view item : SplitNonEmpty(text, ',')) out.emplace_back(item);
  return out;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  // Three rolling rows: the swap rule looks two rows back.
  std::vector<size_t> two_back(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], two_back[j - 2] + 1);
      }
    }
    std::swap(two_back, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace vrec::config
