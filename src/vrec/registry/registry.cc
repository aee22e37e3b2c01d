#include "vrec/registry/registry.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "vrec/common/strings.h"
#include "vrec/registry/manifest.h"

namespace vrec::registry {
namespace {

namespace fs = std::filesystem;

constexpr char kVersionsDir[] = "versions";
constexpr char kStagingDir[] = "staging";
constexpr char kPointerFile[] = "production";
constexpr char kPointerTmpFile[] = "production.tmp";
constexpr char kHistoryFile[] = "history.jsonl";
constexpr char kCanaryFile[] = "canary";
constexpr char kCanaryTmpFile[] = "canary.tmp";
constexpr char kLockFile[] = "LOCK";
// A pointer file is a few lines; anything bigger was not written by us.
constexpr size_t kMaxPointerBytes = 64 * 1024;

Status ErrnoError(const std::string& what) { return InternalError(StrCat(what, ": ", std::strerror(errno))); }

// Owns a file descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Holds the exclusive writer lock (flock on root/LOCK) for its lifetime. flock locks belong to the
// open file description, so two threads of one process that each open LOCK exclude each other as
// two processes do: no in-process mutex is needed.
class WriterLock {
 public:
  // Blocks until the lock is free. Internal on I/O errors.
  static StatusOr<WriterLock> Acquire(const std::string& root) { return Take(root, /*blocking=*/true); }
  // Unavailable when another writer holds the lock.
  static StatusOr<WriterLock> TryAcquire(const std::string& root) { return Take(root, /*blocking=*/false); }

 private:
  explicit WriterLock(Fd fd) : fd_(std::move(fd)) {}
  static StatusOr<WriterLock> Take(const std::string& root, bool blocking) {
    const std::string path = (fs::path(root) / kLockFile).string();
    Fd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (fd.get() < 0) return ErrnoError(StrCat("cannot open ", path));
    int rc;
    do {
      rc = flock(fd.get(), LOCK_EX | (blocking ? 0 : LOCK_NB));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      if (errno == EWOULDBLOCK) return UnavailableError(StrCat(path, ": held by another writer"));
      return ErrnoError(StrCat("cannot lock ", path));
    }
    return WriterLock(std::move(fd));  // closing the descriptor releases the lock
  }
  Fd fd_;
};

Status FsyncPath(const std::string& path, bool is_dir) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | (is_dir ? O_DIRECTORY : 0)));
  if (fd.get() < 0) return ErrnoError(StrCat("cannot open ", path));
  if (fsync(fd.get()) != 0) return ErrnoError(StrCat("cannot fsync ", path));
  return OkStatus();
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(StrCat("cannot write ", path));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return OkStatus();
}

std::string FormatVersion(uint64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "v%06llu", static_cast<unsigned long long>(n));
  return buf;
}

// "v" followed by at least six digits -> the number; nullopt for anything else (including names
// that could escape root/versions, such as "../x").
std::optional<uint64_t> ParseVersion(std::string_view name) {
  if (name.size() < 7 || name[0] != 'v') return std::nullopt;
  const std::string_view digits = name.substr(1);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || p != digits.data() + digits.size()) return std::nullopt;
  // One spelling per number ("v0000001" is not v000001), so names and numbers map one to one.
  if (FormatVersion(n) != name) return std::nullopt;
  return n;
}

// The pointer as a stack: [0] is production, then the versions Rollback returns to, newest first.
// Empty when nothing was ever promoted.
using PointerStack = std::vector<std::string>;

StatusOr<PointerStack> ReadPointer(const std::string& root) {
  const std::string path = (fs::path(root) / kPointerFile).string();
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return PointerStack{};
    return ErrnoError(StrCat("cannot open ", path));
  }
  std::string text;
  char buf[4096];
  while (true) {
    const ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(StrCat("cannot read ", path));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxPointerBytes) return DataLossError(StrCat(path, ": too large for a pointer file"));
  }
  PointerStack stack;
  for (std::string_view line : SplitNonEmpty(text, '\n')) {
    if (!ParseVersion(line)) {
      return DataLossError(StrCat(path, ": corrupt production pointer (line '", line,
                                  "' is not a version); it is only written by rename, so it was edited "
                                  "by hand: restore it or delete it and promote again"));
    }
    stack.emplace_back(line);
  }
  if (stack.empty())
    return DataLossError(StrCat(path, ": empty production pointer; delete it and promote again"));
  return stack;
}

