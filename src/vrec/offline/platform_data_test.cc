#include "vrec/offline/platform_data.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "vrec/common/gzip.h"
#include "vrec/data/test_util.h"
#include "vrec/events/segments.h"
#include "vrec/registry/model_layout.h"
#include "vrec/registry/registry.h"

namespace vrec::offline {
namespace {

namespace fs = std::filesystem;
using ::vrec::data::testing::TempDir;

constexpr int64_t kHour = 1769842800;  // 2026-01-31T07:00:00Z

void WriteGzip(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  auto w = GzipFileWriter::Create(path.string());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(text).ok());
  ASSERT_TRUE((*w)->Finish().ok());
}

class PlatformDataTest : public ::testing::Test {
 protected:
  std::string Registry() const { return (dir_.path() / "registry").string(); }
  std::string Export() const { return (fs::path(Registry()) / "events").string(); }

  // Commits and promotes a version whose catalog snapshot holds videos 1-2, users 10-11 and three
  // interactions, and whose manifest says it includes events through `through` (none when < 0).
  void PromoteBase(int64_t through) {
    auto reg = registry::ModelRegistry::Open(Registry());
    ASSERT_TRUE(reg.ok());
    auto staging = reg->BeginVersion();
    ASSERT_TRUE(staging.ok());
    const fs::path catalog = fs::path(*staging) / registry::kCatalogDir;
    fs::create_directories(catalog);
    std::ofstream(catalog / "videos.csv") << "video_id,title,categories\n1,one,A\n2,two,B\n";
    std::ofstream(catalog / "users.csv") << "user_id,country\n10,US\n11,FR\n";
    std::ofstream(catalog / "interactions.csv")
        << "user_id,video_id,timestamp\n10,1,100\n11,2,101\n10,2,102\n";
    registry::Manifest m;
    m.model_kind = registry::kModelKind;
    m.created_at = registry::NowUtcIso8601();
    m.feature_schema = "test";
    m.feature_schema_hash = HashHex(m.feature_schema);
    if (through >= 0) m.params[kThroughSeqParam] = std::to_string(through);
    ASSERT_TRUE(registry::WriteManifest(*staging, m).ok());
    auto version = reg->CommitVersion(*staging);
    ASSERT_TRUE(version.ok()) << version.status().ToString();
    ASSERT_TRUE(reg->Promote(*version, "test").ok());
  }
  void Segment(uint64_t first, uint64_t last, const std::string& rows) {
    WriteGzip(fs::path(Export()) / events::SegmentRelativePath(kHour, first, last),
              std::string(events::kSegmentHeader) + rows);
  }
  StatusOr<PlatformData> Load() { return LoadPlatformData(PlatformSource{.registry = Registry()}); }

