#include "vrec/common/progress.h"

#include <cmath>
#include <cstdio>

#include "vrec/common/strings.h"

namespace vrec {

std::string FormatDuration(double seconds) {
  char buf[32];
  if (!(seconds >= 0) || !std::isfinite(seconds)) return "?";
  if (seconds < 1) {
    std::snprintf(buf, sizeof(buf), "%dms", static_cast<int>(std::lround(seconds * 1000)));
  } else if (seconds < 60) {
    std::snprintf(buf, sizeof(buf), "%.1fs", seconds);
  } else if (seconds < 3600) {
    const auto s = static_cast<long>(std::lround(seconds));
    std::snprintf(buf, sizeof(buf), "%ldm%02lds", s / 60, s % 60);
  } else {
    const auto m = static_cast<long>(std::lround(seconds / 60));
    std::snprintf(buf, sizeof(buf), "%ldh%02ldm", m / 60, m % 60);
  }
  return buf;
}

std::string Progress::Line(const std::string& label, int64_t done, int64_t total, double elapsed_s,
                           const std::string& unit) {
  // Rounded down: 100% only when done.
  const double pct =
      total > 0 ? std::floor(100.0 * static_cast<double>(done) / static_cast<double>(total)) : 100.0;
  char head[64];
  std::snprintf(head, sizeof(head), "%3.0f%% ", pct);
  std::string line = StrCat(label, ": ", head, done, "/", total, unit.empty() ? "" : " ", unit, " ",
                            FormatDuration(elapsed_s));
  if (done > 0 && done < total) {
    const double eta = elapsed_s * static_cast<double>(total - done) / static_cast<double>(done);
    line += StrCat(" eta ", FormatDuration(eta));
  }
  return line;
}

Progress::Progress(std::string label, int64_t total, bool quiet, double min_interval_s, std::string unit,
                   bool final_line)
    : label_(std::move(label)),
      total_(total),
      quiet_(quiet),
      min_interval_s_(min_interval_s),
      unit_(std::move(unit)),
      final_line_(final_line) {}

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
  if (!quiet_ && (final_line_ || printed_)) Print(done_.load());
}

void Progress::Print(int64_t done) {
  printed_ = true;
  std::fprintf(stderr, "%s\n", Line(label_, done, total_, clock_.Seconds(), unit_).c_str());
}

}  // namespace vrec
