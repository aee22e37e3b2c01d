// Fuzzes the config file: vrec::config::Source (TOML through toml++) and vrec::config::Binder with the
// keys of `vrec serve` (BindServeConfig, FinishServeConfig), as `vrec serve`, `vrec pipeline run`
// and `vrec config check` load the shared file. The input is the file's text.
//
// The pipeline's keys are bound by apps/vrec (BindPipelineKeys, which links the Torch trainer):
// here its three sections are taken as opaque ([pipeline], [training], [gates]) so that they are
// not reported as unknown; their values are still fed to the typed value parsers below.
//
// Invariants: Finish() fails exactly when Problems() is non-empty, with InvalidArgument; every
// entry has a valid dotted key, and its value written back as TOML (ToToml) reads back equal;
// typed parses of the strings round-trip through their formatting (durations, integers); an
// override of an experiment variant takes effect exactly as written (no silent wrap-around of a
// large integer).
#include <cmath>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "vrec/config/binder.h"
#include "vrec/config/source.h"
#include "vrec/config/values.h"
#include "vrec/serving/serve_config.h"

namespace {

using vrec::config::Binder;
using vrec::config::Source;

struct Bound {
  vrec::Status finish;
  size_t problems = 0;
  vrec::serving::ServeConfig serve;
};

Bound Bind(const Source& src) {
  Bound out;
  Binder b(src);
  for (const char* section : {"pipeline", "training", "gates"}) b.Prefix(section);
  vrec::serving::BindServeConfig(b, out.serve);
  out.finish = b.Finish();
  out.problems = b.Problems().size();
  return out;
}

void CheckValueParsers(std::string_view text) {
  if (auto d = vrec::config::ParseDuration(text); d.ok()) {
    FUZZ_CHECK(d->count() >= 0, "negative duration from '", text, "'");
    const std::string formatted = vrec::config::FormatDuration(*d);
    auto again = vrec::config::ParseDuration(formatted);
    FUZZ_CHECK(again.ok() && *again == *d, "duration '", text, "' formatted as '", formatted,
               "' reads back differently");
  }
  if (auto i = vrec::config::ParseInt(text); i.ok()) {
    auto again = vrec::config::ParseInt(vrec::StrCat(*i));
    FUZZ_CHECK(again.ok() && *again == *i, "integer '", text, "' does not round-trip");
  }
  if (auto x = vrec::config::ParseDouble(text); x.ok()) {
    FUZZ_CHECK(std::isfinite(*x), "non-finite number from '", text, "'");
  }
  for (const std::string& item : vrec::config::SplitList(text)) {
    FUZZ_CHECK(!item.empty() && item.find(',') == std::string::npos, "list item '", item, "' of '", text,
               "'");
  }
}

// Value equality where nan equals nan (operator== follows IEEE: nan != nan).
bool SameValue(const vrec::config::Value& a, const vrec::config::Value& b) {
  if (a.type != b.type || a.items.size() != b.items.size()) return false;
  if (a.type == vrec::config::Value::Type::kFloat && std::isnan(a.number)) return std::isnan(b.number);
  for (size_t i = 0; i < a.items.size(); ++i) {
    if (!SameValue(a.items[i], b.items[i])) return false;
  }
  return a.type == vrec::config::Value::Type::kArray || a == b;
}

// Every string in `value` (arrays included), for the text parsers.
void CheckStrings(const vrec::config::Value& value) {
  if (value.type == vrec::config::Value::Type::kString) CheckValueParsers(value.text);
  for (const vrec::config::Value& item : value.items) CheckStrings(item);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Source src;
  src.LoadString(text, "fuzz.toml");

  const Bound first = Bind(src);
  FUZZ_CHECK(first.finish.ok() == (first.problems == 0), "Finish() ", first.finish.ToString(), " with ",
             first.problems, " problems");
  if (!first.finish.ok()) {
    FUZZ_CHECK(first.finish.code() == vrec::StatusCode::kInvalidArgument, first.finish.ToString());
  }
  // Every value read from the file, written back as TOML, reads back equal.
  for (const vrec::config::Entry& e : src.entries()) {
    FUZZ_CHECK(vrec::config::IsValidName(e.key), "entry with key '", e.key, "'");
    const std::string written = vrec::config::ToToml(e.value);
    Source again;
    again.LoadString(vrec::StrCat(e.key, " = ", written, "\n"), "again.toml");
    FUZZ_CHECK(again.problems().empty() && again.entries().size() == 1 &&
                   SameValue(again.entries()[0].value, e.value),
               "value of ", e.key, " does not survive ToToml: '", written, "'");
    CheckStrings(e.value);
  }

  if (first.finish.ok()) {
    vrec::serving::ServeConfig serve = first.serve;
    if (serve.registry.empty()) serve.registry = "/registry";
    const vrec::Status finished = vrec::serving::FinishServeConfig(serve);
    if (finished.ok()) {
      FUZZ_CHECK(!serve.variants.empty(), "no variant after FinishServeConfig");
      FUZZ_CHECK(serve.port >= 0 && serve.port <= 65535 && serve.threads >= 1, "server.port ", serve.port,
                 " server.threads ", serve.threads);
      // An override is applied as written: a value that does not fit must be refused, not wrapped.
      for (size_t i = 0; i < serve.experiment.variants.size(); ++i) {
        const auto& v = serve.experiment.variants[i];
        const auto& options = serve.variants[i].recommend;
        for (const auto& [key, value] : v.overrides) {
          auto n = vrec::config::ParseInt(value);
          if (key == "retrieval.candidates") {
            FUZZ_CHECK(n.ok() && *n == options.retrieve, "variant ", v.name, ": ", key, " = ", value,
                       " became ", options.retrieve);
          } else if (key == "ranking.candidates") {
            FUZZ_CHECK(n.ok() && *n == options.rank_candidates, "variant ", v.name, ": ", key, " = ", value,
                       " became ", options.rank_candidates);
          }
        }
      }
    } else {
      FUZZ_CHECK(finished.code() == vrec::StatusCode::kInvalidArgument, finished.ToString());
    }
  }

  return 0;
}
