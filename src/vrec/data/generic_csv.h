// The generic import format, so any platform's logs can be loaded. A folder with:
//
//   interactions.csv (required)  user_id,video_id,timestamp[,event_type][,watch_time_s][,watch_ratio]
//                                [,rating][,device][,event_id]
//   users.csv (optional)         user_id[,country][,language][,age][,gender]
//   videos.csv (optional)        video_id[,categories][,language][,duration_s][,upload_time][,title]
//                                [,tags][,age_restricted][,available]
//
// Every file starts with a header row naming its columns, in any order; unknown column names are
// errors (they are usually typos). Ids are unsigned 64-bit integers, timestamps unix seconds,
// `categories` and `tags` are '|'-separated lists, booleans are 0/1/true/false, event_type is one
// of impression, play (or watch), like, comment, share, skip, rating (default play), device one of
// android, ios, web, tv, unknown. Text is UTF-8; fields may be quoted as in RFC 4180. Empty
// optional fields mean unknown. Interactions may name users and videos absent from the other
// files: they are added with unknown attributes. Rows with the same non-empty event_id are one
// event delivered twice: only the first is kept. Each file may be gzip-compressed instead
// (interactions.csv.gz, ...). The full reference is docs/data-format.md.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_set>

#include "vrec/common/status.h"
#include "vrec/data/dataset.h"

namespace vrec::data {

// Longest event_id, in bytes (the same bound as POST /v1/events).
inline constexpr size_t kMaxEventIdBytes = 128;

// Loads the folder. NotFound when interactions.csv is missing; InvalidArgument "file:line: what"
// for the first malformed row; DataLoss for a corrupt .gz file. Nothing is returned unless every
// row is valid.
StatusOr<Dataset> LoadGenericCsv(const std::string& dir);

// dir/name when it exists, else dir/name.gz when that exists, else "".
std::string FindDataFile(const std::string& dir, const std::string& name);

// Reading single files of the format into a dataset that already holds data: how a training run
// lays exported catalog updates and event segments over a model's snapshot. Errors as
// LoadGenericCsv; on error `ds` may hold the rows before the bad one.
enum class OnExistingId {
  kError,    // a row whose id the dataset holds is an error (AlreadyExists, as within one file)
  kReplace,  // the row replaces the record of that id (its dense index stays)
};
// users.csv rows; `replaced` (when not null) is increased by the number of records replaced.
Status ReadUsersCsv(const std::string& path, Dataset& ds, OnExistingId existing, size_t* replaced = nullptr);
// videos.csv rows, the same way.
Status ReadVideosCsv(const std::string& path, Dataset& ds, OnExistingId existing, size_t* replaced = nullptr);
// Appends interactions.csv rows. `event_ids` holds the event ids seen so far (share it across
// calls): a row whose non-empty event_id is in it is skipped and counted in `duplicates`.
Status ReadInteractionsCsv(const std::string& path, Dataset& ds, std::unordered_set<std::string>& event_ids,
                           size_t* duplicates = nullptr);

// Writes `ds` to folder `dir` in the format above. The files are written into a temporary sibling
// folder which is renamed into place only when complete, so a failed write leaves nothing behind.
// AlreadyExists when `dir` exists and is not empty.
Status WriteGenericCsv(const Dataset& ds, const std::string& dir);

// OK when `dir` does not exist or is an empty folder (so WriteGenericCsv may create it);
// AlreadyExists otherwise. Lets commands refuse before a long load or generation.
Status CheckOutputFolder(const std::string& dir);

}  // namespace vrec::data
