#include "vrec/config/binder.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace vrec::config {
namespace {

// Bound keys are stricter than file keys: lower case so that the environment mapping (which
// upper-cases) cannot make two keys collide by case alone, and no '-' so that every key's
// variable is a valid shell name.
bool IsBindableKey(std::string_view key) {
  if (key.empty()) return false;
  bool part_empty = true;
  for (char c : key) {
    if (c == '.') {
      if (part_empty) return false;
      part_empty = true;
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
      part_empty = false;
    } else {
      return false;
    }
  }
  return !part_empty;
}

constexpr std::string_view kBadKeyName =
    "invalid key name for binding (use lower-case letters, digits and '_' in dot-separated parts)";

template <typename T, typename Format>
std::string BoundsText(const std::optional<T>& min, const std::optional<T>& max, Format format) {
  if (min && max) return StrCat(" in [", format(*min), ", ", format(*max), "]");
  if (min) return StrCat(" >= ", format(*min));
  if (max) return StrCat(" <= ", format(*max));
  return "";
}

// "section.name" -> {"section", "name"}; "name" -> {"", "name"}.
std::pair<std::string_view, std::string_view> SplitSection(std::string_view key) {
  size_t dot = key.rfind('.');
  if (dot == std::string_view::npos) return {"", key};
  return {key.substr(0, dot), key.substr(dot + 1)};
}

// Whole numbers read better as integers ("1000"), which a number setting accepts; from 1e15 on
// the float form is kept (an integer literal beyond 2^63 would not parse).
std::string NumberToToml(double x) {
  if (std::abs(x) < 1e15 && std::trunc(x) == x) return StrCat(static_cast<int64_t>(x));
  return ToToml(Value::Float(x));
}

void AppendCommentLines(std::string& out, std::string_view text) {
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    out += line.empty() ? "#\n" : StrCat("# ", line, "\n");
    start = end + 1;
  }
}

}  // namespace

