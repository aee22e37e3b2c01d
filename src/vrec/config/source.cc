#include "vrec/config/source.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "vrec/common/strings.h"

namespace vrec::config {
namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// Parses the text after '=' (already trimmed on the left). On success returns the value; on a
// syntax error sets `error` and returns nullopt.
std::optional<std::string> ParseValue(std::string_view text, std::string& error) {
  if (text.empty() || text.front() != '"') {
    // Unquoted: everything up to a '#' is the value, trimmed.
    size_t hash = text.find('#');
    return std::string(StripAsciiWhitespace(text.substr(0, hash)));
  }
  std::string value;
  size_t i = 1;
  for (; i < text.size() && text[i] != '"'; ++i) {
    if (text[i] != '\\') {
      value.push_back(text[i]);
      continue;
    }
    if (i + 1 >= text.size()) break;  // reported as unterminated below
    char next = text[++i];
    if (next != '"' && next != '\\') {
      error = StrCat("unknown escape '\\", next, "' in quoted value (only \\\" and \\\\ are allowed)");
      return std::nullopt;
    }
    value.push_back(next);
  }
  if (i >= text.size()) {
    error = "quoted value is missing its closing '\"'";
    return std::nullopt;
  }
  std::string_view rest = StripAsciiWhitespace(text.substr(i + 1));
  if (!rest.empty() && rest.front() != '#') {
    error = StrCat("unexpected text after the closing quote: '", rest, "'");
    return std::nullopt;
  }
  return value;
}

}  // namespace

std::string Origin::ToString() const {
  switch (kind) {
    case Kind::kDefault:
      return "default";
    case Kind::kFile:
      return StrCat(name, ":", line);
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

std::string FormatValue(std::string_view value) {
  bool needs_quotes = value.empty() || value.find('#') != std::string_view::npos || value.front() == '"' ||
                      StripAsciiWhitespace(value).size() != value.size();
  if (!needs_quotes) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
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
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (text.starts_with(kBom)) text.remove_prefix(kBom.size());
  std::string section;
  // After a malformed [section] header its keys are skipped: attributing them to the previous
  // section would add a spurious "unknown key" for every one of them.
  bool section_ok = true;
  int line_no = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = StripAsciiWhitespace(text.substr(start, end - start));
    start = end + 1;
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    auto problem = [&](std::string message) {
      problems_.push_back({Origin::File(std::string(name), line_no), std::move(message)});
    };

    if (line.front() == '[') {
      size_t close = line.find(']');
      if (close == std::string_view::npos) {
        problem("section header is missing its closing ']'");
        section_ok = false;
        continue;
      }
      std::string_view rest = StripAsciiWhitespace(line.substr(close + 1));
      std::string_view header = StripAsciiWhitespace(line.substr(1, close - 1));
      if (!rest.empty() && rest.front() != '#') {
        problem(StrCat("unexpected text after section header: '", rest, "'"));
        section_ok = false;
      } else if (!IsValidName(header)) {
        problem(StrCat("invalid section name '", header,
                       "' (use letters, digits, '_' and '-' in dot-separated parts)"));
        section_ok = false;
      } else {
        section = std::string(header);
        section_ok = true;
      }
      continue;
    }

    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      problem(StrCat("expected 'key = value' or '[section]', got '", line, "'"));
      continue;
    }
    std::string_view key = StripAsciiWhitespace(line.substr(0, eq));
    if (!IsValidName(key)) {
      problem(StrCat("invalid key '", key, "' (use letters, digits, '_' and '-' in dot-separated parts)"));
      continue;
    }
    std::string error;
    std::optional<std::string> value = ParseValue(StripAsciiWhitespace(line.substr(eq + 1)), error);
    if (!value) {
      problem(StrCat(section.empty() ? "" : StrCat(section, "."), key, ": ", error));
      continue;
    }
    if (!section_ok) continue;
    AddEntry(section.empty() ? std::string(key) : StrCat(section, ".", key), std::move(*value),
             Origin::File(std::string(name), line_no));
  }
}

void Source::AddEntry(std::string key, std::string value, Origin origin) {
  auto it = index_.find(key);
  if (it != index_.end()) {
    problems_.push_back({std::move(origin), StrCat("duplicate key '", key, "' (first set at ",
                                                   entries_[it->second].origin.ToString(), ")")});
    return;
  }
  index_.emplace(key, entries_.size());
  entries_.push_back({std::move(key), std::move(value), std::move(origin)});
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
