#include "vrec/features/feature_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "vrec/common/strings.h"
#include "vrec/data/test_util.h"
#include "vrec/features/redis_test_server.h"

namespace vrec::features {
namespace {

using ::vrec::data::EventType;
using ::vrec::data::testing::TempDir;

Event MakeEvent(uint64_t user, uint64_t video, int64_t time, EventType type = EventType::kPlay,
                float ratio = data::kMissing, data::Device device = data::Device::kUnknown) {
  return Event{UserId{user}, VideoId{video}, type, time, ratio, device};
}

bool SameFloat(float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

bool SameEvent(const Event& a, const Event& b) {
  return a.user == b.user && a.video == b.video && a.type == b.type && a.time == b.time &&
         SameFloat(a.watch_ratio, b.watch_ratio) && a.device == b.device && a.event_id == b.event_id;
}

std::vector<uint64_t> Videos(const std::vector<HistoryEntry>& h) {
  std::vector<uint64_t> out;
  for (const auto& e : h) out.push_back(e.video.value);
  return out;
}

// Big-endian id key, as the store lays it out (feature_store.h).
std::string RawKey(std::string_view prefix, uint64_t id) {
  std::string key(prefix);
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>((id >> shift) & 0xff));
  return key;
}

// The store's URI for a backend: memory://, rocksdb:// in `dir`, or a fresh namespace of the test
// process's redis-server (empty when there is none: the caller skips).
std::string BackendUri(const std::string& backend, const TempDir& dir, std::string* why) {
  if (backend == "memory") return "memory://";
  if (backend == "rocksdb") return "rocksdb://" + (dir.path() / "db").string();
  testing::RedisTestServer* redis = testing::SharedRedisTestServer(why);
  static std::atomic<int> next{0};
  return redis == nullptr ? std::string() : redis->Uri(StrCat("fs", getpid(), "-", next++));
}

class FeatureStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  bool persistent() const { return GetParam() != "memory"; }
  const std::string& Uri() const { return uri_; }
  void Open(FeatureStoreOptions options = {}) {
    store_.reset();
    auto s = FeatureStore::Open(Uri(), options);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  // Opens the raw store, lets `fill` write into it, then opens the feature store over it.
  Status OpenOver(const std::function<void(KeyValueStore&)>& fill) {
    store_.reset();
    auto kv = OpenKeyValueStore(Uri());
    if (!kv.ok()) return kv.status();
    fill(**kv);
    auto s = FeatureStore::Open(std::move(kv).value());
    if (!s.ok()) return s.status();
    store_ = std::move(s).value();
    return OkStatus();
  }
  void SetUp() override {
    std::string why;
    uri_ = BackendUri(GetParam(), dir_, &why);
    if (uri_.empty()) GTEST_SKIP() << "no redis-server: " << why;
    Open();
  }

  std::vector<HistoryEntry> History(uint64_t user) {
    auto h = store_->History(UserId{user});
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    return h.ok() ? *h : std::vector<HistoryEntry>();
  }
  std::vector<std::pair<uint64_t, Event>> AllEvents(size_t page = 1000) {
    std::vector<std::pair<uint64_t, Event>> all, chunk;
    uint64_t after = 0;
    while (true) {
      Status s = store_->ScanEvents(after, page, chunk);
      EXPECT_TRUE(s.ok()) << s.ToString();
      if (!s.ok()) break;
      all.insert(all.end(), chunk.begin(), chunk.end());
      if (chunk.size() < page) break;
      after = chunk.back().first;
    }
    return all;
  }

  TempDir dir_;
  std::string uri_;
  std::unique_ptr<FeatureStore> store_;
};

TEST_P(FeatureStoreTest, UnknownUserHasEmptyHistory) {
  EXPECT_TRUE(History(12345).empty());
  EXPECT_EQ(store_->LastSequence(), 0u);
  EXPECT_TRUE(AllEvents().empty());
}

TEST_P(FeatureStoreTest, HistoryIsOldestFirstAndKeepsTheNewest) {
  Open(FeatureStoreOptions{.max_history = 5});
  std::vector<Event> batch;
  for (uint64_t v = 1; v <= 4; ++v) batch.push_back(MakeEvent(7, v, 100 + static_cast<int64_t>(v)));
  ASSERT_TRUE(store_->AppendEvents(batch).ok());
  EXPECT_EQ(Videos(History(7)), (std::vector<uint64_t>{1, 2, 3, 4}));
  batch.clear();
  for (uint64_t v = 5; v <= 8; ++v) batch.push_back(MakeEvent(7, v, 100 + static_cast<int64_t>(v)));
  batch.push_back(MakeEvent(8, 99, 1));  // another user in the same batch
  ASSERT_TRUE(store_->AppendEvents(batch).ok());
  EXPECT_EQ(Videos(History(7)), (std::vector<uint64_t>{4, 5, 6, 7, 8}));
  EXPECT_EQ(Videos(History(8)), (std::vector<uint64_t>{99}));
  // The log keeps everything.
  EXPECT_EQ(AllEvents().size(), 9u);
}

TEST_P(FeatureStoreTest, HistoryOrdersByTimeWithTiesInAppendOrder) {
  std::vector<Event> batch = {MakeEvent(1, 10, 500), MakeEvent(1, 11, 300), MakeEvent(1, 12, 500),
                              MakeEvent(1, 13, 400)};
  ASSERT_TRUE(store_->AppendEvents(batch).ok());
  ASSERT_TRUE(store_->AppendEvents(std::vector<Event>{MakeEvent(1, 14, 300)}).ok());
  EXPECT_EQ(Videos(History(1)), (std::vector<uint64_t>{11, 14, 13, 10, 12}));
}

// Tests that reopen the store: durable backends only.
class PersistentFeatureStoreTest : public FeatureStoreTest {};

TEST_P(PersistentFeatureStoreTest, LoweringMaxHistoryTakesEffectOnRead) {
  std::vector<Event> batch;
  for (uint64_t v = 1; v <= 6; ++v) batch.push_back(MakeEvent(3, v, static_cast<int64_t>(v)));
  ASSERT_TRUE(store_->AppendEvents(batch).ok());
  Open(FeatureStoreOptions{.max_history = 2});
  EXPECT_EQ(Videos(History(3)), (std::vector<uint64_t>{5, 6}));
}

TEST_P(FeatureStoreTest, FieldsRoundTripIncludingExtremes) {
  constexpr uint64_t kMaxId = std::numeric_limits<uint64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min(), kMax = std::numeric_limits<int64_t>::max();
  std::vector<Event> batch = {
      MakeEvent(kMaxId, kMaxId, kMin, EventType::kRating, 0.0f, data::Device::kTv),
      MakeEvent(kMaxId, 0, -1, EventType::kShare, -0.0f, data::Device::kIos),
      MakeEvent(kMaxId, 5, kMax, EventType::kSkip, 9.75f, data::Device::kWeb),
      MakeEvent(0, 1, 1700000000, EventType::kImpression, data::kMissing, data::Device::kAndroid),
  };
  ASSERT_TRUE(store_->AppendEvents(batch).ok());
  auto events = AllEvents();
  ASSERT_EQ(events.size(), batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    EXPECT_EQ(events[i].first, i + 1);
    EXPECT_TRUE(SameEvent(events[i].second, batch[i])) << i;
  }
  auto h = History(kMaxId);
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0].time, kMin);
  EXPECT_EQ(h[0].type, EventType::kRating);
  EXPECT_EQ(h[0].video.value, kMaxId);
  EXPECT_EQ(h[1].time, -1);
  EXPECT_TRUE(std::signbit(h[1].watch_ratio));
  EXPECT_EQ(h[2].time, kMax);
  EXPECT_EQ(h[2].watch_ratio, 9.75f);
  auto h0 = History(0);
  ASSERT_EQ(h0.size(), 1u);
  EXPECT_TRUE(std::isnan(h0[0].watch_ratio));
}

