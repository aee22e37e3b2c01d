#include "vrec/features/feature_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <set>
#include <thread>

#include "vrec/common/strings.h"
#include "vrec/data/test_util.h"

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

class FeatureStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  bool persistent() const { return GetParam() == "rocksdb"; }
  std::string Uri() const {
    return persistent() ? "rocksdb://" + (dir_.path() / "db").string() : std::string("memory://");
  }
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
  void SetUp() override { Open(); }

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
        // Mostly user 42 alone; every third batch also touches a user of another stripe.
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
        // so only the id stripes can serialise them.
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

INSTANTIATE_TEST_SUITE_P(AllBackends, FeatureStoreTest, ::testing::Values("memory", "rocksdb"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });
INSTANTIATE_TEST_SUITE_P(PersistentBackends, PersistentFeatureStoreTest, ::testing::Values("rocksdb"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace vrec::features

namespace vrec::features {
namespace {

class CatalogRecordsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CatalogRecordsTest, VideosAndUsersRoundTripReplaceAndPage) {
  data::testing::TempDir dir;
  const std::string uri = GetParam() == "rocksdb" ? "rocksdb://" + (dir.path() / "db").string() : "memory://";
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

INSTANTIATE_TEST_SUITE_P(AllBackends, CatalogRecordsTest, ::testing::Values("memory", "rocksdb"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace vrec::features
