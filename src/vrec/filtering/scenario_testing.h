// Test support (not linked into any product): the reader for the data-driven scenario files of
// the filtering and ordering stages, in the spirit of duckdb's sqllogictest. A file describes a
// small catalog once and then any number of cases; each stage's runner interprets the case lines
// and reports mismatches as "file:line: ...".
//
//   # comment (a word starting with '#' starts a comment, to the end of the line)
//   now 1700000000                     # unix seconds; needed before any age=
//   video a cat=music age=2h           # dense index 0, VideoId 1, primary category "music"
//   video b cat=news,music upload=1699990000 restricted unavailable lang=en id=77
//   video c                            # no category, unknown upload time
//   option watched=finished            # lines before the first case are defaults for every case
//   case a title for the case
//   candidates a b c                   # stage-specific lines: the runner reads them
//   expect a
//
// Video attributes: cat=NAME[,NAME...] (first is primary), age=DURATION (upload = now - age; a
// negative age is in the future), upload=UNIX, restricted (age restricted in the catalog),
// unavailable (available == false in the catalog), lang=CODE, id=EXTERNAL (default: index + 1).
// Durations are integers with an optional unit: 90, 90s, 15m, 2h, 3d.
//
// Not thread-safe; a Scenario is a plain value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/data/dataset.h"

namespace vrec::filtering::testing {

// One non-empty line, split on whitespace, comments removed.
struct Line {
  std::string file;  // the path as given to ReadScenario
  int number = 0;    // 1-based
  std::vector<std::string> words;

  // "file:number".
  std::string Where() const;
  // InvalidArgument "file:number: message".
  Status Error(std::string_view message) const;
};

struct Case {
  Line header;                 // the "case ..." line
  std::string name;            // the words after "case"
  std::vector<Line> defaults;  // the file's lines before the first case, in order
  std::vector<Line> lines;     // the case's own lines, in order
};

struct Scenario {
  std::string file;
  int64_t now = 0;
  data::Dataset catalog;
  std::vector<std::string> names;  // dense video index -> scenario name
  std::unordered_map<std::string, uint32_t> index;
  std::vector<Case> cases;

  // The dense index of the video named `name`; InvalidArgument at `line` when unknown.
  StatusOr<uint32_t> Video(const Line& line, std::string_view name) const;
  // The scenario name of a dense index, or "#<index>" when out of range.
  std::string NameOf(uint32_t video) const;
};

// Parses scenario text; `file` names it in messages. InvalidArgument "file:line: ..." for a
// malformed line, a duplicate video name or id, or a file without cases.
StatusOr<Scenario> ParseScenario(std::string_view text, const std::string& file);
// Reads and parses a file. NotFound when it cannot be read.
StatusOr<Scenario> ReadScenario(const std::string& path);
// The files ending in `extension` (e.g. ".scenario") directly inside `dir`, sorted.
std::vector<std::string> ListScenarioFiles(const std::string& dir, std::string_view extension);
// A gtest-friendly name for a scenario file: its stem with every non-alphanumeric character
// replaced by '_' ("testdata/free-shipping.scenario" -> "free_shipping").
std::string ScenarioTestName(const std::string& path);

// "2h" -> 7200. InvalidArgument for anything else than an optionally signed integer with an
// optional unit s, m, h or d.
StatusOr<int64_t> ParseDuration(std::string_view s);
// Splits "key=value"; InvalidArgument at `line` when there is no '=' or the key is empty.
StatusOr<std::pair<std::string, std::string>> SplitKeyValue(const Line& line, std::string_view word);
// Strict number parsing (the whole word); InvalidArgument at `line` otherwise.
StatusOr<int64_t> ParseInt(const Line& line, std::string_view word);
StatusOr<double> ParseDouble(const Line& line, std::string_view word);
// "true"/"yes"/"1" or "false"/"no"/"0".
StatusOr<bool> ParseBool(const Line& line, std::string_view word);

}  // namespace vrec::filtering::testing
