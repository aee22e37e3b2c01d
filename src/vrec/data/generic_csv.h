// The generic import format, so any platform's logs can be loaded. A folder with:
//
//   interactions.csv (required)  user_id,video_id,timestamp[,event_type][,watch_time_s][,watch_ratio]
//                                [,rating][,device]
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
// files: they are added with unknown attributes. The full reference is docs/data-format.md.
#pragma once

#include <string>

#include "vrec/common/status.h"
#include "vrec/data/dataset.h"

namespace vrec::data {

// Loads the folder. NotFound when interactions.csv is missing; InvalidArgument "file:line: what"
// for the first malformed row. Nothing is returned unless every row is valid.
StatusOr<Dataset> LoadGenericCsv(const std::string& dir);

// Writes `ds` to folder `dir` in the format above. The files are written into a temporary sibling
// folder which is renamed into place only when complete, so a failed write leaves nothing behind.
// AlreadyExists when `dir` exists and is not empty.
Status WriteGenericCsv(const Dataset& ds, const std::string& dir);

// OK when `dir` does not exist or is an empty folder (so WriteGenericCsv may create it);
// AlreadyExists otherwise. Lets commands refuse before a long load or generation.
Status CheckOutputFolder(const std::string& dir);

}  // namespace vrec::data
