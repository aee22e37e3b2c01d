// Structured logs of `vrec serve`: one JSON object per line on stderr, each line written whole
// with one write(2), so lines of concurrent threads never interleave:
//   {"ts":"2026-11-30T21:50:00.123Z","level":"info","msg":"model v000002 loaded in 0.8 s"}
//   {"ts":"...","level":"info","msg":"request","request_id":"5f0c...","method":"GET",
//    "route":"/v1/users/{user_id}/recommendations","id":"42","status":200,"latency_ms":1.21,...}
// Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vrec::serving {

enum class LogLevel { kInfo, kWarning, kError };

// Extra members of a log line, built in order. Keys are written as given (callers pass literals).
class LogFields {
 public:
  LogFields& Str(std::string_view key, std::string_view value);
  LogFields& Int(std::string_view key, int64_t value);
  LogFields& Num(std::string_view key, double value);  // 3 significant decimals after the point
  // A member whose value is already JSON (an object or array).
  LogFields& Raw(std::string_view key, std::string_view json);
  const std::string& json() const { return json_; }  // ,"k":v,... (leading comma) or empty

 private:
  std::string json_;
};

void Log(LogLevel level, std::string_view msg, const LogFields& fields = {});

}  // namespace vrec::serving
