// Token-bucket rate limits per client (an API key, or a peer address for requests without one):
// each client may make `burst` requests at once and `rate` per second on average; a request over
// the limit is refused with the time until a token is back (the HTTP layer answers 429 with
// Retry-After).
//
// Memory is bounded: at most `max_clients` buckets are tracked. When that many are live, buckets
// that have refilled completely (clients idle for burst/rate seconds, indistinguishable from new
// ones) are dropped first; if every bucket is in use, the least recently used ones go, so a flood
// of distinct addresses costs at most max_clients * ~100 bytes and only ever makes the limiter
// more lenient to the oldest clients, never stricter.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>

namespace vrec::serving {

struct RateLimit {
  double rate = 0;   // tokens per second; 0 disables the limit
  double burst = 1;  // bucket size (requests allowed at once); >= 1 when rate > 0
};

// Thread-safe: Allow may be called concurrently (buckets live in mutex-guarded shards).
class RateLimiter {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `clock` defaults to std::chrono::steady_clock::now (tests pass a fake).
  RateLimiter(RateLimit limit, size_t max_clients, Clock clock = {});
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  bool enabled() const { return limit_.rate > 0; }

  // Takes one token from `client`'s bucket. true when there was one (always when disabled);
  // false otherwise, with `*retry_after_s` (when not null) set to the seconds until the next
  // token, rounded up to a whole second (>= 1) as Retry-After wants.
  bool Allow(std::string_view client, int* retry_after_s = nullptr);

  // Buckets currently tracked.
  size_t tracked() const;

 private:
  struct Shard;
  static constexpr size_t kShards = 16;

  const RateLimit limit_;
  const size_t shard_capacity_;
  const Clock clock_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace vrec::serving