// Replaces the pointer atomically: write production.tmp, fsync, rename over production, fsync the
// root folder so that the rename itself survives a crash. Caller holds the writer lock (which is
// why production.tmp can be truncated without a unique name).
Status ReplaceFile(const std::string& root, const char* name, const char* tmp_name,
                   std::string_view content) {
  const std::string path = (fs::path(root) / name).string();
  const std::string tmp = (fs::path(root) / tmp_name).string();
  {
    Fd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) return ErrnoError(StrCat("cannot create ", tmp));
    VREC_RETURN_IF_ERROR(WriteAll(fd.get(), content, tmp));
    if (fsync(fd.get()) != 0) return ErrnoError(StrCat("cannot fsync ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError(StrCat("cannot rename ", tmp));
  return FsyncPath(root, /*is_dir=*/true);
}

Status WritePointer(const std::string& root, PointerStack stack) {
  if (stack.size() > kMaxRollbackDepth + 1) stack.resize(kMaxRollbackDepth + 1);
  return ReplaceFile(root, kPointerFile, kPointerTmpFile, StrCat(StrJoin(stack, "\n"), "\n"));
}

// Appends one line to history.jsonl and fsyncs it. Caller holds the writer lock. When a crash tore
// the previous line (no trailing newline), a newline goes first so that only the torn line is lost,
// not this one too.
Status AppendHistory(const std::string& root, const HistoryEntry& e) {
  const std::string path = (fs::path(root) / kHistoryFile).string();
  Fd fd(open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
  if (fd.get() < 0) return ErrnoError(StrCat("cannot open ", path));
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return ErrnoError(StrCat("cannot stat ", path));
  std::string line;
  if (st.st_size > 0) {
    char last = '\n';
    if (pread(fd.get(), &last, 1, st.st_size - 1) != 1) return ErrnoError(StrCat("cannot read ", path));
    if (last != '\n') line.push_back('\n');
  }
  // Ordered, so that the log reads naturally with cat.
  nlohmann::ordered_json j = {
      {"time", e.time},
      {"action", e.action},
      {"from", e.from.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(e.from)},
      {"to", e.to},
      {"reason", e.reason}};
  line += j.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  VREC_RETURN_IF_ERROR(WriteAll(fd.get(), line, path));
  if (fsync(fd.get()) != 0) return ErrnoError(StrCat("cannot fsync ", path));
  return OkStatus();
}

StatusOr<std::vector<HistoryEntry>> ReadHistory(const std::string& root) {
  const std::string path = (fs::path(root) / kHistoryFile).string();
  std::ifstream in(path);
  if (!in.is_open()) {
    if (!fs::exists(path)) return std::vector<HistoryEntry>{};
    return InternalError(StrCat("cannot read ", path));
  }
  std::vector<HistoryEntry> out;
  std::string line;
  while (std::getline(in, line)) {
    if (StripAsciiWhitespace(line).empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) continue;  // torn by a crash mid-append
    try {
      HistoryEntry e;
      e.time = j.at("time").get<std::string>();
      e.action = j.at("action").get<std::string>();
      e.from = j.at("from").is_null() ? "" : j.at("from").get<std::string>();
      e.to = j.at("to").get<std::string>();
      e.reason = j.value("reason", "");
      out.push_back(std::move(e));
    } catch (const nlohmann::json::exception&) {
      continue;  // a well-formed JSON line we did not write: not an entry
    }
  }
  if (in.bad()) return InternalError(StrCat("cannot read ", path));
  return out;
}

// Committed version folders (names that parse as versions), sorted by number.
StatusOr<std::vector<std::pair<uint64_t, std::string>>> ListVersionDirs(const std::string& root) {
  const fs::path dir = fs::path(root) / kVersionsDir;
  std::error_code ec;
  std::vector<std::pair<uint64_t, std::string>> out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::optional<uint64_t> n = ParseVersion(name);
    std::error_code type_ec;
    if (n && it->is_directory(type_ec)) out.emplace_back(*n, name);
  }
  if (ec) return InternalError(StrCat("cannot list ", dir.string(), ": ", ec.message()));
  std::sort(out.begin(), out.end());
  return out;
}

// The highest version number ever used: folders in versions/, the pointer and the history. Looking
// beyond versions/ keeps an operator's deletion of the newest version from recycling its name,
// which would make the history and a rollback refer to a different model.
StatusOr<uint64_t> HighestVersionUsed(const std::string& root) {
  uint64_t highest = 0;
  const auto note = [&highest](std::string_view name) {
    if (auto n = ParseVersion(name)) highest = std::max(highest, *n);
  };
  VREC_ASSIGN_OR_RETURN(auto dirs, ListVersionDirs(root));
  for (const auto& [n, name] : dirs) note(name);
  // A corrupt pointer does not block commits (it blocks promotions, where it matters).
  if (StatusOr<PointerStack> stack = ReadPointer(root); stack.ok()) {
    for (const std::string& v : *stack) note(v);
  }
  VREC_ASSIGN_OR_RETURN(auto history, ReadHistory(root));
  for (const HistoryEntry& e : history) {
    note(e.from);
    note(e.to);
  }
  return highest;
}

// Checks that `dir` holds only regular files and folders, and fsyncs all of them (folders after
// their entries) so that the contents are durable before the rename publishes them.
Status CheckAndSyncTree(const fs::path& dir) {
  std::error_code ec;
  std::vector<fs::path> dirs = {dir};
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::file_status st = it->symlink_status(ec);
    if (ec) break;
    if (fs::is_symlink(st)) {
      return InvalidArgumentError(StrCat(it->path().string(),
                                         ": symbolic links are not allowed in a model version (it must "
                                         "be self-contained and immutable); copy the file instead"));
    }
    if (fs::is_directory(st)) {
      dirs.push_back(it->path());
    } else if (fs::is_regular_file(st)) {
      VREC_RETURN_IF_ERROR(FsyncPath(it->path().string(), /*is_dir=*/false));
    } else {
      return InvalidArgumentError(
          StrCat(it->path().string(), ": not a regular file or folder; a model version holds only those"));
    }
  }
  if (ec) return InternalError(StrCat("cannot walk ", dir.string(), ": ", ec.message()));
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    VREC_RETURN_IF_ERROR(FsyncPath(it->string(), /*is_dir=*/true));
  }
  return OkStatus();
}

