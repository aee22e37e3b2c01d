// Raw configuration text: the settings of a config file and a snapshot of the VREC_* environment,
// each remembering where it came from so that every error can name its file:line or variable.
// Typed reading, validation and the environment binding live in config/binder.h.
//
// File format (one setting per line, UTF-8, \n or \r\n line ends):
//
//   # A comment: a line whose first non-blank character is '#'. Blank lines are ignored.
//   top_level_key = value          # keys before any [section] have no prefix
//   [server]                       # a section: the following keys are server.<key>
//   port = 8080                    # unquoted values are trimmed; '#' starts a trailing comment
//   name = "vrec #1 \"main\""      # quoted: keeps spaces and '#'; escapes are \" and \\ only
//   empty =                        # an empty value
//   [experiment.variant.b]         # nested section: experiment.variant.b.<key>
//   weight = 0.5
//   videos = 12, 15, 99            # lists are comma-separated (see SplitList in values.h)
//
// Section and key names are made of letters, digits, '_' and '-', in dot-separated parts (a key
// may itself be dotted: `tls.cert = x` under [server] is server.tls.cert). A key set twice,
// in one file or across several loaded files, is an error; the first setting is kept.
// Malformed lines are recorded as problems (see problems()) and skipped; loading continues so
// that one run reports every mistake.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "vrec/common/status.h"

namespace vrec::config {

// Where a value came from.
struct Origin {
  enum class Kind { kDefault, kFile, kEnvironment };
  Kind kind = Kind::kDefault;
  std::string name;  // file name as given to Load*, or the environment variable's name
  int line = 0;      // 1-based, kFile only

  static Origin File(std::string name, int line) { return {Kind::kFile, std::move(name), line}; }
  static Origin Environment(std::string var) { return {Kind::kEnvironment, std::move(var), 0}; }

  // "vrec.conf:12", "env VREC_SERVER_PORT" or "default".
  std::string ToString() const;
};

// One `key = value` line of a file; `key` is the full dotted key (section prefix included) and
// `value` is unquoted and unescaped.
struct Entry {
  std::string key;
  std::string value;
  Origin origin;
};

// A mistake found while reading or binding: `message` is complete except for the origin.
struct Problem {
  Origin origin;
  std::string message;

  // "<origin>: <message>".
  std::string ToString() const;
};

// The settings of zero or more config files plus an environment snapshot. Owns its copies of all
// text. Thread-compatible: Load* must not run concurrently with anything else; const methods may
// be called from several threads at once.
class Source {
 public:
  // Reads and parses the file at `path`; origins name it as `path`.
  // OK when the file was read, even if some lines were malformed: those are recorded in
  // problems() (config::Binder::Finish reports them with every other problem). NotFound when the
  // file does not exist; Internal when it exists but cannot be read. Nothing is recorded on error.
  Status LoadFile(const std::string& path);

  // Parses `text` as if it were the content of a file called `name` (used in origins). Malformed
  // lines are recorded in problems().
  void LoadString(std::string_view text, std::string_view name);

  // Takes a snapshot of the VREC_* variables of a NULL-terminated "NAME=VALUE" array such as
  // `environ`; other variables are ignored. A variable set to the empty string counts as set.
  // A later call overrides variables of an earlier one.
  void LoadEnvironment(const char* const* envp);
  // The same from a map (tests, or callers that assemble the environment themselves).
  void LoadEnvironment(const std::map<std::string, std::string>& vars);

  // Every file setting, in load order.
  const std::vector<Entry>& entries() const { return entries_; }
  // The file setting for the full key `key`, or nullptr when no loaded file sets it. The pointer
  // stays valid until the next Load*.
  const Entry* Find(std::string_view key) const;
  // The value of environment variable `name` in the snapshot, or nullptr when unset.
  const std::string* FindEnv(std::string_view name) const;
  // Syntax errors and duplicate keys found so far, in load order.
  const std::vector<Problem>& problems() const { return problems_; }

 private:
  void AddEntry(std::string key, std::string value, Origin origin);

  std::vector<Entry> entries_;
  std::map<std::string, size_t, std::less<>> index_;  // key -> position in entries_
  std::map<std::string, std::string, std::less<>> env_;
  std::vector<Problem> problems_;
};

// Formats `value` so that Source reads it back unchanged: as is when that is safe, otherwise
// quoted and escaped (empty values, surrounding spaces, '#', a leading '"').
std::string FormatValue(std::string_view value);

// True for a name made of one or more dot-separated, non-empty parts of letters, digits, '_'
// and '-' (the file syntax of section names and keys).
bool IsValidName(std::string_view name);

}  // namespace vrec::config
