// The write path of POST /v1/events: durable append to the FeatureStore, then notification of the
// in-process consumers (caches) that keep serving state up to date. The live counters follow the
// durable log by sequence instead (serving/live_counters.h), so that a model swap's rebuild and
// the notifications cannot count an event twice.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/features/feature_store.h"

namespace vrec::events {

// Called with each batch of events after it is durable. Must be thread-safe (Ingest runs on many
// threads at once), fast (it runs on the request path), and must not throw.
using EventObserver = std::function<void(std::span<const features::Event>)>;

// Appends event batches to a FeatureStore and then tells the observers. Does not own the store,
// which must outlive it. Thread-safe: Ingest and Replay may be called concurrently (but see
// Replay). The observer list is fixed at construction.
class EventIngestor {
 public:
  EventIngestor(features::FeatureStore& store, std::vector<EventObserver> observers);

  // Appends `events` in one atomic, synced write (FeatureStore::AppendEvents), then calls every
  // observer once with the events actually stored (retries of stored event ids are left out), in
  // list order. Validation is the caller's job (ParseEventsJson). A batch with nothing new
  // succeeds without calling anyone. `stored` (when not null) receives how many were new.
  // Success: the events are durable (on a durable store) and every observer has seen the new ones.
  // Errors: those of AppendEvents; then nothing was written and no observer was called.
  Status Ingest(std::span<const features::Event> events, size_t* stored = nullptr);

  // Feeds the observers the log's events with sequence > after_seq, oldest first, in pages of up
  // to `page_size` (one observer call per page): how a starting server rebuilds its in-process
  // state. Returns the last sequence fed (after_seq when there was nothing). Events ingested while
  // a replay runs may reach the observers twice (once from each), so replay before serving.
  // Errors: InvalidArgument when page_size is 0; those of FeatureStore::ScanEvents (the observers
  // have then seen the pages before the failing one).
  StatusOr<uint64_t> Replay(uint64_t after_seq = 0, size_t page_size = 4096);

 private:
  features::FeatureStore& store_;
  const std::vector<EventObserver> observers_;
};

}  // namespace vrec::events
