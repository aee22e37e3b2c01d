#include "vrec/events/event_json.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "vrec/common/json_depth.h"
#include "vrec/common/strings.h"
#include "vrec/data/dataset.h"

namespace vrec::events {

namespace {

using nlohmann::json;

constexpr std::string_view kFields =
    "user_id, video_id, type, timestamp, watch_ratio, device, event_id, request_id, position, surface";
constexpr size_t kMaxTokenChars = 64;

// 1 to kMaxTokenChars of [A-Za-z0-9._-]: request ids and surfaces, as the recommendation API takes them.
bool IsToken(const std::string& s) {
  return !s.empty() && s.size() <= kMaxTokenChars && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

// "events[3].video_id" in a batch, "video_id" in a single-event body.
struct Place {
  std::string prefix;  // "events[3]." or ""
  std::string Of(std::string_view field) const { return StrCat(prefix, field); }
};

Status FieldError(const Place& place, std::string_view field, std::string_view what) {
  return InvalidArgumentError(StrCat(place.Of(field), ": ", what));
}

// Short rendering of a JSON value for messages (strings quoted, long values cut).
std::string Show(const json& v) {
  std::string s = v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

StatusOr<uint64_t> ParseId(const json& v, const Place& place, std::string_view field) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    uint64_t id = 0;
    const char* end = s.data() + s.size();
    auto [p, ec] = std::from_chars(s.data(), end, id);
    // from_chars accepts no sign or space, so "all digits" is "consumed everything".
    if (!s.empty() && ec == std::errc::result_out_of_range &&
        s.find_first_not_of("0123456789") == std::string::npos) {
      return FieldError(place, field, StrCat("out of range (at most ", UINT64_MAX, ")"));
    }
    if (s.empty() || ec != std::errc() || p != end) {
      return FieldError(place, field,
                        StrCat("expected an unsigned integer or a string of digits, got ", Show(v)));
    }
    return id;
  }
  return FieldError(place, field, StrCat("expected an unsigned integer, got ", Show(v)));
}

StatusOr<features::Event> ParseEvent(const json& obj, const Place& place, int64_t now,
                                     const EventParseOptions& options) {
  if (!obj.is_object()) {
    return InvalidArgumentError(
        StrCat(place.prefix.empty() ? "request body" : place.prefix.substr(0, place.prefix.size() - 1),
               ": expected an event object, got ", Show(obj)));
  }
  for (const auto& [key, value] : obj.items()) {
    if (key != "user_id" && key != "video_id" && key != "type" && key != "timestamp" &&
        key != "watch_ratio" && key != "device" && key != "event_id" && key != "request_id" &&
        key != "position" && key != "surface") {
      return FieldError(place, key, StrCat("unknown field (expected ", kFields, ")"));
    }
  }
  auto required = [&](std::string_view field) -> StatusOr<const json*> {
    auto it = obj.find(field);
    if (it == obj.end() || it->is_null()) return FieldError(place, field, "missing (required)");
    return &*it;
  };
  auto optional = [&](std::string_view field) -> const json* {
    auto it = obj.find(field);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  };

  features::Event e;
  VREC_ASSIGN_OR_RETURN(const json* user, required("user_id"));
  VREC_ASSIGN_OR_RETURN(e.user.value, ParseId(*user, place, "user_id"));
  VREC_ASSIGN_OR_RETURN(const json* video, required("video_id"));
  VREC_ASSIGN_OR_RETURN(e.video.value, ParseId(*video, place, "video_id"));

  VREC_ASSIGN_OR_RETURN(const json* type, required("type"));
  if (!type->is_string()) return FieldError(place, "type", StrCat("expected a string, got ", Show(*type)));
  std::optional<data::EventType> parsed_type = data::ParseEventType(type->get_ref<const std::string&>());
  if (!parsed_type) {
    return FieldError(place, "type",
                      StrCat("unknown event type ", Show(*type),
                             " (expected play, like, skip, comment, share, impression or rating)"));
  }
  e.type = *parsed_type;

  e.time = now;
  if (const json* ts = optional("timestamp")) {
    if (!ts->is_number_integer()) {
      return FieldError(place, "timestamp", StrCat("expected an integer (unix seconds), got ", Show(*ts)));
    }
    // Unsigned values above INT64_MAX do not fit; everything else is compared as int64.
    const bool too_big =
        ts->is_number_unsigned() && ts->get<uint64_t>() >= static_cast<uint64_t>(kMaxTimestamp);
    const int64_t t = too_big ? kMaxTimestamp : ts->get<int64_t>();
    if (t < 0 || t >= kMaxTimestamp) {
      return FieldError(place, "timestamp",
                        StrCat("out of range: expected unix seconds in [0, ", kMaxTimestamp, "), got ",
                               Show(*ts), t >= kMaxTimestamp ? " (milliseconds?)" : ""));
    }
    if (t > now + options.max_future_skew_s) {
      return FieldError(place, "timestamp",
                        StrCat("in the future: ", t - now, " s after the server's clock (at most ",
                               options.max_future_skew_s, " s of clock skew is accepted)"));
    }
    e.time = t;
  }

  if (const json* ratio = optional("watch_ratio")) {
    if (!ratio->is_number())
      return FieldError(place, "watch_ratio", StrCat("expected a number, got ", Show(*ratio)));
    const double r = ratio->get<double>();
    if (!(r >= 0.0 && r <= kMaxWatchRatio)) {
      return FieldError(place, "watch_ratio",
                        StrCat("out of range: expected 0 to ", kMaxWatchRatio, ", got ", Show(*ratio)));
    }
    e.watch_ratio = static_cast<float>(r);
  }

  if (const json* device = optional("device")) {
    if (!device->is_string())
      return FieldError(place, "device", StrCat("expected a string, got ", Show(*device)));
    std::optional<data::Device> d = data::ParseDevice(device->get_ref<const std::string&>());
    if (!d) {
      return FieldError(
          place, "device",
          StrCat("unknown device ", Show(*device), " (expected android, ios, web, tv or unknown)"));
    }
    e.device = *d;
  }
  if (const json* id = optional("event_id")) {
    if (id->is_number_unsigned()) {
      e.event_id = std::to_string(id->get<uint64_t>());
    } else if (id->is_string()) {
      const std::string& text = id->get_ref<const std::string&>();
      const bool printable =
          std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
      if (text.empty() || text.size() > features::kMaxEventIdBytes || !printable) {
        return FieldError(place, "event_id",
                          StrCat("expected 1 to ", features::kMaxEventIdBytes,
                                 " printable ASCII characters without spaces, got ", Show(*id)));
      }
      e.event_id = text;
    } else {
      return FieldError(place, "event_id",
                        StrCat("expected a string or an unsigned integer, got ", Show(*id)));
    }
  }
  for (const auto& [field, out] :
       {std::pair{"request_id", &e.request_id}, std::pair{"surface", &e.surface}}) {
    if (const json* v = optional(field)) {
      if (!v->is_string() || !IsToken(v->get_ref<const std::string&>())) {
        return FieldError(place, field,
                          StrCat("expected 1 to ", kMaxTokenChars, " of [A-Za-z0-9._-], got ", Show(*v)));
      }
      *out = v->get_ref<const std::string&>();
    }
  }
  if (const json* p = optional("position")) {
    if (!p->is_number_integer() || p->get<int64_t>() < 1 || p->get<int64_t>() > 1000) {
      return FieldError(place, "position", StrCat("expected an integer in [1, 1000], got ", Show(*p)));
    }
    e.position = static_cast<int>(p->get<int64_t>());
  }
  return e;
}

}  // namespace

StatusOr<std::vector<features::Event>> ParseEventsJson(std::string_view body, int64_t now,
                                                       const EventParseOptions& options) {
  // Bounded nesting first: every later step (parse, messages that dump() a value, the destructor)
  // would otherwise recurse once per level of attacker-controlled depth.
  if (Status s = CheckJsonDepth(body); !s.ok())
    return InvalidArgumentError(StrCat("request body: ", s.message()));
  json doc;
  try {
    doc = json::parse(body);
  } catch (const json::exception& e) {
    // parse_error, and out_of_range for a number too large for a double (1e999).
    // what() starts with "[json.exception.parse_error.101] "; the rest says where and why.
    std::string_view what = e.what();
    if (auto close = what.find("] ");
        what.starts_with("[json.exception") && close != std::string_view::npos) {
      what.remove_prefix(close + 2);
    }
    return InvalidArgumentError(StrCat("request body is not valid JSON: ", what));
  }
  if (!doc.is_object()) {
    return InvalidArgumentError(
        StrCat("request body: expected an event object or {\"events\": [...]}, got ", Show(doc)));
  }

  std::vector<features::Event> out;
  auto batch = doc.find("events");
  if (batch == doc.end()) {
    VREC_ASSIGN_OR_RETURN(features::Event e, ParseEvent(doc, Place{}, now, options));
    out.push_back(e);
    return out;
  }
  if (doc.size() != 1) {
    for (const auto& [key, value] : doc.items()) {
      if (key != "events") {
        return InvalidArgumentError(
            StrCat("request body: unexpected field \"", key,
                   "\" beside \"events\" (a body is one event or {\"events\": [...]})"));
      }
    }
  }
  if (!batch->is_array()) {
    return InvalidArgumentError(StrCat("events: expected an array of event objects, got ", Show(*batch)));
  }
  if (batch->empty()) return InvalidArgumentError("events: empty batch (send at least one event)");
  if (batch->size() > options.max_batch_size) {
    return InvalidArgumentError(StrCat("events: ", batch->size(), " events exceed the limit of ",
                                       options.max_batch_size, " per request; split the batch"));
  }
  out.reserve(batch->size());
  for (size_t i = 0; i < batch->size(); ++i) {
    VREC_ASSIGN_OR_RETURN(features::Event e,
                          ParseEvent((*batch)[i], Place{StrCat("events[", i, "].")}, now, options));
    out.push_back(e);
  }
  return out;
}

}  // namespace vrec::events