// Makes `dir` and everything below it read-only (files 0444, folders 0555), folders last so that
// the walk never depends on a folder it already changed. Best effort: the modes are a safeguard
// against accidental edits (they do not stop root), not something a reader relies on, so a failed
// chmod does not fail a commit that has already happened.
void MakeReadOnly(const fs::path& dir) {
  std::error_code ec;
  std::vector<fs::path> dirs = {dir};
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_directory(type_ec)) {
      dirs.push_back(it->path());
    } else {
      chmod(it->path().c_str(), 0444);
    }
  }
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) chmod(it->c_str(), 0555);
}

// rename(2) that refuses to replace an existing target (plain rename would silently replace an
// empty folder). Falls back to rename where the filesystem lacks RENAME_NOREPLACE; the writer lock
// and the numbering already rule out a clash there.
int RenameNoReplace(const fs::path& from, const fs::path& to) {
  int rc = renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE);
  if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
    if (fs::exists(to)) {
      errno = EEXIST;
      return -1;
    }
    rc = std::rename(from.c_str(), to.c_str());
  }
  return rc;
}

// "20261126T103000Z": sorts by time, no characters that need quoting in a shell.
std::string CompactUtcNow() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace

StatusOr<ModelRegistry> ModelRegistry::Open(std::string root) {
  if (root.empty()) return InvalidArgumentError("model registry: empty root folder");
  std::error_code ec;
  // Absolute, so that paths handed out stay valid if the process changes its working folder.
  const fs::path abs = fs::absolute(root, ec).lexically_normal();
  if (ec) return InternalError(StrCat(root, ": ", ec.message()));
  std::string r = abs.string();
  if (r.size() > 1 && r.back() == '/') r.pop_back();
  for (const fs::path& dir : {abs, abs / kVersionsDir, abs / kStagingDir}) {
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir)) {
      return InternalError(StrCat("model registry: cannot create folder ", dir.string(), ": ",
                                  ec ? ec.message() : "a file is in the way"));
    }
  }
  const std::string history = (abs / kHistoryFile).string();
  {
    Fd fd(open(history.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
    if (fd.get() < 0) return ErrnoError(StrCat("model registry: cannot create ", history));
  }
  // Only a writer that crashed leaves production.tmp behind; readers never look at it. Removing it
  // while a live writer is between write and rename would fail that writer, hence the try-lock.
  StatusOr<WriterLock> lock = WriterLock::TryAcquire(r);
  if (lock.ok()) {
    fs::remove(abs / kPointerTmpFile, ec);
  } else if (lock.status().code() != StatusCode::kUnavailable) {
    return lock.status();
  }
  return ModelRegistry(std::move(r));
}

StatusOr<int> ModelRegistry::RemoveAbandonedStaging(std::chrono::seconds age) const {
  const fs::path staging_root = fs::path(root_) / kStagingDir;
  const auto cutoff = fs::file_time_type::clock::now() - age;
  std::error_code ec;
  std::vector<fs::path> old;
  for (fs::directory_iterator it(staging_root, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code entry_ec;
    const auto changed = fs::last_write_time(it->path(), entry_ec);
    if (!entry_ec && changed < cutoff) old.push_back(it->path());
  }
  if (ec) return InternalError(StrCat("cannot list ", staging_root.string(), ": ", ec.message()));
  int removed = 0;
  for (const fs::path& dir : old) {
    fs::remove_all(dir, ec);
    if (ec)
      return InternalError(
          StrCat("cannot remove abandoned staging folder ", dir.string(), ": ", ec.message()));
    ++removed;
  }
  return removed;
}

StatusOr<std::string> ModelRegistry::BeginVersion() const {
  // Best effort: a failure to clean up must not stop a pipeline from deploying; the next call retries.
  (void)RemoveAbandonedStaging(kAbandonedStagingAge);
  std::string tmpl = (fs::path(root_) / kStagingDir / StrCat(CompactUtcNow(), "-XXXXXX")).string();
  if (mkdtemp(tmpl.data()) == nullptr) return ErrnoError(StrCat("cannot create staging folder ", tmpl));
  return tmpl;
}

StatusOr<std::string> ModelRegistry::CommitVersion(const std::string& staging_dir) const {
  std::error_code ec;
  const fs::path staging = fs::canonical(staging_dir, ec);
  if (ec) return NotFoundError(StrCat("cannot commit ", staging_dir, ": ", ec.message()));
  const fs::path staging_root = fs::canonical(fs::path(root_) / kStagingDir, ec);
  if (ec) return InternalError(StrCat(root_, ": no staging folder: ", ec.message()));
  // Only folders from BeginVersion: on the same filesystem (so rename is atomic), and never a
  // folder of the caller's that it did not expect to lose.
  if (staging.parent_path() != staging_root || !fs::is_directory(staging)) {
    return InvalidArgumentError(StrCat("cannot commit ", staging_dir, ": not a folder directly under ",
                                       staging_root.string(), " (use BeginVersion)"));
  }
  VREC_RETURN_IF_ERROR(ReadManifest(staging.string()).status());
  VREC_RETURN_IF_ERROR(CheckAndSyncTree(staging));

  VREC_ASSIGN_OR_RETURN(WriterLock lock, WriterLock::Acquire(root_));
  VREC_ASSIGN_OR_RETURN(uint64_t highest, HighestVersionUsed(root_));
  const std::string version = FormatVersion(highest + 1);
  const fs::path target = fs::path(root_) / kVersionsDir / version;
  if (RenameNoReplace(staging, target) != 0) {
    return ErrnoError(StrCat("cannot rename ", staging.string(), " to ", target.string()));
  }
  // Read-only only now: Linux needs write permission on a folder to move it to another parent,
  // and a failed commit should leave the staging folder as it was.
  MakeReadOnly(target);
  VREC_RETURN_IF_ERROR(FsyncPath((fs::path(root_) / kVersionsDir).string(), /*is_dir=*/true));
  VREC_RETURN_IF_ERROR(FsyncPath(staging_root.string(), /*is_dir=*/true));
  return version;
}

StatusOr<std::vector<VersionInfo>> ModelRegistry::List() const {
  VREC_ASSIGN_OR_RETURN(PointerStack stack, ReadPointer(root_));
  VREC_ASSIGN_OR_RETURN(auto dirs, ListVersionDirs(root_));
  std::vector<VersionInfo> out;
  out.reserve(dirs.size());
  for (const auto& [n, name] : dirs) {
    VersionInfo info;
    info.version = name;
    info.path = VersionPath(name);
    info.production = !stack.empty() && stack.front() == name;
    StatusOr<Manifest> m = ReadManifest(info.path);
    if (m.ok()) {
      info.created_at = m->created_at;
      info.model_kind = m->model_kind;
      info.metrics = m->metrics;
    } else {
      info.manifest_status = m.status();
    }
    out.push_back(std::move(info));
  }
  return out;
}

StatusOr<std::optional<std::string>> ModelRegistry::ProductionVersion() const {
  VREC_ASSIGN_OR_RETURN(PointerStack stack, ReadPointer(root_));
  if (stack.empty()) return std::optional<std::string>();
  return std::optional<std::string>(std::move(stack.front()));
}

StatusOr<std::vector<std::string>> ModelRegistry::ProductionStack() const { return ReadPointer(root_); }

std::string ModelRegistry::VersionPath(const std::string& version) const {
  return (fs::path(root_) / kVersionsDir / version).string();
}

Status ModelRegistry::Promote(const std::string& version, const std::string& reason,
                              const VersionValidator& validate) const {
  if (!ParseVersion(version)) {
    return InvalidArgumentError(StrCat("'", version, "' is not a version name (like v000001)"));
  }
  VREC_ASSIGN_OR_RETURN(WriterLock lock, WriterLock::Acquire(root_));
  const std::string path = VersionPath(version);
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    return NotFoundError(StrCat("no version ", version, " in ", root_, " (see vrec models list)"));
  }
  // Refuse a version a server would refuse to load.
  VREC_RETURN_IF_ERROR(ReadManifest(path).status());
  VREC_ASSIGN_OR_RETURN(PointerStack stack, ReadPointer(root_));
  if (!stack.empty() && stack.front() == version) return OkStatus();
  if (validate) VREC_RETURN_IF_ERROR(validate(version, path));
  HistoryEntry e{NowUtcIso8601(), "promote", stack.empty() ? "" : stack.front(), version, reason};
  stack.insert(stack.begin(), version);
  VREC_RETURN_IF_ERROR(WritePointer(root_, std::move(stack)));
  Status logged = AppendHistory(root_, e);
  if (!logged.ok()) {
    return InternalError(
        StrCat(version, " is now production, but the audit log was not written: ", logged.message()));
  }
  return OkStatus();
}

Status ModelRegistry::Rollback(const std::string& reason, const VersionValidator& validate) const {
  VREC_ASSIGN_OR_RETURN(WriterLock lock, WriterLock::Acquire(root_));
  VREC_ASSIGN_OR_RETURN(PointerStack stack, ReadPointer(root_));
  if (stack.empty()) return FailedPreconditionError(StrCat("nothing is in production in ", root_));
  size_t i = 1;
  std::error_code ec;
  while (i < stack.size() && !fs::is_directory(VersionPath(stack[i]), ec)) ++i;
  if (i == stack.size()) {
    return FailedPreconditionError(
        StrCat("no earlier production version of ", stack.front(), " to roll back to in ", root_));
  }
  if (validate) VREC_RETURN_IF_ERROR(validate(stack[i], VersionPath(stack[i])));
  HistoryEntry e{NowUtcIso8601(), "rollback", stack.front(), stack[i], reason};
  stack.erase(stack.begin(), stack.begin() + static_cast<std::ptrdiff_t>(i));
  VREC_RETURN_IF_ERROR(WritePointer(root_, std::move(stack)));
  Status logged = AppendHistory(root_, e);
  if (!logged.ok()) {
    return InternalError(
        StrCat("rolled back to ", e.to, ", but the audit log was not written: ", logged.message()));
  }
  return OkStatus();
}

StatusOr<std::vector<HistoryEntry>> ModelRegistry::History() const { return ReadHistory(root_); }

namespace {

StatusOr<std::optional<CanaryInfo>> ReadCanary(const std::string& root) {
  const fs::path path = fs::path(root) / kCanaryFile;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::optional<CanaryInfo>();
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  CanaryInfo c;
  try {
    if (!j.is_object()) throw std::runtime_error("not a JSON object");
    c.version = j.at("version").get<std::string>();
    c.share = j.at("share").get<double>();
    c.shadow = j.at("shadow").get<bool>();
    c.baseline = j.at("baseline").get<std::string>();
    c.started_at = j.at("started_at").get<std::string>();
    c.started_unix = j.at("started_unix").get<int64_t>();
    c.reason = j.value("reason", "");
  } catch (const std::exception& e) {
    return DataLossError(
        StrCat(path.string(), ": not a canary record (", e.what(), "); delete it to end the trial"));
  }
  if (!ParseVersion(c.version) || !(c.share > 0 && c.share <= 1)) {
    return DataLossError(StrCat(path.string(), ": bad version or share; delete it to end the trial"));
  }
  return std::optional<CanaryInfo>(std::move(c));
}

}  // namespace

Status ModelRegistry::StartCanary(CanaryInfo canary, const VersionValidator& validate) const {
  if (!ParseVersion(canary.version)) {
    return InvalidArgumentError(StrCat("'", canary.version, "' is not a version name (like v000001)"));
  }
  if (!(canary.share > 0 && canary.share <= 1)) {
    return InvalidArgumentError(StrCat("canary share ", canary.share, " must be in (0, 1]"));
  }
  VREC_ASSIGN_OR_RETURN(WriterLock lock, WriterLock::Acquire(root_));
  const std::string path = VersionPath(canary.version);
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    return NotFoundError(StrCat("no version ", canary.version, " in ", root_, " (see vrec models list)"));
  }
  VREC_RETURN_IF_ERROR(ReadManifest(path).status());
  VREC_ASSIGN_OR_RETURN(PointerStack stack, ReadPointer(root_));
  if (stack.empty()) return FailedPreconditionError("nothing is in production: promote a version instead");
  if (stack.front() == canary.version) {
    return FailedPreconditionError(StrCat(canary.version, " already is production"));
  }
  if (validate) VREC_RETURN_IF_ERROR(validate(canary.version, path));
  canary.baseline = stack.front();
  canary.started_at = NowUtcIso8601();
  canary.started_unix =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  nlohmann::ordered_json j = {{"version", canary.version},       {"share", canary.share},
                              {"shadow", canary.shadow},         {"baseline", canary.baseline},
                              {"started_at", canary.started_at}, {"started_unix", canary.started_unix},
                              {"reason", canary.reason}};
  VREC_RETURN_IF_ERROR(ReplaceFile(root_, kCanaryFile, kCanaryTmpFile, j.dump(2) + "\n"));
  Status logged = AppendHistory(root_, {canary.started_at, "canary", canary.baseline, canary.version,
                                        StrCat(canary.shadow ? "shadow on " : "", canary.share * 100, "% of ",
                                               canary.shadow ? "requests" : "users",
                                               canary.reason.empty() ? "" : ": ", canary.reason)});
  if (!logged.ok()) {
    return InternalError(StrCat("the trial of ", canary.version,
                                " started, but the audit log was not written: ", logged.message()));
  }
  return OkStatus();
}

