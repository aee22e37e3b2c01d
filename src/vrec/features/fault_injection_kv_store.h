// A KeyValueStore wrapper that fails on command (leveldb's fault_injection_test idea): tests
// prove that a failed write acknowledges nothing and that callers turn store failures into the
// right answers. Test-only (library vrec_features_testing).
#pragma once

#include <atomic>
#include <memory>

#include "vrec/features/kv_store.h"

namespace vrec::features {

// Forwards every call to `base` unless told to fail. Thread-safe like the store it wraps; the
// switches are atomics and may be flipped while other threads use the store.
class FaultInjectionKeyValueStore : public ForwardingKeyValueStore {
 public:
  explicit FaultInjectionKeyValueStore(std::unique_ptr<KeyValueStore> base)
      : ForwardingKeyValueStore(std::move(base)) {}

  // While set, Write fails with Internal (naming a made-up server path, as RocksDB errors do)
  // and writes nothing.
  void set_fail_writes(bool fail) { fail_writes_ = fail; }
  // While set, Get, MultiGet, Scan and Last fail with Internal.
  void set_fail_reads(bool fail) { fail_reads_ = fail; }
  // Writes attempted (failed ones included).
  int writes() const { return writes_; }

  StatusOr<std::optional<std::string>> Get(std::string_view key) override;
  StatusOr<std::vector<std::optional<std::string>>> MultiGet(std::span<const std::string> keys) override;
  Status Write(const WriteBatch& batch, const WriteOptions& options) override;
  StatusOr<std::vector<KeyValue>> Scan(std::string_view prefix, std::string_view start_after,
                                       size_t limit) override;
  StatusOr<std::optional<KeyValue>> Last(std::string_view prefix) override;

 private:
  std::atomic<bool> fail_writes_{false};
  std::atomic<bool> fail_reads_{false};
  std::atomic<int> writes_{0};
};

}  // namespace vrec::features
