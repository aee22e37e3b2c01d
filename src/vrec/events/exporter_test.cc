#include "vrec/events/exporter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <unordered_set>

#include "vrec/data/generic_csv.h"
#include "vrec/data/test_util.h"
#include "vrec/events/segments.h"
#include "vrec/features/fault_injection_kv_store.h"
#include "vrec/features/memory_kv_store.h"

namespace vrec::events {
namespace {

namespace fs = std::filesystem;
using features::Event;
using ::vrec::data::testing::TempDir;

constexpr int64_t kStart = 1769842800;  // 2026-01-31T07:00:00Z

Event MakeEvent(uint64_t user, uint64_t video, int64_t time, std::string id = "") {
  Event e{UserId{user}, VideoId{video}, data::EventType::kPlay, time, 0.5f, data::Device::kIos};
  e.event_id = std::move(id);
  return e;
}

class ExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kv = std::make_unique<features::FaultInjectionKeyValueStore>(features::NewMemoryKeyValueStore());
    faults_ = kv.get();
    auto s = features::FeatureStore::Open(std::move(kv));
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
  }
  ExporterOptions Options() {
    ExporterOptions o;
    o.dir = (dir_.path() / "export").string();
    o.clock = [this] { return now_.load(); };
    return o;
  }
  std::unique_ptr<EventExporter> OpenExporter(ExporterOptions o) {
    auto e = EventExporter::Open(*store_, std::move(o));
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(*e) : nullptr;
  }
  std::unique_ptr<EventExporter> OpenExporter() { return OpenExporter(Options()); }
  void Append(uint64_t n, const std::string& id_prefix = "e") {
    std::vector<Event> batch;
    for (uint64_t i = 0; i < n; ++i, ++appended_) {
      batch.push_back(MakeEvent(appended_ % 7, 100 + appended_, kStart + static_cast<int64_t>(appended_),
                                StrCat(id_prefix, appended_)));
    }
    ASSERT_TRUE(store_->AppendEvents(batch).ok());
  }
  // Every segment loaded as the importer reads it: the event ids in file order.
  std::vector<std::string> ExportedIds() {
    std::vector<std::string> ids;
    auto segments = ListSegments(Options().dir);
    EXPECT_TRUE(segments.ok()) << segments.status().ToString();
    for (const SegmentInfo& s : *segments) {
      data::Dataset ds;
      std::unordered_set<std::string> seen;
      const Status read = data::ReadInteractionsCsv(s.path, ds, seen);
      EXPECT_TRUE(read.ok()) << read.ToString();
      EXPECT_EQ(ds.interactions.size(), seen.size());
      // Rows are in sequence order, which is the order of the ids here.
      std::vector<std::string> file_ids(seen.begin(), seen.end());
      std::sort(file_ids.begin(), file_ids.end(), [](const std::string& a, const std::string& b) {
        return std::stoull(a.substr(1)) < std::stoull(b.substr(1));
      });
      ids.insert(ids.end(), file_ids.begin(), file_ids.end());
    }
    return ids;
  }
  std::vector<std::string> ExpectedIds(uint64_t n) {
    std::vector<std::string> ids;
    for (uint64_t i = 0; i < n; ++i) ids.push_back(StrCat("e", i));
    return ids;
  }

  TempDir dir_;
  std::unique_ptr<features::FeatureStore> store_;
  features::FaultInjectionKeyValueStore* faults_ = nullptr;
  std::atomic<int64_t> now_{kStart + 1800};
  uint64_t appended_ = 0;
};

