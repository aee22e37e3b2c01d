#include "vrec/data/split.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <numeric>

namespace vrec::data {

Split StratifiedSplit(const std::vector<Interaction>& rows, double ratio, StratifyBy by, uint32_t seed) {
  const size_t n = rows.size();
  NumpyLegacyRandom rng(seed);
  std::vector<double> r(n);
  for (double& x : r) x = rng.Rand();
  auto group = [&](size_t i) { return by == StratifyBy::kItem ? rows[i].video : rows[i].user; };
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    if (group(a) != group(b)) return group(a) < group(b);
    return r[a] < r[b];
  });
  std::vector<bool> is_train(n, false);
  for (size_t begin = 0; begin < n;) {
    size_t end = begin;
    while (end < n && group(order[end]) == group(order[begin])) ++end;
    // std::nearbyint rounds half to even in the default rounding mode, as numpy's round does.
    const auto keep = static_cast<size_t>(std::nearbyint(ratio * static_cast<double>(end - begin)));
    for (size_t k = begin; k < begin + keep; ++k) is_train[order[k]] = true;
    begin = end;
  }
  Split s;
  for (size_t i = 0; i < n; ++i) (is_train[i] ? s.train : s.test).push_back(rows[i]);
  return s;
}

Split TemporalSplit(const std::vector<Interaction>& rows, int n) {
  std::vector<uint32_t> order(rows.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    if (rows[a].user != rows[b].user) return rows[a].user < rows[b].user;
    return rows[a].timestamp < rows[b].timestamp;
  });
  std::vector<bool> is_test(rows.size(), false);
  for (size_t begin = 0; begin < order.size();) {
    size_t end = begin;
    while (end < order.size() && rows[order[end]].user == rows[order[begin]].user) ++end;
    if (end - begin > static_cast<size_t>(n)) {
      for (size_t k = end - n; k < end; ++k) is_test[order[k]] = true;
    }
    begin = end;
  }
  Split s;
  uint32_t max_video = 0;
  for (const Interaction& x : rows) max_video = std::max(max_video, x.video);
  std::vector<bool> in_train(static_cast<size_t>(max_video) + 1, false);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!is_test[i]) {
      s.train.push_back(rows[i]);
      in_train[rows[i].video] = true;
    }
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    if (is_test[i] && in_train[rows[i].video]) s.test.push_back(rows[i]);
  }
  return s;
}

std::optional<int64_t> TimeCut(const std::vector<Interaction>& rows, double test_fraction) {
  assert(test_fraction > 0 && test_fraction < 1);
  if (rows.empty()) return std::nullopt;
  std::vector<int64_t> times(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) times[i] = rows[i].timestamp;
  std::sort(times.begin(), times.end());
  const size_t n = times.size();
  const auto wanted = static_cast<size_t>(std::clamp<long long>(
      std::llround(test_fraction * static_cast<double>(n)), 1, static_cast<long long>(n)));
  int64_t cut = times[n - wanted];
  if (cut == times.front()) {
    const auto later = std::upper_bound(times.begin(), times.end(), cut);
    if (later == times.end()) return std::nullopt;
    cut = *later;
  }
  return cut;
}

Split TimeCutSplit(const std::vector<Interaction>& rows, double test_fraction) {
  Split s;
  const std::optional<int64_t> cut = TimeCut(rows, test_fraction);
  if (!cut) {
    s.train = rows;
    return s;
  }
  uint32_t max_user = 0, max_video = 0;
  for (const Interaction& x : rows) {
    max_user = std::max(max_user, x.user);
    max_video = std::max(max_video, x.video);
  }
  std::vector<bool> user_in_train(static_cast<size_t>(max_user) + 1, false);
  std::vector<bool> video_in_train(static_cast<size_t>(max_video) + 1, false);
  for (const Interaction& x : rows) {
    if (x.timestamp < *cut) {
      s.train.push_back(x);
      user_in_train[x.user] = true;
      video_in_train[x.video] = true;
    }
  }
  for (const Interaction& x : rows) {
    if (x.timestamp >= *cut && user_in_train[x.user] && video_in_train[x.video]) s.test.push_back(x);
  }
  return s;
}

}  // namespace vrec::data
