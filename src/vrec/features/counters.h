// Engagement counters: per video and per user, how many plays, likes, comments, shares, skips and
// completions, and how many seconds watched, over sliding windows of 1 hour, 24 hours and 7 days
// and over all time. The one definition of these counters: the training features replay a log
// through it (CounterReplay) and `vrec serve` applies every acknowledged event to it
// (EngagementCounters::Apply); a replay test proves both read identical values.
//
// What an event counts (IncrementOf):
//   plays        kPlay and kRating events (a rating says the title was watched; as the ranking
//                aggregates count plays)
//   likes, comments, shares, skips   events of that type
//   completions  kPlay events with watch_ratio >= kCompletionRatio (0.9)
//   watch_s      round(watch_ratio * the video's duration_s) seconds, for any event carrying a
//                watch ratio whose video has a known duration. The online events carry a watch
//                ratio and no watch time, so the time watched is derived the same way on both
//                paths; the duration is the catalog's when the event is applied.
//   impressions count nothing.
//
// Windows (the approximation, exactly): time is cut into buckets of a fixed width per window;
// reading at `as_of` counts the events of the last N complete buckets before the bucket holding
// as_of (B = floor(as_of / width): buckets B-N .. B-1):
//   1h   12 buckets of 5 min: events in [(B-12)*300, B*300), i.e. between 60 and 65 min back
//   24h  24 buckets of 1 h:   between 24 h and 25 h back
//   7d   28 buckets of 6 h:   between 7 d and 7 d 6 h back
//   all  every event before the 5-minute bucket holding as_of (time < floor(as_of/300)*300)
// The bucket holding as_of is left out of every window, so a value read at as_of only ever counts
// events strictly before as_of (point in time) and does not change when events stamped at or after
// as_of are applied (clients may send timestamps up to a few minutes ahead). The price is
// staleness of at most one bucket (5 min, 1 h, 6 h): a counter read now reflects events up to the
// start of the current bucket.
//
// State (bounded at 1M videos): per entity 7 all-time totals (56 bytes) and, only while it has
// events recent enough for a window, that window's ring of N + 2 buckets (N complete ones, the
// current one and one ahead) and a running sum: 1 KiB per window in use.
// Compact(now) frees the rings whose buckets every later read ignores. Events arriving late still land in
// every window whose ring holds their bucket (an event older than a ring's reach is outside that window for
// every read the precondition below allows), so the order events are applied in does not change
// any value.
//
// Precondition for exact reads: as_of is not more than one bucket (of each window) before the
// newest event applied to the entity: bucket(as_of) >= bucket(newest) - 1. Training replays hold
// it by reading after applying exactly the events before as_of; serving holds it while event
// timestamps lie at most 5 minutes after the server's clock (events.max_future_skew).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "vrec/common/artifact.h"
#include "vrec/common/ids.h"
#include "vrec/common/status.h"
#include "vrec/data/dataset.h"

namespace vrec::features {

enum class CounterKind : uint8_t { kPlays, kLikes, kComments, kShares, kSkips, kCompletions, kWatchSeconds };
inline constexpr size_t kNumCounterKinds = 7;
enum class CounterWindow : uint8_t { kHour, kDay, kWeek, kAllTime };
inline constexpr size_t kNumCounterWindows = 4;
// "plays", "likes", "comments", "shares", "skips", "completions", "watch_s"; "1h", "24h", "7d", "all".
std::string_view Name(CounterKind kind);
std::string_view Name(CounterWindow window);

// A play watched at least this far (watch_ratio) is a completion.
inline constexpr float kCompletionRatio = 0.9f;

// The bucket layout of the sliding windows (kHour, kDay, kWeek in that order).
struct WindowLayout {
  int64_t bucket_s;  // bucket width in seconds
  int32_t buckets;   // complete buckets a read sums
};
inline constexpr std::array<WindowLayout, 3> kWindowLayouts = {{{300, 12}, {3600, 24}, {21600, 28}}};
inline constexpr size_t kMaxRingSlots = 30;  // the largest N + 2

// What one event adds to each counter of its video and of its user.
using CounterIncrement = std::array<uint32_t, kNumCounterKinds>;
// `duration_s`: the video's duration (NaN when unknown).
CounterIncrement IncrementOf(data::EventType type, float watch_ratio, float duration_s);

// Counter values read at one time: value(kind, window).
struct CounterValues {
  std::array<std::array<int64_t, kNumCounterKinds>, kNumCounterWindows> v{};
  int64_t operator()(CounterKind kind, CounterWindow window) const {
    return v[static_cast<size_t>(window)][static_cast<size_t>(kind)];
  }
  friend bool operator==(const CounterValues&, const CounterValues&) = default;
  // The values of two disjoint sets of events together (every window is a sum over events).
  CounterValues& operator+=(const CounterValues& o) {
    for (size_t w = 0; w < kNumCounterWindows; ++w) {
      for (size_t k = 0; k < kNumCounterKinds; ++k) v[w][k] += o.v[w][k];
    }
    return *this;
  }
};

// The counters of one entity (a video or a user). Not thread-safe (not even Read, which caches).
class CounterSeries {
 public:
  CounterSeries() = default;
  CounterSeries(CounterSeries&&) noexcept = default;
  CounterSeries& operator=(CounterSeries&&) noexcept = default;

