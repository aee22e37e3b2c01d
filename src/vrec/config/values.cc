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

Status Expected(std::string_view what, const Value& given, std::string_view hint = "") {
  return InvalidArgumentError(
      StrCat("expected ", what, ", got ", DescribeValue(given), hint.empty() ? "" : " ", hint));
}

std::string FloatToToml(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x < 0 ? "-inf" : "inf";
  std::string out = StrCat(x);
  // "500" would read back as an integer.
  if (out.find_first_of(".e") == std::string::npos) out += ".0";
  return out;
}

}  // namespace

std::string ToToml(const Value& value) {
  switch (value.type) {
    case Value::Type::kString:
      return QuoteString(value.text);
    case Value::Type::kInteger:
      return StrCat(value.integer);
    case Value::Type::kFloat:
      return FloatToToml(value.number);
    case Value::Type::kBoolean:
      return value.boolean ? "true" : "false";
    case Value::Type::kDateTime:
    case Value::Type::kTable:
      return value.text;
    case Value::Type::kArray: {
      std::string out = "[";
      for (size_t i = 0; i < value.items.size(); ++i)
        out += StrCat(i == 0 ? "" : ", ", ToToml(value.items[i]));
      return out + "]";
    }
  }
  return "";
}

std::string DescribeValue(const Value& value) {
  // In the order of Value::Type.
  constexpr std::array<std::string_view, 7> kKinds = {"a string",    "an integer", "a float", "a boolean",
                                                      "a date-time", "an array",   "a table"};
  static_assert(kKinds.size() == static_cast<size_t>(Value::Type::kTable) + 1);
  const std::string_view kind = kKinds[static_cast<size_t>(value.type)];
  constexpr size_t kMaxText = 60;
  std::string text = ToToml(value);
  if (text.size() > kMaxText) {
    // Cut on a UTF-8 character boundary.
    size_t cut = kMaxText;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text = StrCat(text.substr(0, cut), "...");
  }
  return StrCat(kind, " ", text);
}

StatusOr<int64_t> AsInt(const Value& value) {
  if (value.type == Value::Type::kInteger) return value.integer;
  return Expected("an integer", value);
}

StatusOr<double> AsDouble(const Value& value) {
  if (value.type == Value::Type::kInteger) return static_cast<double>(value.integer);
  if (value.type != Value::Type::kFloat) return Expected("a number", value);
  if (!std::isfinite(value.number)) return Expected("a finite number", value);
  return value.number;
}

StatusOr<bool> AsBool(const Value& value) {
  if (value.type == Value::Type::kBoolean) return value.boolean;
  return Expected("a boolean (true or false)", value);
}

StatusOr<std::string> AsString(const Value& value) {
  if (value.type == Value::Type::kString) return value.text;
  return Expected("a string", value);
}

StatusOr<std::vector<std::string>> AsStringList(const Value& value) {
  if (value.type == Value::Type::kString) {
    // Most likely a comma-separated list in the format before TOML (or copied from a variable).
    std::vector<Value> items;
    for (std::string& item : SplitList(value.text)) items.push_back(Value::String(std::move(item)));
    return Expected("an array of strings", value,
                    StrCat("(lists are arrays: ", ToToml(Value::Array(items)), ")"));
  }
  if (value.type != Value::Type::kArray) return Expected("an array of strings", value);
  std::vector<std::string> out;
  for (size_t i = 0; i < value.items.size(); ++i) {
    const Value& item = value.items[i];
    if (item.type != Value::Type::kString) {
      return InvalidArgumentError(
          StrCat("expected an array of strings, got ", DescribeValue(item), " as item ", i + 1));
    }
    out.push_back(item.text);
  }
  return out;
}

StatusOr<std::chrono::nanoseconds> AsDuration(const Value& value) {
  if (value.type == Value::Type::kString) return ParseDuration(value.text);
  if (value.type == Value::Type::kInteger && value.integer == 0) return std::chrono::nanoseconds(0);
  constexpr std::string_view kWhat = "a duration string such as \"250ms\" or \"5s\"";
  if (value.type == Value::Type::kInteger) {
    return Expected(kWhat, value,
                    StrCat("(durations are strings with a unit, e.g. \"", value.integer, "s\")"));
  }
  return Expected(kWhat, value);
}

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
