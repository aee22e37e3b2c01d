// A minimal parallel loop over index ranges, for CPU-bound batch work (data generation,
// embedding a catalog). Not for the serving path.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace vrec {

// Runs fn(begin, end) over [0, n) in chunks of `chunk` indices on up to `threads` threads (the
// caller's included). Chunks are handed out dynamically, so heavy-tailed work balances. Returns
// when every chunk is done. `fn` must be safe to call concurrently on disjoint ranges.
template <typename Fn>
void ParallelFor(int64_t n, int threads, int64_t chunk, const Fn& fn) {
  chunk = std::max<int64_t>(1, chunk);
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    for (int64_t begin = next.fetch_add(chunk); begin < n; begin = next.fetch_add(chunk)) {
      fn(begin, std::min(n, begin + chunk));
    }
  };
  const int64_t chunks = (n + chunk - 1) / chunk;
  const int spawn = static_cast<int>(std::min<int64_t>(std::max(1, threads), chunks)) - 1;
  std::vector<std::thread> pool;
  for (int i = 0; i < spawn; ++i) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
}

}  // namespace vrec
