#include "vrec/data/generic_csv.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <unordered_set>

#include "vrec/common/csv.h"
#include "vrec/common/strings.h"

namespace vrec::data {
namespace {

namespace fs = std::filesystem;

// Maps header names to column positions; unknown or duplicate names and missing required ones
// are errors.
class Header {
 public:
  static StatusOr<Header> Read(DelimitedReader& reader, std::vector<std::string_view> known,
                               std::vector<std::string_view> required) {
    std::vector<std::string_view> f;
    if (!reader.Next(f)) {
      VREC_RETURN_IF_ERROR(reader.status());
      return InvalidArgumentError(StrCat(reader.path(), ": empty file, expected a header row"));
    }
    Header h;
    h.names_ = std::move(known);
    h.pos_.assign(h.names_.size(), -1);
    for (size_t i = 0; i < f.size(); ++i) {
      std::string name = AsciiStrToLower(StripAsciiWhitespace(f[i]));
      if (i == 0 && name.starts_with("\xEF\xBB\xBF")) name.erase(0, 3);  // UTF-8 byte order mark
      auto it = std::find(h.names_.begin(), h.names_.end(), name);
      if (it == h.names_.end()) {
        return reader.Error(StrCat("unknown column '", name, "' (known: ", StrJoin(h.names_, ", "), ")"));
      }
      int& pos = h.pos_[it - h.names_.begin()];
      if (pos >= 0) return reader.Error(StrCat("column '", name, "' appears twice"));
      pos = static_cast<int>(i);
    }
    for (std::string_view r : required) {
      if (h.Pos(r) < 0) return reader.Error(StrCat("missing required column '", r, "'"));
    }
    h.width_ = f.size();
    return h;
  }

  int Pos(std::string_view name) const {
    auto it = std::find(names_.begin(), names_.end(), name);
    return it == names_.end() ? -1 : pos_[it - names_.begin()];
  }
  size_t width() const { return width_; }

 private:
  std::vector<std::string_view> names_;
  std::vector<int> pos_;
  size_t width_ = 0;
};

// Field accessors that turn a malformed value into "file:line: column 'x': ..." errors.
class Row {
 public:
  Row(const DelimitedReader& reader, const std::vector<std::string_view>& f) : reader_(reader), f_(f) {}

  std::string_view Get(int pos) const { return pos < 0 ? std::string_view() : f_[pos]; }
  Status Error(std::string_view col, std::string_view what) const {
    return reader_.Error(StrCat("column '", col, "': ", what));
  }

  Status Id(int pos, std::string_view col, uint64_t& out) const {
    if (!ParseUint64(f_[pos], out)) {
      return reader_.Error(StrCat("column '", col, "': id is not a non-negative integer: '", f_[pos], "'"));
    }
    return OkStatus();
  }
  Status Int(int pos, std::string_view col, int64_t& out) const {
    if (!ParseInt64(f_[pos], out)) {
      return reader_.Error(StrCat("column '", col, "': not an integer: '", f_[pos], "'"));
    }
    return OkStatus();
  }
  // Optional float: empty keeps `out` unchanged.
  Status Float(int pos, std::string_view col, float& out) const {
    if (pos < 0 || f_[pos].empty()) return OkStatus();
    double d;
    if (!ParseDouble(f_[pos], d))
      return reader_.Error(StrCat("column '", col, "': not a number: '", f_[pos], "'"));
    out = static_cast<float>(d);
    return OkStatus();
  }
  Status Bool(int pos, std::string_view col, bool& out) const {
    if (pos < 0 || f_[pos].empty()) return OkStatus();
    std::string v = AsciiStrToLower(f_[pos]);
    if (v == "1" || v == "true") {
      out = true;
    } else if (v == "0" || v == "false") {
      out = false;
    } else {
      return reader_.Error(StrCat("column '", col, "': expected 0/1/true/false: '", f_[pos], "'"));
    }
    return OkStatus();
  }
  Status Text(int pos, std::string_view col, std::string& out) const {
    if (pos < 0) return OkStatus();
    if (!IsValidUtf8(f_[pos])) {
      return reader_.Error(
          StrCat("column '", col, "': text is not valid UTF-8 (Latin-1? convert the file to UTF-8)"));
    }
    out = std::string(StripAsciiWhitespace(f_[pos]));
    return OkStatus();
  }

