#include "vrec/events/ingestor.h"

#include <utility>

namespace vrec::events {

EventIngestor::EventIngestor(features::FeatureStore& store, std::vector<EventObserver> observers)
    : store_(store), observers_(std::move(observers)) {}

Status EventIngestor::Ingest(std::span<const features::Event> events, size_t* stored) {
  if (stored) *stored = 0;
  if (events.empty()) return OkStatus();
  std::vector<features::Event> appended;
  VREC_RETURN_IF_ERROR(store_.AppendEvents(events, &appended));
  if (stored) *stored = appended.size();
  if (appended.empty()) return OkStatus();
  for (const EventObserver& observer : observers_) observer(appended);
  return OkStatus();
}

StatusOr<uint64_t> EventIngestor::Replay(uint64_t after_seq, size_t page_size) {
  if (page_size == 0) return InvalidArgumentError("Replay: page_size must be positive");
  std::vector<std::pair<uint64_t, features::Event>> page;
  std::vector<features::Event> events;
  uint64_t last = after_seq;
  while (true) {
    VREC_RETURN_IF_ERROR(store_.ScanEvents(last, page_size, page));
    if (page.empty()) break;
    events.clear();
    for (const auto& [seq, e] : page) events.push_back(e);
    for (const EventObserver& observer : observers_) observer(events);
    last = page.back().first;
    if (page.size() < page_size) break;
  }
  return last;
}

}  // namespace vrec::events
