// Parsing and validation of the body of POST /v1/events: one event object, or a batch
// {"events": [ ... ]}. Each event:
//   user_id      required; unsigned 64-bit integer, or a string of decimal digits (JavaScript
//                clients cannot hold integers above 2^53 exactly, so they send strings)
//   video_id     required; same as user_id
//   type         required; "play", "like", "skip", "comment", "share", "impression", "rating"
//                (case-insensitive; "watch" is accepted for "play")
//   timestamp    optional; unix seconds, an integer in [0, 10^11); default: the `now` passed in
//   watch_ratio  optional; a number in [0, 10] (watch time / duration: > 1 for replays)
//   device       optional; "android", "ios", "web", "tv" or "unknown" (case-insensitive)
//   event_id     optional; a string of 1 to 128 printable ASCII characters (no spaces), or an
//                unsigned integer (kept as its decimal digits): the event's idempotency key. A
//                retried event with an id already stored is acknowledged but not stored again.
//   request_id   optional; the request_id of the recommendation response the event answers: 1 to
//                64 of [A-Za-z0-9._-]. Events that carry it count in the experiment ledger.
//   position     optional; the video's 1-based position in that response, an integer in [1, 1000]
//   surface      optional; where it was shown ("home", "up_next"): 1 to 64 of [A-Za-z0-9._-]
// A timestamp more than options.max_future_skew_s after `now` is rejected: a client with a wrong
// clock must not push real events out of users' bounded histories.
// null counts as absent for the optional fields. Any other field is rejected, so that a typo
// ("watchratio") is reported instead of silently dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/features/feature_store.h"

namespace vrec::events {

// Bounds of the fields (also what the error messages quote).
inline constexpr int64_t kMaxTimestamp = 100'000'000'000;  // year 5138: above it, milliseconds
inline constexpr float kMaxWatchRatio = 10.0f;

struct EventParseOptions {
  // Largest number of events in one body; larger batches are rejected whole. Default 1000 (a
  // client flushing its queue every few seconds stays far below it).
  size_t max_batch_size = 1000;
  // Seconds an event's timestamp may lie after `now` (clock skew between client and server).
  // Default 300.
  int64_t max_future_skew_s = 300;
};

// Parses and validates `body`. On success returns the events in body order (at least one).
// Errors (InvalidArgument, nothing partially accepted): the body is not JSON or not an object; an
// "events" member that is not a non-empty array or comes with event fields beside it; a batch
// larger than options.max_batch_size; any bad field, named with its place, e.g.
// "events[3].video_id: expected an unsigned integer" (in a single-event body just "video_id: ...").
// Thread-safe (no shared state).
StatusOr<std::vector<features::Event>> ParseEventsJson(std::string_view body, int64_t now,
                                                       const EventParseOptions& options = {});

}  // namespace vrec::events
