// Artifact files: the precomputed state a model directory hands to `vrec serve`, as named,
// aligned, checksummed sections that the server memory-maps instead of rebuilding (the pipeline
// precomputes; serving maps).
//
// Layout (little-endian; this build refuses big-endian hosts):
//   [0, 64)        header: magic "VRECART\0", u32 container version (kArtifactContainerVersion),
//                  u32 content version (the writer's own format number, e.g. a model's serving
//                  format), u64 section count, u64 offset of the section table, u64 file size,
//                  u64 checksum of the section table, 16 bytes zero
//   sections       each starts at a multiple of 64 bytes (cache lines; any element type aligns)
//   section table  one 64-byte entry per section: name (40 bytes, NUL-padded), u64 offset,
//                  u64 size in bytes, u64 checksum of the bytes
// The checksum is a 64-bit multiply-rotate hash over 8-byte words (not cryptographic: it detects
// truncation, bit rot and hand edits, not tampering).
//
// Opening maps the file read-only and checks the header, the table and every section's bounds;
// it does not read the sections, so opening a multi-gigabyte artifact costs milliseconds and
// pages come in as requests touch them. Verify() reads everything and checks every checksum (the
// registry runs it before a version can become production).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "vrec/common/status.h"

namespace vrec {

inline constexpr uint32_t kArtifactContainerVersion = 1;
inline constexpr size_t kArtifactSectionNameBytes = 40;

// The checksum of artifact sections (see above).
uint64_t ArtifactChecksum(std::span<const std::byte> data);

// Writes an artifact to `path` + ".tmp", fsyncs it and renames it over `path` in Finish, so a
// reader never sees a partial file. Sections are written as they are added (memory stays flat).
// Not thread-safe.
class ArtifactWriter {
 public:
  // Creates the temporary file. Errors: Internal when it cannot be created.
  static StatusOr<std::unique_ptr<ArtifactWriter>> Create(std::string path, uint32_t content_version);
  ~ArtifactWriter();  // an unfinished writer removes its temporary file
  ArtifactWriter(const ArtifactWriter&) = delete;
  ArtifactWriter& operator=(const ArtifactWriter&) = delete;

  // Appends a section of trivially copyable elements. Names are unique, 1 to 40 bytes.
  // Errors: InvalidArgument for a bad or repeated name; Internal on I/O errors (the writer is then
  // unusable).
  template <typename T>
  Status Add(std::string_view name, std::span<const T> elements) {
    static_assert(std::is_trivially_copyable_v<T>);
    return AddBytes(name, std::as_bytes(elements));
  }
  Status AddBytes(std::string_view name, std::span<const std::byte> bytes);
  Status AddString(std::string_view name, std::string_view text) {
    return AddBytes(name, std::as_bytes(std::span<const char>(text.data(), text.size())));
  }

  // Writes the table and the header, fsyncs, renames over the path and fsyncs the folder.
  Status Finish();

  const std::string& path() const { return path_; }

 private:
  ArtifactWriter(std::string path, int fd, uint32_t content_version);
  struct Entry {
    std::string name;
    uint64_t offset = 0, size = 0, checksum = 0;
  };
  Status WriteAt(uint64_t offset, std::span<const std::byte> bytes);

  std::string path_;
  int fd_ = -1;
  uint32_t content_version_ = 0;
  uint64_t end_ = 64;  // next free byte (after the header)
  std::vector<Entry> entries_;
  bool finished_ = false;
  bool failed_ = false;
};

// A read-only mapping of an artifact file. Immutable after Open and safe to share between threads;
// spans returned by Get stay valid as long as the MappedArtifact lives.
class MappedArtifact {
 public:
  // Maps `path` and checks its structure (not the section checksums: see Verify).
  // Errors: NotFound when the file does not exist; DataLoss naming the file when it is not an
  // artifact, is truncated, or its table is corrupt; FailedPrecondition naming both versions when
  // its container version is not this build's; Internal on other I/O errors.
  static StatusOr<std::shared_ptr<const MappedArtifact>> Open(const std::string& path);
  ~MappedArtifact();
  MappedArtifact(const MappedArtifact&) = delete;
  MappedArtifact& operator=(const MappedArtifact&) = delete;

  const std::string& path() const { return path_; }
  uint32_t content_version() const { return content_version_; }
  uint64_t file_size() const { return size_; }
  bool Has(std::string_view name) const { return Find(name) != nullptr; }
  std::vector<std::string> SectionNames() const;

  // The section as elements of T. Errors: NotFound naming the section; DataLoss when its size is
  // not a multiple of sizeof(T).
  template <typename T>
  StatusOr<std::span<const T>> Get(std::string_view name) const {
    static_assert(std::is_trivially_copyable_v<T>);
    VREC_ASSIGN_OR_RETURN(std::span<const std::byte> bytes, GetBytes(name, sizeof(T)));
    return std::span<const T>(reinterpret_cast<const T*>(bytes.data()), bytes.size() / sizeof(T));
  }
  StatusOr<std::span<const std::byte>> GetBytes(std::string_view name, size_t element_size = 1) const;
  StatusOr<std::string_view> GetString(std::string_view name) const;

  // Reads every section and compares its checksum. DataLoss naming the first bad section.
  Status Verify() const;

  // Asks the kernel to read the whole file ahead (MADV_WILLNEED), e.g. after a swap, so that the
  // first requests do not pay the page faults. Best effort.
  void Prefetch() const;

 private:
  MappedArtifact() = default;
  struct Entry {
    std::string name;
    uint64_t offset = 0, size = 0, checksum = 0;
  };
  const Entry* Find(std::string_view name) const;

  std::string path_;
  const std::byte* data_ = nullptr;
  uint64_t size_ = 0;
  uint32_t content_version_ = 0;
  std::vector<Entry> entries_;
};

}  // namespace vrec
