#include "vrec/common/csv.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>

#include "vrec/common/gzip.h"
#include "vrec/common/strings.h"

namespace vrec {

StatusOr<DelimitedReader> DelimitedReader::Open(const std::string& path, char delimiter, bool quoting) {
  DelimitedReader r;
  r.path_ = path;
  r.delimiter_ = delimiter;
  r.quoting_ = quoting;
  bool open = false;
  if (path.ends_with(".gz")) {
    auto gz = std::make_unique<GzipInputStream>(path);
    open = gz->is_open();
    r.gzip_ = gz.get();
    r.in_ = std::move(gz);
  } else {
    auto file = std::make_unique<std::ifstream>(path, std::ios::binary);
    open = file->is_open();
    r.in_ = std::move(file);
  }
  if (!open) {
    return NotFoundError(StrCat(path, ": cannot open file (missing or unreadable)"));
  }
  return r;
}

void DelimitedReader::CheckCompressedStream() {
  if (gzip_ != nullptr && !gzip_->error().empty()) {
    status_ = DataLossError(StrCat(path_, ": corrupt or truncated gzip file (", gzip_->error(), ")"));
  }
}

Status DelimitedReader::Error(std::string_view message) const {
  return InvalidArgumentError(StrCat(path_, ":", line_, ": ", message));
}

bool DelimitedReader::Next(std::vector<std::string_view>& fields) {
  fields.clear();
  if (!status_.ok()) return false;
  line_ = next_line_;
  if (!std::getline(*in_, buffer_)) {
    CheckCompressedStream();
    return false;
  }
  ++next_line_;
  if (quoting_ && buffer_.find('"') != std::string::npos) {
    // Slow path: quoted fields, possibly spanning lines.
    unquoted_.clear();
    spans_.clear();
    size_t field_start = 0;
    bool in_quotes = false;
    size_t i = 0;
    while (true) {
      if (i == buffer_.size()) {
        if (!in_quotes) break;
        std::string more;
        if (!std::getline(*in_, more)) {
          CheckCompressedStream();
          if (!status_.ok()) return false;
          status_ = Error("unterminated quoted field");
          return false;
        }
        ++next_line_;
        buffer_.push_back('\n');
        buffer_ += more;
        continue;
      }
      char c = buffer_[i];
      if (in_quotes) {
        if (c == '"') {
          if (i + 1 < buffer_.size() && buffer_[i + 1] == '"') {
            unquoted_.push_back('"');
            ++i;
          } else {
            in_quotes = false;
          }
        } else {
          unquoted_.push_back(c);
        }
      } else if (c == '"') {
        in_quotes = true;
      } else if (c == delimiter_) {
        spans_.emplace_back(field_start, unquoted_.size());
        field_start = unquoted_.size();
      } else if (c != '\r' || i + 1 != buffer_.size()) {
        unquoted_.push_back(c);
      }
      ++i;
    }
    spans_.emplace_back(field_start, unquoted_.size());
    for (auto [b, e] : spans_) fields.emplace_back(unquoted_.data() + b, e - b);
    return true;
  }
  std::string_view line(buffer_);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t start = 0;
  while (true) {
    size_t pos = line.find(delimiter_, start);
    if (pos == std::string_view::npos) {
      fields.push_back(line.substr(start));
      break;
    }
    fields.push_back(line.substr(start, pos - start));
    start = pos + 1;
  }
  return true;
}

namespace {
std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace

bool ParseUint64(std::string_view s, uint64_t& out) {
  s = Trim(s);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool ParseInt64(std::string_view s, int64_t& out) {
  s = Trim(s);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool ParseDouble(std::string_view s, double& out) {
  s = Trim(s);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && std::isfinite(out);
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    if (len == 2 && c < 0xC2) return false;  // overlong
    for (int k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    }
    i += len;
  }
  return true;
}

std::string Latin1ToUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out.push_back(ch);
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

void AppendCsvField(std::string& out, std::string_view field) {
  if (field.find_first_of(",\"\n\r") == std::string_view::npos) {
    out.append(field);
    return;
  }
  out.push_back('"');
  for (char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace vrec
