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

inline std::string HashHex(std::string_view data) {
  Hasher h;
  h.Update(data);
  return h.Hex();
}

}  // namespace vrec
