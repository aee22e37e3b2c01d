#include "vrec/events/event_json.h"

#include <gtest/gtest.h>

#include <cmath>

#include "vrec/common/strings.h"

namespace vrec::events {
namespace {

using ::vrec::data::Device;
using ::vrec::data::EventType;

constexpr int64_t kNow = 1'700'000'000;

std::vector<features::Event> ParseOk(std::string_view body, const EventParseOptions& options = {}) {
  auto r = ParseEventsJson(body, kNow, options);
  EXPECT_TRUE(r.ok()) << body << " -> " << r.status().ToString();
  return r.ok() ? *r : std::vector<features::Event>();
}

// The error message for `body` (the test fails if it parses).
std::string ErrorOf(std::string_view body, const EventParseOptions& options = {}) {
  auto r = ParseEventsJson(body, kNow, options);
  EXPECT_FALSE(r.ok()) << body << " parsed";
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << body;
  return r.status().message();
}

TEST(ParseEventsJson, SingleEventWithAllFields) {
  auto events = ParseOk(
      R"({"user_id": 42, "video_id": "18446744073709551615", "type": "Like", "timestamp": 1690000000,
          "watch_ratio": 1.5, "device": "IOS"})");
  ASSERT_EQ(events.size(), 1u);
  const auto& e = events[0];
  EXPECT_EQ(e.user.value, 42u);
  EXPECT_EQ(e.video.value, 18446744073709551615ull);
  EXPECT_EQ(e.type, EventType::kLike);
  EXPECT_EQ(e.time, 1690000000);
  EXPECT_EQ(e.watch_ratio, 1.5f);
  EXPECT_EQ(e.device, Device::kIos);
}

TEST(ParseEventsJson, AttributionFieldsPointBackToARecommendation) {
  auto events = ParseOk(
      R"({"user_id": 1, "video_id": 2, "type": "play", "request_id": "5f0c-A.b_9", "position": 3,
          "surface": "up_next"})");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].request_id, "5f0c-A.b_9");
  EXPECT_EQ(events[0].position, 3);
  EXPECT_EQ(events[0].surface, "up_next");
  const auto plain = ParseOk(R"({"user_id": 1, "video_id": 2, "type": "play", "request_id": null})");
  EXPECT_TRUE(plain[0].request_id.empty());
  EXPECT_EQ(plain[0].position, 0);
  const std::string long_id(65, 'a');
  for (const std::string& bad :
       {std::string(R"("request_id": "")"), StrCat(R"("request_id": ")", long_id, R"(")"),
        std::string(R"("request_id": "a b")"), std::string(R"("request_id": 12)"),
        std::string(R"("position": 0)"), std::string(R"("position": 1001)"),
        std::string(R"("position": 1.5)"), std::string(R"("position": "3")"),
        std::string(R"("surface": "home/x")"), std::string(R"("surface": "")")}) {
    const std::string message =
        ErrorOf(StrCat(R"({"user_id": 1, "video_id": 2, "type": "play", )", bad, "}"));
    EXPECT_TRUE(message.starts_with("request_id") || message.starts_with("position") ||
                message.starts_with("surface"))
        << bad << ": " << message;
  }
}

TEST(ParseEventsJson, OptionalFieldsDefault) {
  for (std::string_view body : {R"({"user_id": 1, "video_id": 2, "type": "play"})",
                                R"({"user_id": 1, "video_id": 2, "type": "play", "timestamp": null,
                                    "watch_ratio": null, "device": null})"}) {
    auto events = ParseOk(body);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].time, kNow);
    EXPECT_TRUE(std::isnan(events[0].watch_ratio));
    EXPECT_EQ(events[0].device, Device::kUnknown);
  }
}

