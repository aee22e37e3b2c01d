// gzip files (zlib): a streaming writer that makes its file durable, and an input stream that
// decompresses. The exported event segments and catalog files are gzip-compressed CSV.
#pragma once

#include <cstdint>
#include <istream>
#include <memory>
#include <streambuf>
#include <string>
#include <string_view>

#include "vrec/common/status.h"

namespace vrec {

// Writes one gzip member to a new file. Not thread-safe. Destroying a writer that was not
// finished closes and leaves the (incomplete) file; the caller removes it.
class GzipFileWriter {
 public:
  // Creates (or truncates) `path`. `level` is zlib's 1 (fast) .. 9 (small); 6 is its default.
  // Errors: Internal when the file cannot be created.
  static StatusOr<std::unique_ptr<GzipFileWriter>> Create(const std::string& path, int level = 6);
  ~GzipFileWriter();
  GzipFileWriter(const GzipFileWriter&) = delete;
  GzipFileWriter& operator=(const GzipFileWriter&) = delete;

  // Compresses `data` into the file (buffered). Errors: Internal on I/O errors (sticky).
  Status Write(std::string_view data);
  // Ends the gzip stream, writes what is buffered, fsyncs and closes the file. Errors: Internal.
  Status Finish();

  const std::string& path() const { return path_; }
  uint64_t uncompressed_bytes() const { return in_bytes_; }

 private:
  struct Impl;
  GzipFileWriter(std::string path, int fd, std::unique_ptr<Impl> impl);
  Status Deflate(int flush);

  std::string path_;
  int fd_ = -1;
  std::unique_ptr<Impl> impl_;
  uint64_t in_bytes_ = 0;
  Status status_;
  bool finished_ = false;
};

// An input stream over a gzip file (concatenated members are read as one stream). Plain files are
// read as they are, so a reader may open either. A corrupt or truncated file ends the stream
// early with error() set; check it after the last read.
class GzipInputStream : public std::istream {
 public:
  explicit GzipInputStream(const std::string& path);
  ~GzipInputStream() override;
  // Whether the file could be opened.
  bool is_open() const;
  // Empty, or what went wrong while decompressing ("unexpected end of file", "invalid ...").
  const std::string& error() const;

 private:
  class Buffer;
  std::unique_ptr<Buffer> buffer_;
};

}  // namespace vrec
