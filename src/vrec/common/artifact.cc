#include "vrec/common/artifact.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <filesystem>

#include "vrec/common/strings.h"

namespace vrec {
namespace {

static_assert(std::endian::native == std::endian::little, "artifact files are little-endian");

constexpr char kMagic[8] = {'V', 'R', 'E', 'C', 'A', 'R', 'T', '\0'};
constexpr uint64_t kHeaderBytes = 64;
constexpr uint64_t kEntryBytes = 64;
constexpr uint64_t kAlign = 64;
// A table larger than this is corruption, not a real artifact.
constexpr uint64_t kMaxSections = 1 << 16;

Status ErrnoError(std::string_view what, const std::string& path) {
  return InternalError(StrCat(what, " ", path, ": ", std::strerror(errno)));
}

uint64_t RoundUp(uint64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

void PutU32(std::byte* p, uint32_t v) { std::memcpy(p, &v, 4); }
void PutU64(std::byte* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t GetU32(const std::byte* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t GetU64(const std::byte* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

uint64_t ArtifactChecksum(std::span<const std::byte> data) {
  // Four independent lanes over 32-byte stripes keep the multiplier pipeline busy (several GB/s),
  // then the tail word by word and byte by byte; the length is mixed in so that trailing zeros count.
  constexpr uint64_t kP1 = 0x9E3779B185EBCA87ull, kP2 = 0xC2B2AE3D27D4EB4Full, kP3 = 0x165667B19E3779F9ull;
  uint64_t lane[4] = {kP1, kP2, kP3, kP1 ^ kP2};
  const std::byte* p = data.data();
  size_t n = data.size();
  const auto mix = [](uint64_t acc, uint64_t w) { return std::rotl(acc ^ (w * kP2), 31) * kP1; };
  while (n >= 32) {
    for (int i = 0; i < 4; ++i) lane[i] = mix(lane[i], GetU64(p + 8 * i));
    p += 32;
    n -= 32;
  }
  uint64_t h =
      std::rotl(lane[0], 1) + std::rotl(lane[1], 7) + std::rotl(lane[2], 12) + std::rotl(lane[3], 18);
  while (n >= 8) {
    h = mix(h, GetU64(p));
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    h = mix(h, static_cast<uint64_t>(*p) + 1);
    ++p;
    --n;
  }
  h ^= static_cast<uint64_t>(data.size()) * kP3;
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  return h;
}

// ---- ArtifactWriter --------------------------------------------------------------------------

StatusOr<std::unique_ptr<ArtifactWriter>> ArtifactWriter::Create(std::string path, uint32_t content_version) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", tmp);
  return std::unique_ptr<ArtifactWriter>(new ArtifactWriter(std::move(path), fd, content_version));
}

ArtifactWriter::ArtifactWriter(std::string path, int fd, uint32_t content_version)
    : path_(std::move(path)), fd_(fd), content_version_(content_version) {}

ArtifactWriter::~ArtifactWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!finished_) ::unlink((path_ + ".tmp").c_str());
}

Status ArtifactWriter::WriteAt(uint64_t offset, std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd_, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      failed_ = true;
      return ErrnoError("cannot write", path_ + ".tmp");
    }
    bytes = bytes.subspan(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return OkStatus();
}

Status ArtifactWriter::AddBytes(std::string_view name, std::span<const std::byte> bytes) {
  if (failed_ || finished_)
    return InternalError(StrCat("artifact ", path_, ": writer is finished or failed"));
  if (name.empty() || name.size() > kArtifactSectionNameBytes || name.find('\0') != std::string_view::npos) {
    return InvalidArgumentError(StrCat("artifact section name '", name, "' must be 1 to 40 bytes"));
  }
  for (const Entry& e : entries_) {
    if (e.name == name) return InvalidArgumentError(StrCat("artifact section '", name, "' added twice"));
  }
  const uint64_t offset = RoundUp(end_);
  VREC_RETURN_IF_ERROR(WriteAt(offset, bytes));
  entries_.push_back({std::string(name), offset, bytes.size(), ArtifactChecksum(bytes)});
  end_ = offset + bytes.size();
  return OkStatus();
}

Status ArtifactWriter::Finish() {
  if (failed_ || finished_)
    return InternalError(StrCat("artifact ", path_, ": writer is finished or failed"));
  const uint64_t table_offset = RoundUp(end_);
  std::vector<std::byte> table(entries_.size() * kEntryBytes);
  for (size_t i = 0; i < entries_.size(); ++i) {
    std::byte* e = table.data() + i * kEntryBytes;
    std::memcpy(e, entries_[i].name.data(), entries_[i].name.size());
    PutU64(e + 40, entries_[i].offset);
    PutU64(e + 48, entries_[i].size);
    PutU64(e + 56, entries_[i].checksum);
  }
  VREC_RETURN_IF_ERROR(WriteAt(table_offset, table));
  const uint64_t file_size = table_offset + table.size();
  std::byte header[kHeaderBytes] = {};
  std::memcpy(header, kMagic, 8);
  PutU32(header + 8, kArtifactContainerVersion);
  PutU32(header + 12, content_version_);
  PutU64(header + 16, entries_.size());
  PutU64(header + 24, table_offset);
  PutU64(header + 32, file_size);
  PutU64(header + 40, ArtifactChecksum(table));
  VREC_RETURN_IF_ERROR(WriteAt(0, header));
  const std::string tmp = path_ + ".tmp";
  if (::fsync(fd_) != 0) return ErrnoError("cannot fsync", tmp);
  ::close(fd_);
  fd_ = -1;
  if (::rename(tmp.c_str(), path_.c_str()) != 0) return ErrnoError("cannot rename over", path_);
  finished_ = true;
  const std::string dir = std::filesystem::path(path_).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return OkStatus();
}

// ---- MappedArtifact --------------------------------------------------------------------------

StatusOr<std::shared_ptr<const MappedArtifact>> MappedArtifact::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError(StrCat("no file ", path));
    return ErrnoError("cannot open", path);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const Status s = ErrnoError("cannot stat", path);
    ::close(fd);
    return s;
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size < kHeaderBytes) {
    ::close(fd);
    return DataLossError(StrCat(path, ": not an artifact file (", size, " bytes)"));
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);  // the mapping keeps the file
  if (map == MAP_FAILED) return ErrnoError("cannot map", path);
  std::shared_ptr<MappedArtifact> a(new MappedArtifact());
  a->path_ = path;
  a->data_ = static_cast<const std::byte*>(map);
  a->size_ = size;