TEST(ParseEventsJson, BatchKeepsOrderAndEveryType) {
  auto events = ParseOk(R"({"events": [
      {"user_id": 1, "video_id": 10, "type": "play", "watch_ratio": 0},
      {"user_id": 1, "video_id": 11, "type": "like"},
      {"user_id": 2, "video_id": 12, "type": "skip", "watch_ratio": 10},
      {"user_id": 2, "video_id": 13, "type": "comment", "device": "web"},
      {"user_id": 3, "video_id": 14, "type": "share", "timestamp": 0},
      {"user_id": "0", "video_id": 15, "type": "impression", "device": "tv"},
      {"user_id": 4, "video_id": 16, "type": "rating", "device": "android"},
      {"user_id": 4, "video_id": 17, "type": "watch", "device": ""}]})");
  ASSERT_EQ(events.size(), 8u);
  const EventType want[] = {EventType::kPlay,    EventType::kLike,  EventType::kSkip,
                            EventType::kComment, EventType::kShare, EventType::kImpression,
                            EventType::kRating,  EventType::kPlay};
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].video.value, 10 + i);
    EXPECT_EQ(events[i].type, want[i]) << i;
  }
  EXPECT_EQ(events[0].watch_ratio, 0.0f);
  EXPECT_EQ(events[2].watch_ratio, 10.0f);
  EXPECT_EQ(events[3].device, Device::kWeb);
  EXPECT_EQ(events[4].time, 0);
  EXPECT_EQ(events[5].user.value, 0u);
  EXPECT_EQ(events[5].device, Device::kTv);
  EXPECT_EQ(events[6].device, Device::kAndroid);
  EXPECT_EQ(events[7].device, Device::kUnknown);
}

TEST(ParseEventsJson, BodyShapeErrorMessages) {
  EXPECT_TRUE(ErrorOf("").starts_with("request body is not valid JSON: "));
  EXPECT_TRUE(ErrorOf("{\"user_id\": 1,").starts_with("request body is not valid JSON: "));
  EXPECT_NE(ErrorOf("{\"user_id\": 1,").find("line 1"), std::string::npos);
  EXPECT_EQ(ErrorOf("[1, 2]"), "request body: expected an event object or {\"events\": [...]}, got [1,2]");
  EXPECT_EQ(ErrorOf(R"({"events": {"user_id": 1}})"),
            "events: expected an array of event objects, got {\"user_id\":1}");
  EXPECT_EQ(ErrorOf(R"({"events": []})"), "events: empty batch (send at least one event)");
  EXPECT_EQ(
      ErrorOf(R"({"events": [], "user_id": 1})"),
      "request body: unexpected field \"user_id\" beside \"events\" (a body is one event or {\"events\": "
      "[...]})");
  EXPECT_EQ(ErrorOf(R"({"events": [{"user_id": 1, "video_id": 2, "type": "play"}, 7]})"),
            "events[1]: expected an event object, got 7");
}

TEST(ParseEventsJson, BatchSizeLimit) {
  std::string body = R"({"events": [)";
  for (int i = 0; i < 4; ++i)
    body += StrCat(i ? "," : "", R"({"user_id": 1, "video_id": )", i, R"(, "type": "play"})");
  body += "]}";
  EXPECT_EQ(ParseOk(body, EventParseOptions{.max_batch_size = 4}).size(), 4u);
  EXPECT_EQ(ErrorOf(body, EventParseOptions{.max_batch_size = 3}),
            "events: 4 events exceed the limit of 3 per request; split the batch");
}

// One bad field in the third event of a batch: the message names the index and the field.
std::string BatchError(std::string_view bad_event) {
  return ErrorOf(StrCat(R"({"events": [{"user_id": 1, "video_id": 1, "type": "play"},
                                      {"user_id": 1, "video_id": 2, "type": "like"},)",
                        bad_event, "]}"));
}

