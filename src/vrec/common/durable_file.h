// Crash-safe file publication: a file is written under a temporary name, fsynced, renamed into
// place and its folder fsynced, so that after a crash (kill -9 or power loss) the final name
// holds the whole file or does not exist. Used for exported event segments and state files.
#pragma once

#include <string>
#include <string_view>

#include "vrec/common/status.h"

namespace vrec {

// fsyncs the folder `dir` (making renames, creations and removals in it durable).
// Errors: Internal naming the folder and errno.
Status FsyncDirectory(const std::string& dir);

// Creates `dir` and its missing parents; every folder created is made durable by fsyncing its
// parent. OK when `dir` already exists as a folder. Errors: Internal (e.g. a file is in the way).
Status CreateDirectoriesDurably(const std::string& dir);

// Renames `from` over `to` (atomically replacing an existing `to`) and fsyncs the folder of `to`.
// The caller has fsynced `from`'s contents. Errors: Internal naming both paths.
Status RenameDurably(const std::string& from, const std::string& to);

// Writes `contents` to `path` durably: path + ".tmp" is written, fsynced and renamed over `path`,
// whose folder is then fsynced. Errors: Internal (the temporary file is removed).
Status WriteFileDurably(const std::string& path, std::string_view contents);

// An exclusive flock(2) on a file, released when the object is destroyed. Movable.
class FileLock {
 public:
  // Takes the lock on `path` (created when missing) without waiting.
  // Errors: Unavailable when another holder (process or FileLock) has it; Internal on I/O errors.
  static StatusOr<FileLock> TryAcquire(const std::string& path);
  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace vrec