TEST_F(ExporterTest, ExportsEveryEventOnceInSegmentsTheImporterReads) {
  auto exporter = OpenExporter();
  ExportStats stats;
  ASSERT_TRUE(exporter->ExportOnce(&stats).ok());
  EXPECT_EQ(stats.segments_written, 0u);  // nothing yet
  Append(5);
  ASSERT_TRUE(exporter->ExportOnce(&stats).ok());
  EXPECT_EQ(stats.segments_written, 1u);
  EXPECT_EQ(stats.events_exported, 5u);
  EXPECT_EQ(stats.exported_through, 5u);
  const fs::path first = fs::path(Options().dir) / SegmentRelativePath(kStart, 1, 5);
  ASSERT_TRUE(fs::exists(first)) << first;
  ASSERT_TRUE(exporter->ExportOnce(&stats).ok());
  EXPECT_EQ(stats.segments_written, 0u);
  now_ += 3600;  // the next hour's partition
  Append(3);
  ASSERT_TRUE(exporter->ExportOnce(&stats).ok());
  EXPECT_TRUE(fs::exists(fs::path(Options().dir) / SegmentRelativePath(kStart + 3600, 6, 8)));
  EXPECT_EQ(ExportedIds(), ExpectedIds(8));

  // The fields survive: the generic importer reads the segment back.
  data::Dataset ds;
  std::unordered_set<std::string> seen;
  ASSERT_TRUE(data::ReadInteractionsCsv(first.string(), ds, seen).ok());
  ASSERT_EQ(ds.interactions.size(), 5u);
  const data::Interaction& x = ds.interactions[2];
  EXPECT_EQ(ds.users[x.user].id, UserId{2});
  EXPECT_EQ(ds.videos[x.video].id, VideoId{102});
  EXPECT_EQ(x.timestamp, kStart + 2);
  EXPECT_EQ(x.type, data::EventType::kPlay);
  EXPECT_FLOAT_EQ(x.watch_ratio, 0.5f);
  EXPECT_EQ(x.device, data::Device::kIos);
}

TEST_F(ExporterTest, EventIdsNeedingQuotesRoundTrip) {
  ASSERT_TRUE(
      store_->AppendEvents(std::vector<Event>{MakeEvent(1, 2, 3, "a,\"b\""), MakeEvent(1, 3, 4)}).ok());
  auto exporter = OpenExporter();
  ASSERT_TRUE(exporter->ExportOnce().ok());
  auto segments = ListSegments(Options().dir);
  ASSERT_EQ(segments->size(), 1u);
  data::Dataset ds;
  std::unordered_set<std::string> seen;
  ASSERT_TRUE(data::ReadInteractionsCsv((*segments)[0].path, ds, seen).ok());
  EXPECT_EQ(ds.interactions.size(), 2u);
  EXPECT_EQ(seen, (std::unordered_set<std::string>{"a,\"b\""}));
}

TEST_F(ExporterTest, ABacklogIsSplitIntoSegmentsOfTheMaximumSize) {
  Append(25);
  ExporterOptions o = Options();
  o.max_segment_events = 10;
  auto exporter = OpenExporter(o);
  ExportStats stats;
  ASSERT_TRUE(exporter->ExportOnce(&stats).ok());
  EXPECT_EQ(stats.segments_written, 3u);
  auto segments = ListSegments(o.dir);
  ASSERT_EQ(segments->size(), 3u);
  EXPECT_EQ((*segments)[1].first_seq, 11u);
  EXPECT_EQ((*segments)[2].last_seq, 25u);
  EXPECT_EQ(ExportedIds(), ExpectedIds(25));
}

TEST_F(ExporterTest, ANewExporterResumesFromTheFolderAndDropsTemporaryFiles) {
  Append(4);
  {
    auto exporter = OpenExporter();
    ASSERT_TRUE(exporter->ExportOnce().ok());
  }
  // A crash between writing a segment's temporary file and its rename leaves this behind.
  const fs::path partition = (fs::path(Options().dir) / SegmentRelativePath(kStart, 5, 6)).parent_path();
  const fs::path tmp = partition / ".events-00000000000000000005-00000000000000000006.csv.gz.tmp";
  std::ofstream(tmp) << "half";
  Append(2);
  auto exporter = OpenExporter();
  EXPECT_FALSE(fs::exists(tmp));
  ExportStats stats;
  ASSERT_TRUE(exporter->ExportOnce(&stats).ok());
  EXPECT_EQ(stats.events_exported, 2u);
  EXPECT_EQ(ExportedIds(), ExpectedIds(6));
}

