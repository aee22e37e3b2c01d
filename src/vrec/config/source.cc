#include "vrec/config/source.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include "vrec/common/strings.h"

namespace vrec::config {
namespace {

// The version from which config files are TOML (the hint for a file in the format before).
constexpr std::string_view kTomlSince = "0.2.0";

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool IsValidPart(std::string_view part) {
  return !part.empty() && std::all_of(part.begin(), part.end(), IsNameChar);
}

std::string KeyText(std::string_view part) {
  return IsValidPart(part) ? std::string(part) : QuoteString(part);
}

Value Convert(const toml::node& node);

// A table inside an array, as inline TOML (for messages: no binder takes one).
std::string InlineTable(const toml::table& table) {
  std::string out = "{";
  bool first = true;
  for (auto&& [key, node] : table) {
    out += StrCat(first ? " " : ", ", KeyText(key.str()), " = ", ToToml(Convert(node)));
    first = false;
  }
  return out + (first ? "}" : " }");
}

Value Convert(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return Value::String(std::string(node.as_string()->get()));
    case toml::node_type::integer:
      return Value::Integer(node.as_integer()->get());
    case toml::node_type::floating_point:
      return Value::Float(node.as_floating_point()->get());
    case toml::node_type::boolean:
      return Value::Boolean(node.as_boolean()->get());
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time: {
      std::ostringstream text;
      node.visit([&](const auto& v) { text << v; });
      return {.type = Value::Type::kDateTime, .text = text.str()};
    }
    case toml::node_type::array: {
      std::vector<Value> items;
      for (const toml::node& item : *node.as_array()) items.push_back(Convert(item));
      return Value::Array(std::move(items));
    }
    case toml::node_type::table:
      return {.type = Value::Type::kTable, .text = InlineTable(*node.as_table())};
    case toml::node_type::none:
      break;
  }
  return {};
}

// Flattens one parsed file into entries (file order) and problems (invalid keys).
class Flattener {
 public:
  explicit Flattener(std::string_view name) : name_(name) {}

  void Table(const toml::table& table, const std::string& prefix) {
    for (auto&& [key, node] : table) {
      const std::string full = prefix.empty() ? KeyText(key.str()) : StrCat(prefix, ".", KeyText(key.str()));
      if (!IsValidPart(key.str())) {
        problems_.push_back(
            {Origin::File(name_, static_cast<int>(key.source().begin.line)),
             StrCat("invalid key ", full, " (use letters, digits, '_' and '-' in each part)")});
        continue;
      }
      if (const toml::table* sub = node.as_table()) {
        Table(*sub, full);
        continue;
      }
      const toml::source_position at = node.source().begin;
      positions_.emplace_back(at.line, at.column, entries_.size());
      entries_.push_back({full, Convert(node), Origin::File(name_, static_cast<int>(at.line))});
    }
  }

  // toml++ keeps a table's keys sorted: put the entries back in file order.
  std::vector<Entry> TakeEntries() {
    std::sort(positions_.begin(), positions_.end());
    std::vector<Entry> out;
    for (const auto& [line, column, index] : positions_) out.push_back(std::move(entries_[index]));
    return out;
  }
  std::vector<Problem> TakeProblems() {
    std::stable_sort(problems_.begin(), problems_.end(),
                     [](const Problem& a, const Problem& b) { return a.origin.line < b.origin.line; });
    return std::move(problems_);
  }

 private:
  std::string name_;
  std::vector<Entry> entries_;
  std::vector<std::tuple<toml::source_index, toml::source_index, size_t>> positions_;
  std::vector<Problem> problems_;
};

}  // namespace

std::string Origin::ToString() const {
  switch (kind) {
    case Kind::kDefault:
      return "default";
    case Kind::kFile:
      return column > 0 ? StrCat(name, ":", line, ":", column) : StrCat(name, ":", line);
    case Kind::kEnvironment:
      return StrCat("env ", name);
  }
  return "unknown";
}

std::string Problem::ToString() const { return StrCat(origin.ToString(), ": ", message); }

bool IsValidName(std::string_view name) {
  if (name.empty()) return false;
  bool part_empty = true;
  for (char c : name) {
    if (c == '.') {
      if (part_empty) return false;
      part_empty = true;
    } else if (IsNameChar(c)) {
      part_empty = false;
    } else {
      return false;
    }
  }
  return !part_empty;
}

Status Source::LoadFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFoundError(StrCat("config file not found: ", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) return InternalError(StrCat("cannot open config file ", path, ": ", std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return InternalError(StrCat("cannot read config file ", path));
  LoadString(text.view(), path);
  return OkStatus();
}

void Source::LoadString(std::string_view text, std::string_view name) {
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    std::string message(e.description());
    if (name.ends_with(".conf")) {
      message += StrCat(" (vrec's config is TOML since version ", kTomlSince,
                        ": quote durations and other strings, e.g. ttl = \"1s\"; lists are arrays, e.g. "
                        "api_keys = [\"k1\", \"k2\"]; `vrec config example` prints a complete file)");
    }
    const toml::source_position at = e.source().begin;
    problems_.push_back(
        {Origin::File(std::string(name), static_cast<int>(at.line), static_cast<int>(at.column)),
         std::move(message)});
    return;
  }
  Flattener flat(name);
  flat.Table(root, "");
  for (Problem& problem : flat.TakeProblems()) problems_.push_back(std::move(problem));
  for (Entry& entry : flat.TakeEntries()) AddEntry(std::move(entry));
}

void Source::AddEntry(Entry entry) {
  auto it = index_.find(entry.key);
  if (it != index_.end()) {
    problems_.push_back({std::move(entry.origin), StrCat("duplicate key '", entry.key, "' (first set at ",
                                                         entries_[it->second].origin.ToString(), ")")});
    return;
  }
  index_.emplace(entry.key, entries_.size());
  entries_.push_back(std::move(entry));
}

void Source::LoadEnvironment(const char* const* envp) {
  if (envp == nullptr) return;
  for (; *envp != nullptr; ++envp) {
    std::string_view var = *envp;
    if (!var.starts_with("VREC_")) continue;
    size_t eq = var.find('=');
    if (eq == std::string_view::npos) continue;
    env_[std::string(var.substr(0, eq))] = std::string(var.substr(eq + 1));
  }
}

void Source::LoadEnvironment(const std::map<std::string, std::string>& vars) {
  for (const auto& [name, value] : vars) {
    if (name.starts_with("VREC_")) env_[name] = value;
  }
}

const Entry* Source::Find(std::string_view key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

const std::string* Source::FindEnv(std::string_view name) const {
  auto it = env_.find(name);
  return it == env_.end() ? nullptr : &it->second;
}

}  // namespace vrec::config