TEST_P(FeatureStoreTest, SequencesIncreaseAndScanPages) {
  uint64_t expected = 0;
  for (int b = 0; b < 5; ++b) {
    std::vector<Event> batch;
    for (int i = 0; i < 7; ++i)
      batch.push_back(MakeEvent(static_cast<uint64_t>(i % 3), static_cast<uint64_t>(b * 7 + i), b));
    ASSERT_TRUE(store_->AppendEvents(batch).ok());
    expected += batch.size();
    EXPECT_EQ(store_->LastSequence(), expected);
  }
  ASSERT_TRUE(store_->AppendEvents({}).ok());  // empty: no sequence taken
  EXPECT_EQ(store_->LastSequence(), 35u);
  auto events = AllEvents(/*page=*/4);
  ASSERT_EQ(events.size(), 35u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].first, i + 1);
    EXPECT_EQ(events[i].second.video.value, i);
  }
  std::vector<std::pair<uint64_t, Event>> out = {{99, Event{}}};
  ASSERT_TRUE(store_->ScanEvents(33, 10, out).ok());
  ASSERT_EQ(out.size(), 2u);  // replaced, not appended
  EXPECT_EQ(out[0].first, 34u);
  ASSERT_TRUE(store_->ScanEvents(35, 10, out).ok());
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(store_->ScanEvents(0, 0, out).code(), StatusCode::kInvalidArgument);
}

TEST_P(PersistentFeatureStoreTest, SequencesAndHistoriesSurviveReopen) {
  ASSERT_TRUE(
      store_->AppendEvents(std::vector<Event>{MakeEvent(1, 1, 1), MakeEvent(2, 2, 2), MakeEvent(1, 3, 3)})
          .ok());
  Open();
  EXPECT_EQ(store_->LastSequence(), 3u);
  ASSERT_TRUE(store_->AppendEvents(std::vector<Event>{MakeEvent(1, 4, 4), MakeEvent(2, 5, 5)}).ok());
  auto events = AllEvents();
  ASSERT_EQ(events.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(events[i].first, i + 1);
    EXPECT_EQ(events[i].second.video.value, i + 1);
  }
  EXPECT_EQ(Videos(History(1)), (std::vector<uint64_t>{1, 3, 4}));
  EXPECT_EQ(Videos(History(2)), (std::vector<uint64_t>{2, 5}));
}

TEST_P(FeatureStoreTest, ConcurrentAppendsForOneUserLoseNothing) {
  Open(FeatureStoreOptions{.max_history = 10000});
  constexpr int kThreads = 4, kPerThread = 60;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const auto video = static_cast<uint64_t>(t * 1000 + i);
        // Mostly user 42 alone; every third batch also touches a user of its own.
        std::vector<Event> batch = {MakeEvent(42, video, i)};
        if (i % 3 == 0) batch.push_back(MakeEvent(static_cast<uint64_t>(100 + t), video, i));
        EXPECT_TRUE(store_->AppendEvents(batch).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  auto h = History(42);
  ASSERT_EQ(h.size(), size_t{kThreads * kPerThread});
  std::set<uint64_t> videos;
  for (const auto& e : h) videos.insert(e.video.value);
  EXPECT_EQ(videos.size(), size_t{kThreads * kPerThread});
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(History(static_cast<uint64_t>(100 + t)).size(), 20u);
  auto events = AllEvents();
  const size_t total = kThreads * kPerThread + kThreads * 20;
  ASSERT_EQ(events.size(), total);
  for (size_t i = 0; i < total; ++i) EXPECT_EQ(events[i].first, i + 1);
}

TEST_P(FeatureStoreTest, TailingReaderNeverSkipsAnEvent) {
  // A reader pages through the log while writers append: it must end up with every sequence once,
  // in order, even though appends commit out of sequence order.
  constexpr int kThreads = 3, kPerThread = 80;
  std::atomic<int> writers_left{kThreads};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        EXPECT_TRUE(store_
                        ->AppendEvents(std::vector<Event>{MakeEvent(static_cast<uint64_t>(t), 1, i),
                                                          MakeEvent(static_cast<uint64_t>(t + 10), 2, i)})
                        .ok());
      }
      --writers_left;
    });
  }
  std::vector<uint64_t> seen;
  std::vector<std::pair<uint64_t, Event>> chunk;
  uint64_t after = 0;
  while (true) {
    const bool last_round = writers_left.load() == 0;
    ASSERT_TRUE(store_->ScanEvents(after, 16, chunk).ok());
    for (const auto& [seq, e] : chunk) seen.push_back(seq);
    if (!chunk.empty()) after = chunk.back().first;
    if (chunk.size() < 16 && last_round) break;
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(seen.size(), size_t{kThreads * kPerThread * 2});
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], i + 1);
}