TEST(ParseEventsJson, FieldErrorMessagesNameIndexAndField) {
  EXPECT_EQ(BatchError(R"({"video_id": 2, "type": "play"})"), "events[2].user_id: missing (required)");
  EXPECT_EQ(BatchError(R"({"user_id": null, "video_id": 2, "type": "play"})"),
            "events[2].user_id: missing (required)");
  EXPECT_EQ(BatchError(R"({"user_id": 1, "type": "play"})"), "events[2].video_id: missing (required)");
  EXPECT_EQ(BatchError(R"({"user_id": 1, "video_id": 2})"), "events[2].type: missing (required)");
  EXPECT_EQ(BatchError(R"({"user_id": -1, "video_id": 2, "type": "play"})"),
            "events[2].user_id: expected an unsigned integer, got -1");
  EXPECT_EQ(BatchError(R"({"user_id": 1, "video_id": 2.5, "type": "play"})"),
            "events[2].video_id: expected an unsigned integer, got 2.5");
  EXPECT_EQ(BatchError(R"({"user_id": 1, "video_id": true, "type": "play"})"),
            "events[2].video_id: expected an unsigned integer, got true");
  EXPECT_EQ(BatchError(R"({"user_id": 1, "video_id": "12a", "type": "play"})"),
            "events[2].video_id: expected an unsigned integer or a string of digits, got \"12a\"");
  EXPECT_EQ(BatchError(R"({"user_id": "", "video_id": 2, "type": "play"})"),
            "events[2].user_id: expected an unsigned integer or a string of digits, got \"\"");
  EXPECT_EQ(BatchError(R"({"user_id": "-5", "video_id": 2, "type": "play"})"),
            "events[2].user_id: expected an unsigned integer or a string of digits, got \"-5\"");
  EXPECT_EQ(BatchError(R"({"user_id": "18446744073709551616", "video_id": 2, "type": "play"})"),
            "events[2].user_id: out of range (at most 18446744073709551615)");
  EXPECT_EQ(BatchError(R"({"user_id": 1, "video_id": 2, "type": 3})"),
            "events[2].type: expected a string, got 3");
  EXPECT_EQ(
      BatchError(R"({"user_id": 1, "video_id": 2, "type": "view"})"),
      "events[2].type: unknown event type \"view\" (expected play, like, skip, comment, share, impression or "
      "rating)");
  EXPECT_EQ(BatchError(R"({"user_id": 1, "video_id": 2, "type": "play", "timestamp": "1700000000"})"),
            "events[2].timestamp: expected an integer (unix seconds), got \"1700000000\"");
  EXPECT_EQ(BatchError(R"({"user_id": 1, "video_id": 2, "type": "play", "timestamp": 1.7e9})"),
            "events[2].timestamp: expected an integer (unix seconds), got 1700000000.0");
  EXPECT_EQ(BatchError(R"({"user_id": 1, "video_id": 2, "type": "play", "timestamp": -1})"),
            "events[2].timestamp: out of range: expected unix seconds in [0, 100000000000), got -1");
  EXPECT_EQ(
      BatchError(R"({"user_id": 1, "video_id": 2, "type": "play", "timestamp": 1700000000000})"),
      "events[2].timestamp: out of range: expected unix seconds in [0, 100000000000), got 1700000000000 "
      "(milliseconds?)");
  EXPECT_EQ(BatchError(R"({"user_id": 1, "video_id": 2, "type": "play", "timestamp": 18446744073709551615})"),
            "events[2].timestamp: out of range: expected unix seconds in [0, 100000000000), got "
            "18446744073709551615 (milliseconds?)");
  EXPECT_EQ(BatchError(R"({"user_id": 1, "video_id": 2, "type": "play", "watch_ratio": "0.5"})"),
            "events[2].watch_ratio: expected a number, got \"0.5\"");
  EXPECT_EQ(BatchError(R"({"user_id": 1, "video_id": 2, "type": "play", "watch_ratio": -0.1})"),
            "events[2].watch_ratio: out of range: expected 0 to 10, got -0.1");
  EXPECT_EQ(BatchError(R"({"user_id": 1, "video_id": 2, "type": "play", "watch_ratio": 10.01})"),
            "events[2].watch_ratio: out of range: expected 0 to 10, got 10.01");
  EXPECT_EQ(BatchError(R"({"user_id": 1, "video_id": 2, "type": "play", "device": 1})"),
            "events[2].device: expected a string, got 1");
  EXPECT_EQ(BatchError(R"({"user_id": 1, "video_id": 2, "type": "play", "device": "phone"})"),
            "events[2].device: unknown device \"phone\" (expected android, ios, web, tv or unknown)");
  EXPECT_EQ(BatchError(R"({"user_id": 1, "video_id": 2, "type": "play", "watchratio": 0.5})"),
            "events[2].watchratio: unknown field (expected user_id, video_id, type, timestamp, watch_ratio, "
            "device, event_id, request_id, position, surface)");
}

