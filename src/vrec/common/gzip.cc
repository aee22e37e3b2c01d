#include "vrec/common/gzip.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "vrec/common/strings.h"

namespace vrec {

// ---- GzipFileWriter --------------------------------------------------------------------------

struct GzipFileWriter::Impl {
  z_stream z{};
  std::vector<unsigned char> out = std::vector<unsigned char>(1 << 16);
};

StatusOr<std::unique_ptr<GzipFileWriter>> GzipFileWriter::Create(const std::string& path, int level) {
  auto impl = std::make_unique<Impl>();
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&impl->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return InternalError(StrCat("zlib: cannot start compressing ", path));
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const Status s = InternalError(StrCat("cannot create ", path, ": ", std::strerror(errno)));
    deflateEnd(&impl->z);
    return s;
  }
  return std::unique_ptr<GzipFileWriter>(new GzipFileWriter(path, fd, std::move(impl)));
}

GzipFileWriter::GzipFileWriter(std::string path, int fd, std::unique_ptr<Impl> impl)
    : path_(std::move(path)), fd_(fd), impl_(std::move(impl)) {}

GzipFileWriter::~GzipFileWriter() {
  deflateEnd(&impl_->z);
  if (fd_ >= 0) ::close(fd_);
}

Status GzipFileWriter::Deflate(int flush) {
  z_stream& z = impl_->z;
  while (true) {
    z.next_out = impl_->out.data();
    z.avail_out = static_cast<uInt>(impl_->out.size());
    const int rc = deflate(&z, flush);
    if (rc == Z_STREAM_ERROR) return InternalError(StrCat("zlib: compressing ", path_, " failed"));
    const size_t n = impl_->out.size() - z.avail_out;
    for (size_t done = 0; done < n;) {
      const ssize_t w = ::write(fd_, impl_->out.data() + done, n - done);
      if (w < 0) {
        if (errno == EINTR) continue;
        return InternalError(StrCat("cannot write ", path_, ": ", std::strerror(errno)));
      }
      done += static_cast<size_t>(w);
    }
    // Done when deflate left output space (it has consumed all input), or the stream ended.
    if (flush == Z_FINISH ? rc == Z_STREAM_END : z.avail_out != 0) return OkStatus();
  }
}

Status GzipFileWriter::Write(std::string_view data) {
  if (!status_.ok()) return status_;
  if (finished_) return InternalError(StrCat(path_, ": write after Finish"));
  z_stream& z = impl_->z;
  // deflate takes at most 4 GiB per call (uInt).
  while (!data.empty()) {
    const size_t chunk = std::min<size_t>(data.size(), 1u << 30);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(chunk);
    status_ = Deflate(Z_NO_FLUSH);
    if (!status_.ok()) return status_;
    in_bytes_ += chunk;
    data.remove_prefix(chunk);
  }
  return OkStatus();
}

Status GzipFileWriter::Finish() {
  if (!status_.ok()) return status_;
  if (finished_) return InternalError(StrCat(path_, ": Finish called twice"));
  finished_ = true;
  impl_->z.next_in = nullptr;
  impl_->z.avail_in = 0;
  status_ = Deflate(Z_FINISH);
  if (status_.ok() && ::fsync(fd_) != 0) {
    status_ = InternalError(StrCat("cannot fsync ", path_, ": ", std::strerror(errno)));
  }
  if (::close(fd_) != 0 && status_.ok()) {
    status_ = InternalError(StrCat("cannot close ", path_, ": ", std::strerror(errno)));
  }
  fd_ = -1;
  return status_;
}

// ---- GzipInputStream -------------------------------------------------------------------------

class GzipInputStream::Buffer : public std::streambuf {
 public:
  explicit Buffer(const std::string& path) : file_(gzopen(path.c_str(), "rb")) {
    if (file_) gzbuffer(file_, 1 << 16);
  }
  ~Buffer() override {
    if (file_) gzclose(file_);
  }
  bool is_open() const { return file_ != nullptr; }
  const std::string& error() const { return error_; }

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    if (!file_ || !error_.empty()) return traits_type::eof();
    const int n = gzread(file_, data_.data(), static_cast<unsigned>(data_.size()));
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(file_, &code);
      error_ = message ? message : "read error";
      return traits_type::eof();
    }
    if (n == 0) {
      // gzread reports a truncated stream as a clean end with Z_BUF_ERROR pending.
      int code = 0;
      const char* message = gzerror(file_, &code);
      if (code != Z_OK) error_ = message ? message : "unexpected end of file";
      return traits_type::eof();
    }
    setg(data_.data(), data_.data(), data_.data() + n);
    return traits_type::to_int_type(*gptr());
  }

 private:
  gzFile file_;
  std::vector<char> data_ = std::vector<char>(1 << 16);
  std::string error_;
};

GzipInputStream::GzipInputStream(const std::string& path)
    : std::istream(nullptr), buffer_(std::make_unique<Buffer>(path)) {
  rdbuf(buffer_.get());
  if (!buffer_->is_open()) setstate(std::ios::failbit);
}

GzipInputStream::~GzipInputStream() = default;

bool GzipInputStream::is_open() const { return buffer_->is_open(); }

const std::string& GzipInputStream::error() const { return buffer_->error(); }

}  // namespace vrec