TEST_P(FeatureStoreTest, VideoFlagsRoundTripAndPersist) {
  ASSERT_TRUE(store_->SetVideoFlags(VideoId{9}, VideoFlags{.unavailable = true}).ok());
  ASSERT_TRUE(store_->SetVideoFlags(VideoId{3}, VideoFlags{.age_restricted = true}).ok());
  ASSERT_TRUE(store_->SetVideoFlags(VideoId{1ull << 40}, VideoFlags{true, true}).ok());
  ASSERT_TRUE(store_->SetVideoFlags(VideoId{5}, VideoFlags{true, false}).ok());
  ASSERT_TRUE(store_->SetVideoFlags(VideoId{5}, VideoFlags{}).ok());  // cleared: no record
  ASSERT_TRUE(store_->SetVideoFlags(VideoId{9}, VideoFlags{false, true}).ok());
  using Flags = std::vector<std::pair<VideoId, VideoFlags>>;
  const Flags want = {
      {VideoId{3}, {false, true}}, {VideoId{9}, {false, true}}, {VideoId{1ull << 40}, {true, true}}};
  auto all = store_->AllVideoFlags();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(*all, want);
  if (persistent()) {
    Open();
    all = store_->AllVideoFlags();
    ASSERT_TRUE(all.ok());
    EXPECT_EQ(*all, want);
  }
}

TEST_P(FeatureStoreTest, ManyVideoFlagsArePaged) {
  constexpr uint64_t kVideos = 5000;  // more than one internal page of AllVideoFlags
  // Written raw in one batch (5000 synced SetVideoFlags would take seconds on RocksDB).
  Status s = OpenOver([&](KeyValueStore& kv) {
    WriteBatch b;
    for (uint64_t v = 0; v < kVideos; ++v) b.Put(RawKey("v/", v * 3), std::string("\x01\x01", 2));
    ASSERT_TRUE(kv.Write(b, WriteOptions{}).ok());
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_TRUE(store_->SetVideoFlags(VideoId{1}, {false, true}).ok());
  auto all = store_->AllVideoFlags();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), kVideos + 1);
  EXPECT_EQ((*all)[1], (std::pair<VideoId, VideoFlags>{VideoId{1}, {false, true}}));
  for (uint64_t v = 0; v < kVideos; ++v) {
    const auto& [id, flags] = (*all)[v < 1 ? 0 : v + 1];
    ASSERT_EQ(id.value, v * 3);
    ASSERT_EQ(flags, (VideoFlags{true, false}));
  }
}

