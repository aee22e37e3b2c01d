// Stable 64-bit hashing (FNV-1a) for provenance: feature schemas, training data, configs. The same
// input gives the same hex string on every build and machine; not for security.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>

namespace vrec {

class Hasher {
 public:
  void Update(std::string_view data) {
    for (unsigned char c : data) {
      h_ ^= c;
      h_ *= 1099511628211ull;  // FNV-1a 64 prime
    }
  }
  template <typename T>
  requires std::is_trivially_copyable_v<T>
  void UpdatePod(const T& v) { Update(std::string_view(reinterpret_cast<const char*>(&v), sizeof(T))); }
  uint64_t Value() const { return h_; }
  // 16 lowercase hex digits.
  std::string Hex() const {
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h_));
    return buf;
  }

 private:
  uint64_t h_ = 14695981039346656037ull;  // FNV-1a 64 offset basis
};

// SplitMix64 (Steele, Lea, Flood 2014): the next number of the sequence at `state`, which it
// advances. Small, fast, the same on every standard library: the simulators' and exploration's
// random numbers.
inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// The murmur3 64-bit finalizer: every input bit affects every output bit. FNV-1a mixes its
// last bytes only into the low bits, and the low bits are poor too (bit 0 is the parity of the
// input), so a hash whose top bits pick a bucket goes through this first, or consecutive ids
// would land in nearly the same bucket.
inline uint64_t Fmix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

inline std::string HashHex(std::string_view data) {
  Hasher h;
  h.Update(data);
  return h.Hex();
}

}  // namespace vrec
