#include "vrec/common/progress.h"

#include <cstdio>

namespace vrec {

Progress::Progress(std::string label, int64_t total, bool quiet, double min_interval_s)
    : label_(std::move(label)), total_(total), quiet_(quiet), min_interval_s_(min_interval_s) {}

Progress::~Progress() { Finish(); }

void Progress::Add(int64_t n) {
  int64_t done = done_.fetch_add(n) + n;
  if (quiet_) return;
  double now = clock_.Seconds();
  if (now - last_print_s_ < min_interval_s_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (now - last_print_s_ < min_interval_s_ || finished_) return;
  last_print_s_ = now;
  Print(done);
}

void Progress::Finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  finished_ = true;
  if (!quiet_) Print(done_.load());
}

void Progress::Print(int64_t done) {
  double pct = total_ > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 100.0;
  std::fprintf(stderr, "%s: %3.0f%% %lld/%lld %.1fs\n", label_.c_str(), pct, static_cast<long long>(done),
               static_cast<long long>(total_), clock_.Seconds());
}

}  // namespace vrec