std::string EnvVarName(std::string_view key) {
  std::string out = "VREC_";
  for (char c : key) {
    if (c == '.' || c == '-') {
      out.push_back('_');
    } else if (c >= 'a' && c <= 'z') {
      out.push_back(static_cast<char>(c - 'a' + 'A'));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void Binder::Fail(const Origin& origin, std::string_view key, std::string_view message) {
  problems_.push_back({origin, StrCat(key, ": ", message)});
  failed_keys_.emplace(key);
}

std::optional<Binder::Setting> Binder::Declare(KeyInfo info) {
  const std::string key = info.key;
  if (!IsBindableKey(key)) {
    Fail(Origin{}, key, kBadKeyName);
    return std::nullopt;
  }
  if (key_index_.contains(key)) {
    Fail(Origin{}, key, "bound more than once");
    return std::nullopt;
  }
  info.env_var = EnvVarName(key);
  auto [owner, env_free] = env_owner_.emplace(info.env_var, key);
  if (!env_free) {
    Fail(Origin{}, key,
         StrCat("environment variable ", info.env_var, " would also set '", owner->second,
                "'; rename one of the keys"));
  }
  std::optional<Setting> setting;
  if (const Entry* entry = source_.Find(key)) {
    // Consumed even when the environment overrides it: the key is known, just not used.
    consumed_.insert(key);
    setting = Setting{.file = &entry->value, .origin = entry->origin};
  }
  if (const std::string* env = env_free ? source_.FindEnv(info.env_var) : nullptr) {
    setting = Setting{.env = *env, .origin = Origin::Environment(info.env_var)};
  }
  if (setting) info.origin = setting->origin;
  key_index_.emplace(key, keys_.size());
  keys_.push_back(std::move(info));
  if (!env_free) return std::nullopt;
  return setting;
}

template <typename T>
std::optional<T> Binder::Read(std::string_view key, const Setting& setting,
                              StatusOr<T> (*from_file)(const Value&),
                              StatusOr<T> (*from_env)(std::string_view)) {
  StatusOr<T> value = setting.file ? from_file(*setting.file) : from_env(setting.env);
  if (!value.ok()) {
    Fail(setting.origin, key, value.status().message());
    return std::nullopt;
  }
  return std::move(*value);
}

std::optional<int64_t> Binder::BindInt(std::string_view key, std::string default_value,
                                       const IntOptions& options, int64_t type_min, int64_t type_max) {
  auto setting = Declare(
      {.key = std::string(key),
       .type = StrCat("integer", BoundsText(options.min, options.max, [](int64_t v) { return StrCat(v); })),
       .default_value = std::move(default_value),
       .help = options.help});
  if (!setting) return std::nullopt;
  std::optional<int64_t> value = Read(key, *setting, AsInt, ParseInt);
  if (!value) return std::nullopt;
  if (options.min && *value < *options.min) {
    Fail(setting->origin, key, StrCat(*value, " is below the minimum ", *options.min));
    return std::nullopt;
  }
  if (options.max && *value > *options.max) {
    Fail(setting->origin, key, StrCat(*value, " is above the maximum ", *options.max));
    return std::nullopt;
  }
  if (*value < type_min || *value > type_max) {
    Fail(setting->origin, key,
         StrCat(*value, " is out of range for this setting [", type_min, ", ", type_max, "]"));
    return std::nullopt;
  }
  return *value;
}

void Binder::Double(std::string_view key, double* out, DoubleOptions options) {
  auto setting = Declare(
      {.key = std::string(key),
       .type = StrCat("number", BoundsText(options.min, options.max, [](double v) { return StrCat(v); })),
       .default_value = NumberToToml(*out),
       .help = options.help});
  if (!setting) return;
  std::optional<double> value = Read(key, *setting, AsDouble, ParseDouble);
  if (!value) return;
  if (options.min && *value < *options.min) {
    Fail(setting->origin, key, StrCat(*value, " is below the minimum ", *options.min));
    return;
  }
  if (options.max && *value > *options.max) {
    Fail(setting->origin, key, StrCat(*value, " is above the maximum ", *options.max));
    return;
  }
  *out = *value;
}

void Binder::Bool(std::string_view key, bool* out, Options options) {
  auto setting = Declare({.key = std::string(key),
                          .type = "boolean (true or false)",
                          .default_value = *out ? "true" : "false",
                          .help = options.help});
  if (!setting) return;
  if (std::optional<bool> value = Read(key, *setting, AsBool, ParseBool)) *out = *value;
}

void Binder::String(std::string_view key, std::string* out, Options options) {
  auto setting = Declare(
      {.key = std::string(key), .type = "string", .default_value = QuoteString(*out), .help = options.help});
  if (!setting) return;
  auto as_is = [](std::string_view text) -> StatusOr<std::string> { return std::string(text); };
  if (std::optional<std::string> value = Read<std::string>(key, *setting, AsString, as_is)) {
    *out = std::move(*value);
  }
}

void Binder::StringList(std::string_view key, std::vector<std::string>* out, Options options) {
  std::vector<Value> items;
  for (const std::string& item : *out) items.push_back(Value::String(item));
  auto setting = Declare({.key = std::string(key),
                          .type = "array of strings (env: comma-separated)",
                          .default_value = ToToml(Value::Array(std::move(items))),
                          .help = options.help});
  if (!setting) return;
  auto split = [](std::string_view text) -> StatusOr<std::vector<std::string>> { return SplitList(text); };
  if (auto value = Read<std::vector<std::string>>(key, *setting, AsStringList, split))
    *out = std::move(*value);
}

void Binder::IntList(std::string_view key, std::vector<int>* out, IntOptions options) {
  std::vector<Value> items;
  for (const int item : *out) items.push_back(Value::Integer(item));
  auto setting =
      Declare({.key = std::string(key),
               .type = StrCat("array of integers",
                              BoundsText(options.min, options.max, [](int64_t v) { return StrCat(v); }),
                              " (env: comma-separated)"),
               .default_value = ToToml(Value::Array(std::move(items))),
               .help = options.help});
  if (!setting) return;
  auto from_file = [](const Value& value) -> StatusOr<std::vector<int64_t>> {
    if (value.type != Value::Type::kArray)
      return InvalidArgumentError(StrCat("expected an array of integers, got ", DescribeValue(value)));
    std::vector<int64_t> list;
    for (size_t i = 0; i < value.items.size(); ++i) {
      if (value.items[i].type != Value::Type::kInteger) {
        return InvalidArgumentError(
            StrCat("expected an array of integers, got ", DescribeValue(value.items[i]), " as item ", i + 1));
      }
      list.push_back(value.items[i].integer);
    }
    return list;
  };
  auto from_env = [](std::string_view text) -> StatusOr<std::vector<int64_t>> {
    std::vector<int64_t> list;
    for (const std::string& item : SplitList(text)) {
      VREC_ASSIGN_OR_RETURN(int64_t v, ParseInt(item));
      list.push_back(v);
    }
    return list;
  };
  std::optional<std::vector<int64_t>> value = Read<std::vector<int64_t>>(key, *setting, from_file, from_env);
  if (!value) return;
  const int64_t lo = std::max<int64_t>(options.min.value_or(INT64_MIN), std::numeric_limits<int>::min());
  const int64_t hi = std::min<int64_t>(options.max.value_or(INT64_MAX), std::numeric_limits<int>::max());
  std::vector<int> list;
  for (const int64_t v : *value) {
    if (v < lo || v > hi) {
      Fail(setting->origin, key, StrCat(v, " is outside [", lo, ", ", hi, "]"));
      return;
    }
    list.push_back(static_cast<int>(v));
  }
  *out = std::move(list);
}

std::optional<std::pair<std::chrono::nanoseconds, Origin>> Binder::BindDuration(
    std::string_view key, std::string default_value, const DurationOptions& options) {
  auto setting = Declare({.key = std::string(key),
                          .type = StrCat("duration such as \"250ms\", \"5s\", \"2m\", \"1h\", \"3d\"",
                                         BoundsText(options.min, options.max, FormatDuration)),
                          .default_value = QuoteString(default_value),
                          .help = options.help});
  if (!setting) return std::nullopt;
  std::optional<std::chrono::nanoseconds> value = Read(key, *setting, AsDuration, ParseDuration);
  if (!value) return std::nullopt;
  if (options.min && *value < *options.min) {
    Fail(setting->origin, key,
         StrCat(FormatDuration(*value), " is below the minimum ", FormatDuration(*options.min)));
    return std::nullopt;
  }
  if (options.max && *value > *options.max) {
    Fail(setting->origin, key,
         StrCat(FormatDuration(*value), " is above the maximum ", FormatDuration(*options.max)));
    return std::nullopt;
  }
  return std::pair(*value, setting->origin);
}

std::optional<size_t> Binder::BindEnum(std::string_view key, std::vector<std::string> names,
                                       std::optional<size_t> default_index, const Options& options) {
  const std::string allowed = StrJoin(names, ", ");
  auto setting = Declare({.key = std::string(key),
                          .type = StrCat("string, one of: ", allowed),
                          .default_value = default_index ? QuoteString(names[*default_index]) : "",
                          .help = options.help});
  if (!setting) return std::nullopt;
  std::string text = std::move(setting->env);
  if (setting->file) {
    StatusOr<std::string> value = AsString(*setting->file);
    if (!value.ok()) {
      Fail(setting->origin, key, StrCat(value.status().message(), " (one of: ", allowed, ")"));
      return std::nullopt;
    }
    text = std::move(*value);
  }
  auto it = std::find(names.begin(), names.end(), text);
  if (it != names.end()) return static_cast<size_t>(it - names.begin());
  std::string message = StrCat("'", text, "' is not one of: ", allowed);
  const std::string lower = AsciiStrToLower(text);
  for (const std::string& name : names) {
    if (EditDistance(lower, name) <= std::max<size_t>(1, name.size() / 4)) {
      message += StrCat(" (did you mean '", name, "'?)");
      break;
    }
  }
  Fail(setting->origin, key, message);
  return std::nullopt;
}

std::vector<Entry> Binder::Prefix(std::string_view prefix, Options options) {
  std::string dotted(prefix);
  if (!dotted.ends_with('.')) dotted.push_back('.');
  if (!IsBindableKey(std::string_view(dotted).substr(0, dotted.size() - 1))) {
    Fail(Origin{}, dotted, kBadKeyName);
    return {};
  }
  if (key_index_.contains(dotted)) {
    Fail(Origin{}, dotted, "bound more than once");
    return {};
  }
  key_index_.emplace(dotted, keys_.size());
  keys_.push_back({.key = dotted,
                   .type = "free-form keys, read from the file only",
                   .help = std::move(options.help),
                   .is_prefix = true});
  std::vector<Entry> out;
  for (const Entry& entry : source_.entries()) {
    if (!entry.key.starts_with(dotted)) continue;
    consumed_.insert(entry.key);
    out.push_back(entry);
  }
  return out;
}

std::vector<std::string> Binder::Subsections(std::string_view section) const {
  std::string dotted(section);
  if (!dotted.ends_with('.')) dotted.push_back('.');
  std::set<std::string> names;
  for (const Entry& entry : source_.entries()) {
    if (!entry.key.starts_with(dotted)) continue;
    std::string_view rest = std::string_view(entry.key).substr(dotted.size());
    size_t dot = rest.find('.');
    if (dot != std::string_view::npos) names.emplace(rest.substr(0, dot));
  }
  return {names.begin(), names.end()};
}

bool Binder::Check(bool condition, std::string_view key, std::string_view message) {
  if (condition || failed_keys_.contains(key)) return condition;
  auto it = key_index_.find(key);
  // Not through Fail(): a second rule about the same key is still worth reporting.
  problems_.push_back(
      {it == key_index_.end() ? Origin{} : keys_[it->second].origin, StrCat(key, ": ", message)});
  return false;
}

std::vector<Problem> Binder::Problems() const {
  std::vector<Problem> out = source_.problems();
  out.insert(out.end(), problems_.begin(), problems_.end());
  for (const Entry& entry : source_.entries()) {
    if (consumed_.contains(entry.key)) continue;
    std::string message = StrCat("unknown key '", entry.key, "'");
    // The closest bound key when it is close enough to be a typo (a quarter of the length, at most
    // 3 edits), else the only bound key with the same last part (a key put in the wrong section).
    const std::string lower = AsciiStrToLower(entry.key);
    const std::string_view last = SplitSection(lower).second;
    const KeyInfo* best = nullptr;
    size_t best_distance = std::clamp<size_t>(lower.size() / 4, 1, 3) + 1;
    const KeyInfo* same_last = nullptr;
    int same_last_count = 0;
    for (const KeyInfo& info : keys_) {
      if (info.is_prefix) continue;
      // The distance is at least the difference in length: most keys are skipped without the
      // quadratic EditDistance, which made a file of long unknown keys slow to check.
      const size_t length_gap =
          lower.size() > info.key.size() ? lower.size() - info.key.size() : info.key.size() - lower.size();
      if (length_gap < best_distance) {
        const size_t d = EditDistance(lower, info.key);
        if (d < best_distance) {
          best = &info;
          best_distance = d;
        }
      }
      if (SplitSection(info.key).second == last) {
        same_last = &info;
        ++same_last_count;
      }
    }
    if (best == nullptr && same_last_count == 1) best = same_last;
    // A bound key written as a table (`[ranking.top_k]`, `top_k = {value = 3}`, `top_k.value = 3`).
    const auto parent = std::find_if(keys_.begin(), keys_.end(), [&](const KeyInfo& info) {
      return !info.is_prefix && entry.key.starts_with(info.key) && entry.key[info.key.size()] == '.';
    });
    if (parent != keys_.end()) {
      message += StrCat(" ('", parent->key, "' is a setting, not a table)");
    } else if (best != nullptr) {
      message += StrCat(" (did you mean '", best->key, "'?)");
    }
    out.push_back({entry.origin, std::move(message)});
  }
  return out;
}

Status Binder::Finish() const {
  std::vector<Problem> problems = Problems();
  if (problems.empty()) return OkStatus();
  std::string message =
      StrCat(problems.size(), problems.size() == 1 ? " configuration problem:" : " configuration problems:");
  for (const Problem& problem : problems) message += StrCat("\n", problem.ToString());
  return InvalidArgumentError(std::move(message));
}

std::string Binder::Describe() const {
  // Keys of one section must sit under one header, so group them, sections in order of first
  // binding; keys without a section come first because they cannot follow a header.
  std::vector<std::pair<std::string_view, std::vector<const KeyInfo*>>> groups = {{"", {}}};
  std::vector<const KeyInfo*> prefixes;
  for (const KeyInfo& info : keys_) {
    if (info.is_prefix) {
      prefixes.push_back(&info);
      continue;
    }
    std::string_view section = SplitSection(info.key).first;
    auto group =
        std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == section; });
    if (group == groups.end()) group = groups.insert(groups.end(), {section, {}});
    group->second.push_back(&info);
  }
  std::string out;
  for (const auto& [section, infos] : groups) {
    if (infos.empty()) continue;
    if (!section.empty()) out += StrCat("[", section, "]\n");  // bound keys are bare TOML keys
    for (const KeyInfo* info : infos) {
      AppendCommentLines(out, info->help);
      out += StrCat("# ", info->type, "; env ", info->env_var, "\n");
      std::string_view name = SplitSection(info->key).second;
      // An enum whose default is none of its names has no value that would read back.
      if (info->default_value.empty()) {
        out += StrCat("# ", name, " =\n\n");
      } else {
        out += StrCat(name, " = ", info->default_value, "\n\n");
      }
    }
  }
  for (const KeyInfo* info : prefixes) {
    out += StrCat("# [", info->key, "*]\n");
    AppendCommentLines(out, info->help);
    out += StrCat("# ", info->type, "\n\n");
  }
  return out;
}

}  // namespace vrec::config
