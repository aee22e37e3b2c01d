#include "vrec/events/exporter.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <set>
#include <utility>

#include "vrec/common/csv.h"
#include "vrec/common/gzip.h"
#include "vrec/common/hash.h"
#include "vrec/common/strings.h"
#include "vrec/events/segments.h"

namespace vrec::events {
namespace {

namespace fs = std::filesystem;

constexpr size_t kFlushBytes = 1 << 16;
constexpr size_t kCatalogPage = 4096;
constexpr int64_t kHourSeconds = 3600;

void AppendNumber(std::string& out, auto value) {
  char tmp[32];
  auto [p, ec] = std::to_chars(tmp, tmp + sizeof(tmp), value);
  out.append(tmp, p);
}

void AppendOptionalFloat(std::string& out, float v) {
  if (!data::IsMissing(v)) AppendNumber(out, v);
}

// One event as a row of kSegmentHeader's columns.
void AppendEventRow(std::string& out, const features::Event& e) {
  AppendNumber(out, e.user.value);
  out.push_back(',');
  AppendNumber(out, e.video.value);
  out.push_back(',');
  AppendNumber(out, e.time);
  out.push_back(',');
  out.append(data::Name(e.type));
  out.append(",,");  // watch_time_s: the online path does not carry it
  AppendOptionalFloat(out, e.watch_ratio);
  out.append(",,");  // rating
  if (e.device != data::Device::kUnknown) out.append(data::Name(e.device));
  out.push_back(',');
  AppendCsvField(out, e.event_id);
  out.push_back('\n');
}

void AppendVideoRow(std::string& out, const features::VideoRecord& v) {
  AppendNumber(out, v.id.value);
  out.push_back(',');
  AppendCsvField(out, StrJoin(v.categories, "|"));
  out.push_back(',');
  AppendCsvField(out, v.language);
  out.push_back(',');
  AppendOptionalFloat(out, v.duration_s);
  out.push_back(',');
  if (v.upload_time != data::kUnknownTime) AppendNumber(out, v.upload_time);
  out.push_back(',');
  AppendCsvField(out, v.title);
  out.push_back(',');
  AppendCsvField(out, StrJoin(v.tags, "|"));
  out.append(v.age_restricted ? ",1" : ",0");
  out.append(v.available ? ",1\n" : ",0\n");
}

void AppendUserRow(std::string& out, const features::UserRecord& u) {
  AppendNumber(out, u.id.value);
  out.push_back(',');
  AppendCsvField(out, u.country);
  out.push_back(',');
  AppendCsvField(out, u.language);
  out.push_back(',');
  if (u.age >= 0) AppendNumber(out, u.age);
  out.push_back(',');
  if (u.gender != data::Gender::kUnknown) out.append(data::Name(u.gender));
  out.push_back('\n');
}

constexpr char kVideosHeader[] =
    "video_id,categories,language,duration_s,upload_time,title,tags,age_restricted,available\n";
constexpr char kUsersHeader[] = "user_id,country,language,age,gender\n";

// Produces a catalog file's contents in chunks: `sink` gets each chunk (the header first).
Status ForEachCatalogChunk(const features::FeatureStore& store, bool videos,
                           const std::function<Status(std::string_view)>& sink) {
  std::string buf = videos ? kVideosHeader : kUsersHeader;
  std::optional<uint64_t> after;
  std::vector<features::VideoRecord> video_page;
  std::vector<features::UserRecord> user_page;
  while (true) {
    size_t n = 0;
    if (videos) {
      VREC_RETURN_IF_ERROR(store.ScanVideos(after, kCatalogPage, video_page));
      for (const features::VideoRecord& v : video_page) AppendVideoRow(buf, v);
      n = video_page.size();
      if (n > 0) after = video_page.back().id.value;
    } else {
      VREC_RETURN_IF_ERROR(store.ScanUsers(after, kCatalogPage, user_page));
      for (const features::UserRecord& u : user_page) AppendUserRow(buf, u);
      n = user_page.size();
      if (n > 0) after = user_page.back().id.value;
    }
    if (buf.size() >= kFlushBytes || n < kCatalogPage) {
      VREC_RETURN_IF_ERROR(sink(buf));
      buf.clear();
    }
    if (n < kCatalogPage) return OkStatus();
  }
}

// Hash of a gzip file's decompressed contents; empty when it does not exist or does not read.
std::string HashOfGzipFile(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return "";
  GzipInputStream in(path);
  if (!in.is_open()) return "";
  Hasher h;
  std::string chunk(kFlushBytes, '\0');
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    h.Update(std::string_view(chunk.data(), static_cast<size_t>(in.gcount())));
  }
  return in.error().empty() ? h.Hex() : "";
}

// Removes the hidden temporary files (".name.tmp") a crashed exporter left in `dir`'s tree.
void RemoveTemporaryFiles(const fs::path& dir) {
  std::error_code ec;
  std::vector<fs::path> victims;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with(".") && name.ends_with(".tmp") && it->is_regular_file(ec))
      victims.push_back(it->path());
  }
  for (const fs::path& p : victims) fs::remove(p, ec);
}

}  // namespace

