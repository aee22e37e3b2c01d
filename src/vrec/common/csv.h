// A small, strict CSV reader for importers. Every error carries "file:line: what" so that a bad row
// in a ten-million-line log is found at once. Thread-compatible (one reader per thread).
#pragma once

#include <cstdint>
#include <istream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vrec/common/status.h"

namespace vrec {

class GzipInputStream;

// Reads delimited lines. Supports RFC 4180 quoting ("a,b" and "" escapes) when `quoting` is on;
// MovieLens files are pipe/tab separated with no quoting. Lines may end in \n or \r\n. A file
// whose name ends in ".gz" is decompressed (gzip) as it is read.
class DelimitedReader {
 public:
  // Opens `path`. NotFound when the file is missing or unreadable.
  static StatusOr<DelimitedReader> Open(const std::string& path, char delimiter, bool quoting);

  // Reads the next record into `fields` (views valid until the next call). Returns false at end of
  // file. A quoted field left open at end of file is an InvalidArgument error in `status()`.
  bool Next(std::vector<std::string_view>& fields);

  // Error of the last Next() that returned false, OK at a clean end of file. DataLoss for a
  // corrupt or truncated ".gz" file.
  const Status& status() const { return status_; }
  // 1-based line number of the record last returned.
  int64_t line() const { return line_; }
  const std::string& path() const { return path_; }

  // InvalidArgument("path:line: message").
  Status Error(std::string_view message) const;

 private:
  DelimitedReader() = default;
  // Sets status_ when a gzip stream ended on an error rather than at its end.
  void CheckCompressedStream();

  std::string path_;
  char delimiter_ = ',';
  bool quoting_ = false;
  std::unique_ptr<std::istream> in_;
  GzipInputStream* gzip_ = nullptr;  // in_ when the file is gzip-compressed
  std::string buffer_;
  std::string unquoted_;
  std::vector<std::pair<size_t, size_t>> spans_;
  int64_t line_ = 0;
  int64_t next_line_ = 1;
  Status status_;
};

// Strict number parsing: the whole field must be the number (surrounding spaces allowed).
bool ParseUint64(std::string_view s, uint64_t& out);
bool ParseInt64(std::string_view s, int64_t& out);
bool ParseDouble(std::string_view s, double& out);

// True when `s` is valid UTF-8.
bool IsValidUtf8(std::string_view s);
// Converts ISO-8859-1 (Latin-1) bytes to UTF-8.
std::string Latin1ToUtf8(std::string_view s);

// Quotes a field for CSV output when it holds a comma, quote or newline.
void AppendCsvField(std::string& out, std::string_view field);

}  // namespace vrec
