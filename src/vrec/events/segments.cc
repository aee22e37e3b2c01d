#include "vrec/events/segments.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "vrec/common/csv.h"
#include "vrec/common/strings.h"

namespace vrec::events {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSegmentPrefix = "events-";
constexpr std::string_view kSegmentSuffix = ".csv.gz";
constexpr size_t kSeqDigits = 20;

// Exactly `digits` decimal digits.
bool ParseFixedDigits(std::string_view s, size_t digits, uint64_t& out) {
  if (s.size() != digits || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  return ParseUint64(s, out);
}

std::tm UtcTm(int64_t time) {
  const std::time_t t = static_cast<std::time_t>(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm;
}

}  // namespace

std::string UtcDate(int64_t time) {
  const std::tm tm = UtcTm(time);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  return buf;
}

int UtcHour(int64_t time) { return UtcTm(time).tm_hour; }

std::string SegmentRelativePath(int64_t time, uint64_t first_seq, uint64_t last_seq) {
  char name[96];
  std::snprintf(name, sizeof(name), "events-%020llu-%020llu.csv.gz",
                static_cast<unsigned long long>(first_seq), static_cast<unsigned long long>(last_seq));
  char hour[16];
  std::snprintf(hour, sizeof(hour), "hour=%02d", UtcHour(time));
  return StrCat("dt=", UtcDate(time), "/", hour, "/", name);
}

std::optional<SegmentInfo> ParseSegmentPath(std::string_view path) {
  const std::vector<std::string_view> parts = SplitNonEmpty(path, '/');
  if (parts.size() != 3) return std::nullopt;
  const std::string_view dt = parts[0], hour = parts[1], name = parts[2];
  // dt=YYYY-MM-DD
  uint64_t y = 0, m = 0, d = 0, h = 0;
  if (dt.size() != 13 || !dt.starts_with("dt=") || dt[7] != '-' || dt[10] != '-' ||
      !ParseFixedDigits(dt.substr(3, 4), 4, y) || !ParseFixedDigits(dt.substr(8, 2), 2, m) ||
      !ParseFixedDigits(dt.substr(11, 2), 2, d)) {
    return std::nullopt;
  }
  if (hour.size() != 7 || !hour.starts_with("hour=") || !ParseFixedDigits(hour.substr(5), 2, h) || h > 23) {
    return std::nullopt;
  }
  if (m < 1 || m > 12 || d < 1 || d > 31) return std::nullopt;
  // events-<20 digits>-<20 digits>.csv.gz
  if (name.size() != kSegmentPrefix.size() + 2 * kSeqDigits + 1 + kSegmentSuffix.size() ||
      !name.starts_with(kSegmentPrefix) || !name.ends_with(kSegmentSuffix) ||
      name[kSegmentPrefix.size() + kSeqDigits] != '-') {
    return std::nullopt;
  }
  SegmentInfo info;
  if (!ParseFixedDigits(name.substr(kSegmentPrefix.size(), kSeqDigits), kSeqDigits, info.first_seq) ||
      !ParseFixedDigits(name.substr(kSegmentPrefix.size() + kSeqDigits + 1, kSeqDigits), kSeqDigits,
                        info.last_seq) ||
      info.first_seq == 0 || info.first_seq > info.last_seq) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = static_cast<int>(y) - 1900;
  tm.tm_mon = static_cast<int>(m) - 1;
  tm.tm_mday = static_cast<int>(d);
  tm.tm_hour = static_cast<int>(h);
  info.partition_time = static_cast<int64_t>(timegm(&tm));
  // A date that does not exist (2026-02-31) normalises to another one: not ours.
  if (UtcDate(info.partition_time) != dt.substr(3)) return std::nullopt;
  info.path = std::string(path);
  return info;
}

StatusOr<std::vector<SegmentInfo>> ListSegments(const std::string& dir) {
  std::vector<SegmentInfo> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  const auto list = [&](const fs::path& p, std::vector<fs::path>& entries) -> Status {
    entries.clear();
    for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec))
      entries.push_back(it->path());
    if (ec) return InternalError(StrCat("cannot list ", p.string(), ": ", ec.message()));
    return OkStatus();
  };
  std::vector<fs::path> days, hours, files;
  VREC_RETURN_IF_ERROR(list(dir, days));
  for (const fs::path& day : days) {
    if (!day.filename().string().starts_with("dt=") || !fs::is_directory(day, ec)) continue;
    VREC_RETURN_IF_ERROR(list(day, hours));
    for (const fs::path& hour : hours) {
      if (!hour.filename().string().starts_with("hour=") || !fs::is_directory(hour, ec)) continue;
      VREC_RETURN_IF_ERROR(list(hour, files));
      for (const fs::path& file : files) {
        const std::string relative =
            StrCat(day.filename().string(), "/", hour.filename().string(), "/", file.filename().string());
        std::optional<SegmentInfo> info = ParseSegmentPath(relative);
        if (!info) continue;
        info->path = file.string();
        out.push_back(std::move(*info));
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const SegmentInfo& a, const SegmentInfo& b) { return a.first_seq < b.first_seq; });
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i].first_seq <= out[i - 1].last_seq) {
      return DataLossError(StrCat("exported segments overlap: ", out[i - 1].path, " and ", out[i].path,
                                  " share sequences (two exporters wrote into ", dir, "?)"));
    }
  }
  return out;
}

StatusOr<uint64_t> ReadExportedThroughMark(const std::string& dir) {
  const fs::path path = fs::path(dir) / kExportedThroughFile;
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) return uint64_t{0};
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t seq = 0;
  if (!ParseUint64(StripAsciiWhitespace(text), seq)) {
    return DataLossError(
        StrCat(path.string(), ": expected a sequence number, got '", text.substr(0, 40), "'"));
  }
  return seq;
}

StatusOr<uint64_t> ExportedThrough(const std::string& dir) {
  VREC_ASSIGN_OR_RETURN(uint64_t mark, ReadExportedThroughMark(dir));
  VREC_ASSIGN_OR_RETURN(std::vector<SegmentInfo> segments, ListSegments(dir));
  return segments.empty() ? mark : std::max(mark, segments.back().last_seq);
}

}  // namespace vrec::events