StatusOr<std::optional<CanaryInfo>> ModelRegistry::Canary() const { return ReadCanary(root_); }

Status ModelRegistry::FinishCanary(const std::string& version, bool promote,
                                   const std::string& reason) const {
  VREC_ASSIGN_OR_RETURN(WriterLock lock, WriterLock::Acquire(root_));
  VREC_ASSIGN_OR_RETURN(std::optional<CanaryInfo> canary, ReadCanary(root_));
  if (!canary || canary->version != version) {
    return NotFoundError(StrCat("no trial of ", version, " is running"));
  }
  VREC_ASSIGN_OR_RETURN(PointerStack stack, ReadPointer(root_));
  const std::string production = stack.empty() ? "" : stack.front();
  HistoryEntry e{NowUtcIso8601(), promote ? "promote" : "canary_rollback", promote ? production : version,
                 promote ? version : production, reason};
  if (promote && production != version) {
    std::error_code ec;
    if (!fs::is_directory(VersionPath(version), ec))
      return NotFoundError(StrCat("version ", version, " is gone"));
    stack.insert(stack.begin(), version);
    VREC_RETURN_IF_ERROR(WritePointer(root_, std::move(stack)));
  }
  // The pointer first: a crash between the two leaves the trial running on a version that is
  // already production, which ends it again harmlessly.
  if (std::remove((fs::path(root_) / kCanaryFile).c_str()) != 0) {
    return ErrnoError(StrCat("cannot remove the canary file in ", root_));
  }
  VREC_RETURN_IF_ERROR(FsyncPath(root_, /*is_dir=*/true));
  Status logged = AppendHistory(root_, e);
  if (!logged.ok()) {
    return InternalError(
        StrCat("the trial of ", version, " ended, but the audit log was not written: ", logged.message()));
  }
  return OkStatus();
}