TEST_F(ExporterTest, OneExporterPerFolder) {
  auto first = OpenExporter();
  auto second = EventExporter::Open(*store_, Options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  first.reset();
  EXPECT_TRUE(EventExporter::Open(*store_, Options()).ok());
}

TEST_F(ExporterTest, StoreFailuresAreRetriedWithoutLossOrDuplicates) {
  auto exporter = OpenExporter();
  Append(3);
  faults_->set_fail_reads(true);
  ExportStats stats;
  EXPECT_FALSE(exporter->ExportOnce(&stats).ok());
  EXPECT_EQ(stats.segments_written, 0u);
  faults_->set_fail_reads(false);
  ASSERT_TRUE(exporter->ExportOnce(&stats).ok());
  EXPECT_EQ(stats.events_exported, 3u);
  EXPECT_EQ(ExportedIds(), ExpectedIds(3));
}

TEST_F(ExporterTest, ARestoredOlderStoreIsRefused) {
  Append(6);
  {
    auto exporter = OpenExporter();
    ASSERT_TRUE(exporter->ExportOnce().ok());
  }
  auto fresh = features::FeatureStore::Open(features::NewMemoryKeyValueStore());
  ASSERT_TRUE(fresh.ok());
  auto exporter = EventExporter::Open(**fresh, Options());
  ASSERT_TRUE(exporter.ok());
  const Status s = (*exporter)->ExportOnce();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
}

TEST_F(ExporterTest, CatalogFilesAreWrittenWhenTheRecordsChange) {
  features::VideoRecord v;
  v.id = VideoId{7};
  v.categories = {"Music", "Live"};
  v.title = "a \"quoted\", title";
  v.duration_s = 61.5f;
  v.upload_time = kStart;
  ASSERT_TRUE(store_->PutVideo(v).ok());
  features::UserRecord u;
  u.id = UserId{3};
  u.country = "BR";
  u.age = 30;
  u.gender = data::Gender::kFemale;
  ASSERT_TRUE(store_->PutUser(u).ok());
  ExporterOptions o = Options();
  o.housekeeping_interval = std::chrono::hours(1);
  auto exporter = OpenExporter(o);
  ExportStats stats;
  ASSERT_TRUE(exporter->ExportOnce(&stats).ok());
  EXPECT_TRUE(stats.catalog_written);
  const fs::path catalog = fs::path(o.dir) / kCatalogExportDir;
  data::Dataset ds;
  ASSERT_TRUE(
      data::ReadVideosCsv((catalog / kVideosExportFile).string(), ds, data::OnExistingId::kError).ok());
  ASSERT_TRUE(data::ReadUsersCsv((catalog / kUsersExportFile).string(), ds, data::OnExistingId::kError).ok());
  ASSERT_EQ(ds.videos.size(), 1u);
  EXPECT_EQ(ds.videos[0].title, v.title);
  EXPECT_EQ(ds.categories[ds.videos[0].categories[1]], "Live");
  EXPECT_FLOAT_EQ(ds.videos[0].duration_s, 61.5f);
  EXPECT_EQ(ds.videos[0].upload_time, kStart);
  ASSERT_EQ(ds.users.size(), 1u);
  EXPECT_EQ(ds.users[0].country, "BR");
  EXPECT_EQ(ds.users[0].gender, data::Gender::kFemale);

  // Within the interval nothing is checked; forced, unchanged records write nothing.
  ASSERT_TRUE(store_->PutUser(features::UserRecord{.id = UserId{4}, .country = "US"}).ok());
  ASSERT_TRUE(exporter->ExportOnce(&stats).ok());
  EXPECT_FALSE(stats.catalog_written);
  ASSERT_TRUE(exporter->ExportOnce(&stats, /*housekeeping=*/true).ok());
  EXPECT_TRUE(stats.catalog_written);
  ASSERT_TRUE(exporter->ExportOnce(&stats, true).ok());
  EXPECT_FALSE(stats.catalog_written);
  // A new exporter recognises the files it would write.
  exporter.reset();
  exporter = OpenExporter(o);
  ASSERT_TRUE(exporter->ExportOnce(&stats, true).ok());
  EXPECT_FALSE(stats.catalog_written);
  data::Dataset users;
  ASSERT_TRUE(
      data::ReadUsersCsv((catalog / kUsersExportFile).string(), users, data::OnExistingId::kError).ok());
  EXPECT_EQ(users.users.size(), 2u);
}

TEST_F(ExporterTest, RetentionDeletesOldSegmentsAndTheCursorNeverGoesBack) {
  ExporterOptions o = Options();
  o.retention = std::chrono::hours(2);
  o.log_retention = std::chrono::hours(1);
  auto exporter = OpenExporter(o);
  Append(3);
  ASSERT_TRUE(exporter->ExportOnce(nullptr, true).ok());  // hour 7
  now_ += 3600;
  Append(2);
  ExportStats stats;
  ASSERT_TRUE(exporter->ExportOnce(&stats, true).ok());  // hour 8
  EXPECT_EQ(stats.events_pruned, 0u);                    // hour 7 ended only 30 minutes ago
  now_ += 3600;                                          // 09:30: hour 7 ended 1.5 h ago
  ASSERT_TRUE(exporter->ExportOnce(&stats, true).ok());
  EXPECT_EQ(stats.events_pruned, 3u);
  EXPECT_EQ(stats.segments_deleted, 0u);
  EXPECT_EQ(store_->PrunedThrough(), 3u);
  now_ += 2 * 3600;  // 11:30: both ended more than 2 h ago
  ASSERT_TRUE(exporter->ExportOnce(&stats, true).ok());
  EXPECT_EQ(stats.segments_deleted, 2u);
  EXPECT_EQ(stats.events_pruned, 2u);
  EXPECT_TRUE(ListSegments(o.dir)->empty());
  EXPECT_FALSE(fs::exists(fs::path(o.dir) / "dt=2026-01-31"));
  EXPECT_EQ(*ReadExportedThroughMark(o.dir), 5u);
  // Nothing is exported twice after a restart with no segment left.
  exporter.reset();
  exporter = OpenExporter(o);
  Append(1);
  ASSERT_TRUE(exporter->ExportOnce(&stats).ok());
  EXPECT_EQ(stats.events_exported, 1u);
  auto segments = ListSegments(o.dir);
  ASSERT_EQ(segments->size(), 1u);
  EXPECT_EQ((*segments)[0].first_seq, 6u);
}

TEST_F(ExporterTest, RejectsBadOptions) {
  ExporterOptions o = Options();
  o.max_segment_events = 0;
  EXPECT_EQ(EventExporter::Open(*store_, o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.retention = std::chrono::hours(1);
  o.log_retention = std::chrono::hours(2);
  EXPECT_EQ(EventExporter::Open(*store_, o).status().code(), StatusCode::kInvalidArgument);
  o.dir.clear();
  EXPECT_EQ(EventExporter::Open(*store_, o).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ExporterTest, WorkerExportsInTheBackgroundAndOnceMoreAtStop) {
  std::atomic<int> rounds{0}, failures{0};
  // The first open fails (the folder is taken), later ones succeed once it is free.
  auto holder = OpenExporter();
  std::atomic<int> opens{0};
  auto worker = std::make_unique<ExportWorker>(
      [&]() {
        ++opens;
        ExporterOptions o = Options();
        // Every round reads the store (the catalog's housekeeping), even with no new event: a
        // failing store is then seen by the next round, not after a minute.
        o.housekeeping_interval = std::chrono::milliseconds(0);
        return EventExporter::Open(*store_, o);
      },
      std::chrono::milliseconds(10),
      [&](const ExportStats&, const Status& s) {
        ++rounds;
        if (!s.ok()) ++failures;
      });
  for (int i = 0; i < 500 && failures.load() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_GT(failures.load(), 0);
  holder.reset();
  Append(3);
  for (int i = 0; i < 500 && ExportedIds().size() < 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(ExportedIds(), ExpectedIds(3));
  // A failing store does not stop it; it recovers when the store does.
  faults_->set_fail_reads(true);
  const int before = failures.load();
  for (int i = 0; i < 500 && failures.load() == before; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_GT(failures.load(), before);
  faults_->set_fail_reads(false);
  Append(2);
  worker->Stop();  // the last round exports what was acknowledged before Stop
  EXPECT_EQ(ExportedIds(), ExpectedIds(5));
  EXPECT_GE(rounds.load(), 2);
  EXPECT_GE(opens.load(), 2);
}

}  // namespace
}  // namespace vrec::events
