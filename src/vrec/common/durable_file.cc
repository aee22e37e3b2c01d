#include "vrec/common/durable_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "vrec/common/strings.h"

namespace vrec {
namespace {

namespace fs = std::filesystem;

Status Errno(std::string_view what, std::string_view path) {
  return InternalError(StrCat(what, " ", path, ": ", std::strerror(errno)));
}

Status WriteAllTo(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return OkStatus();
}

}  // namespace

Status FsyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open folder", dir);
  const bool ok = ::fsync(fd) == 0;
  const Status s = ok ? OkStatus() : Errno("cannot fsync folder", dir);
  ::close(fd);
  return s;
}

Status CreateDirectoriesDurably(const std::string& dir) {
  // The missing folders, outermost first.
  std::vector<fs::path> missing;
  std::error_code ec;
  for (fs::path p = fs::path(dir).lexically_normal(); !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0755) != 0 && errno != EEXIST)
      return Errno("cannot create folder", it->string());
    const fs::path parent = it->parent_path();
    VREC_RETURN_IF_ERROR(FsyncDirectory(parent.empty() ? "." : parent.string()));
  }
  if (!fs::is_directory(dir, ec)) return InternalError(StrCat(dir, " exists and is not a folder"));
  return OkStatus();
}

Status RenameDurably(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return InternalError(StrCat("cannot rename ", from, " to ", to, ": ", std::strerror(errno)));
  }
  const fs::path parent = fs::path(to).parent_path();
  return FsyncDirectory(parent.empty() ? "." : parent.string());
}

Status WriteFileDurably(const std::string& path, std::string_view contents) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", tmp);
  Status s = WriteAllTo(fd, contents, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = Errno("cannot fsync", tmp);
  if (::close(fd) != 0 && s.ok()) s = Errno("cannot close", tmp);
  if (s.ok()) s = RenameDurably(tmp, path);
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

StatusOr<FileLock> FileLock::TryAcquire(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot open lock file", path);
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return UnavailableError(StrCat(path, " is locked by another process"));
    errno = err;
    return Errno("cannot lock", path);
  }
  return FileLock(fd);
}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the lock
}

}  // namespace vrec
