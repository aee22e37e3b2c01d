// Top-k selection over a stream of scored indices: best first, ties broken by the lower index. The
// result equals sorting every offered (score, index) by (score descending, index ascending) and
// keeping k, in O(n + k log k) time and O(k) memory, so callers need not materialise and
// partially sort a candidate list the size of the catalog.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace vrec {

class TopK {
 public:
  explicit TopK(size_t k = 0) { Reset(k); }

  // Starts a new selection of `k` (keeps the buffer's capacity).
  void Reset(size_t k) {
    k_ = k;
    buf_.clear();
    full_ = false;
  }

  void Push(double score, uint32_t index) {
    if (k_ == 0) return;
    if (full_ && !Better({score, index}, worst_)) return;
    buf_.push_back({score, index});
    if (buf_.size() >= 2 * k_ + 64) Shrink();
  }

  // A score below this cannot enter the selection (the lowest score kept so far once the buffer
  // has been cut to k; -infinity before): lets a caller skip a block of scores at once.
  double Bar() const { return full_ ? worst_.score : -std::numeric_limits<double>::infinity(); }

  // The selected indices, best first (at most k). The selection is left empty.
  void Finish(std::vector<uint32_t>& out) {
    if (buf_.size() > k_) Shrink();
    std::sort(buf_.begin(), buf_.end(), Better);
    out.resize(buf_.size());
    for (size_t i = 0; i < buf_.size(); ++i) out[i] = buf_[i].index;
    Reset(k_);
  }

 private:
  struct Entry {
    double score;
    uint32_t index;
  };
  static bool Better(const Entry& a, const Entry& b) {
    return a.score != b.score ? a.score > b.score : a.index < b.index;
  }
  // Keeps the k best; the k-th becomes the bar a new entry must beat.
  void Shrink() {
    std::nth_element(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(k_ - 1), buf_.end(), Better);
    buf_.resize(k_);
    worst_ = buf_[k_ - 1];
    full_ = true;
  }

  size_t k_ = 0;
  std::vector<Entry> buf_;
  bool full_ = false;
  Entry worst_{0, 0};
};

}  // namespace vrec
