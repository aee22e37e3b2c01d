#include "vrec/events/ingestor.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "vrec/events/event_json.h"

namespace vrec::events {
namespace {

using features::Event;
using features::FeatureStore;

Event MakeEvent(uint64_t user, uint64_t video, int64_t time) {
  return Event{UserId{user}, VideoId{video}, data::EventType::kPlay,
               time,         data::kMissing, data::Device::kWeb};
}

std::unique_ptr<FeatureStore> OpenMemoryStore() {
  auto s = FeatureStore::Open("memory://");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

size_t LogSize(const FeatureStore& store) {
  std::vector<std::pair<uint64_t, Event>> out;
  EXPECT_TRUE(store.ScanEvents(0, 100000, out).ok());
  return out.size();
}

TEST(EventIngestor, ObserversSeeEachBatchOnceAfterItIsStored) {
  auto store = OpenMemoryStore();
  ASSERT_NE(store, nullptr);
  std::vector<std::string> calls;  // "<observer>:<batch size>:<history size of user 1 at call time>"
  auto observer = [&](std::string name) {
    return [&, name](std::span<const Event> events) {
      auto history = store->History(events.front().user);
      calls.push_back(name + ":" + std::to_string(events.size()) + ":" +
                      std::to_string(history.ok() ? history->size() : 999));
    };
  };
  EventIngestor ingestor(*store, {observer("a"), observer("b")});
  ASSERT_TRUE(ingestor.Ingest(std::vector<Event>{MakeEvent(1, 10, 1), MakeEvent(1, 11, 2)}).ok());
  ASSERT_TRUE(ingestor.Ingest(std::vector<Event>{MakeEvent(1, 12, 3)}).ok());
  ASSERT_TRUE(ingestor.Ingest({}).ok());  // nothing to tell
  // Each observer once per batch, in list order, and the history already holds the batch.
  EXPECT_EQ(calls, (std::vector<std::string>{"a:2:2", "b:2:2", "a:1:3", "b:1:3"}));
  EXPECT_EQ(LogSize(*store), 3u);
}

TEST(EventIngestor, ARetriedBatchReachesTheObserversOnce) {
  auto store = OpenMemoryStore();
  ASSERT_NE(store, nullptr);
  size_t seen = 0;
  EventIngestor ingestor(*store, {[&](std::span<const Event> events) { seen += events.size(); }});
  std::vector<Event> batch = {MakeEvent(1, 10, 1), MakeEvent(1, 11, 2)};
  batch[0].event_id = "e1";
  batch[1].event_id = "e2";
  size_t stored = 99;
  ASSERT_TRUE(ingestor.Ingest(batch, &stored).ok());
  EXPECT_EQ(stored, 2u);
  ASSERT_TRUE(ingestor.Ingest(batch, &stored).ok());
  EXPECT_EQ(stored, 0u);
  EXPECT_EQ(seen, 2u) << "counters downstream must not count a retry twice";
  EXPECT_EQ(LogSize(*store), 2u);
}

TEST(EventIngestor, FailedAppendWritesNothingAndTellsNobody) {
  // A corrupt history record of user 42 makes the append fail (DataLoss) for any batch with 42.
  auto kv = features::OpenKeyValueStore("memory://");
  ASSERT_TRUE(kv.ok());
  features::WriteBatch b;
  std::string key = "h/";
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>((42ull >> shift) & 0xff));
  b.Put(key, "\x09");
  ASSERT_TRUE((*kv)->Write(b, features::WriteOptions{}).ok());
  auto store = FeatureStore::Open(std::move(kv).value());
  ASSERT_TRUE(store.ok());

  int calls = 0;
  EventIngestor ingestor(**store, {[&](std::span<const Event>) { ++calls; }});
  Status s = ingestor.Ingest(std::vector<Event>{MakeEvent(1, 10, 1), MakeEvent(42, 11, 2)});
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(LogSize(**store), 0u);
  EXPECT_TRUE((*store)->History(UserId{1})->empty());
}

TEST(EventIngestor, BadBodyIsRejectedWholeBeforeAnythingIsAppended) {
  // The server's path: parse, then ingest. One bad event in the middle rejects the batch.
  auto store = OpenMemoryStore();
  ASSERT_NE(store, nullptr);
  int calls = 0;
  EventIngestor ingestor(*store, {[&](std::span<const Event>) { ++calls; }});
  auto parsed = ParseEventsJson(R"({"events": [{"user_id": 1, "video_id": 1, "type": "play"},
                                              {"user_id": 1, "video_id": -2, "type": "play"},
                                              {"user_id": 1, "video_id": 3, "type": "play"}]})",
                                100);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(), "events[1].video_id: expected an unsigned integer, got -2");
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(LogSize(*store), 0u);
  EXPECT_TRUE(store->History(UserId{1})->empty());
}

TEST(EventIngestor, ReplayFeedsTheLogInPagesFromASequence) {
  auto store = OpenMemoryStore();
  ASSERT_NE(store, nullptr);
  {
    EventIngestor writer(*store, {});
    for (uint64_t v = 0; v < 7; ++v)
      ASSERT_TRUE(writer.Ingest(std::vector<Event>{MakeEvent(v % 2, v, 0)}).ok());
  }
  std::vector<size_t> page_sizes;
  std::vector<uint64_t> videos;
  EventIngestor replayer(*store, {[&](std::span<const Event> events) {
    page_sizes.push_back(events.size());
    for (const Event& e : events) videos.push_back(e.video.value);
  }});
  auto last = replayer.Replay(0, 3);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(*last, 7u);
  EXPECT_EQ(page_sizes, (std::vector<size_t>{3, 3, 1}));
  EXPECT_EQ(videos, (std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6}));

  videos.clear();
  last = replayer.Replay(5, 3);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 7u);
  EXPECT_EQ(videos, (std::vector<uint64_t>{5, 6}));

  page_sizes.clear();
  last = replayer.Replay(7);  // nothing new: no call, same sequence back
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 7u);
  EXPECT_TRUE(page_sizes.empty());
  EXPECT_EQ(replayer.Replay(0, 0).status().code(), StatusCode::kInvalidArgument);
}

TEST(EventIngestor, ConcurrentIngestCallsEveryObserverForEveryBatch) {
  auto store = OpenMemoryStore();
  ASSERT_NE(store, nullptr);
  std::mutex mu;
  size_t seen = 0;
  EventIngestor ingestor(*store, {[&](std::span<const Event> events) {
    std::lock_guard lock(mu);
    seen += events.size();
  }});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        EXPECT_TRUE(
            ingestor
                .Ingest(std::vector<Event>{MakeEvent(static_cast<uint64_t>(t), static_cast<uint64_t>(i), i),
                                           MakeEvent(7, static_cast<uint64_t>(i), i)})
                .ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(seen, 400u);
  EXPECT_EQ(LogSize(*store), 400u);
  EXPECT_EQ(store->History(UserId{7})->size(), 200u);
}

}  // namespace
}  // namespace vrec::events