TEST_P(FeatureStoreTest, CorruptHistoryIsDataLossAndBlocksTheAppend) {
  Status s = OpenOver([](KeyValueStore& kv) {
    WriteBatch b;
    b.Put(RawKey("h/", 42), std::string("\x01\x05\x01", 3));  // claims 5 entries, holds none
    b.Put(RawKey("h/", 43), std::string("\x07", 1));          // unknown version
    ASSERT_TRUE(kv.Write(b, WriteOptions{}).ok());
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (uint64_t user : {42, 43}) {
    auto h = store_->History(UserId{user});
    ASSERT_FALSE(h.ok());
    EXPECT_EQ(h.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(h.status().message().find(StrCat("h/", user)), std::string::npos) << h.status().ToString();
  }
  Status append = store_->AppendEvents(std::vector<Event>{MakeEvent(1, 1, 1), MakeEvent(42, 2, 2)});
  EXPECT_EQ(append.code(), StatusCode::kDataLoss) << append.ToString();
  EXPECT_TRUE(AllEvents().empty());  // the whole batch was refused
  EXPECT_TRUE(History(1).empty());
}

TEST_P(FeatureStoreTest, CorruptEventAndFlagRecordsAreDataLoss) {
  Status s = OpenOver([](KeyValueStore& kv) {
    WriteBatch b;
    b.Put(RawKey("e/", 1), std::string("\x01\x01\x02\x09\x00\x00\x00\x00\x00\x00", 10));  // type 9
    b.Put(RawKey("v/", 5), std::string("\x01\x80", 2));                                   // unknown bit
    b.Delete("m/last_seq");  // as a store of layout 2 has it
    ASSERT_TRUE(kv.Write(b, WriteOptions{}).ok());
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(store_->LastSequence(), 1u);  // recovered from the last key, even a corrupt one
  std::vector<std::pair<uint64_t, Event>> out;
  Status scan = store_->ScanEvents(0, 10, out);
  EXPECT_EQ(scan.code(), StatusCode::kDataLoss);
  EXPECT_NE(scan.message().find("e/1"), std::string::npos) << scan.ToString();
  auto flags = store_->AllVideoFlags();
  ASSERT_FALSE(flags.ok());
  EXPECT_EQ(flags.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(flags.status().message().find("v/5"), std::string::npos) << flags.status().ToString();
}

TEST_P(FeatureStoreTest, RefusesANewerLayout) {
  Status s = OpenOver([](KeyValueStore& kv) {
    WriteBatch b;
    b.Put("m/format", std::to_string(kFeatureStoreFormatVersion + 1));
    ASSERT_TRUE(kv.Write(b, WriteOptions{}).ok());
  });
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("newer"), std::string::npos);
  s = OpenOver([](KeyValueStore& kv) {
    WriteBatch b;
    b.Put("m/format", "x1");
    ASSERT_TRUE(kv.Write(b, WriteOptions{}).ok());
  });
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
}

Event WithId(Event e, std::string id) {
  e.event_id = std::move(id);
  return e;
}

// Found by an attack: a client retry stored every event twice.
TEST_P(FeatureStoreTest, RetriedEventIdsAreStoredOnce) {
  std::vector<Event> appended;
  const std::vector<Event> first = {WithId(MakeEvent(1, 10, 100), "a"), WithId(MakeEvent(1, 11, 101), "b")};
  ASSERT_TRUE(store_->AppendEvents(first, &appended).ok());
  EXPECT_EQ(appended.size(), 2u);
  // The retry repeats b, adds c and one event without an id (never deduplicated).
  const std::vector<Event> retry = {WithId(MakeEvent(1, 11, 101), "b"), WithId(MakeEvent(1, 12, 102), "c"),
                                    MakeEvent(1, 13, 103)};
  ASSERT_TRUE(store_->AppendEvents(retry, &appended).ok());
  ASSERT_EQ(appended.size(), 2u);
  EXPECT_EQ(appended[0].event_id, "c");
  EXPECT_EQ(appended[1].video.value, 13u);
  EXPECT_EQ(Videos(History(1)), (std::vector<uint64_t>{10, 11, 12, 13}));
  const auto all = AllEvents();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].second.event_id, "a");
  EXPECT_EQ(all[2].second.event_id, "c");
  EXPECT_EQ(all[3].second.event_id, "");
  // A batch that is all retries writes nothing and takes no sequence.
  ASSERT_TRUE(store_->AppendEvents(first, &appended).ok());
  EXPECT_TRUE(appended.empty());
  EXPECT_EQ(store_->LastSequence(), 4u);
}

TEST_P(FeatureStoreTest, AnIdRepeatedInOneBatchIsStoredOnce) {
  std::vector<Event> appended;
  const std::vector<Event> batch = {WithId(MakeEvent(1, 10, 100), "x"), WithId(MakeEvent(2, 10, 100), "x")};
  ASSERT_TRUE(store_->AppendEvents(batch, &appended).ok());
  ASSERT_EQ(appended.size(), 1u);
  EXPECT_EQ(appended[0].user.value, 1u);
  EXPECT_TRUE(History(2).empty());
}

TEST_P(FeatureStoreTest, ConcurrentRetriesOfOneEventStoreItOnce) {
  constexpr int kThreads = 8, kEvents = 50;
  std::atomic<int> stored{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEvents; ++i) {
        // Each event is sent by every thread, for users that differ per thread (a client bug),
        // so only the event id can tell the copies apart.
        std::vector<Event> appended;
        const Event e =
            WithId(MakeEvent(static_cast<uint64_t>(t + 1), static_cast<uint64_t>(i), i), StrCat("ev-", i));
        ASSERT_TRUE(store_->AppendEvents(std::span<const Event>(&e, 1), &appended).ok());
        stored += static_cast<int>(appended.size());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(stored.load(), kEvents);
  EXPECT_EQ(AllEvents().size(), static_cast<size_t>(kEvents));
}

TEST_P(FeatureStoreTest, RejectsOverlongEventIds) {
  const Event e = WithId(MakeEvent(1, 1, 1), std::string(kMaxEventIdBytes + 1, 'x'));
  EXPECT_EQ(store_->AppendEvents(std::span<const Event>(&e, 1)).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(History(1).empty());
}

TEST_P(FeatureStoreTest, PrunedIdsAreForgottenOldestFirst) {
  int64_t now = 1000;
  store_.reset();
  Open(FeatureStoreOptions{.clock = [&now] { return now; }});
  std::vector<Event> appended;
  ASSERT_TRUE(store_->AppendEvents(std::vector<Event>{WithId(MakeEvent(1, 1, 1), "old")}).ok());
  now = 2000;
  ASSERT_TRUE(store_->AppendEvents(std::vector<Event>{WithId(MakeEvent(1, 2, 2), "new")}).ok());
  auto pruned = store_->PruneEventIds(1500);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, 1u);
  ASSERT_TRUE(store_
                  ->AppendEvents(std::vector<Event>{WithId(MakeEvent(1, 1, 1), "old"),
                                                    WithId(MakeEvent(1, 2, 2), "new")},
                                 &appended)
                  .ok());
  ASSERT_EQ(appended.size(), 1u) << "only the pruned id is stored again";
  EXPECT_EQ(appended[0].event_id, "old");
  EXPECT_EQ(*store_->PruneEventIds(1500), 0u);
  EXPECT_EQ(*store_->PruneEventIds(3000), 2u);
}

TEST_P(PersistentFeatureStoreTest, EventIdsSurviveReopen) {
  const std::vector<Event> batch = {WithId(MakeEvent(1, 10, 100), "durable-id")};
  ASSERT_TRUE(store_->AppendEvents(batch).ok());
  Open();
  std::vector<Event> appended;
  ASSERT_TRUE(store_->AppendEvents(batch, &appended).ok());
  EXPECT_TRUE(appended.empty());
  EXPECT_EQ(AllEvents().size(), 1u);
}

// Stores written before event ids (layout 1, v1 event records) open, read, and are marked 2.
TEST_P(FeatureStoreTest, OpensALayoutOneStore) {
  Status s = OpenOver([](KeyValueStore& kv) {
    WriteBatch b;
    b.Put("m/format", "1");
    // v1 record: version 1, user 7, video 9, type 0 (play), device 0, time 0 (zigzag), NaN ratio.
    b.Put(RawKey("e/", 1), std::string("\x01\x07\x09\x00\x00\x00\x00\x00\xc0\x7f", 10));
    ASSERT_TRUE(kv.Write(b, WriteOptions{}).ok());
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  const auto all = AllEvents();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].second.user.value, 7u);
  EXPECT_EQ(all[0].second.video.value, 9u);
  EXPECT_TRUE(all[0].second.event_id.empty());
  if (!persistent()) return;
  store_.reset();
  auto kv = OpenKeyValueStore(Uri());
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(*(*kv)->Get("m/format"), std::to_string(kFeatureStoreFormatVersion));
}

TEST_P(FeatureStoreTest, RejectsZeroMaxHistory) {
  store_.reset();
  auto s = FeatureStore::Open(Uri(), FeatureStoreOptions{.max_history = 0});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
}

TEST_P(FeatureStoreTest, PruneEventsDropsExportedLogEntriesButKeepsHistories) {
  for (uint64_t i = 1; i <= 10; ++i) {
    ASSERT_TRUE(store_->AppendEvents(std::vector<Event>{MakeEvent(i % 2, i, static_cast<int64_t>(i))}).ok());
  }
  auto removed = store_->PruneEvents(4);
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 4u);
  EXPECT_EQ(store_->PrunedThrough(), 4u);
  auto events = AllEvents();
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events.front().first, 5u);
  EXPECT_EQ(Videos(History(1)), (std::vector<uint64_t>{1, 3, 5, 7, 9}));
  EXPECT_EQ(*store_->PruneEvents(3), 0u);  // idempotent, never backwards
  EXPECT_EQ(store_->PrunedThrough(), 4u);
  // Beyond the log: clamped to what was written.
  EXPECT_EQ(*store_->PruneEvents(1000), 6u);
  EXPECT_EQ(store_->PrunedThrough(), 10u);
  EXPECT_TRUE(AllEvents().empty());
  ASSERT_TRUE(store_->AppendEvents(std::vector<Event>{MakeEvent(3, 11, 11)}).ok());
  EXPECT_EQ(store_->LastSequence(), 11u);
  EXPECT_EQ(Videos(History(0)), (std::vector<uint64_t>{2, 4, 6, 8, 10}));
}

TEST_P(PersistentFeatureStoreTest, SequencesContinueAfterTheWholeLogWasPruned) {
  ASSERT_TRUE(store_->AppendEvents(std::vector<Event>{MakeEvent(1, 1, 1), MakeEvent(1, 2, 2)}).ok());
  ASSERT_EQ(*store_->PruneEvents(2), 2u);
  Open();
  EXPECT_EQ(store_->LastSequence(), 2u);
  EXPECT_EQ(store_->PrunedThrough(), 2u);
  ASSERT_TRUE(store_->AppendEvents(std::vector<Event>{MakeEvent(1, 3, 3)}).ok());
  auto events = AllEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].first, 3u);
  EXPECT_EQ(Videos(History(1)), (std::vector<uint64_t>{1, 2, 3}));
}

