#include "vrec/ordering/exploration.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <unordered_set>

#include "vrec/common/hash.h"

namespace vrec::ordering {

Engagement EngagementOf(const features::CounterValues& counters) {
  using features::CounterKind;
  using features::CounterWindow;
  return {.successes = static_cast<double>(counters(CounterKind::kPlays, CounterWindow::kAllTime)),
          .failures = static_cast<double>(counters(CounterKind::kSkips, CounterWindow::kAllTime))};
}

bool IsFresh(int64_t upload_time, int64_t now, double fresh_hours) {
  if (upload_time == data::kUnknownTime) return false;
  // In double: the difference of two arbitrary int64 times could overflow.
  const double age_s = static_cast<double>(now) - static_cast<double>(upload_time);
  return age_s <= fresh_hours * 3600.0;
}

std::vector<uint32_t> FreshCandidates(std::span<const filtering::Candidate> candidates,
                                      const data::CatalogView& catalog, int64_t now,
                                      const ExploreOptions& options, int count) {
  const size_t limit = static_cast<size_t>(std::max(options.candidates, 0) + std::max(count, 0));
  std::vector<uint32_t> out;
  for (const filtering::Candidate& c : candidates) {
    if (out.size() >= limit) break;
    if (c.video >= catalog.num_videos()) continue;
    if (!IsFresh(catalog.video(c.video).upload_time, now, options.fresh_hours)) continue;
    if (std::find(out.begin(), out.end(), c.video) != out.end()) continue;  // tens of videos: a scan is cheap
    out.push_back(c.video);
  }
  return out;
}

std::vector<uint32_t> ExplorePool(std::span<const uint32_t> fresh, std::span<const OrderedItem> list,
                                  const ExploreOptions& options) {
  std::vector<uint32_t> out;
  const size_t limit = static_cast<size_t>(std::max(options.candidates, 0));
  for (const uint32_t v : fresh) {
    if (out.size() >= limit) break;
    if (std::any_of(list.begin(), list.end(), [v](const OrderedItem& o) { return o.video == v; })) continue;
    if (std::find(out.begin(), out.end(), v) != out.end()) continue;
    out.push_back(v);
  }
  return out;
}

uint64_t ExploreRng::Next() { return SplitMix64(state_); }

double ExploreRng::Uniform() {
  // The top 53 bits, shifted by half a step: in (0, 1), never 0 (log) nor 1.
  return (static_cast<double>(Next() >> 11) + 0.5) * 0x1.0p-53;
}

double ExploreRng::Normal() {
  return std::sqrt(-2.0 * std::log(Uniform())) * std::cos(2.0 * std::numbers::pi * Uniform());
}

double SampleGamma(double shape, ExploreRng& rng) {
  if (shape < 1) {
    // Gamma(a) = Gamma(a + 1) * U^(1/a) (Marsaglia and Tsang's boost for shapes below 1).
    const double u = rng.Uniform();
    return SampleGamma(shape + 1, rng) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x = 0, v = 0;
    do {
      x = rng.Normal();
      v = 1.0 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = rng.Uniform();
    const double x2 = x * x;
    if (u < 1.0 - 0.0331 * x2 * x2) return d * v;
    if (std::log(u) < 0.5 * x2 + d * (1.0 - v + std::log(v))) return d * v;
  }
}

double SampleBeta(double a, double b, ExploreRng& rng) {
  const double x = SampleGamma(a, rng);
  const double y = SampleGamma(b, rng);
  // Both can underflow to 0 for tiny shapes: the mean is then the best answer left.
  if (!(x + y > 0)) return a / (a + b);
  return x / (x + y);
}

namespace {

// Step 1: share * count slots, the fractional part as the chance of one more.
int Slots(double share, int count, ExploreRng& rng) {
  const double want = share * static_cast<double>(count);
  // The epsilon keeps 0.3 * 10 = 3.0000000000000004 from drawing a fourth slot once in 1e16.
  int slots = static_cast<int>(std::floor(want + 1e-9));
  const double fraction = want - static_cast<double>(slots);
  if (fraction > 1e-9 && rng.Uniform() < fraction) ++slots;
  return std::min(slots, count);
}

// The 0-based indices of `slots` exploration slots in a list of `length`, none on a promotional
// item; fewer when `positions` lists fewer within the list. `fixed[i]`: item i is a promo.
std::vector<size_t> SlotIndices(size_t slots, size_t length, const std::vector<char>& fixed,
                                const std::vector<int>& positions) {
  std::vector<size_t> wanted;
  if (positions.empty()) {
    // Evenly spread: slot i at the middle of the i-th of `slots` equal stretches.
    for (size_t i = 0; i < slots; ++i) wanted.push_back((2 * i + 1) * length / (2 * slots));
  } else {
    for (const int p : positions) {
      if (wanted.size() == slots) break;
      if (p >= 1 && static_cast<size_t>(p) <= length) wanted.push_back(static_cast<size_t>(p - 1));
    }
  }
  // A wanted slot on a promo, or taken already, moves to the next free one (then the previous).
  std::vector<char> taken = fixed;
  std::vector<size_t> out;
  for (size_t w : wanted) {
    size_t at = w;
    while (at < length && taken[at]) ++at;
    if (at == length) {
      at = w;
      while (at > 0 && taken[at]) --at;
      if (taken[at]) continue;  // no free slot left
    }
    taken[at] = 1;
    out.push_back(at);
  }
  return out;
}

}  // namespace

void Explore(std::vector<OrderedItem>& list, int count, std::span<const FreshCandidate> fresh,
             const ExploreOptions& options, ExploreRng& rng, ExploreTrace* trace) {
  if (count <= 0) {
    list.clear();
    return;
  }
  if (list.size() > static_cast<size_t>(count)) list.resize(static_cast<size_t>(count));
  if (!(options.share > 0) || fresh.empty()) return;

  // Step 2: the pool, with each video's first evidence.
  std::vector<uint32_t> videos;
  videos.reserve(fresh.size());
  for (const FreshCandidate& f : fresh) videos.push_back(f.video);
  const std::vector<uint32_t> pool = ExplorePool(videos, list, options);
  if (pool.empty()) return;
  const int slots = Slots(options.share, count, rng);
  if (slots == 0) return;

  // Step 3: one theta per pool video; the largest win.
  struct Draw {
    uint32_t video;
    Engagement engagement;
    double theta;
  };
  std::vector<Draw> draws;
  draws.reserve(pool.size());
  for (const uint32_t v : pool) {
    const auto it =
        std::find_if(fresh.begin(), fresh.end(), [v](const FreshCandidate& f) { return f.video == v; });
    const Engagement e = it->engagement;
    // Evidence that is negative or not finite (a corrupt counter) counts as none.
    const auto valid = [](double x) { return std::isfinite(x) && x > 0 ? x : 0.0; };
    const double successes = valid(e.successes), failures = valid(e.failures);
    draws.push_back({v, e, SampleBeta(options.prior_plays + successes, options.prior_skips + failures, rng)});
  }
  // Ties keep the pool's order (the nearest to the user first).
  std::stable_sort(draws.begin(), draws.end(),
                   [](const Draw& a, const Draw& b) { return a.theta > b.theta; });

  // Step 4: where the winners go. Promos keep their indices (Order put them at their positions).
  size_t explored = std::min(static_cast<size_t>(slots), draws.size());
  std::vector<size_t> at;
  size_t length = 0;
  std::vector<char> fixed;
  // Explicit positions beyond the list shrink the number of slots, which can shrink the list:
  // repeat until both agree (each round only lowers them).
  for (;;) {
    length = std::min(static_cast<size_t>(count), list.size() + explored);
    fixed.assign(length, 0);
    for (size_t i = 0; i < std::min(length, list.size()); ++i)
      fixed[i] = list[i].reason == OrderedItem::kPromoted;
    at = SlotIndices(explored, length, fixed, options.positions);
    if (at.size() == explored) break;
    explored = at.size();
  }
  if (explored == 0) return;

  std::vector<OrderedItem> out(length);
  std::vector<char> filled(length, 0);
  for (size_t i = 0; i < length; ++i) {
    if (fixed[i]) {
      out[i] = list[i];
      filled[i] = 1;
    }
  }
  for (size_t k = 0; k < explored; ++k) {
    const Draw& d = draws[k];
    out[at[k]] = {d.video, static_cast<float>(d.theta), OrderedItem::kExplored};
    filled[at[k]] = 1;
    if (trace != nullptr) trace->items[d.video] = {d.engagement, d.theta};
  }
  // The ranked items, in order, into the remaining slots.
  size_t next = 0;
  for (const OrderedItem& item : list) {
    if (item.reason == OrderedItem::kPromoted) continue;
    while (next < length && filled[next]) ++next;
    if (next == length) break;
    out[next] = item;
    filled[next] = 1;
  }
  list = std::move(out);
}

}  // namespace vrec::ordering