 private:
  const DelimitedReader& reader_;
  const std::vector<std::string_view>& f_;
};

// Reads every data row of `path`, checking its width against the header, and hands it to `fn`.
Status ForEachRow(const std::string& path, std::vector<std::string_view> known,
                  std::vector<std::string_view> required,
                  const std::function<Status(const Header&, const Row&)>& fn) {
  VREC_ASSIGN_OR_RETURN(DelimitedReader reader, DelimitedReader::Open(path, ',', true));
  VREC_ASSIGN_OR_RETURN(Header header, Header::Read(reader, std::move(known), required));
  std::vector<std::string_view> f;
  while (reader.Next(f)) {
    if (f.size() == 1 && f[0].empty()) continue;  // blank line
    if (f.size() != header.width()) {
      return reader.Error(StrCat("expected ", header.width(), " fields as in the header, got ", f.size()));
    }
    VREC_RETURN_IF_ERROR(fn(header, Row(reader, f)));
  }
  return reader.status();
}

Status LoadUsers(const std::string& path, Dataset& ds, OnExistingId existing, size_t* replaced) {
  return ForEachRow(path, {"user_id", "country", "language", "age", "gender"}, {"user_id"},
                    [&](const Header& h, const Row& r) -> Status {
                      User u;
                      VREC_RETURN_IF_ERROR(r.Id(h.Pos("user_id"), "user_id", u.id.value));
                      VREC_RETURN_IF_ERROR(r.Text(h.Pos("country"), "country", u.country));
                      VREC_RETURN_IF_ERROR(r.Text(h.Pos("language"), "language", u.language));
                      if (int p = h.Pos("age"); p >= 0 && !r.Get(p).empty()) {
                        int64_t age;
                        VREC_RETURN_IF_ERROR(r.Int(p, "age", age));
                        if (age < 0 || age > 150) return r.Error("age", "must be 0..150");
                        u.age = static_cast<int16_t>(age);
                      }
                      if (int p = h.Pos("gender"); p >= 0) {
                        auto g = ParseGender(r.Get(p));
                        if (!g)
                          return r.Error("gender",
                                         StrCat("expected female/male/other/unknown: '", r.Get(p), "'"));
                        u.gender = *g;
                      }
                      if (existing == OnExistingId::kReplace) {
                        if (std::optional<uint32_t> at = ds.FindUser(u.id)) {
                          ds.users[*at] = std::move(u);
                          if (replaced) ++*replaced;
                          return OkStatus();
                        }
                      }
                      auto added = ds.AddUser(std::move(u));
                      return added.ok() ? OkStatus() : r.Error("user_id", added.status().message());
                    });
}

std::vector<std::string> SplitList(std::string_view s) {
  std::vector<std::string> out;
  for (std::string_view part : SplitNonEmpty(s, '|')) out.emplace_back(part);
  return out;
}

Status LoadVideos(const std::string& path, Dataset& ds, OnExistingId existing, size_t* replaced) {
  return ForEachRow(
      path,
      {"video_id", "categories", "language", "duration_s", "upload_time", "title", "tags", "age_restricted",
       "available"},
      {"video_id"}, [&](const Header& h, const Row& r) -> Status {
        Video v;
        VREC_RETURN_IF_ERROR(r.Id(h.Pos("video_id"), "video_id", v.id.value));
        std::string text;
        VREC_RETURN_IF_ERROR(r.Text(h.Pos("categories"), "categories", text));
        for (const std::string& c : SplitList(text)) {
          // Category indices are 16-bit: one more would wrap onto an existing category.
          if (!ds.FindCategory(c) && ds.categories.size() >= kMaxCategories) {
            return r.Error("categories", StrCat("more than ", kMaxCategories, " distinct categories"));
          }
          v.categories.push_back(ds.InternCategory(c));
        }
        VREC_RETURN_IF_ERROR(r.Text(h.Pos("language"), "language", v.language));
        VREC_RETURN_IF_ERROR(r.Float(h.Pos("duration_s"), "duration_s", v.duration_s));
        if (!IsMissing(v.duration_s) && v.duration_s < 0)
          return r.Error("duration_s", "must not be negative");
        if (int p = h.Pos("upload_time"); p >= 0 && !r.Get(p).empty()) {
          VREC_RETURN_IF_ERROR(r.Int(p, "upload_time", v.upload_time));
        }
        VREC_RETURN_IF_ERROR(r.Text(h.Pos("title"), "title", v.title));
        text.clear();
        VREC_RETURN_IF_ERROR(r.Text(h.Pos("tags"), "tags", text));
        v.tags = SplitList(text);
        VREC_RETURN_IF_ERROR(r.Bool(h.Pos("age_restricted"), "age_restricted", v.age_restricted));
        VREC_RETURN_IF_ERROR(r.Bool(h.Pos("available"), "available", v.available));
        if (existing == OnExistingId::kReplace) {
          if (std::optional<uint32_t> at = ds.FindVideo(v.id)) {
            ds.videos[*at] = std::move(v);
            if (replaced) ++*replaced;
            return OkStatus();
          }
        }
        auto added = ds.AddVideo(std::move(v));
        return added.ok() ? OkStatus() : r.Error("video_id", added.status().message());
      });
}

Status LoadInteractions(const std::string& path, Dataset& ds, std::unordered_set<std::string>& event_ids,
                        size_t* duplicates) {
  return ForEachRow(
      path,
      {"user_id", "video_id", "timestamp", "event_type", "watch_time_s", "watch_ratio", "rating", "device",
       "event_id"},
      {"user_id", "video_id", "timestamp"}, [&](const Header& h, const Row& r) -> Status {
        uint64_t user, video;
        Interaction x;
        VREC_RETURN_IF_ERROR(r.Id(h.Pos("user_id"), "user_id", user));
        VREC_RETURN_IF_ERROR(r.Id(h.Pos("video_id"), "video_id", video));
        VREC_RETURN_IF_ERROR(r.Int(h.Pos("timestamp"), "timestamp", x.timestamp));
        if (int p = h.Pos("event_type"); p >= 0 && !r.Get(p).empty()) {
          auto e = ParseEventType(r.Get(p));
          if (!e) {
            return r.Error("event_type", StrCat("expected impression/play/like/comment/share/skip/rating: '",
                                                r.Get(p), "'"));
          }
          x.type = *e;
        }
        VREC_RETURN_IF_ERROR(r.Float(h.Pos("watch_time_s"), "watch_time_s", x.watch_time_s));
        VREC_RETURN_IF_ERROR(r.Float(h.Pos("watch_ratio"), "watch_ratio", x.watch_ratio));
        VREC_RETURN_IF_ERROR(r.Float(h.Pos("rating"), "rating", x.rating));
        if (x.watch_time_s < 0) return r.Error("watch_time_s", "must not be negative");
        if (x.watch_ratio < 0) return r.Error("watch_ratio", "must not be negative");
        if (int p = h.Pos("device"); p >= 0) {
          auto d = ParseDevice(r.Get(p));
          if (!d) return r.Error("device", StrCat("expected android/ios/web/tv/unknown: '", r.Get(p), "'"));
          x.device = *d;
        }
        if (int p = h.Pos("event_id"); p >= 0 && !r.Get(p).empty()) {
          const std::string_view id = r.Get(p);
          const bool printable =
              std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
          if (id.size() > kMaxEventIdBytes || !printable) {
            return r.Error("event_id", StrCat("expected 1 to ", kMaxEventIdBytes,
                                              " printable ASCII characters without spaces"));
          }
          // The same event delivered twice (a client retry stored after its id was forgotten).
          if (!event_ids.emplace(id).second) {
            if (duplicates) ++*duplicates;
            return OkStatus();
          }
        }
        x.user = ds.InternUser(UserId{user});
        x.video = ds.InternVideo(VideoId{video});
        ds.interactions.push_back(x);
        return OkStatus();
      });
}

// Buffered writer that reports the first I/O error.
class FileWriter {
 public:
  explicit FileWriter(const fs::path& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
    buf_.reserve(1 << 20);
  }
  ~FileWriter() {
    if (f_) std::fclose(f_);
  }
  std::string& buf() { return buf_; }
  void MaybeFlush() {
    if (buf_.size() >= (1 << 20) - 4096) Flush();
  }
  Status Close() {
    if (!f_) return InternalError(StrCat(path_.string(), ": cannot create file"));
    Flush();
    bool ok = !failed_ && std::fclose(f_) == 0;
    f_ = nullptr;
    if (!ok) return InternalError(StrCat(path_.string(), ": write failed (disk full?)"));
    return OkStatus();
  }