  // Adds an event at unix time `time`.
  void Add(int64_t time, const CounterIncrement& increment);
  // The values at `as_of` (see the header comment for the windows and the precondition).
  CounterValues Read(int64_t as_of) const;
  // Frees the rings no read at as_of >= now can use. True when none is left (the all-time totals
  // remain).
  bool Compact(int64_t now);
  uint64_t bytes() const;

  // One ring bucket, as Save writes it.
  struct Slot {
    int32_t bucket = INT32_MIN;  // absolute bucket index (unix time / width, floored); MIN = empty
    std::array<uint32_t, kNumCounterKinds> values{};
  };
  const std::array<int64_t, kNumCounterKinds>& totals() const { return totals_; }
  // Ring `r` (kWindowLayouts[r].buckets + 2 slots), empty when not allocated.
  std::span<const Slot> ring(size_t r) const;
  // Restores a saved state: the totals, then each saved non-empty slot.
  void RestoreTotals(const std::array<int64_t, kNumCounterKinds>& totals) { totals_ = totals; }
  void RestoreSlot(size_t r, const Slot& slot);

 private:
  // One window's buckets, with the running sum that makes the common reads O(1): `recent` sums
  // the buckets head-N+1 .. head, so a read in the bucket after head (or at head) adjusts it by at
  // most two buckets instead of summing N.
  struct Ring {
    int32_t head = INT32_MIN;  // newest bucket added
    // The window last read and its values, until the next Add: reads between two events in one
    // bucket (most of them: a popular candidate is read by many requests) touch one cache line.
    mutable int32_t cached_for = INT32_MIN;
    mutable std::array<int64_t, kNumCounterKinds> cached{};
    std::array<int64_t, kNumCounterKinds> recent{};
    // N + 2 used, at bucket % (N + 2); sized for the largest ring, so that a ring is one
    // allocation (a read of it then misses the cache once or twice, not once per indirection).
    std::array<Slot, kMaxRingSlots> slots;
  };
  // Adds `increment` to bucket `bucket` of ring r (allocating it); nothing when the bucket is
  // older than the ring reaches.
  void AddToRing(size_t r, int32_t bucket, const std::array<uint32_t, kNumCounterKinds>& increment);
  // The slot of `bucket` in `ring`, or null when it holds another bucket.
  static const Slot* Find(const Ring& ring, size_t r, int64_t bucket);

  std::array<int64_t, kNumCounterKinds> totals_{};
  std::array<std::unique_ptr<Ring>, kWindowLayouts.size()> rings_;
};

// Counter series keyed by id (a VideoId's or UserId's value). Thread-safe: Add, Read and Compact
// may run concurrently (lock stripes by key; a read updates its series' cache, so it takes the
// stripe's lock exclusively too).
class Counters {
 public:
  Counters();
  Counters(Counters&&) = delete;

  void Add(uint64_t key, int64_t time, const CounterIncrement& increment);
  // All zeros for a key never added.
  CounterValues Read(uint64_t key, int64_t as_of) const;
  // CounterSeries::Compact over every entity; returns how many rings remain allocated.
  size_t Compact(int64_t now);
  size_t size() const;
  uint64_t bytes() const;

  // Writes sections <prefix>.keys, .totals and .slots.
  Status Save(ArtifactWriter& out, std::string_view prefix) const;
  // Adds the state Save wrote to this (empty) object. DataLoss naming the section when one is
  // missing or inconsistent.
  Status Load(const MappedArtifact& in, std::string_view prefix);

