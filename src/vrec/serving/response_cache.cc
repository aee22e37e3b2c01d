#include "vrec/serving/response_cache.h"

#include <algorithm>
#include <list>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "vrec/common/hash.h"

namespace vrec::serving {
namespace {

// FNV-1a with the high half folded in: FNV's low bits alone, which pick the shard, mix poorly.
uint64_t Hash(std::string_view s) {
  Hasher h;
  h.Update(s);
  const uint64_t v = h.Value();
  return v ^ (v >> 29) ^ (v >> 47);
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

}  // namespace

struct ResponseCache::Shard {
  struct Entry {
    std::string key;
    std::string tag;
    std::string value;
    std::chrono::steady_clock::time_point expires;
    size_t Bytes() const { return key.size() + tag.size() + value.size() + kEntryOverheadBytes; }
  };
  using List = std::list<Entry>;  // most recently used first

  // Removes `it` from the list and both indexes. Called with mu held.
  void Erase(List::iterator it) {
    auto tag_it = by_tag.find(it->tag);
    if (tag_it != by_tag.end()) {
      auto& entries = tag_it->second;
      entries.erase(std::find(entries.begin(), entries.end(), it));
      if (entries.empty()) by_tag.erase(tag_it);
    }
    bytes -= it->Bytes();
    by_key.erase(it->key);
    lru.erase(it);
  }

  std::mutex mu;
  size_t bytes = 0;  // sum of Bytes() over lru
  List lru;
  std::unordered_map<std::string, List::iterator, StringHash, std::equal_to<>> by_key;
  // A user has few entries (one per distinct parameter set), so a vector is the cheapest index.
  std::unordered_map<std::string, std::vector<List::iterator>, StringHash, std::equal_to<>> by_tag;
};

ResponseCache::ResponseCache(size_t max_entries, std::chrono::milliseconds ttl, Clock clock,
                             size_t num_shards, size_t max_bytes)
    : enabled_(max_entries > 0 && ttl.count() > 0 && max_bytes > 0),
      ttl_(ttl),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })) {
  num_shards_ = std::clamp<size_t>(num_shards, 1, std::max<size_t>(1, max_entries));
  shard_capacity_ = (max_entries + num_shards_ - 1) / num_shards_;
  shard_byte_capacity_ = max_bytes / num_shards_;
  shards_ = std::make_unique<Shard[]>(num_shards_);
}

ResponseCache::~ResponseCache() = default;

ResponseCache::Shard& ResponseCache::ShardFor(std::string_view key) const {
  return shards_[Hash(key) % num_shards_];
}

std::atomic<uint64_t>& ResponseCache::TagSlot(std::string_view tag) const {
  return tag_generations_[Hash(tag) % kTagSlots];
}

std::optional<std::string> ResponseCache::Get(std::string_view key) {
  if (!enabled_) return std::nullopt;
  Shard& shard = ShardFor(key);
  const auto now = clock_();
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.by_key.find(key);
  if (it == shard.by_key.end()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  if (now >= it->second->expires) {
    shard.Erase(it->second);
    misses_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
  hits_.fetch_add(1, std::memory_order_relaxed);
  return it->second->value;
}

ResponseCache::Token ResponseCache::Snapshot(std::string_view user_tag) const {
  // Acquire pairs with the release increments in InvalidateTag/Clear; the shard mutex in Put then
  // orders the comparison against the erasure (see Put).
  return Token{TagSlot(user_tag).load(std::memory_order_acquire),
               clear_generation_.load(std::memory_order_acquire)};
}

void ResponseCache::Put(std::string key, std::string user_tag, std::string value) {
  const Token token = Snapshot(user_tag);
  Put(std::move(key), std::move(user_tag), std::move(value), token);
}

void ResponseCache::Put(std::string key, std::string user_tag, std::string value, Token token) {
  if (!enabled_) return;
  Shard& shard = ShardFor(key);
  const auto expires = clock_() + ttl_;
  std::atomic<uint64_t>& slot = TagSlot(user_tag);
  std::lock_guard<std::mutex> lock(shard.mu);
  // Checked under the shard lock: an invalidation either bumped its counter before its own pass
  // over this shard (then we see the new generation here, since its unlock of this shard precedes
  // our lock) or its pass comes after us (then it erases what we insert).
  if (slot.load(std::memory_order_acquire) != token.tag_generation ||
      clear_generation_.load(std::memory_order_acquire) != token.clear_generation) {
    return;
  }
  auto existing = shard.by_key.find(key);
  if (existing != shard.by_key.end()) shard.Erase(existing->second);
  Shard::Entry entry{std::move(key), std::move(user_tag), std::move(value), expires};
  const size_t bytes = entry.Bytes();
  if (bytes > shard_byte_capacity_) return;
  while (!shard.lru.empty() &&
         (shard.lru.size() >= shard_capacity_ || shard.bytes + bytes > shard_byte_capacity_)) {
    shard.Erase(std::prev(shard.lru.end()));
    evictions_.fetch_add(1, std::memory_order_relaxed);
  }
  shard.lru.push_front(std::move(entry));
  shard.bytes += bytes;
  auto it = shard.lru.begin();
  shard.by_key.emplace(it->key, it);
  shard.by_tag[it->tag].push_back(it);
}

void ResponseCache::InvalidateTag(std::string_view user_tag) {
  TagSlot(user_tag).fetch_add(1, std::memory_order_acq_rel);
  if (!enabled_) return;
  // A tag's entries are spread over the shards by key, so every shard is visited (16 uncontended
  // lock/unlock pairs per event).
  for (size_t i = 0; i < num_shards_; ++i) {
    Shard& shard = shards_[i];
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.by_tag.find(user_tag);
    if (it == shard.by_tag.end()) continue;
    std::vector<Shard::List::iterator> entries = std::move(it->second);
    shard.by_tag.erase(it);
    for (auto e : entries) {
      shard.bytes -= e->Bytes();
      shard.by_key.erase(e->key);
      shard.lru.erase(e);
    }
  }
}

void ResponseCache::Clear() {
  clear_generation_.fetch_add(1, std::memory_order_acq_rel);
  for (size_t i = 0; i < num_shards_; ++i) {
    Shard& shard = shards_[i];
    std::lock_guard<std::mutex> lock(shard.mu);
    shard.by_key.clear();
    shard.by_tag.clear();
    shard.lru.clear();
    shard.bytes = 0;
  }
}

size_t ResponseCache::size() const {
  size_t n = 0;
  for (size_t i = 0; i < num_shards_; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    n += shards_[i].lru.size();
  }
  return n;
}

size_t ResponseCache::bytes() const {
  size_t n = 0;
  for (size_t i = 0; i < num_shards_; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    n += shards_[i].bytes;
  }
  return n;
}

}  // namespace vrec::serving
