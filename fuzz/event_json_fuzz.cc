// Fuzzes the body of POST /v1/events (vrec::events::ParseEventsJson). The input is the body.
//
// Invariants beyond "no crash": an accepted body gives 1..max_batch_size events that satisfy the
// documented bounds; a rejected one gives InvalidArgument with a message; the same body with a
// smaller batch limit is accepted identically or rejected; and the accepted events, written back
// as JSON, parse to the same events.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "vrec/data/dataset.h"
#include "vrec/events/event_json.h"

namespace {

using vrec::features::Event;

constexpr int64_t kNow = 1'767'000'000;

bool SameEvent(const Event& a, const Event& b) {
  const bool same_ratio =
      (std::isnan(a.watch_ratio) && std::isnan(b.watch_ratio)) || a.watch_ratio == b.watch_ratio;
  return a.user == b.user && a.video == b.video && a.type == b.type && a.time == b.time && same_ratio &&
         a.device == b.device;
}

bool SameEvents(const std::vector<Event>& a, const std::vector<Event>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!SameEvent(a[i], b[i])) return false;
  }
  return true;
}

// The events as a batch body, every field explicit.
std::string ToJson(const std::vector<Event>& events) {
  std::string out = "{\"events\":[";
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    if (i > 0) out += ',';
    out += vrec::StrCat("{\"user_id\":\"", e.user.value, "\",\"video_id\":", e.video.value, ",\"type\":\"",
                        vrec::data::Name(e.type), "\",\"timestamp\":", e.time, ",\"device\":\"",
                        vrec::data::Name(e.device), "\"");
    if (!std::isnan(e.watch_ratio)) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(e.watch_ratio));
      out += vrec::StrCat(",\"watch_ratio\":", buf);
    }
    out += '}';
  }
  out += "]}";
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const vrec::events::EventParseOptions options;
  auto parsed = vrec::events::ParseEventsJson(body, kNow, options);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == vrec::StatusCode::kInvalidArgument, parsed.status().ToString());
    FUZZ_CHECK(!parsed.status().message().empty(), "an error without a message");
    return 0;
  }
  const std::vector<Event>& events = *parsed;
  FUZZ_CHECK(!events.empty() && events.size() <= options.max_batch_size, events.size(), " events accepted");
  for (const Event& e : events) {
    FUZZ_CHECK(e.time >= 0 && e.time < vrec::events::kMaxTimestamp, "timestamp ", e.time);
    FUZZ_CHECK(
        std::isnan(e.watch_ratio) || (e.watch_ratio >= 0 && e.watch_ratio <= vrec::events::kMaxWatchRatio),
        "watch_ratio ", e.watch_ratio);
    FUZZ_CHECK(e.type <= vrec::data::EventType::kRating, "type ", static_cast<int>(e.type));
    FUZZ_CHECK(e.device <= vrec::data::Device::kTv, "device ", static_cast<int>(e.device));
  }

  // A smaller batch limit accepts the same events or rejects the body whole.
  vrec::events::EventParseOptions small;
  small.max_batch_size = 2;
  auto limited = vrec::events::ParseEventsJson(body, kNow, small);
  if (events.size() <= small.max_batch_size) {
    FUZZ_CHECK(limited.ok() && SameEvents(*limited, events), "the batch limit changed an accepted body");
  } else {
    FUZZ_CHECK(!limited.ok(), events.size(), " events accepted over a limit of 2");
  }

  // What was accepted, written back, reads the same (with another `now`: every field is explicit).
  const std::string again = ToJson(events);
  auto reparsed = vrec::events::ParseEventsJson(again, kNow + 1, options);
  FUZZ_CHECK(reparsed.ok(), "the accepted events written back are rejected: ", reparsed.status().ToString(),
             "\n", again);
  FUZZ_CHECK(SameEvents(*reparsed, events), "the accepted events written back read differently: ", again);
  return 0;
}