EventExporter::EventExporter(features::FeatureStore& store, ExporterOptions options, FileLock lock)
    : store_(store), options_(std::move(options)), lock_(std::move(lock)) {}

StatusOr<std::unique_ptr<EventExporter>> EventExporter::Open(features::FeatureStore& store,
                                                             ExporterOptions options) {
  if (options.dir.empty()) return InvalidArgumentError("event export: no export folder given");
  if (options.max_segment_events == 0) {
    return InvalidArgumentError("event export: max_segment_events must be positive");
  }
  if (options.retention.count() > 0 && options.log_retention > options.retention) {
    return InvalidArgumentError(
        "event export: log_retention must not exceed a non-zero segment retention (segments would be "
        "deleted before their events are pruned from the store)");
  }
  if (options.retention.count() < 0 || options.log_retention.count() < 0) {
    return InvalidArgumentError("event export: retention must not be negative");
  }
  VREC_RETURN_IF_ERROR(CreateDirectoriesDurably(options.dir));
  auto lock = FileLock::TryAcquire((fs::path(options.dir) / kExportLockFile).string());
  if (!lock.ok()) {
    if (lock.status().code() == StatusCode::kUnavailable) {
      return UnavailableError(StrCat("event export folder ", options.dir,
                                     " is in use by another exporter (vrec serve or vrec events export)"));
    }
    return lock.status();
  }
  RemoveTemporaryFiles(options.dir);
  std::unique_ptr<EventExporter> e(new EventExporter(store, std::move(options), std::move(*lock)));
  const fs::path catalog = fs::path(e->options_.dir) / kCatalogExportDir;
  e->videos_hash_ = HashOfGzipFile((catalog / kVideosExportFile).string());
  e->users_hash_ = HashOfGzipFile((catalog / kUsersExportFile).string());
  return e;
}

int64_t EventExporter::Now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

StatusOr<uint64_t> EventExporter::Cursor() {
  if (!cursor_) {
    VREC_ASSIGN_OR_RETURN(uint64_t through, ExportedThrough(options_.dir));
    cursor_ = through;
  }
  return *cursor_;
}

Status EventExporter::ExportOnce(ExportStats* stats, bool housekeeping) {
  ExportStats local;
  ExportStats& st = stats ? *stats : local;
  st = ExportStats{};
  const auto steady_now = std::chrono::steady_clock::now();
  Status s = ExportEvents(st);
  if (s.ok() && (housekeeping || !last_housekeeping_ ||
                 steady_now - *last_housekeeping_ >= options_.housekeeping_interval)) {
    s = ExportCatalog(st);
    if (s.ok()) s = ApplyRetention(Now(), st);
    if (s.ok()) last_housekeeping_ = steady_now;
  }
  // After a failure the folder is the truth again: a segment whose rename happened before an
  // error (say, of the folder's fsync) is there and must not be written twice.
  if (!s.ok()) cursor_.reset();
  st.exported_through = cursor_.value_or(0);
  return s;
}

Status EventExporter::ExportEvents(ExportStats& st) {
  VREC_ASSIGN_OR_RETURN(uint64_t cursor, Cursor());
  // Read from the store, not this handle's view: other servers may have appended (and another
  // exporter exported) what this handle has not seen yet.
  VREC_ASSIGN_OR_RETURN(const uint64_t last, store_.ReadLastSequence());
  if (last < cursor) {
    return FailedPreconditionError(
        StrCat("the store's event log ends at sequence ", last, " but ", options_.dir,
               " already holds events through ", cursor,
               ": the store was replaced or restored from an older copy; export it into another folder"));
  }
  std::vector<std::pair<uint64_t, features::Event>> page;
  while (true) {
    VREC_RETURN_IF_ERROR(store_.ScanEvents(cursor, options_.max_segment_events, page));
    if (page.empty()) return OkStatus();
    VREC_RETURN_IF_ERROR(WriteSegment(page, Now()));
    cursor = page.back().first;
    cursor_ = cursor;
    ++st.segments_written;
    st.events_exported += page.size();
    if (page.size() < options_.max_segment_events) return OkStatus();
  }
}

