#include "vrec/features/fault_injection_kv_store.h"

#include "vrec/common/strings.h"

namespace vrec::features {
namespace {

Status Injected(std::string_view what) {
  return InternalError(StrCat("IO error: /var/lib/vrec/state/000042.log: injected ", what, " failure"));
}

}  // namespace

StatusOr<std::optional<std::string>> FaultInjectionKeyValueStore::Get(std::string_view key) {
  if (fail_reads_) return Injected("read");
  return ForwardingKeyValueStore::Get(key);
}

StatusOr<std::vector<std::optional<std::string>>> FaultInjectionKeyValueStore::MultiGet(
    std::span<const std::string> keys) {
  if (fail_reads_) return Injected("read");
  return ForwardingKeyValueStore::MultiGet(keys);
}

Status FaultInjectionKeyValueStore::Write(const WriteBatch& batch, const WriteOptions& options) {
  ++writes_;
  if (fail_writes_) return Injected("write");
  return ForwardingKeyValueStore::Write(batch, options);
}

StatusOr<std::vector<KeyValue>> FaultInjectionKeyValueStore::Scan(std::string_view prefix,
                                                                  std::string_view start_after,
                                                                  size_t limit) {
  if (fail_reads_) return Injected("read");
  return ForwardingKeyValueStore::Scan(prefix, start_after, limit);
}

StatusOr<std::optional<KeyValue>> FaultInjectionKeyValueStore::Last(std::string_view prefix) {
  if (fail_reads_) return Injected("read");
  return ForwardingKeyValueStore::Last(prefix);
}

}  // namespace vrec::features
