// The settings of config files and a snapshot of the VREC_* environment, each remembering where it
// came from so that every error can name its file:line or variable. Typed reading, validation and
// the environment binding live in config/binder.h.
//
// Files are TOML (https://toml.io/en/v1.0.0), parsed by toml++ (only source.cc includes it):
//
//   log_level = "info"                 # keys before any [table] have no prefix
//   [server]                           # a table: the following keys are server.<key>
//   port = 8080                        # integers, floats, booleans, strings are TOML's
//   tls.cert = "/etc/vrec.pem"         # a dotted key: server.tls.cert
//   idle_timeout = "1m"                # durations and sizes with units are strings
//   api_keys = ["k1", "k2"]            # lists are arrays
//   [experiment.variant.b]             # a nested table: experiment.variant.b.<key>
//   weight = 0.5
//
// Tables, nested tables, inline tables and dotted keys all flatten to one dotted key per value
// (`[a] b.c = 1`, `a = {b = {c = 1}}` and `a.b.c = 1` are all the entry "a.b.c"). Arrays stay
// values, arrays of tables included (vrec has no list-like sections: such a key is unknown or has
// the wrong type). Key parts are letters, digits, '_' and '-' (a quoted key with other characters,
// such as "a.b" or "a b", is a problem: it could not be told apart from a dotted key).
//
// A file that is not valid TOML (a syntax error, a key set twice, a table defined twice) adds one
// problem "file:line:column: <toml++'s description>" and no entry at all. A key set in two loaded
// files is a problem too; the first setting is kept.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/config/values.h"

namespace vrec::config {

// Where a value came from.
struct Origin {
  enum class Kind { kDefault, kFile, kEnvironment };
  Kind kind = Kind::kDefault;
  std::string name;  // file name as given to Load*, or the environment variable's name
  int line = 0;      // 1-based, kFile only
  int column = 0;    // 1-based, kFile only; 0 when only the line matters (every value)

  static Origin File(std::string name, int line, int column = 0) {
    return {Kind::kFile, std::move(name), line, column};
  }
  static Origin Environment(std::string var) { return {Kind::kEnvironment, std::move(var), 0, 0}; }

  // "vrec.toml:12", "vrec.toml:12:7" (with a column), "env VREC_SERVER_PORT" or "default".
  std::string ToString() const;
};

// One value of a file: `key` is the full dotted key (table prefix included), `origin` the line
// where the value starts.
struct Entry {
  std::string key;
  Value value;
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
  // Reads and parses the TOML file at `path`; origins name it as `path`.
  // OK when the file was read, even if it is not valid TOML: that is recorded in problems()
  // (config::Binder::Finish reports it with every other problem). NotFound when the file does not
  // exist; Internal when it exists but cannot be read. Nothing is recorded on error.
  Status LoadFile(const std::string& path);

  // Parses `text` as if it were the content of a file called `name` (used in origins). A syntax
  // error is recorded in problems(), with a hint about the old format when `name` ends in ".conf".
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
  // Syntax errors, invalid key names and keys set twice found so far, in load order.
  const std::vector<Problem>& problems() const { return problems_; }

 private:
  void AddEntry(Entry entry);

  std::vector<Entry> entries_;
  std::map<std::string, size_t, std::less<>> index_;  // key -> position in entries_
  std::map<std::string, std::string, std::less<>> env_;
  std::vector<Problem> problems_;
};

// True for a name made of one or more dot-separated, non-empty parts of letters, digits, '_'
// and '-' (the keys Source accepts, dots included).
bool IsValidName(std::string_view name);

}  // namespace vrec::config