TEST_P(FeatureStoreTest, PruningManyPagesRemovesThemAll) {
  std::vector<Event> batch;
  for (uint64_t i = 0; i < 25'000; ++i) batch.push_back(MakeEvent(i % 100, i, static_cast<int64_t>(i)));
  ASSERT_TRUE(store_->AppendEvents(batch).ok());
  EXPECT_EQ(*store_->PruneEvents(24'000), 24'000u);
  EXPECT_EQ(AllEvents(5000).size(), 1000u);
}

// A store whose writes are counted and can be slowed down, held at a gate, failed or made to
// throw, so that appends queue up behind a leader's write and form a group.
class ControlledStore : public ForwardingKeyValueStore {
 public:
  explicit ControlledStore(std::unique_ptr<KeyValueStore> base) : ForwardingKeyValueStore(std::move(base)) {}
  // The modes in force when a write starts decide its outcome (also when it then waits at the gate).
  Status Write(const WriteBatch& batch, const WriteOptions& options) override {
    ++writes_;
    const bool fail = fail_writes_, throws = throw_writes_;
    {
      std::unique_lock lock(mu_);
      if (hold_next_) {
        hold_next_ = false;
        held_ = true;
        cv_.notify_all();
        cv_.wait(lock, [&] { return !held_; });
      }
    }
    std::this_thread::sleep_for(delay_);
    if (throws) throw std::runtime_error("store threw");
    if (fail) return InternalError("IO error: fsync failed");
    return ForwardingKeyValueStore::Write(batch, options);
  }

  int writes() const { return writes_; }
  void set_delay(std::chrono::milliseconds delay) { delay_ = delay; }  // before any thread writes
  void set_fail_writes(bool fail) { fail_writes_ = fail; }
  void set_throw_writes(bool throws) { throw_writes_ = throws; }
  // The next write waits at the gate until Release; WaitUntilHeld returns once it is waiting.
  void HoldNextWrite() {
    std::lock_guard lock(mu_);
    hold_next_ = true;
  }
  void WaitUntilHeld() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return held_; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    held_ = false;
    cv_.notify_all();
  }

 private:
  std::chrono::milliseconds delay_{0};
  std::atomic<int> writes_{0};
  std::atomic<bool> fail_writes_{false};
  std::atomic<bool> throw_writes_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_next_ = false;  // guarded by mu_
  bool held_ = false;       // guarded by mu_
};

class GroupCommitTest : public FeatureStoreTest {
 protected:
  // Reopens the feature store over a ControlledStore (after `fill` wrote into the raw store).
  void OpenControlled(FeatureStoreOptions options = {},
                      const std::function<void(KeyValueStore&)>& fill = {}) {
    store_.reset();
    auto kv = OpenKeyValueStore(Uri());
    ASSERT_TRUE(kv.ok()) << kv.status().ToString();
    if (fill) fill(**kv);
    auto controlled = std::make_unique<ControlledStore>(std::move(kv).value());
    kv_ = controlled.get();
    auto opened = FeatureStore::Open(std::move(controlled), options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
  }
  // Starts an append that leads and waits at the gate in its write, so that the appends started
  // next queue behind it; Group() lets the leader finish after giving them time to queue.
  void StartLeader() {
    kv_->HoldNextWrite();
    leader_ = std::thread(
        [this] { EXPECT_TRUE(store_->AppendEvents(std::vector<Event>{MakeEvent(1, 1, 1)}).ok()); });
    kv_->WaitUntilHeld();
    writes_before_ = kv_->writes();
  }
  void Group(std::vector<std::thread>& queued) {
    // Queueing takes microseconds; the sleep only makes a split group (which every test below
    // would still pass, bar the count of writes) very unlikely on a loaded machine.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    kv_->Release();
    leader_.join();
    for (std::thread& t : queued) t.join();
  }
  // Writes since the leader's, the leader's own included.
  int WritesSinceLeader() const { return kv_->writes() - writes_before_ + 1; }

  ControlledStore* kv_ = nullptr;
  std::thread leader_;
  int writes_before_ = 0;
};

TEST_P(GroupCommitTest, ConcurrentBatchesShareSyncedWritesAndLoseNothing) {
  OpenControlled(FeatureStoreOptions{.max_history = 100'000});
  kv_->set_delay(std::chrono::milliseconds(3));  // a slow fsync, so that appends queue up
  const int before = kv_->writes();
  constexpr int kThreads = 8, kBatches = 15, kBatch = 20;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<Event> batch;
        for (int i = 0; i < kBatch; ++i) {
          const uint64_t n = static_cast<uint64_t>((t * kBatches + b) * kBatch + i);
          batch.push_back(WithId(MakeEvent(n % 13, n, static_cast<int64_t>(n)), StrCat("id", n)));
        }
        // Users shared across threads, ids unique, plus a retry of the previous batch's first
        // event (committed by an earlier group, or earlier in this one).
        if (b > 0) batch.push_back(WithId(MakeEvent(0, 0, 0), StrCat("id", (t * kBatches + b - 1) * kBatch)));
        std::vector<Event> appended;
        if (!store_->AppendEvents(batch, &appended).ok() || appended.size() != static_cast<size_t>(kBatch)) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  constexpr size_t kTotal = kThreads * kBatches * kBatch;
  EXPECT_LT(kv_->writes() - before, kThreads * kBatches) << "no two batches shared a write";
  auto events = AllEvents();
  ASSERT_EQ(events.size(), kTotal);
  std::set<uint64_t> videos;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].first, i + 1);  // contiguous sequences
    videos.insert(events[i].second.video.value);
  }
  EXPECT_EQ(videos.size(), kTotal);
  size_t in_histories = 0;
  for (uint64_t u = 0; u < 13; ++u) in_histories += History(u).size();
  EXPECT_EQ(in_histories, kTotal);
  EXPECT_EQ(store_->LastSequence(), kTotal);
}

TEST_P(GroupCommitTest, ABatchFailingInAGroupFailsAlone) {
  OpenControlled({}, [](KeyValueStore& kv) {
    WriteBatch corrupt;
    corrupt.Put(RawKey("h/", 42), std::string("\x07", 1));
    ASSERT_TRUE(kv.Write(corrupt, WriteOptions{}).ok());
  });
  StartLeader();
  Status bad, good;
  std::vector<Event> good_appended;
  // Sized up front: GCC 12 at -O3 warns (-Warray-bounds, a false positive) about emplace_back here.
  std::vector<std::thread> queued(2);
  queued[0] = std::thread([&] {
    bad = store_->AppendEvents(std::vector<Event>{WithId(MakeEvent(2, 2, 2), "x"), MakeEvent(42, 3, 3)});
  });
  queued[1] = std::thread([&] {
    good = store_->AppendEvents(std::vector<Event>{MakeEvent(2, 4, 4), WithId(MakeEvent(3, 5, 5), "x")},
                                &good_appended);
  });
  Group(queued);
  EXPECT_EQ(bad.code(), StatusCode::kDataLoss) << bad.ToString();
  EXPECT_TRUE(good.ok()) << good.ToString();
  EXPECT_EQ(WritesSinceLeader(), 2) << "the two appends did not form one group";
  // Nothing of the failed batch, not even its event id: the other batch's "x" is new.
  EXPECT_EQ(good_appended.size(), 2u);
  EXPECT_EQ(Videos(History(2)), (std::vector<uint64_t>{4}));
  EXPECT_EQ(Videos(History(3)), (std::vector<uint64_t>{5}));
  EXPECT_EQ(AllEvents().size(), 3u);
}

TEST_P(GroupCommitTest, AStoreWriteErrorFailsTheWholeGroup) {
  OpenControlled();
  StartLeader();
  kv_->set_fail_writes(true);  // not the leader's write, which started before
  std::vector<Status> statuses(3);
  std::vector<std::vector<Event>> appended(3);
  std::vector<std::thread> queued;
  for (int t = 0; t < 3; ++t) {
    queued.emplace_back([&, t] {
      const auto u = static_cast<uint64_t>(10 + t);
      statuses[t] = store_->AppendEvents(
          std::vector<Event>{WithId(MakeEvent(u, u, 1), StrCat("e", t)), MakeEvent(u, u + 100, 2)},
          &appended[t]);
    });
  }
  Group(queued);
  EXPECT_EQ(WritesSinceLeader(), 2) << "the three appends did not form one group";
  for (int t = 0; t < 3; ++t) {
    EXPECT_EQ(statuses[t].code(), StatusCode::kInternal) << statuses[t].ToString();
    EXPECT_TRUE(appended[t].empty());
    EXPECT_TRUE(History(static_cast<uint64_t>(10 + t)).empty());
  }
  EXPECT_EQ(store_->LastSequence(), 1u);
  // The failed group's ids were not stored, and it took no sequences.
  kv_->set_fail_writes(false);
  std::vector<Event> retried;
  ASSERT_TRUE(store_->AppendEvents(std::vector<Event>{WithId(MakeEvent(10, 10, 1), "e0")}, &retried).ok());
  EXPECT_EQ(retried.size(), 1u);
  const auto events = AllEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].first, 2u);
  EXPECT_EQ(store_->LastSequence(), 2u);
}

