// Progress lines on stderr for long jobs ("synth interactions: 40% 4000000/10000000 3.1s").
// Prints at most every `min_interval_s` and at 100%. Thread-safe: Add() may be called from
// several threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "vrec/common/sys.h"

namespace vrec {

class Progress {
 public:
  // `quiet` silences all output (tests).
  Progress(std::string label, int64_t total, bool quiet = false, double min_interval_s = 1.0);
  ~Progress();

  void Add(int64_t n);
  // Prints the final line (idempotent).
  void Finish();

 private:
  void Print(int64_t done);

  std::string label_;
  int64_t total_;
  bool quiet_;
  double min_interval_s_;
  std::atomic<int64_t> done_{0};
  std::mutex mu_;
  double last_print_s_ = 0;
  bool finished_ = false;
  Stopwatch clock_;
};

}  // namespace vrec
