// Reads a config::Source into typed configuration structs. A program declares every key it
// understands by binding it to a field whose member initialiser is the default; Finish() then
// reports every problem at once (bad values, out-of-range values, unknown keys with a "did you
// mean", duplicate keys, syntax errors), each with its file:line or environment variable, so a
// server refuses to start with a complete list instead of one error per attempt.
//
//   config::Source src;
//   VREC_RETURN_IF_ERROR(src.LoadFile(path));
//   src.LoadEnvironment(environ);
//   config::Binder b(src);
//   b.Int("server.port", &cfg.port, {.min = 1, .max = 65535, .help = "TCP port"});
//   b.Duration("cache.ttl", &cfg.cache_ttl, {.min = std::chrono::seconds(1), .help = "..."});
//   b.Enum("filtering.watched", &cfg.watched, {{"any", Watched::kAny}, {"finished", Watched::kFinished}});
//   b.Check(cfg.top_k <= cfg.candidates, "ranking.top_k", "must not exceed retrieval.candidates");
//   VREC_RETURN_IF_ERROR(b.Finish());
//
// File values are typed (TOML, see source.h), and each binder takes the TOML types of its kind
// (values.h, As*): Int an integer; Double an integer or a float; Bool true or false; String and
// Enum a string; StringList an array of strings; Duration a string with units ("250ms", "1h30m")
// or the integer 0. Any other type is a problem naming the key, what was expected and what was
// given: `vrec.toml:12: server.port: expected an integer, got a string "8080"`.
//
// Environment binding: every bound key `a.b_c` may also be set by VREC_A_B_C (upper case, '.'
// and '-' become '_'); the environment overrides the file. Environment values are strings, read
// by the text parsers of values.h exactly as before TOML: integers and numbers as decimal text,
// booleans as true/yes/on/1 or false/no/off/0, durations as "5s", strings as is, lists
// comma-separated (VREC_SERVER_API_KEYS=k1,k2; SplitList). Two bound keys that would share a
// variable are reported by Finish(). VREC_* variables that match no bound key are ignored (other
// tools use VREC_SHARED_DIR and the like); keys under Prefix() cannot be set from the environment.
//
// Partial application: a valid value is written to its field as soon as it is bound (so Check()
// sees final values); an invalid one leaves the field at its default. When Finish() fails the
// struct is therefore a mix of read and default values and the caller must not use it.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/common/strings.h"
#include "vrec/config/source.h"
#include "vrec/config/values.h"

namespace vrec::config {

// Options of Binder::Int. Bounds are inclusive; values must also fit the bound field's type.
struct IntOptions {
  std::optional<int64_t> min;
  std::optional<int64_t> max;
  std::string help;
};

// Options of Binder::Double. Bounds are inclusive (use Check() for strict ones).
struct DoubleOptions {
  std::optional<double> min;
  std::optional<double> max;
  std::string help;
};

// Options of Binder::Duration. Bounds are inclusive.
struct DurationOptions {
  std::optional<std::chrono::nanoseconds> min;
  std::optional<std::chrono::nanoseconds> max;
  std::string help;
};

// Options of the binders that take no bounds (Bool, String, StringList, Enum, Prefix).
struct Options {
  std::string help;
};

// What Describe() knows about one bound key; also what a test of an example config file checks.
struct KeyInfo {
  std::string key;            // full dotted key; for Prefix() bindings the prefix, ending in '.'
  std::string env_var;        // VREC_...; empty for Prefix() bindings
  std::string type;           // e.g. "integer in [1, 65535]", "string, one of: any, finished"
  std::string default_value;  // as TOML would write it (ToToml): 8080, "1s", ["a"]; "" for Prefix()
  std::string help;
  bool is_prefix = false;
  Origin origin;  // where the effective value came from (kDefault when neither file nor env set it)
};

// Binds keys of one Source to fields. Holds a reference to the Source, which must outlive it and
// must not be loaded into while the Binder exists. Use one Binder for all the keys a program
// reads from a Source: keys it did not bind are reported as unknown. Not thread-safe.
class Binder {
 public:
  explicit Binder(const Source& source) : source_(source) {}
  Binder(const Binder&) = delete;
  Binder& operator=(const Binder&) = delete;

  // Each typed binder below declares `key` (lower-case letters, digits and '_' in dot-separated
  // parts) with `*out`'s current value as its default, and, when the environment or the file sets
  // the key, reads the value into `*out` (a file value with As*, an environment value with Parse*:
  // values.h). A value of the wrong type, that does not parse or is out of bounds leaves `*out`
  // unchanged and records a problem; so does an invalid key name, a key bound twice or a key whose
  // environment variable another bound key already uses (programming errors, reported the same way
  // so that a test of the configuration catches them).