TEST_P(GroupCommitTest, RetriesOfOneEventInOneGroupStoreItOnce) {
  OpenControlled();
  StartLeader();
  std::vector<std::vector<Event>> appended(4);
  std::vector<std::thread> queued;
  for (int t = 0; t < 4; ++t) {
    queued.emplace_back([&, t] {
      // The same two events from every client, each also sending one of its own.
      const std::vector<Event> batch = {
          WithId(MakeEvent(5, 50, 1), "same-1"), WithId(MakeEvent(6, 60, 1), "same-2"),
          WithId(MakeEvent(7, static_cast<uint64_t>(70 + t), 1), StrCat("own-", t))};
      EXPECT_TRUE(store_->AppendEvents(batch, &appended[t]).ok());
    });
  }
  Group(queued);
  EXPECT_EQ(WritesSinceLeader(), 2) << "the four appends did not form one group";
  size_t total = 0, with_same = 0;
  for (const auto& a : appended) {
    total += a.size();
    with_same += a.size() == 3u;
  }
  EXPECT_EQ(total, 2u + 4u);
  EXPECT_EQ(with_same, 1u) << "exactly one append stores the shared events";
  EXPECT_EQ(Videos(History(5)), (std::vector<uint64_t>{50}));
  EXPECT_EQ(Videos(History(6)), (std::vector<uint64_t>{60}));
  EXPECT_EQ(History(7).size(), 4u);
  EXPECT_EQ(AllEvents().size(), 1u + 6u);
}

TEST_P(GroupCommitTest, AThrowingStoreReachesEveryCallerOfTheGroupAndLaterAppendsProceed) {
  OpenControlled();
  StartLeader();
  kv_->set_throw_writes(true);
  std::atomic<int> thrown{0};
  std::vector<std::thread> queued;
  for (int t = 0; t < 3; ++t) {
    queued.emplace_back([&, t] {
      std::vector<Event> appended;
      try {
        (void)store_->AppendEvents(std::vector<Event>{MakeEvent(static_cast<uint64_t>(20 + t), 1, 1)},
                                   &appended);
      } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "store threw");
        EXPECT_TRUE(appended.empty());
        ++thrown;
      }
    });
  }
  Group(queued);  // would hang if a caller waited for a group that never finished
  EXPECT_EQ(thrown.load(), 3);
  kv_->set_throw_writes(false);
  ASSERT_TRUE(store_->AppendEvents(std::vector<Event>{MakeEvent(30, 3, 3)}).ok());
  // The failed group's sequences were released: the reader sees the newer event.
  const auto events = AllEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].second.user.value, 30u);
  EXPECT_EQ(store_->LastSequence(), events[1].first);
}

