#include "vrec/data/dataset.h"

#include <gtest/gtest.h>

namespace vrec::data {
namespace {

TEST(Dataset, MapsExternalIdsToDenseIndices) {
  Dataset ds;
  auto a = ds.AddUser(User{.id = UserId{100}, .age = 30});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, 0u);
  EXPECT_EQ(ds.AddUser(User{.id = UserId{100}}).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(ds.InternUser(UserId{100}), 0u);
  EXPECT_EQ(ds.InternUser(UserId{7}), 1u);
  EXPECT_EQ(ds.users[1].age, -1);
  EXPECT_EQ(ds.FindUser(UserId{7}), 1u);
  EXPECT_FALSE(ds.FindVideo(VideoId{7}).has_value());
  EXPECT_EQ(ds.InternCategory("Music"), 0);
  EXPECT_EQ(ds.InternCategory("Gaming"), 1);
  EXPECT_EQ(ds.InternCategory("Music"), 0);
  EXPECT_TRUE(ds.Validate().ok());
}

TEST(Dataset, ValidateCatchesDanglingReferences) {
  Dataset ds;
  ds.InternUser(UserId{1});
  ds.InternVideo(VideoId{1});
  ds.interactions.push_back({.user = 0, .video = 3});
  EXPECT_EQ(ds.Validate().code(), StatusCode::kFailedPrecondition);
}

TEST(Context, DerivesHourAndDayOfWeekInUtc) {
  // 2026-11-26T10:30:00Z is a Thursday.
  Interaction x{.timestamp = 1795689000, .device = Device::kIos};
  Context c = ContextOf(x);
  EXPECT_EQ(c.hour, 10);
  EXPECT_EQ(c.day_of_week, 3);
  EXPECT_EQ(c.device, Device::kIos);
  EXPECT_EQ(ContextOf(Interaction{.timestamp = 0}).day_of_week, 3);  // 1970-01-01, Thursday
}

TEST(Enums, ParseTheirNames) {
  EXPECT_EQ(ParseEventType("LIKE"), EventType::kLike);
  EXPECT_EQ(ParseEventType("watch"), EventType::kPlay);
  EXPECT_FALSE(ParseEventType("dislike").has_value());
  EXPECT_EQ(ParseDevice("android"), Device::kAndroid);
  EXPECT_EQ(ParseGender("F"), Gender::kFemale);
  EXPECT_FALSE(ParseGender("x").has_value());
}

TEST(PreferenceWeight, RatingsFirstThenEventStrength) {
  EXPECT_EQ(PreferenceWeight({.type = EventType::kRating, .rating = 4}), 4);
  EXPECT_EQ(PreferenceWeight({.type = EventType::kSkip}), 0);
  EXPECT_EQ(PreferenceWeight({.type = EventType::kImpression}), 0);
  EXPECT_EQ(PreferenceWeight({.type = EventType::kPlay, .watch_ratio = 0.5f}), 1.5f);
  EXPECT_EQ(PreferenceWeight({.type = EventType::kPlay, .watch_ratio = 2.0f}), 2.0f);
  EXPECT_GT(PreferenceWeight({.type = EventType::kShare}), PreferenceWeight({.type = EventType::kLike}));
}

}  // namespace
}  // namespace vrec::data

namespace vrec::data {
namespace {

TEST(TrainingDataHash, ChangesWithAnyRowAndNotWithIndices) {
  Dataset ds;
  ds.InternUser(UserId{5});
  ds.InternVideo(VideoId{7});
  ds.InternVideo(VideoId{8});
  std::vector<Interaction> rows = {{.user = 0, .video = 0, .timestamp = 10, .rating = 4}};
  const std::string h = TrainingDataHash(ds, rows);
  EXPECT_EQ(h.size(), 16u);
  EXPECT_EQ(TrainingDataHash(ds, rows), h);
  rows[0].rating = 5;
  EXPECT_NE(TrainingDataHash(ds, rows), h);
  rows[0].rating = 4;
  rows[0].video = 1;
  EXPECT_NE(TrainingDataHash(ds, rows), h);
}

}  // namespace
}  // namespace vrec::data
