#include "vrec/events/segments.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "vrec/data/test_util.h"

namespace vrec::events {
namespace {

namespace fs = std::filesystem;
using ::vrec::data::testing::TempDir;

constexpr int64_t k2026Jan31At7 = 1769842800;  // 2026-01-31T07:00:00Z

TEST(Segments, PathRoundTripsThroughTheParser) {
  const std::string path = SegmentRelativePath(k2026Jan31At7 + 59 * 60, 17, 4242);
  EXPECT_EQ(path, "dt=2026-01-31/hour=07/events-00000000000000000017-00000000000000004242.csv.gz");
  auto info = ParseSegmentPath(path);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->first_seq, 17u);
  EXPECT_EQ(info->last_seq, 4242u);
  EXPECT_EQ(info->partition_time, k2026Jan31At7);
  EXPECT_EQ(UtcDate(k2026Jan31At7), "2026-01-31");
  EXPECT_EQ(UtcHour(k2026Jan31At7), 7);
}

TEST(Segments, ParserRejectsOtherNames) {
  for (const char* bad : {
           "dt=2026-01-31/hour=07/events-1-2.csv.gz",  // not 20 digits
           "dt=2026-01-31/hour=24/events-00000000000000000001-00000000000000000002.csv.gz",
           "dt=2026-02-31/hour=07/events-00000000000000000001-00000000000000000002.csv.gz",
           "dt=2026-01-31/hour=07/events-00000000000000000003-00000000000000000002.csv.gz",  // first > last
           "dt=2026-01-31/hour=07/events-00000000000000000000-00000000000000000002.csv.gz",  // seq 0
           "dt=2026-01-31/hour=07/.events-00000000000000000001-00000000000000000002.csv.gz.tmp",
           "dt=2026-01-31/events-00000000000000000001-00000000000000000002.csv.gz",
           "catalog/videos.csv.gz",
       }) {
    EXPECT_FALSE(ParseSegmentPath(bad).has_value()) << bad;
  }
}

void Touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "";
}

TEST(Segments, ListsInSequenceOrderIgnoringOtherFilesAndFindsTheCursor) {
  TempDir dir;
  EXPECT_EQ(*ExportedThrough((dir.path() / "none").string()), 0u);
  EXPECT_EQ(*ExportedThrough(dir.path().string()), 0u);
  Touch(dir.path() / SegmentRelativePath(k2026Jan31At7 + 3600, 11, 20));
  Touch(dir.path() / SegmentRelativePath(k2026Jan31At7, 1, 10));
  Touch(dir.path() / "dt=2026-01-31/hour=07/.events-00000000000000000021-00000000000000000030.csv.gz.tmp");
  Touch(dir.path() / "catalog/videos.csv.gz");
  auto list = ListSegments(dir.path().string());
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].first_seq, 1u);
  EXPECT_EQ((*list)[1].last_seq, 20u);
  EXPECT_EQ((*list)[1].partition_time, k2026Jan31At7 + 3600);
  EXPECT_EQ(*ExportedThrough(dir.path().string()), 20u);
  // The mark wins when it is ahead (segments deleted by retention).
  std::ofstream(dir.path() / kExportedThroughFile) << "35\n";
  EXPECT_EQ(*ExportedThrough(dir.path().string()), 35u);
  std::ofstream(dir.path() / kExportedThroughFile) << "x\n";
  EXPECT_EQ(ExportedThrough(dir.path().string()).status().code(), StatusCode::kDataLoss);
}

TEST(Segments, OverlappingSegmentsAreDataLoss) {
  TempDir dir;
  Touch(dir.path() / SegmentRelativePath(k2026Jan31At7, 1, 10));
  Touch(dir.path() / SegmentRelativePath(k2026Jan31At7 + 3600, 10, 12));
  auto list = ListSegments(dir.path().string());
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace vrec::events