std::string ModelRegistry::RunRecordPath(const std::string& run_id) const {
  return (fs::path(root_) / "runs" / (run_id + ".json")).string();
}

StatusOr<std::vector<std::string>> ModelRegistry::RecentRuns(size_t max) const {
  const fs::path dir = fs::path(root_) / "runs";
  std::error_code ec;
  if (!fs::exists(dir, ec)) return std::vector<std::string>{};
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.ends_with(".json")) names.push_back(name);
  }
  if (ec) return InternalError(StrCat("cannot list ", dir.string(), ": ", ec.message()));
  std::sort(names.begin(), names.end(), std::greater<>());
  if (names.size() > max) names.resize(max);
  std::vector<std::string> out;
  for (const std::string& name : names) {
    std::ifstream in(dir / name, std::ios::binary);
    if (!in) continue;  // removed meanwhile
    out.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return out;
}

std::string VersionInfosToJson(const std::vector<VersionInfo>& versions) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const VersionInfo& v : versions) {
    nlohmann::ordered_json j = {{"version", v.version},       {"path", v.path},
                                {"production", v.production}, {"created_at", v.created_at},
                                {"model_kind", v.model_kind}, {"metrics", v.metrics}};
    if (!v.manifest_status.ok()) j["error"] = v.manifest_status.ToString();
    out.push_back(std::move(j));
  }
  return out.dump(2, ' ', /*ensure_ascii=*/false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace vrec::registry