Status EventExporter::WriteSegment(const std::vector<std::pair<uint64_t, features::Event>>& events,
                                   int64_t now) {
  const fs::path path =
      fs::path(options_.dir) / SegmentRelativePath(now, events.front().first, events.back().first);
  const fs::path partition = path.parent_path();
  VREC_RETURN_IF_ERROR(CreateDirectoriesDurably(partition.string()));
  const std::string tmp = (partition / StrCat(".", path.filename().string(), ".tmp")).string();
  Status s = [&]() -> Status {
    VREC_ASSIGN_OR_RETURN(std::unique_ptr<GzipFileWriter> w, GzipFileWriter::Create(tmp));
    std::string buf = kSegmentHeader;
    for (const auto& [seq, e] : events) {
      AppendEventRow(buf, e);
      if (buf.size() >= kFlushBytes) {
        VREC_RETURN_IF_ERROR(w->Write(buf));
        buf.clear();
      }
    }
    VREC_RETURN_IF_ERROR(w->Write(buf));
    VREC_RETURN_IF_ERROR(w->Finish());
    return RenameDurably(tmp, path.string());
  }();
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

Status EventExporter::ExportCatalog(ExportStats& st) {
  const fs::path dir = fs::path(options_.dir) / kCatalogExportDir;
  for (const bool videos : {true, false}) {
    std::string& known = videos ? videos_hash_ : users_hash_;
    // A first pass only hashes: most rounds find nothing changed and write nothing.
    Hasher h;
    VREC_RETURN_IF_ERROR(ForEachCatalogChunk(store_, videos, [&](std::string_view chunk) {
      h.Update(chunk);
      return OkStatus();
    }));
    if (h.Hex() == known) continue;
    VREC_RETURN_IF_ERROR(CreateDirectoriesDurably(dir.string()));
    const std::string name = videos ? kVideosExportFile : kUsersExportFile;
    const std::string tmp = (dir / StrCat(".", name, ".tmp")).string();
    Hasher written;
    Status s = [&]() -> Status {
      VREC_ASSIGN_OR_RETURN(std::unique_ptr<GzipFileWriter> w, GzipFileWriter::Create(tmp));
      VREC_RETURN_IF_ERROR(ForEachCatalogChunk(store_, videos, [&](std::string_view chunk) {
        written.Update(chunk);
        return w->Write(chunk);
      }));
      VREC_RETURN_IF_ERROR(w->Finish());
      return RenameDurably(tmp, (dir / name).string());
    }();
    if (!s.ok()) {
      ::unlink(tmp.c_str());
      return s;
    }
    known = written.Hex();
    st.catalog_written = true;
  }
  return OkStatus();
}

Status EventExporter::ApplyRetention(int64_t now, ExportStats& st) {
  if (options_.retention.count() == 0 && options_.log_retention.count() == 0) return OkStatus();
  VREC_ASSIGN_OR_RETURN(std::vector<SegmentInfo> segments, ListSegments(options_.dir));
  const auto expired = [&](const SegmentInfo& s, std::chrono::seconds age) {
    return s.partition_time + kHourSeconds <= now - age.count();
  };
  // The store first: a segment is deleted no earlier than its events are pruned (Open checks the
  // two ages), so every pruned event is in a segment or behind the exported_through mark.
  if (options_.log_retention.count() > 0) {
    uint64_t through = 0;
    for (const SegmentInfo& s : segments) {
      if (expired(s, options_.log_retention)) through = std::max(through, s.last_seq);
    }
    if (through > store_.PrunedThrough()) {
      VREC_ASSIGN_OR_RETURN(st.events_pruned, store_.PruneEvents(through));
    }
  }
  if (options_.retention.count() == 0) return OkStatus();
  std::vector<const SegmentInfo*> victims;
  for (const SegmentInfo& s : segments) {
    if (expired(s, options_.retention)) victims.push_back(&s);
  }
  if (victims.empty()) return OkStatus();
  // The mark first, durably: with every segment gone the cursor must still not go back.
  VREC_ASSIGN_OR_RETURN(uint64_t cursor, Cursor());
  VREC_ASSIGN_OR_RETURN(uint64_t mark, ReadExportedThroughMark(options_.dir));
  if (cursor > mark) {
    VREC_RETURN_IF_ERROR(
        WriteFileDurably((fs::path(options_.dir) / kExportedThroughFile).string(), StrCat(cursor, "\n")));
  }
  std::set<fs::path> folders;
  std::error_code ec;
  for (const SegmentInfo* s : victims) {
    if (!fs::remove(s->path, ec) && ec) {
      return InternalError(StrCat("cannot delete expired segment ", s->path, ": ", ec.message()));
    }
    folders.insert(fs::path(s->path).parent_path());
    ++st.segments_deleted;
  }
  // Empty hour and day folders go too (remove fails harmlessly on a folder still in use).
  for (const fs::path& hour : folders) {
    if (fs::remove(hour, ec)) fs::remove(hour.parent_path(), ec);
  }
  return FsyncDirectory(options_.dir);
}

// ---- ExportWorker ----------------------------------------------------------------------------

ExportWorker::ExportWorker(Opener open, std::chrono::milliseconds interval, RoundCallback on_round)
    : open_(std::move(open)), interval_(interval), on_round_(std::move(on_round)) {
  thread_ = std::thread([this] { Run(); });
}

ExportWorker::~ExportWorker() { Stop(); }

void ExportWorker::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ExportWorker::Round() {
  ExportStats stats;
  Status s;
  if (!exporter_) {
    auto opened = open_();
    if (opened.ok()) {
      exporter_ = std::move(*opened);
    } else {
      s = opened.status();
    }
  }
  if (exporter_) s = exporter_->ExportOnce(&stats);
  if (on_round_) on_round_(stats, s);
}

void ExportWorker::Run() {
  while (true) {
    Round();
    std::unique_lock lock(mu_);
    if (!stop_) cv_.wait_for(lock, interval_, [this] { return stop_; });
    if (stop_) {
      lock.unlock();
      // A last round: what the store acknowledged until now is exported before the process ends.
      Round();
      return;
    }
  }
}

}  // namespace vrec::events