TEST_P(GroupCommitTest, PruningEventIdsBetweenGroupsForgetsOrKeepsWhole) {
  int64_t now = 1000;
  OpenControlled(FeatureStoreOptions{.clock = [&now] { return now; }});
  // Ids ingested at 1000, pruned while later retries of them commit in groups: every retry is
  // stored at most once more, whichever side of the pruning it lands on.
  std::vector<Event> first;
  for (int i = 0; i < 50; ++i)
    first.push_back(WithId(MakeEvent(1, static_cast<uint64_t>(i), i), StrCat("p", i)));
  ASSERT_TRUE(store_->AppendEvents(first).ok());
  now = 2000;
  std::atomic<size_t> stored{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int r = 0; r < 5; ++r) {
        std::vector<Event> appended;
        EXPECT_TRUE(store_->AppendEvents(first, &appended).ok());
        stored += appended.size();
      }
    });
  }
  threads.emplace_back([&] {
    auto pruned = store_->PruneEventIds(1500);
    EXPECT_TRUE(pruned.ok());
  });
  for (std::thread& t : threads) t.join();
  // The pruning ran between two groups: the retries saw all 50 ids stored or all gone.
  EXPECT_TRUE(stored.load() == 0 || stored.load() == first.size()) << stored.load();
  EXPECT_EQ(History(1).size(), first.size() + stored.load());
}

// ---- several writers -------------------------------------------------------------------------

// Two FeatureStore handles on one store: separate connections to one redis-server, or one
// embedded store shared in the process.
class SeveralWritersTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string why;
    const std::string uri = BackendUri(GetParam(), dir_, &why);
    if (uri.empty()) GTEST_SKIP() << "no redis-server: " << why;
    std::shared_ptr<KeyValueStore> shared;
    if (GetParam() != "redis") {
      auto kv = OpenKeyValueStore(uri);
      ASSERT_TRUE(kv.ok()) << kv.status().ToString();
      shared = std::move(kv).value();
    }
    for (auto* store : {&a_, &b_}) {
      StatusOr<std::unique_ptr<FeatureStore>> s = UnavailableError("");
      if (shared) {
        s = FeatureStore::Open(ShareKeyValueStore(shared), FeatureStoreOptions{.max_history = 10'000});
      } else {
        s = FeatureStore::Open(uri, FeatureStoreOptions{.max_history = 10'000});
      }
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      *store = std::move(s).value();
    }
  }
  TempDir dir_;
  std::unique_ptr<FeatureStore> a_, b_;
};

TEST_P(SeveralWritersTest, ConcurrentAppendsOfTwoHandlesLoseNothingAndShareOneSequence) {
  // Two handles, two threads each, appending batches for a few shared users; every event has an
  // id, and each id is sent once through each handle (a client retrying against the other server).
  constexpr int kBatches = 60, kPerBatch = 4, kUsers = 5;
  std::atomic<uint64_t> stored{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      FeatureStore& store = t % 2 == 0 ? *a_ : *b_;
      for (int b = 0; b < kBatches; ++b) {
        std::vector<Event> batch;
        for (int i = 0; i < kPerBatch; ++i) {
          const int n = (t / 2) * kBatches * kPerBatch + b * kPerBatch + i;  // same n for t and t^1
          Event e = MakeEvent(1 + n % kUsers, 1000 + n, 1000 + n);
          e.event_id = StrCat("id-", n);
          batch.push_back(e);
        }
        std::vector<Event> appended;
        const Status s = store.AppendEvents(batch, &appended);
        ASSERT_TRUE(s.ok()) << s.ToString();
        stored += appended.size();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  constexpr uint64_t kDistinct = 2 * kBatches * kPerBatch;
  EXPECT_EQ(stored.load(), kDistinct);  // each id once, whichever handle got it first
  for (auto* store : {&a_, &b_}) EXPECT_EQ(*(*store)->ReadLastSequence(), kDistinct);
  // One log, sequences 1..N without holes, each event once.
  std::vector<std::pair<uint64_t, Event>> log, page;
  uint64_t after = 0;
  do {
    ASSERT_TRUE(b_->ScanEvents(after, 100, page).ok());
    log.insert(log.end(), page.begin(), page.end());
    if (!page.empty()) after = page.back().first;
  } while (page.size() == 100);
  ASSERT_EQ(log.size(), kDistinct);
  std::set<std::string> ids;
  for (size_t i = 0; i < log.size(); ++i) {
    EXPECT_EQ(log[i].first, i + 1);
    ids.insert(log[i].second.event_id);
  }
  EXPECT_EQ(ids.size(), kDistinct);
  // Every user's history holds every event of that user: no read-modify-write lost one.
  size_t in_histories = 0;
  for (uint64_t u = 1; u <= kUsers; ++u) {
    auto h = a_->History(UserId{u});
    ASSERT_TRUE(h.ok());
    in_histories += h->size();
    EXPECT_TRUE(std::is_sorted(h->begin(), h->end(), [](auto& x, auto& y) { return x.time < y.time; }));
  }
  EXPECT_EQ(in_histories, kDistinct);
  // A handle reopened later continues after the shared sequence.
  std::vector<Event> one = {MakeEvent(9, 9, 9)};
  ASSERT_TRUE(a_->AppendEvents(one).ok());
  EXPECT_EQ(a_->LastSequence(), kDistinct + 1);
}

TEST_P(SeveralWritersTest, EachHandleFollowsTheOthersChangesThroughTheChangeLog) {
  ASSERT_EQ(*b_->LastChange(), 0u);
  ASSERT_TRUE(a_->SetVideoFlags(VideoId{7}, VideoFlags{.unavailable = true}).ok());
  VideoRecord v;
  v.id = VideoId{8};
  v.title = "new";
  ASSERT_TRUE(a_->PutVideo(v).ok());
  UserRecord u;
  u.id = UserId{9};
  u.country = "BR";
  ASSERT_TRUE(b_->PutUser(u).ok());
  std::vector<Change> changes;
  uint64_t pruned = 99;
  ASSERT_TRUE(b_->ScanChanges(0, 10, changes, &pruned).ok());
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(pruned, 0u);
  EXPECT_EQ(changes[0].seq, 1u);
  EXPECT_EQ(changes[0].kind, Change::Kind::kVideoFlags);
  EXPECT_EQ(changes[0].id, 7u);
  EXPECT_EQ(changes[1].kind, Change::Kind::kVideo);
  EXPECT_EQ(changes[2].kind, Change::Kind::kUser);
  EXPECT_EQ(changes[2].seq, 3u);
  EXPECT_EQ(b_->GetVideoFlags(VideoId{7})->unavailable, true);
  EXPECT_EQ(b_->GetVideoFlags(VideoId{8})->unavailable, false);
  EXPECT_EQ((*b_->GetVideo(VideoId{8}))->title, "new");
  ASSERT_TRUE(a_->ScanChanges(2, 10, changes).ok());
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].id, 9u);
  EXPECT_EQ(*a_->LastChange(), 3u);
  // Concurrent changes through both handles take distinct sequences.
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < 30; ++i) {
        ASSERT_TRUE((t ? a_ : b_)->SetVideoFlags(VideoId{100 + i}, VideoFlags{.age_restricted = true}).ok());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(a_->ScanChanges(0, 1000, changes).ok());
  ASSERT_EQ(changes.size(), 63u);
  for (size_t i = 0; i < changes.size(); ++i) EXPECT_EQ(changes[i].seq, i + 1);
  // Pruning: entries before a time go, and the mark tells a reader behind it that it missed some.
  auto removed = b_->PruneChanges(std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 63u);
  ASSERT_TRUE(a_->ScanChanges(0, 10, changes, &pruned).ok());
  EXPECT_TRUE(changes.empty());
  EXPECT_EQ(pruned, 63u);
  ASSERT_TRUE(a_->PutVideo(v).ok());
  ASSERT_TRUE(a_->ScanChanges(63, 10, changes).ok());
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].seq, 64u);
}