TEST(ParseEventsJson, SingleEventErrorsNameTheFieldAlone) {
  EXPECT_EQ(ErrorOf(R"({"user_id": 1, "video_id": "x", "type": "play"})"),
            "video_id: expected an unsigned integer or a string of digits, got \"x\"");
  EXPECT_EQ(
      ErrorOf(R"({"user_id": 1, "video_id": 2, "type": "play", "extra": 1})"),
      "extra: unknown field (expected user_id, video_id, type, timestamp, watch_ratio, device, event_id, "
      "request_id, position, surface)");
}

TEST(ParseEventsJson, LongValuesAreCutInMessages) {
  const std::string msg =
      BatchError(StrCat(R"({"user_id": 1, "video_id": 2, "type": ")", std::string(100, 'x'), "\"}"));
  EXPECT_LT(msg.size(), 160u);
  EXPECT_NE(msg.find("xxx... (expected"), std::string::npos) << msg;
}

}  // namespace
}  // namespace vrec::events

namespace vrec::events {
namespace {

// Found by an attack: a few hundred thousand '[' crashed the server (the error path rendered the
// value with dump(), which recurses once per level).
TEST(ParseEventsJson, DeeplyNestedBodyIsRejectedWithoutRecursing) {
  for (const std::string& body : {std::string(300'000, '['), "{\"events\":" + std::string(300'000, '['),
                                  "[" + std::string(100'000, '{')}) {
    auto r = ParseEventsJson(body, 0);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("nested deeper than"), std::string::npos) << r.status().message();
  }
  // A legitimate batch is far below the limit.
  EXPECT_TRUE(ParseEventsJson(R"({"events":[{"user_id":1,"video_id":2,"type":"play"}]})", 0).ok());
}

// Found by fuzz/event_json_fuzz: nlohmann throws out_of_range (not parse_error) for a number too
// large for a double, which escaped ParseEventsJson (terminate in the fuzzer, 500 from the server).
TEST(ParseEventsJson, NumberTooLargeForADoubleIsInvalidArgument) {
  for (const char* body : {R"({"user_id":1,"video_id":2,"type":"play","watch_ratio":441e644444})",
                           R"({"user_id":1e999,"video_id":2,"type":"play"})", "-1e400"}) {
    auto r = ParseEventsJson(body, kNow);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << body;
    EXPECT_NE(r.status().message().find("number overflow"), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace vrec::events

namespace vrec::events {
namespace {

TEST(ParseEventsJson, EventIdIsAStringOrAnUnsignedInteger) {
  auto r = ParseEventsJson(
      R"({"events":[{"user_id":1,"video_id":2,"type":"play","event_id":"c1-7f3a:9"},)"
      R"({"user_id":1,"video_id":3,"type":"play","event_id":12345},{"user_id":1,"video_id":4,"type":"play"}]})",
      0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].event_id, "c1-7f3a:9");
  EXPECT_EQ((*r)[1].event_id, "12345");
  EXPECT_EQ((*r)[2].event_id, "");
  for (const std::string& bad : std::vector<std::string>{
           R"("")", R"("has space")", "\"" + std::string(129, 'x') + "\"", "-1", "1.5", "true", "[1]"}) {
    auto e = ParseEventsJson(StrCat(R"({"user_id":1,"video_id":2,"type":"play","event_id":)", bad, "}"), 0);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_NE(e.status().message().find("event_id: expected"), std::string::npos) << e.status().message();
  }
}

// Found by an attack: a timestamp far in the future sorted after every real event and pushed them
// out of the user's bounded history.
TEST(ParseEventsJson, TimestampsBeyondTheClockSkewAreRejected) {
  const int64_t now = 1'700'000'000;
  EventParseOptions options;
  options.max_future_skew_s = 300;
  EXPECT_TRUE(
      ParseEventsJson(R"({"user_id":1,"video_id":2,"type":"play","timestamp":1700000300})", now, options)
          .ok());
  auto r =
      ParseEventsJson(R"({"user_id":1,"video_id":2,"type":"play","timestamp":1700000301})", now, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(
      r.status().message(),
      "timestamp: in the future: 301 s after the server's clock (at most 300 s of clock skew is accepted)");
  r = ParseEventsJson(R"({"events":[{"user_id":1,"video_id":2,"type":"play"},)"
                      R"({"user_id":1,"video_id":2,"type":"play","timestamp":99999999999}]})",
                      now, options);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().message().starts_with("events[1].timestamp: in the future")) << r.status().message();
}

}  // namespace
}  // namespace vrec::events
