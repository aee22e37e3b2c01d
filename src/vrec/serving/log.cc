#include "vrec/serving/log.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "vrec/common/strings.h"
#include "vrec/serving/http_server.h"

namespace vrec::serving {

namespace {

std::string_view Name(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

// 2026-11-30T21:50:00.123Z
std::string Timestamp() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[96];  // room for any int the compiler cannot rule out
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace

LogFields& LogFields::Str(std::string_view key, std::string_view value) {
  json_ += StrCat(",\"", key, "\":", JsonQuote(value));
  return *this;
}

LogFields& LogFields::Int(std::string_view key, int64_t value) {
  json_ += StrCat(",\"", key, "\":", value);
  return *this;
}

LogFields& LogFields::Num(std::string_view key, double value) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", value);
  json_ += StrCat(",\"", key, "\":", buf);
  return *this;
}

LogFields& LogFields::Raw(std::string_view key, std::string_view json) {
  json_ += StrCat(",\"", key, "\":", json);
  return *this;
}

void Log(LogLevel level, std::string_view msg, const LogFields& fields) {
  const std::string line = StrCat("{\"ts\":\"", Timestamp(), "\",\"level\":\"", Name(level),
                                  "\",\"msg\":", JsonQuote(msg), fields.json(), "}\n");
  for (size_t done = 0; done < line.size();) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to log to: drop the line
    done += static_cast<size_t>(n);
  }
}

}  // namespace vrec::serving