  TempDir dir_;
};

TEST_F(PlatformDataTest, SnapshotPlusNewerSegmentsPlusCatalogUpdates) {
  PromoteBase(5);
  // Already in the snapshot (through 5): skipped.
  Segment(1, 5, "10,1,90,play,,,,,old-1\n");
  Segment(6, 8,
          "10,3,200,play,,0.5,,ios,n-6\n"
          "12,1,201,like,,,,,n-7\n"
          "11,3,202,play,,,,,\n");
  // A retry stored again after its id was forgotten: the same event, loaded once.
  Segment(9, 9, "12,1,201,like,,,,,n-7\n");
  WriteGzip(fs::path(Export()) / events::kCatalogExportDir / events::kVideosExportFile,
            "video_id,categories,language,duration_s,upload_time,title,tags,age_restricted,available\n"
            "2,C,en,30,,two v2,,0,0\n"
            "3,A,,,,three,,0,1\n");
  WriteGzip(fs::path(Export()) / events::kCatalogExportDir / events::kUsersExportFile,
            "user_id,country,language,age,gender\n11,BR,,,\n13,JP,ja,20,female\n");
  auto p = Load();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->base_version, "v000001");
  EXPECT_EQ(p->base_through_seq, 5u);
  EXPECT_EQ(p->through_seq, 9u);
  EXPECT_EQ(p->segments, 2u);
  EXPECT_EQ(p->events_added, 3u);
  EXPECT_EQ(p->duplicate_events, 1u);
  EXPECT_EQ(p->videos_replaced, 1u);
  EXPECT_EQ(p->videos_added, 1u);
  EXPECT_EQ(p->users_replaced, 1u);
  EXPECT_EQ(p->users_added, 1u);
  EXPECT_TRUE(p->warnings.empty());
  const data::Dataset& ds = p->dataset;
  ASSERT_EQ(ds.interactions.size(), 6u);  // 3 from the snapshot + 3 new
  EXPECT_EQ(ds.interactions[3].timestamp, 200);
  EXPECT_EQ(ds.interactions[3].device, data::Device::kIos);
  EXPECT_EQ(ds.videos[*ds.FindVideo(VideoId{2})].title, "two v2");
  EXPECT_FALSE(ds.videos[*ds.FindVideo(VideoId{2})].available);
  EXPECT_EQ(ds.videos[*ds.FindVideo(VideoId{3})].title, "three");
  EXPECT_EQ(ds.users[*ds.FindUser(UserId{11})].country, "BR");
  EXPECT_EQ(ds.users[*ds.FindUser(UserId{13})].age, 20);
  EXPECT_TRUE(ds.FindUser(UserId{12}).has_value());  // known from its events only
  EXPECT_NE(p->Describe().find("base v000001 through event 5"), std::string::npos) << p->Describe();
}

TEST_F(PlatformDataTest, ABaseWithoutTheParamTakesEverySegment) {
  PromoteBase(-1);
  Segment(1, 2, "10,1,300,play,,,,,a\n10,2,301,play,,,,,b\n");
  auto p = Load();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->base_through_seq, 0u);
  EXPECT_EQ(p->through_seq, 2u);
  EXPECT_EQ(p->dataset.interactions.size(), 5u);
}

TEST_F(PlatformDataTest, WithoutProductionTheSegmentsAreTheData) {
  Segment(1, 2, "10,1,300,play,,,,,a\n11,2,301,play,,,,,b\n");
  auto p = Load();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_FALSE(p->base_version.has_value());
  EXPECT_EQ(p->dataset.interactions.size(), 2u);
  EXPECT_EQ(p->dataset.users.size(), 2u);
  EXPECT_EQ(p->through_seq, 2u);
}

TEST_F(PlatformDataTest, NothingNewKeepsTheBase) {
  PromoteBase(7);
  Segment(1, 7, "10,1,90,play,,,,,x\n");
  auto p = Load();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->through_seq, 7u);
  EXPECT_EQ(p->segments, 0u);
  EXPECT_EQ(p->dataset.interactions.size(), 3u);
}

TEST_F(PlatformDataTest, ASegmentStraddlingTheBaseIsRefused) {
  PromoteBase(4);
  Segment(3, 6, "10,1,90,play,,,,,x\n");
  auto p = Load();
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kFailedPrecondition) << p.status().ToString();
}

TEST_F(PlatformDataTest, EventsDeletedByRetentionAreReported) {
  PromoteBase(2);
  Segment(7, 7, "10,1,90,play,,,,,x\n");
  std::ofstream(fs::path(Export()) / events::kExportedThroughFile) << "6\n";
  auto p = Load();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->warnings.size(), 1u);
  EXPECT_NE(p->warnings[0].find("events 3..6 were deleted by retention"), std::string::npos)
      << p->warnings[0];
  EXPECT_EQ(p->through_seq, 7u);
}

TEST_F(PlatformDataTest, BadRowsAndBadParamsAreErrors) {
  PromoteBase(0);
  Segment(1, 1, "10,not-a-video,90,play,,,,,x\n");
  auto p = Load();
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find(":2: column 'video_id'"), std::string::npos) << p.status().ToString();
  registry::Manifest m;
  m.params[kThroughSeqParam] = "many";
  EXPECT_EQ(ThroughSeqOf(m).status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace vrec::offline
