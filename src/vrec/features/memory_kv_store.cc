#include "vrec/features/memory_kv_store.h"

#include <map>
#include <mutex>
#include <shared_mutex>

#include "vrec/common/strings.h"

namespace vrec::features {

namespace {

// std::string compares with char_traits<char>::compare, which is memcmp order (unsigned bytes),
// the same order as RocksDB's default comparator.
class MemoryKeyValueStore final : public KeyValueStore {
 public:
  StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    std::shared_lock lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

  StatusOr<std::vector<std::optional<std::string>>> MultiGet(std::span<const std::string> keys) override {
    std::vector<std::optional<std::string>> out(keys.size());
    std::shared_lock lock(mu_);
    for (size_t i = 0; i < keys.size(); ++i) {
      auto it = map_.find(keys[i]);
      if (it != map_.end()) out[i] = it->second;
    }
    return out;
  }

  Status Write(const WriteBatch& batch, const WriteOptions& /*options*/) override {
    // One exclusive lock over the whole batch: readers see all of it or none of it.
    std::unique_lock lock(mu_);
    if (batch.empty()) return OkStatus();
    for (const WriteBatch::Expectation& e : batch.expectations()) {
      auto it = map_.find(e.key);
      if (e.value ? it == map_.end() || it->second != *e.value : it != map_.end()) {
        return AbortedError("Write to memory://: a conditional key changed");
      }
    }
    for (const WriteBatch::Op& op : batch.ops()) {
      if (op.type == WriteBatch::OpType::kPut) {
        map_.insert_or_assign(op.key, op.value);
      } else {
        auto it = map_.find(op.key);
        if (it != map_.end()) map_.erase(it);
      }
    }
    return OkStatus();
  }

  StatusOr<std::vector<KeyValue>> Scan(std::string_view prefix, std::string_view start_after,
                                       size_t limit) override {
    if (limit == 0) return InvalidArgumentError("Scan: limit must be positive");
    std::vector<KeyValue> out;
    std::shared_lock lock(mu_);
    auto it = start_after.empty() || start_after < prefix ? map_.lower_bound(prefix)
                                                          : map_.upper_bound(start_after);
    for (; it != map_.end() && out.size() < limit; ++it) {
      if (!std::string_view(it->first).starts_with(prefix)) break;
      out.push_back({it->first, it->second});
    }
    return out;
  }

  StatusOr<std::optional<KeyValue>> Last(std::string_view prefix) override {
    std::shared_lock lock(mu_);
    const std::optional<std::string> end = PrefixSuccessor(prefix);
    auto it = end ? map_.lower_bound(*end) : map_.end();
    if (it == map_.begin()) return std::optional<KeyValue>();
    --it;
    if (!std::string_view(it->first).starts_with(prefix)) return std::optional<KeyValue>();
    return std::optional<KeyValue>(KeyValue{it->first, it->second});
  }

  bool durable() const override { return false; }
  const std::string& uri() const override { return uri_; }

 private:
  const std::string uri_ = "memory://";
  std::shared_mutex mu_;
  std::map<std::string, std::string, std::less<>> map_;
};

}  // namespace

std::unique_ptr<KeyValueStore> NewMemoryKeyValueStore() { return std::make_unique<MemoryKeyValueStore>(); }

}  // namespace vrec::features
