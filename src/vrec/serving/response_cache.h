// A short-TTL in-process cache of rendered responses (e.g. the JSON of GET /recommend for one user
// and one set of parameters), so that a client refreshing a page does not run the pipeline again.
//
// Every entry carries a tag (the user id): when the user's state changes (an event arrives), the
// caller drops all of that user's entries with InvalidateTag so that the next request recomputes;
// admin changes (promotions, a new model) call Clear.
//
// Stale writes. A request that started computing before an invalidation must not store its
// now-stale result after it. The caller takes a token with Snapshot(tag) BEFORE reading the state it
// computes from, and passes it to Put: Put drops the value if the tag was invalidated (or the cache
// cleared) since the snapshot. Tags are tracked by a fixed table of hashed generation counters, so
// memory stays bounded; two tags that share a slot only cause an occasional dropped Put.
//
// Memory is bounded twice, by max_entries and by max_bytes (keys, tags and values plus a fixed
// per-entry overhead), with LRU eviction per shard: a client that varies parameters to make
// every response unique cannot grow the cache beyond either bound.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace vrec::serving {

// Thread-safe: every method may be called concurrently. Entries live in shards chosen by a hash of
// the key, each with its own mutex and LRU list, so concurrent requests rarely contend.
class ResponseCache {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // What Put needs to know that no invalidation happened since the caller started computing.
  struct Token {
    uint64_t tag_generation = 0;
    uint64_t clear_generation = 0;
  };

  // Holds at most about `max_entries` entries (rounded up to a multiple of the shard count) and
  // `max_bytes` bytes (each shard gets an equal share; an entry larger than a share is not
  // stored), each valid for `ttl` after its Put. ttl 0 or max_entries 0 disables the cache: Get
  // always misses (without counting) and Put does nothing. `clock` defaults to
  // std::chrono::steady_clock::now (tests pass a fake). `num_shards` is clamped to
  // [1, max(1, max_entries)].
  ResponseCache(size_t max_entries, std::chrono::milliseconds ttl, Clock clock = {}, size_t num_shards = 16,
                size_t max_bytes = SIZE_MAX);

  // Bytes an entry is charged: its key, tag and value plus this (list node, index entries).
  static constexpr size_t kEntryOverheadBytes = 160;
  ~ResponseCache();
  ResponseCache(const ResponseCache&) = delete;
  ResponseCache& operator=(const ResponseCache&) = delete;

  bool enabled() const { return enabled_; }

  // Returns the value stored under `key` if it has not expired (and makes it the most recently
  // used), else nullopt; an expired entry is removed. Counts a hit or a miss when enabled.
  std::optional<std::string> Get(std::string_view key);

  // Call before reading the state a response is computed from; pass the token to Put.
  Token Snapshot(std::string_view user_tag) const;

  // Stores `value` under `key` (replacing any entry with that key), tagged `user_tag`, valid for
  // ttl from now; evicts the least recently used entry of the shard when it is full. Does nothing
  // when the cache is disabled or when `token` is older than an InvalidateTag(user_tag) or Clear.
  void Put(std::string key, std::string user_tag, std::string value, Token token);

  // Put with a token taken now: only for callers with no concurrent invalidation to race with.
  void Put(std::string key, std::string user_tag, std::string value);

  // Removes every entry tagged `user_tag`, and makes Puts with earlier tokens for it no-ops. Call
  // it after the change is visible to readers of the state (e.g. after the event is applied).
  void InvalidateTag(std::string_view user_tag);

  // Removes every entry, and makes Puts with earlier tokens no-ops.
  void Clear();

  // Number of entries stored (expired ones included until they are touched or evicted).
  size_t size() const;
  // Bytes charged for the entries stored (see kEntryOverheadBytes).
  size_t bytes() const;
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  // Entries dropped to make room (not counting expiry, invalidation or Clear).
  uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }

 private:
  struct Shard;
  // Generation counters of hashed tags (see the file comment). 4096 slots: 32 KiB.
  static constexpr size_t kTagSlots = 4096;

  Shard& ShardFor(std::string_view key) const;
  std::atomic<uint64_t>& TagSlot(std::string_view tag) const;

  const bool enabled_;
  const std::chrono::milliseconds ttl_;
  const Clock clock_;
  size_t shard_capacity_ = 0;
  size_t shard_byte_capacity_ = 0;
  std::unique_ptr<Shard[]> shards_;
  size_t num_shards_ = 0;
  mutable std::array<std::atomic<uint64_t>, kTagSlots> tag_generations_{};
  std::atomic<uint64_t> clear_generation_{0};
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  std::atomic<uint64_t> evictions_{0};
};

}  // namespace vrec::serving
