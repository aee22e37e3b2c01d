#include "vrec/features/counters.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "vrec/common/check.h"
#include "vrec/common/strings.h"

namespace vrec::features {
namespace {

constexpr int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Absolute bucket index of `time` for ring r, clamped into int32 (the events API bounds times to
// 10^11 s, whose 5-minute buckets fit; the clamp guards imported data).
int32_t BucketOf(size_t r, int64_t time) {
  const int64_t b = FloorDiv(time, kWindowLayouts[r].bucket_s);
  return static_cast<int32_t>(std::clamp<int64_t>(b, INT32_MIN + 1, INT32_MAX));
}

constexpr size_t RingSize(size_t r) { return static_cast<size_t>(kWindowLayouts[r].buckets) + 2; }
static_assert(RingSize(0) <= kMaxRingSlots && RingSize(1) <= kMaxRingSlots && RingSize(2) <= kMaxRingSlots);

size_t RingIndex(size_t r, int32_t bucket) {
  const auto n = static_cast<int64_t>(RingSize(r));
  return static_cast<size_t>(((static_cast<int64_t>(bucket) % n) + n) % n);
}

}  // namespace

std::string_view Name(CounterKind kind) {
  static constexpr std::string_view kNames[] = {"plays", "likes",       "comments", "shares",
                                                "skips", "completions", "watch_s"};
  return kNames[static_cast<size_t>(kind)];
}

std::string_view Name(CounterWindow window) {
  static constexpr std::string_view kNames[] = {"1h", "24h", "7d", "all"};
  return kNames[static_cast<size_t>(window)];
}

CounterIncrement IncrementOf(data::EventType type, float watch_ratio, float duration_s) {
  CounterIncrement inc{};
  auto at = [&](CounterKind k) -> uint32_t& { return inc[static_cast<size_t>(k)]; };
  switch (type) {
    case data::EventType::kPlay:
      at(CounterKind::kPlays) = 1;
      if (!data::IsMissing(watch_ratio) && watch_ratio >= kCompletionRatio) at(CounterKind::kCompletions) = 1;
      break;
    case data::EventType::kRating:
      at(CounterKind::kPlays) = 1;
      break;
    case data::EventType::kLike:
      at(CounterKind::kLikes) = 1;
      break;
    case data::EventType::kComment:
      at(CounterKind::kComments) = 1;
      break;
    case data::EventType::kShare:
      at(CounterKind::kShares) = 1;
      break;
    case data::EventType::kSkip:
      at(CounterKind::kSkips) = 1;
      break;
    case data::EventType::kImpression:
      break;
  }
  if (!data::IsMissing(watch_ratio) && !data::IsMissing(duration_s) && watch_ratio > 0 && duration_s > 0) {
    // Whole seconds, so that sums do not depend on the order events are applied in. Bounded:
    // ratios are at most 10 and durations 1e7 s (the APIs' bounds); clamp for imported data.
    const double s = std::round(static_cast<double>(watch_ratio) * static_cast<double>(duration_s));
    at(CounterKind::kWatchSeconds) = static_cast<uint32_t>(std::min(s, 4e9));
  }
  return inc;
}

// --- CounterSeries ---

const CounterSeries::Slot* CounterSeries::Find(const Ring& ring, size_t r, int64_t bucket) {
  if (bucket < INT32_MIN + 1 || bucket > INT32_MAX) return nullptr;
  const Slot& s = ring.slots[RingIndex(r, static_cast<int32_t>(bucket))];
  return s.bucket == bucket ? &s : nullptr;
}

void CounterSeries::AddToRing(size_t r, int32_t bucket,
                              const std::array<uint32_t, kNumCounterKinds>& increment) {
  const int64_t n = kWindowLayouts[r].buckets;
  std::unique_ptr<Ring>& ring = rings_[r];
  if (ring && static_cast<int64_t>(bucket) < static_cast<int64_t>(ring->head) - (n + 1)) {
    return;  // older than the ring's reach: outside the window for every allowed read
  }
  if (!ring) ring = std::make_unique<Ring>();
  if (bucket > ring->head) {
    // The buckets leaving head-N+1 .. head leave the running sum.
    if (static_cast<int64_t>(bucket) - n >= static_cast<int64_t>(ring->head)) {
      ring->recent = {};  // all of them (also the common case of an entity's first event in a while)
    } else {
      const int64_t first = static_cast<int64_t>(ring->head) - n + 1;
      const int64_t last = std::min<int64_t>(static_cast<int64_t>(bucket) - n, ring->head);
      for (int64_t b = std::max(first, last - n); b <= last; ++b) {
        if (const Slot* s = Find(*ring, r, b)) {
          for (size_t k = 0; k < kNumCounterKinds; ++k) ring->recent[k] -= s->values[k];
        }
      }
    }
    ring->head = bucket;
  }
  ring->cached_for = INT32_MIN;
  Slot& slot = ring->slots[RingIndex(r, bucket)];
  if (slot.bucket != bucket) slot = Slot{.bucket = bucket};  // a stale bucket (or empty) is reused
  const bool recent = static_cast<int64_t>(bucket) > static_cast<int64_t>(ring->head) - n;
  for (size_t k = 0; k < kNumCounterKinds; ++k) {
    slot.values[k] += increment[k];
    if (recent) ring->recent[k] += increment[k];
  }
}

void CounterSeries::Add(int64_t time, const CounterIncrement& increment) {
  for (size_t k = 0; k < kNumCounterKinds; ++k) totals_[k] += increment[k];
  for (size_t r = 0; r < kWindowLayouts.size(); ++r) AddToRing(r, BucketOf(r, time), increment);
}

CounterValues CounterSeries::Read(int64_t as_of) const {
  CounterValues out;
  auto& all = out.v[static_cast<size_t>(CounterWindow::kAllTime)];
  all = totals_;
  for (size_t r = 0; r < kWindowLayouts.size(); ++r) {
    if (!rings_[r]) continue;
    const Ring& ring = *rings_[r];
    const int64_t n = kWindowLayouts[r].buckets;
    const int64_t current = BucketOf(r, as_of), head = ring.head;
    auto& window = out.v[r];
    const auto add = [&](int64_t b, int sign) {
      if (const Slot* s = Find(ring, r, b)) {
        for (size_t k = 0; k < kNumCounterKinds; ++k) window[k] += sign * static_cast<int64_t>(s->values[k]);
      }
    };
    // The window is current-N .. current-1; `recent` holds head-N+1 .. head.
    if (current == ring.cached_for) {
      window = ring.cached;
    } else if (current - n > head) {
      // Every bucket is older than the window: nothing.
    } else if (current > head) {
      // Drop the buckets of `recent` before the window: head-N+1 .. current-N-1 (at most N).
      window = ring.recent;
      for (int64_t b = head - n + 1; b < current - n; ++b) add(b, -1);
    } else if (current >= head - 1) {
      // current is head or head - 1: drop current .. head, add current-N .. head-N.
      window = ring.recent;
      for (int64_t b = current; b <= head; ++b) add(b, -1);
      for (int64_t b = current - n; b <= head - n; ++b) add(b, +1);
    } else {
      // A read further back than the precondition allows (e.g. after events stamped far ahead of
      // the clock): what the ring still holds, bounded work.
      for (const Slot& s : std::span<const Slot>(ring.slots).first(RingSize(r))) {
        if (s.bucket != INT32_MIN && s.bucket >= current - n && s.bucket < current) add(s.bucket, +1);
      }
    }
    if (current != ring.cached_for && current >= INT32_MIN + 1 && current <= INT32_MAX) {
      ring.cached_for = static_cast<int32_t>(current);
      ring.cached = window;
    }
    if (r == 0) {
      // All time stops at the 5-minute bucket holding as_of (older buckets are out of the ring).
      for (int64_t b = std::max(current, head - static_cast<int64_t>(RingSize(r)) + 1); b <= head; ++b) {
        if (const Slot* s = Find(ring, r, b)) {
          for (size_t k = 0; k < kNumCounterKinds; ++k) all[k] -= s->values[k];
        }
      }
    }
  }
  return out;
}

bool CounterSeries::Compact(int64_t now) {
  bool empty = true;
  for (size_t r = 0; r < kWindowLayouts.size(); ++r) {
    if (!rings_[r]) continue;
    // Reads at as_of >= now use buckets >= bucket(now) - N: none left when the newest is older.
    if (static_cast<int64_t>(rings_[r]->head) <
        static_cast<int64_t>(BucketOf(r, now)) - kWindowLayouts[r].buckets) {
      rings_[r].reset();
    } else {
      empty = false;
    }
  }
  return empty;
}

uint64_t CounterSeries::bytes() const {
  uint64_t b = sizeof(CounterSeries);
  for (size_t r = 0; r < kWindowLayouts.size(); ++r) {
    if (rings_[r]) b += sizeof(Ring);
  }
  return b;
}

std::span<const CounterSeries::Slot> CounterSeries::ring(size_t r) const {
  if (!rings_[r]) return {};
  return std::span<const Slot>(rings_[r]->slots).first(RingSize(r));
}

void CounterSeries::RestoreSlot(size_t r, const Slot& slot) { AddToRing(r, slot.bucket, slot.values); }

// --- Counters ---

Counters::Counters() : stripes_(std::make_unique<Stripe[]>(kStripes)) {}

Counters::Stripe& Counters::StripeOf(uint64_t key) const {
  // Ids are often sequential: mix before taking the stripe.
  uint64_t h = key * 0x9E3779B97F4A7C15ull;
  return stripes_[(h >> 58) % kStripes];
}

void Counters::Add(uint64_t key, int64_t time, const CounterIncrement& increment) {
  Stripe& s = StripeOf(key);
  std::lock_guard lock(s.mu);
  s.series[key].Add(time, increment);
}

CounterValues Counters::Read(uint64_t key, int64_t as_of) const {
  Stripe& s = StripeOf(key);
  std::lock_guard lock(s.mu);
  auto it = s.series.find(key);
  return it == s.series.end() ? CounterValues{} : it->second.Read(as_of);
}

size_t Counters::Compact(int64_t now) {
  size_t rings = 0;
  for (size_t i = 0; i < kStripes; ++i) {
    std::lock_guard lock(stripes_[i].mu);
    for (auto& [key, series] : stripes_[i].series) {
      if (series.Compact(now)) continue;
      for (size_t r = 0; r < kWindowLayouts.size(); ++r) rings += series.ring(r).empty() ? 0 : 1;
    }
  }
  return rings;
}

size_t Counters::size() const {
  size_t n = 0;
  for (size_t i = 0; i < kStripes; ++i) {
    std::lock_guard lock(stripes_[i].mu);
    n += stripes_[i].series.size();
  }
  return n;
}

uint64_t Counters::bytes() const {
  uint64_t b = 0;
  for (size_t i = 0; i < kStripes; ++i) {
    std::lock_guard lock(stripes_[i].mu);
    b += stripes_[i].series.bucket_count() * sizeof(void*);
    for (const auto& [key, series] : stripes_[i].series) b += sizeof(key) + series.bytes();
  }
  return b;
}

using SavedSlot = MappedCounters::SavedSlot;

namespace {

// The sections of one Counters: keys ascending, kNumCounterKinds totals per key, and the keys'
// buckets, grouped by key, key i's at slots[slot_ptr[i] .. slot_ptr[i + 1]).
Status SaveSections(ArtifactWriter& out, std::string_view prefix, std::span<const uint64_t> keys,
                    std::span<const int64_t> totals, std::span<const uint64_t> slot_ptr,
                    std::span<const SavedSlot> slots) {
  VREC_RETURN_IF_ERROR(out.Add<uint64_t>(StrCat(prefix, ".keys"), keys));
  VREC_RETURN_IF_ERROR(out.Add<int64_t>(StrCat(prefix, ".totals"), totals));
  VREC_RETURN_IF_ERROR(out.Add<uint64_t>(StrCat(prefix, ".slot_ptr"), slot_ptr));
  return out.Add<SavedSlot>(StrCat(prefix, ".slots"), slots);
}

}  // namespace

Status Counters::Save(ArtifactWriter& out, std::string_view prefix) const {
  // Keys ascending and each key's buckets together, so that MappedCounters reads them in place.
  std::vector<uint64_t> keys;
  for (size_t i = 0; i < kStripes; ++i) {
    std::lock_guard lock(stripes_[i].mu);
    for (const auto& entry : stripes_[i].series) keys.push_back(entry.first);
  }
  std::sort(keys.begin(), keys.end());
  std::vector<int64_t> totals;
  totals.reserve(keys.size() * kNumCounterKinds);
  std::vector<uint64_t> slot_ptr{0};
  slot_ptr.reserve(keys.size() + 1);
  std::vector<SavedSlot> slots;
  for (const uint64_t key : keys) {
    Stripe& stripe = StripeOf(key);
    std::lock_guard lock(stripe.mu);
    const CounterSeries& series = stripe.series.at(key);
    totals.insert(totals.end(), series.totals().begin(), series.totals().end());
    for (size_t r = 0; r < kWindowLayouts.size(); ++r) {
      const std::span<const CounterSeries::Slot> ring = series.ring(r);
      int32_t head = INT32_MIN;
      for (const CounterSeries::Slot& s : ring) head = std::max(head, s.bucket);
      for (const CounterSeries::Slot& s : ring) {
        // Stale buckets (beyond the ring's reach from its newest) are never read again.
        if (s.bucket != INT32_MIN &&
            static_cast<int64_t>(s.bucket) > static_cast<int64_t>(head) - static_cast<int64_t>(ring.size())) {
          slots.push_back({key, static_cast<uint32_t>(r), s});
        }
      }
    }
    slot_ptr.push_back(slots.size());
  }
  return SaveSections(out, prefix, keys, totals, slot_ptr, slots);
}

Status Counters::Load(const MappedArtifact& in, std::string_view prefix) {
  VREC_ASSIGN_OR_RETURN(std::span<const uint64_t> keys, in.Get<uint64_t>(StrCat(prefix, ".keys")));
  VREC_ASSIGN_OR_RETURN(std::span<const int64_t> totals, in.Get<int64_t>(StrCat(prefix, ".totals")));
  VREC_ASSIGN_OR_RETURN(std::span<const SavedSlot> slots, in.Get<SavedSlot>(StrCat(prefix, ".slots")));
  if (totals.size() != keys.size() * kNumCounterKinds) {
    return DataLossError(StrCat(in.path(), ": counters '", prefix, "' have ", totals.size(), " totals for ",
                                keys.size(), " keys"));
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    std::array<int64_t, kNumCounterKinds> t;
    std::copy_n(totals.begin() + static_cast<ptrdiff_t>(i * kNumCounterKinds), kNumCounterKinds, t.begin());
    Stripe& s = StripeOf(keys[i]);
    std::lock_guard lock(s.mu);
    s.series[keys[i]].RestoreTotals(t);
  }
  for (const SavedSlot& saved : slots) {
    if (saved.ring >= kWindowLayouts.size() || saved.slot.bucket == INT32_MIN) {
      return DataLossError(StrCat(in.path(), ": counters '", prefix, "' hold a malformed bucket"));
    }
    Stripe& s = StripeOf(saved.key);
    std::lock_guard lock(s.mu);
    auto it = s.series.find(saved.key);
    if (it == s.series.end()) {
      return DataLossError(StrCat(in.path(), ": counters '", prefix, "' hold a bucket of an unknown key"));
    }
    it->second.RestoreSlot(saved.ring, saved.slot);
  }
  return OkStatus();
}

// --- MappedCounters ---

StatusOr<MappedCounters::Table> MappedCounters::MapTable(const MappedArtifact& in, std::string_view prefix) {
  Table t;
  const std::string ptr_name = StrCat(prefix, ".slot_ptr");
  if (!in.Has(ptr_name)) {
    return NotFoundError(StrCat(in.path(), ": counters '", prefix, "' have no key index (saved before it)"));
  }
  VREC_ASSIGN_OR_RETURN(t.keys, in.Get<uint64_t>(StrCat(prefix, ".keys")));
  VREC_ASSIGN_OR_RETURN(t.totals, in.Get<int64_t>(StrCat(prefix, ".totals")));
  VREC_ASSIGN_OR_RETURN(t.slot_ptr, in.Get<uint64_t>(ptr_name));
  VREC_ASSIGN_OR_RETURN(t.slots, in.Get<SavedSlot>(StrCat(prefix, ".slots")));
  const auto bad = [&](std::string_view what) {
    return DataLossError(StrCat(in.path(), ": counters '", prefix, "' ", what));
  };
  if (t.totals.size() != t.keys.size() * kNumCounterKinds)
    return bad("have totals of another length than keys");
  if (t.slot_ptr.size() != t.keys.size() + 1 || t.slot_ptr.front() != 0 ||
      t.slot_ptr.back() != t.slots.size()) {
    return bad("have a bucket index that does not match their buckets");
  }
  // Reads binary-search the keys and trust the offsets: check both once (tens of MB at 1M
  // videos; the buckets themselves are checked as they are read, and by the checksums).
  if (std::adjacent_find(t.keys.begin(), t.keys.end(), std::greater_equal<>()) != t.keys.end()) {
    return bad("have keys out of order");
  }
  if (std::adjacent_find(t.slot_ptr.begin(), t.slot_ptr.end(), std::greater<>()) != t.slot_ptr.end()) {
    return bad("have a decreasing bucket index");
  }
  return t;
}

StatusOr<std::unique_ptr<MappedCounters>> MappedCounters::Map(std::shared_ptr<const MappedArtifact> in,
                                                              std::string_view prefix) {
  auto m = std::unique_ptr<MappedCounters>(new MappedCounters());
  VREC_ASSIGN_OR_RETURN(m->videos_, MapTable(*in, StrCat(prefix, ".v")));
  VREC_ASSIGN_OR_RETURN(m->users_, MapTable(*in, StrCat(prefix, ".u")));
  VREC_ASSIGN_OR_RETURN(m->platform_, MapTable(*in, StrCat(prefix, ".p")));
  m->artifact_ = std::move(in);
  return m;
}

CounterValues MappedCounters::Table::Read(uint64_t key, int64_t as_of) const {
  CounterValues out;
  const auto it = std::lower_bound(keys.begin(), keys.end(), key);
  if (it == keys.end() || *it != key) return out;
  const auto i = static_cast<size_t>(it - keys.begin());
  auto& all = out.v[static_cast<size_t>(CounterWindow::kAllTime)];
  std::copy_n(totals.begin() + static_cast<ptrdiff_t>(i * kNumCounterKinds), kNumCounterKinds, all.begin());
  std::array<int64_t, kWindowLayouts.size()> current;
  for (size_t r = 0; r < kWindowLayouts.size(); ++r) current[r] = BucketOf(r, as_of);
  // A window sums its saved buckets current-N .. current-1; all time leaves out the 5-minute
  // buckets from the one holding as_of on (as CounterSeries::Read).
  for (const SavedSlot& s : slots.subspan(slot_ptr[i], slot_ptr[i + 1] - slot_ptr[i])) {
    if (s.ring >= kWindowLayouts.size()) continue;  // malformed (Verify reports the checksum)
    const int64_t b = s.slot.bucket, c = current[s.ring];
    if (b >= c - kWindowLayouts[s.ring].buckets && b < c) {
      for (size_t k = 0; k < kNumCounterKinds; ++k) out.v[s.ring][k] += s.slot.values[k];
    }
    if (s.ring == 0 && b >= c) {
      for (size_t k = 0; k < kNumCounterKinds; ++k) all[k] -= s.slot.values[k];
    }
  }
  return out;
}

uint64_t MappedCounters::Table::bytes() const {
  return keys.size_bytes() + totals.size_bytes() + slot_ptr.size_bytes() + slots.size_bytes();
}

Status MappedCounters::Table::Save(ArtifactWriter& out, std::string_view prefix) const {
  return SaveSections(out, prefix, keys, totals, slot_ptr, slots);
}

Status MappedCounters::Save(ArtifactWriter& out, std::string_view prefix) const {
  VREC_RETURN_IF_ERROR(videos_.Save(out, StrCat(prefix, ".v")));
  VREC_RETURN_IF_ERROR(users_.Save(out, StrCat(prefix, ".u")));
  return platform_.Save(out, StrCat(prefix, ".p"));
}

// --- EngagementCounters ---

void EngagementCounters::Apply(const CounterEvent& e) {
  const CounterIncrement inc = IncrementOf(e.type, e.watch_ratio, e.duration_s);
  if (std::all_of(inc.begin(), inc.end(), [](uint32_t x) { return x == 0; })) return;  // impressions
  videos_.Add(e.video.value, e.time, inc);
  users_.Add(e.user.value, e.time, inc);
  platform_.Add(0, e.time, inc);
}

Status EngagementCounters::Save(ArtifactWriter& out, std::string_view prefix) const {
  VREC_RETURN_IF_ERROR(videos_.Save(out, StrCat(prefix, ".v")));
  VREC_RETURN_IF_ERROR(users_.Save(out, StrCat(prefix, ".u")));
  return platform_.Save(out, StrCat(prefix, ".p"));
}

Status EngagementCounters::Load(const MappedArtifact& in, std::string_view prefix) {
  VREC_RETURN_IF_ERROR(videos_.Load(in, StrCat(prefix, ".v")));
  VREC_RETURN_IF_ERROR(users_.Load(in, StrCat(prefix, ".u")));
  return platform_.Load(in, StrCat(prefix, ".p"));
}

CounterEvent CounterEventOf(const data::Dataset& ds, const data::Interaction& x) {
  return {.user = ds.users[x.user].id,
          .video = ds.videos[x.video].id,
          .time = x.timestamp,
          .type = x.type,
          .watch_ratio = x.watch_ratio,
          .duration_s = ds.videos[x.video].duration_s};
}

// --- CounterReplay ---

CounterReplay::CounterReplay(const data::Dataset& ds, std::span<const data::Interaction> rows)
    : ds_(ds), rows_(rows), order_(rows.size()) {
  std::iota(order_.begin(), order_.end(), 0u);
  std::stable_sort(order_.begin(), order_.end(),
                   [&](uint32_t a, uint32_t b) { return rows_[a].timestamp < rows_[b].timestamp; });
}

void CounterReplay::AdvanceTo(int64_t as_of) {
  VREC_CHECK(as_of >= as_of_, "counter replay moved back from ", as_of_, " to ", as_of);
  as_of_ = as_of;
  for (; next_ < order_.size() && rows_[order_[next_]].timestamp < as_of; ++next_) {
    counters_.Apply(CounterEventOf(ds_, rows_[order_[next_]]));
  }
}

}  // namespace vrec::features