  // Integers (file: an integer; env: ParseInt), bounded by `options` and by the range of T (at
  // most int64's).
  template <std::integral T>
  requires(!std::same_as<T, bool>) void Int(std::string_view key, T* out, IntOptions options = {});
  // Finite numbers (file: an integer or a float; env: ParseDouble), bounded by `options`.
  void Double(std::string_view key, double* out, DoubleOptions options = {});
  // File: true or false; env: true/yes/on/1 or false/no/off/0 (ParseBool).
  void Bool(std::string_view key, bool* out, Options options = {});
  // File: a string; env: the text as is. Empty sets the empty string.
  void String(std::string_view key, std::string* out, Options options = {});
  // File: an array of strings, [] for the empty list; env: a comma-separated list (SplitList), ""
  // for the empty list.
  void StringList(std::string_view key, std::vector<std::string>* out, Options options = {});
  // File: an array of integers, [] for the empty list; env: a comma-separated list of integers.
  // Each item is bounded by `options` and by int's range.
  void IntList(std::string_view key, std::vector<int>* out, IntOptions options = {});
  // A duration (file: a string such as "250ms", "5s", "1h30m", or the integer 0; env: the same
  // text unquoted; ParseDuration) into any std::chrono::duration with an integer count. A value
  // that is not a whole number of the field's unit ("1500ms" into std::chrono::seconds) or does
  // not fit its count type is a problem.
  template <typename Rep, typename Period>
  void Duration(std::string_view key, std::chrono::duration<Rep, Period>* out, DurationOptions options = {});
  // One of `names` (exact, case-sensitive match; file: a string); sets `*out` to the paired value.
  // The default shown by Describe() is the name paired with `*out`'s current value.
  template <typename E>
  void Enum(std::string_view key, E* out, std::initializer_list<std::pair<std::string_view, E>> names,
            Options options = {});

  // Returns the file entries whose key starts with `prefix` (a '.' is appended when missing), in
  // file order, and marks them as known, for sections whose keys are data rather than a fixed
  // schema (e.g. "experiment.variant."). Their values are typed file values: read them with the
  // As* functions of values.h and report mistakes with Fail() to keep one complete error list.
  // Not settable from the environment.
  std::vector<Entry> Prefix(std::string_view prefix, Options options = {});

  // The distinct names of the sections directly below `section` that the file uses: for keys
  // experiment.variant.a.weight and experiment.variant.b.ranker, Subsections("experiment.variant")
  // is {"a", "b"} (sorted). Marks nothing as known: bind each subsection's keys with the typed
  // binders (e.g. Double("experiment.variant." + name + ".weight", ...)) to get full validation.
  std::vector<std::string> Subsections(std::string_view section) const;

  // Records `message` as a problem of `key` unless `condition` holds, for rules across fields.
  // The problem's origin is where `key`'s value came from. Not recorded when binding `key` failed
  // or Fail() was called for it (its value is then its default and the rule would only add
  // noise); several failed Checks of one key are all recorded. Returns `condition`.
  bool Check(bool condition, std::string_view key, std::string_view message);

  // Records a problem "<origin>: <key>: <message>", e.g. for a bad value under Prefix().
  void Fail(const Origin& origin, std::string_view key, std::string_view message);

  // OK when there is no problem: none from the Source, none from binding, no unknown file key.
  // Otherwise InvalidArgument whose message is a count line followed by one line per problem,
  // each "<origin>: <what>": Source problems first, then binding problems in binding order, then
  // unknown keys in file order (with "did you mean 'x'?" when a bound key is close). May be called
  // more than once; later bindings are taken into account.
  Status Finish() const;

  // Every problem Finish() would report, in the same order.
  std::vector<Problem> Problems() const;

  // An example TOML config file documenting every bound key: keys grouped under their [table]
  // headers in binding order, each preceded by "# help" lines and a "# <type>; env VREC_..." line
  // and set to its default; Prefix() bindings appear as comments. Source parses it back without
  // problems and binding the same keys to it reproduces the defaults (so binding a struct that
  // holds the effective values and describing it prints that configuration as TOML).
  std::string Describe() const;

  // The bound keys, in binding order.
  const std::vector<KeyInfo>& keys() const { return keys_; }