TEST_P(SeveralWritersTest, SumsAddedThroughBothHandlesLoseNoAddition) {
  using Sums = std::vector<std::pair<std::string, std::vector<double>>>;
  // Four threads on two handles add to two shared sums and one of their own, 50 times each.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const Sums delta = {
            {"exp/a", {1, 0.5}}, {"exp/b", {2}}, {StrCat("exp/own", t), {1, 1, 1}}, {"exp/a", {1}}};
        ASSERT_TRUE((t % 2 ? a_ : b_)->AddSums(delta).ok());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  auto sums = a_->ScanSums("exp/");
  ASSERT_TRUE(sums.ok()) << sums.status().ToString();
  ASSERT_EQ(sums->size(), 6u);
  EXPECT_EQ((*sums)[0], (std::pair<std::string, std::vector<double>>{"exp/a", {400, 100}}));
  EXPECT_EQ((*sums)[1], (std::pair<std::string, std::vector<double>>{"exp/b", {400}}));
  EXPECT_EQ((*sums)[2].second, (std::vector<double>{50, 50, 50}));
  EXPECT_TRUE(b_->ScanSums("other/")->empty());
  // Bad input changes nothing.
  for (const Sums& bad :
       {Sums{{"", {1}}}, Sums{{"a b", {1}}}, Sums{{"exp/a", {std::nan("")}}},
        Sums{{"exp/a", {1}}, {"exp/c", std::vector<double>(FeatureStore::kMaxSumValues + 1)}}}) {
    EXPECT_EQ(a_->AddSums(bad).code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ((*a_->ScanSums("exp/a"))[0].second, (std::vector<double>{400, 100}));
}

const auto kBackendName = [](const ::testing::TestParamInfo<std::string>& p) { return p.param; };
INSTANTIATE_TEST_SUITE_P(AllBackends, SeveralWritersTest, ::testing::Values("memory", "rocksdb", "redis"),
                         kBackendName);
INSTANTIATE_TEST_SUITE_P(AllBackends, FeatureStoreTest, ::testing::Values("memory", "rocksdb", "redis"),
                         kBackendName);
INSTANTIATE_TEST_SUITE_P(AllBackends, GroupCommitTest, ::testing::Values("memory", "rocksdb", "redis"),
                         kBackendName);
INSTANTIATE_TEST_SUITE_P(PersistentBackends, PersistentFeatureStoreTest,
                         ::testing::Values("rocksdb", "redis"), kBackendName);

}  // namespace
}  // namespace vrec::features

namespace vrec::features {
namespace {

class CatalogRecordsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CatalogRecordsTest, VideosAndUsersRoundTripReplaceAndPage) {
  data::testing::TempDir dir;
  std::string why;
  const std::string uri = BackendUri(GetParam(), dir, &why);
  if (uri.empty()) GTEST_SKIP() << "no redis-server: " << why;
  auto store = FeatureStore::Open(uri);
  ASSERT_TRUE(store.ok());
  VideoRecord v{.id = VideoId{0},
                .categories = {"music", "live"},
                .language = "pt",
                .duration_s = 61.5f,
                .upload_time = 1'800'000'000,
                .title = "Ao vivo, \"com\" v\xC3\xADrgulas\n",
                .tags = {"samba", ""},
                .age_restricted = true,
                .available = false,
                .updated_at = 1'800'000'100};
  ASSERT_TRUE((*store)->PutVideo(v).ok());
  auto got = (*store)->GetVideo(VideoId{0});
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, v);
  v.title = "renamed";
  v.available = true;
  ASSERT_TRUE((*store)->PutVideo(v).ok());
  EXPECT_EQ((**(*store)->GetVideo(VideoId{0})).title, "renamed");
  EXPECT_FALSE((*(*store)->GetVideo(VideoId{7})).has_value());
  for (uint64_t id : {5u, 3u, 9u}) ASSERT_TRUE((*store)->PutVideo(VideoRecord{.id = VideoId{id}}).ok());
  std::vector<VideoRecord> page;
  std::vector<uint64_t> ids;
  std::optional<uint64_t> after;
  do {
    ASSERT_TRUE((*store)->ScanVideos(after, 2, page).ok());
    for (const VideoRecord& r : page) ids.push_back(r.id.value);
    if (!page.empty()) after = page.back().id.value;
  } while (page.size() == 2);
  EXPECT_EQ(ids, (std::vector<uint64_t>{0, 3, 5, 9}));

  const UserRecord u{.id = UserId{42},
                     .country = "BR",
                     .language = "pt",
                     .age = 33,
                     .gender = data::Gender::kFemale,
                     .updated_at = 5};
  ASSERT_TRUE((*store)->PutUser(u).ok());
  EXPECT_EQ(**(*store)->GetUser(UserId{42}), u);
  std::vector<UserRecord> users;
  ASSERT_TRUE((*store)->ScanUsers(std::nullopt, 10, users).ok());
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(users[0], u);
  EXPECT_EQ(
      (*store)->PutVideo(VideoRecord{.id = VideoId{1}, .title = std::string((1 << 20) + 1, 'x')}).code(),
      StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(AllBackends, CatalogRecordsTest, ::testing::Values("memory", "rocksdb", "redis"),
                         kBackendName);

}  // namespace
}  // namespace vrec::features
