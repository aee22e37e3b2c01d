// LiveCounters: the engagement counters (features/counters.h) of one served model as they are now:
// the model's snapshot counters (read in place from the mapped snapshot, never copied) plus the
// counters of every event of the store's log after the snapshot, applied in log order. Every
// window is a sum over events, so a read adds the two. The log's sequence numbers are the cursor,
// so every event is applied exactly once whatever runs concurrently: the service calls CatchUp
// after each acknowledged append (the event is counted before the client gets its
// acknowledgement) and from its polling thread, and a new model's counters catch up with the log
// before they are swapped in and then keep following it.
//
// Owned by the service, one per served model. Thread-safe: CatchUp runs one at a time (later
// callers wait, then find the events applied); reads may run concurrently with it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "vrec/common/status.h"
#include "vrec/features/counters.h"
#include "vrec/features/feature_store.h"

namespace vrec::serving {

// The counter event of a log event; `duration_s` is its video's duration (NaN when unknown).
features::CounterEvent CounterEventOf(const features::Event& e, float duration_s);

class LiveCounters {
 public:
  // `base`: the counters of the snapshot; `through_seq`: the greatest log sequence the snapshot
  // includes (registry::ThroughSeqOf; 0 = none).
  LiveCounters(std::shared_ptr<const features::CounterReader> base, uint64_t through_seq);

  // A video's duration (NaN when unknown), for the watch time of its events.
  using DurationOf = std::function<float(VideoId)>;
  // Applies the events of `store`'s log after the last one applied, in sequence order, in pages.
  // Errors: those of FeatureStore::ScanEvents (the events of the pages read before stay applied;
  // the next call continues after them).
  Status CatchUp(const features::FeatureStore& store, const DurationOf& duration);

  features::CounterValues Video(VideoId video, int64_t as_of) const;
  features::CounterValues User(UserId user, int64_t as_of) const;
  features::CounterValues Platform(int64_t as_of) const;
  // Bytes of the counters of the events since the snapshot (the base's are the model's).
  uint64_t bytes() const { return since_.bytes(); }

  // The greatest log sequence applied.
  uint64_t applied_through() const;
  // Frees the window buckets of the events since the snapshot that no read at as_of >= now needs
  // (features::EngagementCounters::Compact).
  void Compact(int64_t now) { since_.Compact(now); }

 private:
  std::shared_ptr<const features::CounterReader> base_;
  features::EngagementCounters since_;
  mutable std::mutex mu_;  // one CatchUp at a time; guards applied_
  uint64_t applied_ = 0;
};

}  // namespace vrec::serving
