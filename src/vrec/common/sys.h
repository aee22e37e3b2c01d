// Process-level measurements for benchmarks and progress output.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace vrec {

// Raises this process's soft RLIMIT_NOFILE towards `wanted` (never above the hard limit, never
// lowering it). Returns the soft limit in effect afterwards (0 when it cannot be read).
int64_t RaiseOpenFileLimit(int64_t wanted);

// This process as Prometheus's process_* metrics describe it (0 where /proc cannot tell).
struct ProcessStats {
  int64_t resident_bytes = 0;
  int64_t virtual_bytes = 0;
  double cpu_seconds = 0;  // user + system
  int64_t open_fds = 0;
  int64_t max_fds = 0;    // soft RLIMIT_NOFILE
  double start_time = 0;  // unix seconds
};
ProcessStats ReadProcessStats();

// Peak resident set size of this process so far, in bytes (getrusage ru_maxrss).
int64_t PeakRssBytes();

// Lowers the calling thread's scheduling priority by `steps` nice levels (at most to 19; on Linux
// nice is per thread), so that its background work yields the CPU to other threads when they
// need it. False when the kernel refuses. Not reversible without privileges.
bool LowerThreadPriority(int steps);

// "hostname:pid": names this process to other processes (a store's writer claim, logs).
std::string ProcessName();

// Monotonic stopwatch.
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  void Reset() { start_ = std::chrono::steady_clock::now(); }

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace vrec
