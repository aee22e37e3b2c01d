#include "vrec/filtering/scenario_testing.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "vrec/common/strings.h"

namespace vrec::filtering::testing {

std::string Line::Where() const { return StrCat(file, ":", number); }

Status Line::Error(std::string_view message) const {
  return InvalidArgumentError(StrCat(Where(), ": ", message));
}

StatusOr<uint32_t> Scenario::Video(const Line& line, std::string_view name) const {
  auto it = index.find(std::string(name));
  if (it == index.end()) return line.Error(StrCat("unknown video '", name, "'"));
  return it->second;
}

std::string Scenario::NameOf(uint32_t video) const {
  return video < names.size() ? names[video] : StrCat("#", video);
}

StatusOr<int64_t> ParseDuration(std::string_view s) {
  int64_t unit = 1;
  std::string_view digits = s;
  if (!s.empty()) {
    switch (s.back()) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      default:
        unit = 0;
        break;
    }
    if (unit != 0) {
      digits.remove_suffix(1);
    } else {
      unit = 1;
    }
  }
  int64_t value = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size()) {
    return InvalidArgumentError(StrCat("bad duration '", s, "' (want e.g. 90, 90s, 15m, 2h, 3d)"));
  }
  return value * unit;
}

StatusOr<std::pair<std::string, std::string>> SplitKeyValue(const Line& line, std::string_view word) {
  const size_t eq = word.find('=');
  if (eq == std::string_view::npos || eq == 0)
    return line.Error(StrCat("expected key=value, got '", word, "'"));
  return std::pair<std::string, std::string>(std::string(word.substr(0, eq)),
                                             std::string(word.substr(eq + 1)));
}

StatusOr<int64_t> ParseInt(const Line& line, std::string_view word) {
  int64_t value = 0;
  auto [p, ec] = std::from_chars(word.data(), word.data() + word.size(), value);
  if (word.empty() || ec != std::errc() || p != word.data() + word.size()) {
    return line.Error(StrCat("expected an integer, got '", word, "'"));
  }
  return value;
}

StatusOr<double> ParseDouble(const Line& line, std::string_view word) {
  double value = 0;
  auto [p, ec] = std::from_chars(word.data(), word.data() + word.size(), value);
  if (word.empty() || ec != std::errc() || p != word.data() + word.size()) {
    return line.Error(StrCat("expected a number, got '", word, "'"));
  }
  return value;
}

StatusOr<bool> ParseBool(const Line& line, std::string_view word) {
  const std::string w = AsciiStrToLower(word);
  if (w == "true" || w == "yes" || w == "1") return true;
  if (w == "false" || w == "no" || w == "0") return false;
  return line.Error(StrCat("expected true or false, got '", word, "'"));
}

namespace {

std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> words;
  std::istringstream in{std::string(text)};
  std::string word;
  while (in >> word) {
    if (word.front() == '#') break;
    words.push_back(word);
  }
  return words;
}

// "video NAME attr...": appends one video to the catalog.
Status AddVideo(Scenario& s, const Line& line, bool now_set) {
  if (line.words.size() < 2) return line.Error("video needs a name");
  const std::string& name = line.words[1];
  if (s.index.contains(name)) return line.Error(StrCat("duplicate video name '", name, "'"));
  data::Video v;
  v.id = VideoId{s.catalog.videos.size() + 1};
  for (size_t i = 2; i < line.words.size(); ++i) {
    const std::string& w = line.words[i];
    if (w == "restricted") {
      v.age_restricted = true;
      continue;
    }
    if (w == "unavailable") {
      v.available = false;
      continue;
    }
    VREC_ASSIGN_OR_RETURN(auto kv, SplitKeyValue(line, w));
    const auto& [key, value] = kv;
    if (key == "cat") {
      for (std::string_view c : SplitNonEmpty(value, ','))
        v.categories.push_back(s.catalog.InternCategory(c));
    } else if (key == "age") {
      if (!now_set) return line.Error("age= needs a 'now' line before it");
      auto age = ParseDuration(value);
      if (!age.ok()) return line.Error(age.status().message());
      v.upload_time = s.now - *age;
    } else if (key == "upload") {
      VREC_ASSIGN_OR_RETURN(v.upload_time, ParseInt(line, value));
    } else if (key == "lang") {
      v.language = value;
    } else if (key == "id") {
      VREC_ASSIGN_OR_RETURN(int64_t id, ParseInt(line, value));
      if (id < 0) return line.Error("id must be >= 0");
      v.id = VideoId{static_cast<uint64_t>(id)};
    } else {
      return line.Error(StrCat("unknown video attribute '", key, "'"));
    }
  }
  auto added = s.catalog.AddVideo(std::move(v));
  if (!added.ok()) return line.Error(added.status().message());
  s.index.emplace(name, *added);
  s.names.push_back(name);
  return OkStatus();
}

}  // namespace

StatusOr<Scenario> ParseScenario(std::string_view text, const std::string& file) {
  Scenario s;
  s.file = file;
  std::vector<Line> defaults;
  bool now_set = false;
  int number = 0;
  for (std::string_view rest = text; !rest.empty();) {
    const size_t nl = rest.find('\n');
    std::string_view raw = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    ++number;
    Line line{file, number, Words(raw)};
    if (line.words.empty()) continue;
    const std::string& head = line.words[0];
    if (head == "case") {
      Case c;
      c.header = line;
      c.name = StrJoin(std::vector<std::string>(line.words.begin() + 1, line.words.end()), " ");
      c.defaults = defaults;
      s.cases.push_back(std::move(c));
    } else if (head == "now" || head == "video") {
      if (!s.cases.empty()) return line.Error(StrCat("'", head, "' must come before the first case"));
      if (head == "now") {
        if (line.words.size() != 2) return line.Error("now takes one value (unix seconds)");
        if (!s.catalog.videos.empty()) return line.Error("now must come before the videos");
        VREC_ASSIGN_OR_RETURN(s.now, ParseInt(line, line.words[1]));
        now_set = true;
      } else {
        VREC_RETURN_IF_ERROR(AddVideo(s, line, now_set));
      }
    } else if (s.cases.empty()) {
      defaults.push_back(std::move(line));
    } else {
      s.cases.back().lines.push_back(std::move(line));
    }
  }
  if (s.cases.empty()) return InvalidArgumentError(StrCat(file, ": no case in the file"));
  return s;
}

StatusOr<Scenario> ReadScenario(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError(StrCat("cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return ParseScenario(text.str(), path);
}

std::vector<std::string> ListScenarioFiles(const std::string& dir, std::string_view extension) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string path = entry.path().string();
    if (entry.is_regular_file() && path.ends_with(extension)) files.push_back(path);
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ScenarioTestName(const std::string& path) {
  std::string name = std::filesystem::path(path).stem().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

}  // namespace vrec::filtering::testing