 private:
  // The value of a bound key and where it came from: a typed file value, or the text of an
  // environment variable.
  struct Setting {
    const Value* file = nullptr;  // into the Source's entries; null for the environment
    std::string env;
    Origin origin;
  };

  // Declares `info.key`. Returns its effective setting (environment first, then file), or nullopt
  // when neither sets it or the declaration itself is a problem.
  std::optional<Setting> Declare(KeyInfo info);

  // Reads `setting` with `from_file` (a file value) or `from_env` (an environment variable's
  // text). A value that does not read is recorded as a problem of `key`: nullopt.
  template <typename T>
  std::optional<T> Read(std::string_view key, const Setting& setting, StatusOr<T> (*from_file)(const Value&),
                        StatusOr<T> (*from_env)(std::string_view));

  std::optional<int64_t> BindInt(std::string_view key, std::string default_value, const IntOptions& options,
                                 int64_t type_min, int64_t type_max);
  std::optional<std::pair<std::chrono::nanoseconds, Origin>> BindDuration(std::string_view key,
                                                                          std::string default_value,
                                                                          const DurationOptions& options);
  std::optional<size_t> BindEnum(std::string_view key, std::vector<std::string> names,
                                 std::optional<size_t> default_index, const Options& options);

  const Source& source_;
  std::vector<KeyInfo> keys_;
  std::map<std::string, size_t, std::less<>> key_index_;       // key -> position in keys_
  std::map<std::string, std::string, std::less<>> env_owner_;  // env var -> bound key
  std::set<std::string, std::less<>> consumed_;                // file keys bound or under a Prefix
  std::set<std::string, std::less<>> failed_keys_;             // keys with a recorded problem
  std::vector<Problem> problems_;
};

// The environment variable of `key`: "VREC_" + key in upper case with '.' and '-' as '_'.
std::string EnvVarName(std::string_view key);

template <std::integral T>
requires(!std::same_as<T, bool>) void Binder::Int(std::string_view key, T* out, IntOptions options) {
  constexpr int64_t kTypeMin = std::is_signed_v<T> ? static_cast<int64_t>(std::numeric_limits<T>::min()) : 0;
  constexpr int64_t kTypeMax =
      std::cmp_greater(std::numeric_limits<T>::max(), std::numeric_limits<int64_t>::max())
          ? std::numeric_limits<int64_t>::max()
          : static_cast<int64_t>(std::numeric_limits<T>::max());
  std::optional<int64_t> value = BindInt(key, StrCat(*out), options, kTypeMin, kTypeMax);
  if (value) *out = static_cast<T>(*value);
}

template <typename Rep, typename Period>
void Binder::Duration(std::string_view key, std::chrono::duration<Rep, Period>* out,
                      DurationOptions options) {
  static_assert(std::is_integral_v<Rep>, "bind durations with an integer count");
  static_assert(std::ratio_greater_equal_v<Period, std::nano>, "durations finer than 1ns are not supported");
  using Target = std::chrono::duration<Rep, Period>;
  auto parsed =
      BindDuration(key, FormatDuration(std::chrono::duration_cast<std::chrono::nanoseconds>(*out)), options);
  if (!parsed) return;
  const auto& [nanos, origin] = *parsed;
  // Compare in int64 nanoseconds before converting, so that a small Rep cannot overflow.
  using Ratio = std::ratio_divide<Period, std::nano>;  // nanoseconds per unit of Target
  static_assert(Ratio::den == 1);
  const int64_t count = nanos.count() / Ratio::num;
  if (count * Ratio::num != nanos.count()) {
    Fail(origin, key,
         StrCat(FormatDuration(nanos), " is not a multiple of ",
                FormatDuration(std::chrono::nanoseconds(Ratio::num)), ", the unit of this setting"));
    return;
  }
  if (static_cast<uint64_t>(count) > static_cast<uint64_t>(std::numeric_limits<Rep>::max())) {
    Fail(origin, key, StrCat(FormatDuration(nanos), " is too long for this setting"));
    return;
  }
  *out = Target(static_cast<Rep>(count));
}

template <typename E>
void Binder::Enum(std::string_view key, E* out, std::initializer_list<std::pair<std::string_view, E>> names,
                  Options options) {
  std::vector<std::string> texts;
  std::optional<size_t> default_index;
  for (const auto& [name, value] : names) {
    if (!default_index && value == *out) default_index = texts.size();
    texts.emplace_back(name);
  }
  std::optional<size_t> index = BindEnum(key, std::move(texts), default_index, options);
  if (index) *out = names.begin()[*index].second;
}

}  // namespace vrec::config
