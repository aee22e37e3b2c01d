#include "vrec/serving/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "vrec/common/hash.h"

namespace vrec::serving {

struct RateLimiter::Shard {
  struct Bucket {
    std::string client;
    double tokens = 0;
    std::chrono::steady_clock::time_point updated;
  };
  using List = std::list<Bucket>;  // most recently used first

  std::mutex mu;
  List lru;
  std::unordered_map<std::string_view, List::iterator> index;  // views into the list's strings
};

RateLimiter::RateLimiter(RateLimit limit, size_t max_clients, Clock clock)
    : limit_(limit),
      shard_capacity_(std::max<size_t>(1, max_clients / kShards)),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })),
      shards_(std::make_unique<Shard[]>(kShards)) {}

RateLimiter::~RateLimiter() = default;

bool RateLimiter::Allow(std::string_view client, int* retry_after_s) {
  if (!enabled()) return true;
  Hasher h;
  h.Update(client);
  Shard& shard = shards_[h.Value() % kShards];
  const auto now = clock_();
  std::lock_guard lock(shard.mu);
  auto found = shard.index.find(client);
  Shard::List::iterator bucket;
  if (found != shard.index.end()) {
    bucket = found->second;
    const double elapsed = std::chrono::duration<double>(now - bucket->updated).count();
    bucket->tokens = std::min(limit_.burst, bucket->tokens + std::max(0.0, elapsed) * limit_.rate);
    bucket->updated = now;
    shard.lru.splice(shard.lru.begin(), shard.lru, bucket);
  } else {
    if (shard.lru.size() >= shard_capacity_) {
      // Full buckets first: forgetting them changes nothing.
      for (auto it = shard.lru.begin(); it != shard.lru.end();) {
        const double elapsed = std::chrono::duration<double>(now - it->updated).count();
        if (it->tokens + elapsed * limit_.rate >= limit_.burst) {
          shard.index.erase(it->client);
          it = shard.lru.erase(it);
        } else {
          ++it;
        }
      }
      while (shard.lru.size() >= shard_capacity_) {
        shard.index.erase(shard.lru.back().client);
        shard.lru.pop_back();
      }
    }
    shard.lru.push_front(Shard::Bucket{std::string(client), limit_.burst, now});
    bucket = shard.lru.begin();
    shard.index.emplace(bucket->client, bucket);
  }
  if (bucket->tokens >= 1.0) {
    bucket->tokens -= 1.0;
    return true;
  }
  if (retry_after_s) {
    *retry_after_s = std::max(1, static_cast<int>(std::ceil((1.0 - bucket->tokens) / limit_.rate)));
  }
  return false;
}

size_t RateLimiter::tracked() const {
  size_t n = 0;
  for (size_t i = 0; i < kShards; ++i) {
    std::lock_guard lock(shards_[i].mu);
    n += shards_[i].lru.size();
  }
  return n;
}

}  // namespace vrec::serving
