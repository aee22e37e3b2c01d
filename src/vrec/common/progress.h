// Progress lines on stderr for long jobs:
//   "pipeline: evaluate two-tower:  40% 4000/10000 users 3.1s eta 4.6s"
// Prints at most every `min_interval_s` and at 100%. The ETA assumes the remaining units cost what
// the finished ones did on average. Thread-safe: Add() may be called from several threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "vrec/common/sys.h"

namespace vrec {

// "850ms", "42.3s", "4m10s", "2h05m": short enough for a progress line, exact enough for an ETA.
std::string FormatDuration(double seconds);

class Progress {
 public:
  // `quiet` silences all output (tests). `unit` names what is counted ("users", "batches"; may be
  // empty).
  // `final_line` false: Finish prints only when an earlier line was printed, so that jobs that end
  // before the first interval stay silent.
  Progress(std::string label, int64_t total, bool quiet = false, double min_interval_s = 1.0,
           std::string unit = "", bool final_line = true);
  ~Progress();

  void Add(int64_t n);
  // Prints the final line (idempotent).
  void Finish();

  // The line printed after `done` of `total` units in `elapsed_s` seconds (no newline); the ETA is
  // left out before the first unit and once done >= total.
  static std::string Line(const std::string& label, int64_t done, int64_t total, double elapsed_s,
                          const std::string& unit = "");

 private:
  void Print(int64_t done);

  std::string label_;
  int64_t total_;
  bool quiet_;
  double min_interval_s_;
  std::string unit_;
  bool final_line_;
  bool printed_ = false;
  std::atomic<int64_t> done_{0};
  std::mutex mu_;
  std::atomic<double> last_print_s_{0};  // read outside the lock to skip it cheaply
  bool finished_ = false;
  Stopwatch clock_;
};

}  // namespace vrec
