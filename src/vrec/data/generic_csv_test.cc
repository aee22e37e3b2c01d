#include "vrec/data/generic_csv.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "vrec/common/gzip.h"
#include "vrec/common/strings.h"
#include "vrec/data/test_util.h"

namespace vrec::data {
namespace {

using testing::TempDir;

TEST(GenericCsv, LoadsAnyColumnOrderAndQuotedText) {
  TempDir dir;
  dir.Write("users.csv", "user_id,age,country,gender\n10,31,BR,female\n11,,US,\n");
  dir.Write("videos.csv",
            "video_id,title,categories,duration_s,tags,age_restricted,available,upload_time,language\n"
            "500,\"Cats, \"\"live\"\"\",Pets|Comedy,12.5,cat|funny,0,1,1700000000,en\n"
            "501,Caf\xC3\xA9,Cooking,,,true,false,,fr\n");
  dir.Write("interactions.csv",
            "timestamp,user_id,video_id,event_type,watch_ratio,device\n"
            "1700000100,10,500,play,0.8,ios\n"
            "1700000200,12,501,like,,\n");
  auto ds = LoadGenericCsv(dir.path().string());
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  ASSERT_EQ(ds->users.size(), 3u);  // user 12 only appears in interactions
  EXPECT_EQ(ds->users[0].country, "BR");
  EXPECT_EQ(ds->users[1].age, -1);
  ASSERT_EQ(ds->videos.size(), 2u);
  EXPECT_EQ(ds->videos[0].title, "Cats, \"live\"");
  EXPECT_EQ(ds->categories[ds->videos[0].categories[1]], "Comedy");
  EXPECT_EQ(ds->videos[0].tags, (std::vector<std::string>{"cat", "funny"}));
  EXPECT_FLOAT_EQ(ds->videos[0].duration_s, 12.5f);
  EXPECT_TRUE(IsMissing(ds->videos[1].duration_s));
  EXPECT_TRUE(ds->videos[1].age_restricted);
  EXPECT_FALSE(ds->videos[1].available);
  ASSERT_EQ(ds->interactions.size(), 2u);
  EXPECT_EQ(ds->interactions[0].device, Device::kIos);
  EXPECT_FLOAT_EQ(ds->interactions[0].watch_ratio, 0.8f);
  EXPECT_EQ(ds->interactions[1].type, EventType::kLike);
  EXPECT_EQ(ds->interactions[1].user, 2u);
}

TEST(GenericCsv, WriteThenLoadRoundTrips) {
  Dataset ds;
  ds.InternCategory("Music");
  ASSERT_TRUE(
      ds.AddUser(User{.id = UserId{1}, .country = "IN", .language = "hi", .age = 22, .gender = Gender::kMale})
          .ok());
  ASSERT_TRUE(ds.AddVideo(Video{.id = VideoId{9},
                                .categories = {0},
                                .language = "hi",
                                .duration_s = 61.25f,
                                .upload_time = 1700000000,
                                .title = "a, \"b\"",
                                .tags = {"x", "y"},
                                .age_restricted = true,
                                .available = false})
                  .ok());
  ds.interactions.push_back({.user = 0,
                             .video = 0,
                             .timestamp = 1700000500,
                             .type = EventType::kPlay,
                             .device = Device::kTv,
                             .watch_time_s = 30.5f,
                             .watch_ratio = 0.5f});
  TempDir dir;
  const std::string out = (dir.path() / "out").string();
  ASSERT_TRUE(WriteGenericCsv(ds, out).ok());
  EXPECT_FALSE(std::filesystem::exists(out + ".partial"));
  auto back = LoadGenericCsv(out);
  ASSERT_TRUE(back.ok()) << back.status().message();
  const Video& v = back->videos[0];
  EXPECT_EQ(v.title, "a, \"b\"");
  EXPECT_EQ(v.tags, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(v.duration_s, 61.25f);
  EXPECT_EQ(v.upload_time, 1700000000);
  EXPECT_TRUE(v.age_restricted);
  EXPECT_FALSE(v.available);
  EXPECT_EQ(back->users[0].gender, Gender::kMale);
  EXPECT_EQ(back->users[0].age, 22);
  const Interaction& x = back->interactions[0];
  EXPECT_EQ(x.device, Device::kTv);
  EXPECT_EQ(x.watch_time_s, 30.5f);
  EXPECT_TRUE(IsMissing(x.rating));
  // Refuses to overwrite.
  EXPECT_EQ(WriteGenericCsv(ds, out).code(), StatusCode::kAlreadyExists);
}

struct BadCase {
  const char* file;
  const char* content;
  const char* expected;
};

class GenericCsvBadInput : public ::testing::TestWithParam<BadCase> {};

TEST_P(GenericCsvBadInput, FailsWithFileLineAndColumn) {
  TempDir dir;
  dir.Write("interactions.csv", "user_id,video_id,timestamp\n1,2,3\n");
  dir.Write(GetParam().file, GetParam().content);
  auto ds = LoadGenericCsv(dir.path().string());
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ds.status().message().find(GetParam().expected), std::string::npos) << ds.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, GenericCsvBadInput,
    ::testing::Values(BadCase{"interactions.csv", "user_id,video_id,timestamp\n1,2\n",
                              "interactions.csv:2: expected 3 fields"},
                      BadCase{"interactions.csv", "user_id,video_id,timestamp\nabc,2,3\n",
                              "interactions.csv:2: column 'user_id'"},
                      BadCase{"interactions.csv", "user_id,video_id\n1,2\n",
                              "missing required column 'timestamp'"},
                      BadCase{"interactions.csv", "user_id,video_id,timestamp,watchratio\n1,2,3,4\n",
                              "unknown column 'watchratio'"},
                      BadCase{"interactions.csv", "user_id,video_id,timestamp,event_type\n1,2,3,dislike\n",
                              "column 'event_type'"},
                      BadCase{"interactions.csv", "user_id,video_id,timestamp,watch_ratio\n1,2,3,-1\n",
                              "must not be negative"},
                      BadCase{"videos.csv", "video_id,title\n2,Caf\xE9\n",
                              "videos.csv:2: column 'title': text is not valid UTF-8"},
                      BadCase{"videos.csv", "video_id\n2\n2\n", "videos.csv:3: column 'video_id': duplicate"},
                      BadCase{"users.csv", "user_id,age\n1,200\n", "users.csv:2: column 'age'"},
                      BadCase{"interactions.csv", "user_id,video_id,timestamp,event_id\n1,2,3,a b\n",
                              "interactions.csv:2: column 'event_id'"},
                      BadCase{"users.csv", "", "users.csv: empty file"}));

TEST(GenericCsv, RejectsMoreCategoriesThanTheIndexHolds) {
  // One video per category, the last one category too many (indices are 16-bit).
  const auto write = [](const TempDir& dir, size_t categories) {
    std::string videos = "video_id,categories\n";
    for (size_t c = 0; c < categories; ++c) videos += StrCat(c + 1, ",cat", c, "\n");
    dir.Write("videos.csv", videos);
    dir.Write("interactions.csv", "user_id,video_id,timestamp\n1,1,0\n");
  };
  TempDir full, over;
  write(full, kMaxCategories);
  auto ds = LoadGenericCsv(full.path().string());
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  EXPECT_EQ(ds->categories.size(), kMaxCategories);
  EXPECT_EQ(ds->categories[ds->videos.back().categories[0]], StrCat("cat", kMaxCategories - 1));
  write(over, kMaxCategories + 1);
  auto bad = LoadGenericCsv(over.path().string());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("more than 65536 distinct categories"), std::string::npos)
      << bad.status().message();
}

TEST(GenericCsv, MissingInteractionsFileIsNotFound) {
  TempDir dir;
  EXPECT_EQ(LoadGenericCsv(dir.path().string()).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(LoadGenericCsv("/nonexistent/vrec").status().code(), StatusCode::kNotFound);
}

TEST(GenericCsv, EventIdsDeduplicateRowsAndMayBeEmpty) {
  TempDir dir;
  dir.Write("interactions.csv",
            "user_id,video_id,timestamp,event_id\n"
            "1,10,100,a-1\n"
            "1,11,101,\n"
            "1,10,100,a-1\n"  // the same event again: skipped
            "2,11,102,\n"     // no id: never deduplicated
            "1,12,103,a-2\n");
  auto ds = LoadGenericCsv(dir.path().string());
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  ASSERT_EQ(ds->interactions.size(), 4u);
  EXPECT_EQ(ds->videos[ds->interactions[3].video].id, VideoId{12});

  // Across files through a shared id set.
  const std::string more =
      dir.Write("more.csv", "user_id,video_id,timestamp,event_id\n1,13,104,a-2\n3,13,105,b\n");
  std::unordered_set<std::string> ids = {"a-1", "a-2"};
  size_t duplicates = 0;
  ASSERT_TRUE(ReadInteractionsCsv(more, *ds, ids, &duplicates).ok());
  EXPECT_EQ(duplicates, 1u);
  EXPECT_EQ(ds->interactions.size(), 5u);
  EXPECT_TRUE(ids.contains("b"));
}

TEST(GenericCsv, ReadsGzipFilesAndPrefersPlainOnes) {
  TempDir dir;
  {
    auto w = GzipFileWriter::Create((dir.path() / "interactions.csv.gz").string());
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write("user_id,video_id,timestamp\n1,2,3\n4,5,6\n").ok());
    ASSERT_TRUE((*w)->Finish().ok());
  }
  auto ds = LoadGenericCsv(dir.path().string());
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  EXPECT_EQ(ds->interactions.size(), 2u);
  dir.Write("interactions.csv", "user_id,video_id,timestamp\n1,2,3\n");
  EXPECT_EQ(FindDataFile(dir.path().string(), "interactions.csv"),
            (dir.path() / "interactions.csv").string());
  EXPECT_EQ(LoadGenericCsv(dir.path().string())->interactions.size(), 1u);
  EXPECT_EQ(FindDataFile(dir.path().string(), "users.csv"), "");
}

TEST(GenericCsv, UpdatesReplaceRecordsByIdAndAddNewOnes) {
  TempDir dir;
  dir.Write("videos.csv", "video_id,title,categories\n1,old,A\n2,two,B\n");
  dir.Write("users.csv", "user_id,country\n7,US\n");
  dir.Write("interactions.csv", "user_id,video_id,timestamp\n7,1,5\n");
  auto ds = LoadGenericCsv(dir.path().string());
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  const std::string videos =
      dir.Write("v2.csv", "video_id,title,categories,available\n1,new,C|A,0\n3,three,,1\n");
  size_t replaced = 0;
  ASSERT_TRUE(ReadVideosCsv(videos, *ds, OnExistingId::kReplace, &replaced).ok());
  EXPECT_EQ(replaced, 1u);
  ASSERT_EQ(ds->videos.size(), 3u);
  EXPECT_EQ(ds->videos[0].title, "new");  // same dense index: interactions still point at it
  EXPECT_FALSE(ds->videos[0].available);
  EXPECT_EQ(ds->categories[ds->videos[0].categories[0]], "C");
  EXPECT_EQ(ds->videos[2].id, VideoId{3});
  const std::string users = dir.Write("u2.csv", "user_id,country\n7,BR\n8,FR\n");
  replaced = 0;
  ASSERT_TRUE(ReadUsersCsv(users, *ds, OnExistingId::kReplace, &replaced).ok());
  EXPECT_EQ(replaced, 1u);
  EXPECT_EQ(ds->users[0].country, "BR");
  EXPECT_EQ(ds->users.size(), 2u);
  EXPECT_TRUE(ds->Validate().ok());
  // Without kReplace an existing id is an error, as within one file.
  const Status dup = ReadUsersCsv(users, *ds, OnExistingId::kError);
  EXPECT_NE(dup.message().find("u2.csv:2: column 'user_id'"), std::string::npos) << dup.message();
}

}  // namespace
}  // namespace vrec::data