 private:
  void Flush() {
    if (f_ && !buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size()) failed_ = true;
    buf_.clear();
  }
  fs::path path_;
  std::FILE* f_;
  std::string buf_;
  bool failed_ = false;
};

void AppendNumber(std::string& out, auto value) {
  char tmp[32];
  auto [p, ec] = std::to_chars(tmp, tmp + sizeof(tmp), value);
  out.append(tmp, p);
}

void AppendOptionalFloat(std::string& out, float v) {
  if (!IsMissing(v)) AppendNumber(out, v);
}

std::string JoinList(const std::vector<std::string>& items) { return StrJoin(items, "|"); }

Status WriteFiles(const Dataset& ds, const fs::path& dir) {
  {
    FileWriter w(dir / "users.csv");
    std::string& b = w.buf();
    b = "user_id,country,language,age,gender\n";
    for (const User& u : ds.users) {
      AppendNumber(b, u.id.value);
      b.push_back(',');
      AppendCsvField(b, u.country);
      b.push_back(',');
      AppendCsvField(b, u.language);
      b.push_back(',');
      if (u.age >= 0) AppendNumber(b, u.age);
      b.push_back(',');
      if (u.gender != Gender::kUnknown) b.append(Name(u.gender));
      b.push_back('\n');
      w.MaybeFlush();
    }
    VREC_RETURN_IF_ERROR(w.Close());
  }
  {
    FileWriter w(dir / "videos.csv");
    std::string& b = w.buf();
    b = "video_id,categories,language,duration_s,upload_time,title,tags,age_restricted,available\n";
    std::vector<std::string> cats;
    for (const Video& v : ds.videos) {
      AppendNumber(b, v.id.value);
      b.push_back(',');
      cats.clear();
      for (uint16_t c : v.categories) cats.push_back(ds.categories[c]);
      AppendCsvField(b, JoinList(cats));
      b.push_back(',');
      AppendCsvField(b, v.language);
      b.push_back(',');
      AppendOptionalFloat(b, v.duration_s);
      b.push_back(',');
      if (v.upload_time != kUnknownTime) AppendNumber(b, v.upload_time);
      b.push_back(',');
      AppendCsvField(b, v.title);
      b.push_back(',');
      AppendCsvField(b, JoinList(v.tags));
      b.append(v.age_restricted ? ",1" : ",0");
      b.append(v.available ? ",1\n" : ",0\n");
      w.MaybeFlush();
    }
    VREC_RETURN_IF_ERROR(w.Close());
  }
  FileWriter w(dir / "interactions.csv");
  std::string& b = w.buf();
  b = "user_id,video_id,timestamp,event_type,watch_time_s,watch_ratio,rating,device\n";
  for (const Interaction& x : ds.interactions) {
    AppendNumber(b, ds.users[x.user].id.value);
    b.push_back(',');
    AppendNumber(b, ds.videos[x.video].id.value);
    b.push_back(',');
    AppendNumber(b, x.timestamp);
    b.push_back(',');
    b.append(Name(x.type));
    b.push_back(',');
    AppendOptionalFloat(b, x.watch_time_s);
    b.push_back(',');
    AppendOptionalFloat(b, x.watch_ratio);
    b.push_back(',');
    AppendOptionalFloat(b, x.rating);
    b.push_back(',');
    if (x.device != Device::kUnknown) b.append(Name(x.device));
    b.push_back('\n');
    w.MaybeFlush();
  }
  return w.Close();
}

}  // namespace

StatusOr<Dataset> LoadGenericCsv(const std::string& dir) {
  Dataset ds;
  const fs::path root(dir);
  if (!fs::is_directory(root)) return NotFoundError(StrCat(dir, ": no such folder"));
  if (std::string users = FindDataFile(dir, "users.csv"); !users.empty()) {
    VREC_RETURN_IF_ERROR(LoadUsers(users, ds, OnExistingId::kError, nullptr));
  }
  if (std::string videos = FindDataFile(dir, "videos.csv"); !videos.empty()) {
    VREC_RETURN_IF_ERROR(LoadVideos(videos, ds, OnExistingId::kError, nullptr));
  }
  std::string interactions = FindDataFile(dir, "interactions.csv");
  if (interactions.empty()) interactions = (root / "interactions.csv").string();  // NotFound names it
  std::unordered_set<std::string> event_ids;
  VREC_RETURN_IF_ERROR(LoadInteractions(interactions, ds, event_ids, nullptr));
  return ds;
}

std::string FindDataFile(const std::string& dir, const std::string& name) {
  std::error_code ec;
  for (const fs::path& p : {fs::path(dir) / name, fs::path(dir) / (name + ".gz")}) {
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  return "";
}

Status ReadUsersCsv(const std::string& path, Dataset& ds, OnExistingId existing, size_t* replaced) {
  return LoadUsers(path, ds, existing, replaced);
}

Status ReadVideosCsv(const std::string& path, Dataset& ds, OnExistingId existing, size_t* replaced) {
  return LoadVideos(path, ds, existing, replaced);
}

Status ReadInteractionsCsv(const std::string& path, Dataset& ds, std::unordered_set<std::string>& event_ids,
                           size_t* duplicates) {
  return LoadInteractions(path, ds, event_ids, duplicates);
}

Status CheckOutputFolder(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir) && !fs::is_empty(dir, ec)) {
    return AlreadyExistsError(StrCat(dir, ": exists and is not empty; choose a new folder"));
  }
  return OkStatus();
}

Status WriteGenericCsv(const Dataset& ds, const std::string& dir) {
  VREC_RETURN_IF_ERROR(CheckOutputFolder(dir));
  const fs::path target(dir);
  std::error_code ec;
  fs::path tmp = target;
  tmp += ".partial";
  fs::remove_all(tmp, ec);
  if (!fs::create_directories(tmp, ec) || ec) {
    return InternalError(StrCat(tmp.string(), ": cannot create folder: ", ec.message()));
  }
  Status written = WriteFiles(ds, tmp);
  if (written.ok()) {
    fs::remove(target, ec);  // an empty folder may stand in the way
    fs::rename(tmp, target, ec);
    if (ec) written = InternalError(StrCat("cannot move ", tmp.string(), " to ", dir, ": ", ec.message()));
  }
  if (!written.ok()) fs::remove_all(tmp, ec);
  return written;
}

}  // namespace vrec::data
