// The exported event log on disk: the contract between the exporter (events/exporter.h, which
// writes it) and training (offline/platform_data.h, which reads it). Plain files, so that any tool
// can read them:
//
//   <export dir>/dt=YYYY-MM-DD/hour=HH/events-<first seq>-<last seq>.csv.gz
//                      immutable segments: the store's log events with sequences first..last, in
//                      sequence order, as the generic format's interactions.csv plus event_id
//                      (docs/data-format.md), gzip-compressed. Sequences have 20 digits, so names
//                      sort in sequence order. The partition is the UTC hour in which the segment
//                      was written (close to when its events arrived), not the events' own times.
//   <export dir>/catalog/videos.csv.gz, users.csv.gz
//                      every video and user record of the store's catalog API (c/v, c/u), in the
//                      generic format, replaced whole and atomically when they change
//   <export dir>/exported_through
//                      the greatest sequence ever exported (text), written before retention
//                      deletes segments, so that the export resumes after it when none is left
//   <export dir>/LOCK  held by the process that exports (one exporter per folder)
//
// The segments present are the exporter's cursor: a segment appears whole (written under a
// hidden temporary name, fsynced, renamed, folder fsynced) or not at all, and the next export
// starts after the greatest sequence present. So a crash at any point neither loses nor repeats
// an event, and no other state can disagree with the files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vrec/common/status.h"

namespace vrec::events {

inline constexpr char kCatalogExportDir[] = "catalog";
inline constexpr char kVideosExportFile[] = "videos.csv.gz";
inline constexpr char kUsersExportFile[] = "users.csv.gz";
inline constexpr char kExportedThroughFile[] = "exported_through";
inline constexpr char kExportLockFile[] = "LOCK";
// Header of every segment: the generic interactions.csv columns plus event_id.
inline constexpr char kSegmentHeader[] =
    "user_id,video_id,timestamp,event_type,watch_time_s,watch_ratio,rating,device,event_id\n";

struct SegmentInfo {
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  int64_t partition_time = 0;  // unix seconds of the start of its UTC hour
  std::string path;            // full path
};

// The path of a segment relative to the export folder: "dt=2026-01-31/hour=07/events-...csv.gz".
// `time` is any unix second within the partition's hour.
std::string SegmentRelativePath(int64_t time, uint64_t first_seq, uint64_t last_seq);

// Parses a path relative to the export folder (as SegmentRelativePath makes it); nullopt when it
// is not a segment's.
std::optional<SegmentInfo> ParseSegmentPath(std::string_view relative_path);

// Every segment under `dir`, by first sequence. Temporary files and other names are ignored.
// OK with an empty list when `dir` does not exist. Errors: DataLoss when two segments share a
// sequence (the folder was edited, or two exporters wrote into it); Internal on I/O errors.
StatusOr<std::vector<SegmentInfo>> ListSegments(const std::string& dir);

// The greatest sequence exported to `dir`: the last sequence of its newest segment, or the
// exported_through mark when that is greater (segments deleted by retention); 0 for none.
// Errors: DataLoss for a malformed mark; those of ListSegments.
StatusOr<uint64_t> ExportedThrough(const std::string& dir);
// The exported_through mark alone (0 when absent). Errors: DataLoss when malformed.
StatusOr<uint64_t> ReadExportedThroughMark(const std::string& dir);

// "2026-01-31" and 7 for a unix second (UTC).
std::string UtcDate(int64_t time);
int UtcHour(int64_t time);

}  // namespace vrec::events