 private:
  static constexpr size_t kStripes = 64;
  struct Stripe {
    mutable std::mutex mu;
    std::unordered_map<uint64_t, CounterSeries> series;
  };
  Stripe& StripeOf(uint64_t key) const;
  std::unique_ptr<Stripe[]> stripes_;
};

// One event as the counters see it: who, what, when, and the video's duration.
struct CounterEvent {
  UserId user;
  VideoId video;
  int64_t time = 0;
  data::EventType type = data::EventType::kPlay;
  float watch_ratio = data::kMissing;
  float duration_s = data::kMissing;  // the video's (NaN when unknown)
};

// Reads of the counters of videos, users and the whole platform. Thread-safe.
class CounterReader {
 public:
  virtual ~CounterReader() = default;
  virtual CounterValues Video(VideoId video, int64_t as_of) const = 0;
  virtual CounterValues User(UserId user, int64_t as_of) const = 0;
  // Every event of the platform (the denominators of shares).
  virtual CounterValues Platform(int64_t as_of) const = 0;
  // Bytes held (owned or mapped).
  virtual uint64_t bytes() const = 0;
  // Writes sections <prefix>.v.*, <prefix>.u.* and <prefix>.p.*, which EngagementCounters::Load
  // and MappedCounters::Map read.
  virtual Status Save(ArtifactWriter& out, std::string_view prefix) const = 0;
};

// The counters of videos and users as events are applied: what the training features replay, and
// the events `vrec serve` acknowledged after its model's snapshot. Thread-safe.
class EngagementCounters final : public CounterReader {
 public:
  void Apply(const CounterEvent& e);
  CounterValues Video(VideoId video, int64_t as_of) const override {
    return videos_.Read(video.value, as_of);
  }
  CounterValues User(UserId user, int64_t as_of) const override { return users_.Read(user.value, as_of); }
  CounterValues Platform(int64_t as_of) const override { return platform_.Read(0, as_of); }
  size_t Compact(int64_t now) { return videos_.Compact(now) + users_.Compact(now) + platform_.Compact(now); }
  uint64_t bytes() const override { return videos_.bytes() + users_.bytes(); }
  size_t videos() const { return videos_.size(); }
  size_t users() const { return users_.size(); }

  Status Save(ArtifactWriter& out, std::string_view prefix) const override;
  // Adds the counters Save wrote (either layout) to this (empty) object.
  Status Load(const MappedArtifact& in, std::string_view prefix);

 private:
  Counters videos_, users_, platform_;
};

// EngagementCounters as Save wrote them, read in place from the mapped artifact: nothing is copied
// or rebuilt, so a server maps the counters of a million videos in milliseconds and pages in only
// the entities it reads. Each read binary-searches the sorted keys and sums the entity's saved
// buckets; the values equal those of the saved counters (Load, then Read) at every as_of.
// Immutable; thread-safe.
class MappedCounters final : public CounterReader {
 public:
  // Errors: NotFound when the artifact holds no counters under `prefix` or they were saved
  // without the key index (before it existed; Load reads those); DataLoss naming the section when
  // a section is inconsistent.
  static StatusOr<std::unique_ptr<MappedCounters>> Map(std::shared_ptr<const MappedArtifact> in,
                                                       std::string_view prefix);
  CounterValues Video(VideoId video, int64_t as_of) const override {
    return videos_.Read(video.value, as_of);
  }
  CounterValues User(UserId user, int64_t as_of) const override { return users_.Read(user.value, as_of); }
  CounterValues Platform(int64_t as_of) const override { return platform_.Read(0, as_of); }
  uint64_t bytes() const override { return videos_.bytes() + users_.bytes() + platform_.bytes(); }
  // Writes the mapped sections as they are.
  Status Save(ArtifactWriter& out, std::string_view prefix) const override;
  size_t videos() const { return videos_.keys.size(); }
  size_t users() const { return users_.keys.size(); }

  // One saved ring bucket: whose, which ring (the layout of <prefix>.slots).
  struct SavedSlot {
    uint64_t key = 0;
    uint32_t ring = 0;
    CounterSeries::Slot slot;
  };

 private:
  struct Table {
    std::span<const uint64_t> keys;      // ascending
    std::span<const int64_t> totals;     // kNumCounterKinds per key
    std::span<const uint64_t> slot_ptr;  // keys + 1 offsets into slots
    std::span<const SavedSlot> slots;    // grouped by key, in key order
    CounterValues Read(uint64_t key, int64_t as_of) const;
    uint64_t bytes() const;
    Status Save(ArtifactWriter& out, std::string_view prefix) const;
  };
  static StatusOr<Table> MapTable(const MappedArtifact& in, std::string_view prefix);

  std::shared_ptr<const MappedArtifact> artifact_;
  Table videos_, users_, platform_;
};

// The event of row `x` of `ds` (ids and duration from its catalog).
CounterEvent CounterEventOf(const data::Dataset& ds, const data::Interaction& x);

// Training-side replay: the rows of a log applied in time order up to each moment read, so that
// reads at non-decreasing times see exactly the events before them (point in time). Not
// thread-safe.
class CounterReplay {
 public:
  // `rows` of `ds` (any order; both must outlive this).
  CounterReplay(const data::Dataset& ds, std::span<const data::Interaction> rows);
  // Applies every row with timestamp < as_of not applied yet. as_of must not decrease between
  // calls (checked).
  void AdvanceTo(int64_t as_of);
  const EngagementCounters& counters() const { return counters_; }

 private:
  const data::Dataset& ds_;
  std::span<const data::Interaction> rows_;
  std::vector<uint32_t> order_;  // row indices by (timestamp, index)
  size_t next_ = 0;
  int64_t as_of_ = INT64_MIN;
  EngagementCounters counters_;
};

}  // namespace vrec::features