  const std::byte* h = a->data_;
  if (std::memcmp(h, kMagic, 8) != 0)
    return DataLossError(StrCat(path, ": not an artifact file (bad magic)"));
  const uint32_t container = GetU32(h + 8);
  if (container != kArtifactContainerVersion) {
    return FailedPreconditionError(StrCat(path, ": artifact container version ", container,
                                          "; this build reads version ", kArtifactContainerVersion));
  }
  a->content_version_ = GetU32(h + 12);
  const uint64_t count = GetU64(h + 16), table = GetU64(h + 24), file_size = GetU64(h + 32);
  if (file_size != size) {
    return DataLossError(
        StrCat(path, ": truncated or extended artifact (", size, " bytes, header says ", file_size, ")"));
  }
  if (count > kMaxSections || table < kHeaderBytes || table > size || (size - table) / kEntryBytes < count) {
    return DataLossError(StrCat(path, ": corrupt artifact section table"));
  }
  const std::span<const std::byte> table_bytes(a->data_ + table, count * kEntryBytes);
  if (ArtifactChecksum(table_bytes) != GetU64(h + 40)) {
    return DataLossError(StrCat(path, ": artifact section table checksum mismatch"));
  }
  a->entries_.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    const std::byte* e = table_bytes.data() + i * kEntryBytes;
    const char* name = reinterpret_cast<const char*>(e);
    Entry entry{std::string(name, strnlen(name, kArtifactSectionNameBytes)), GetU64(e + 40), GetU64(e + 48),
                GetU64(e + 56)};
    if (entry.offset % kAlign != 0 || entry.offset < kHeaderBytes || entry.offset > table ||
        entry.size > table - entry.offset) {
      return DataLossError(StrCat(path, ": artifact section '", entry.name, "' out of bounds"));
    }
    a->entries_.push_back(std::move(entry));
  }
  return std::shared_ptr<const MappedArtifact>(std::move(a));
}

MappedArtifact::~MappedArtifact() {
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
}

const MappedArtifact::Entry* MappedArtifact::Find(std::string_view name) const {
  for (const Entry& e : entries_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

std::vector<std::string> MappedArtifact::SectionNames() const {
  std::vector<std::string> out;
  for (const Entry& e : entries_) out.push_back(e.name);
  return out;
}

StatusOr<std::span<const std::byte>> MappedArtifact::GetBytes(std::string_view name,
                                                              size_t element_size) const {
  const Entry* e = Find(name);
  if (e == nullptr) return NotFoundError(StrCat(path_, ": no section '", name, "'"));
  if (element_size == 0 || e->size % element_size != 0) {
    return DataLossError(
        StrCat(path_, ": section '", name, "' holds ", e->size, " bytes, not a multiple of ", element_size));
  }
  return std::span<const std::byte>(data_ + e->offset, e->size);
}

StatusOr<std::string_view> MappedArtifact::GetString(std::string_view name) const {
  VREC_ASSIGN_OR_RETURN(std::span<const std::byte> bytes, GetBytes(name));
  return std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

Status MappedArtifact::Verify() const {
  for (const Entry& e : entries_) {
    if (ArtifactChecksum(std::span<const std::byte>(data_ + e.offset, e.size)) != e.checksum) {
      return DataLossError(StrCat(path_, ": section '", e.name, "' checksum mismatch (corrupt file)"));
    }
  }
  return OkStatus();
}

void MappedArtifact::Prefetch() const { ::madvise(const_cast<std::byte*>(data_), size_, MADV_WILLNEED); }

}  // namespace vrec
