// The replay test of the counters (design: "one definition per feature ... a replay test proves
// equality"): one synthetic event stream fed (a) through the online path, event by event as the
// service acknowledges it (a durable append to the feature store, then LiveCounters::CatchUp over
// a snapshot base, exactly as Service::PostEvents and the model load do), and (b) through the
// training feature code (CounterReplay over the log's rows, as the two-stage training reads it),
// must read identical values of every counter of every video and user at every moment read.
#include "vrec/serving/live_counters.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace vrec::serving {
namespace {

using data::EventType;

constexpr int64_t kStart = 1'767'225'600 + 1234;  // not on a bucket edge

struct Platform {
  data::Dataset ds;
  std::vector<data::Interaction> rows;  // time order
};

// 6 videos (one without a duration), 5 users, every event kind, ~12 days of events with bursts.
Platform MakePlatform() {
  Platform p;
  for (uint64_t u = 1; u <= 5; ++u) EXPECT_TRUE(p.ds.AddUser({.id = UserId{u * 7}}).ok());
  for (uint64_t v = 1; v <= 6; ++v) {
    EXPECT_TRUE(p.ds.AddVideo({.id = VideoId{100 + v},
                               .duration_s = v == 6 ? data::kMissing : static_cast<float>(30 * v + 7)})
                    .ok());
  }
  std::mt19937_64 rng(11);
  int64_t t = kStart;
  for (int i = 0; i < 4000; ++i) {
    // Mostly seconds to minutes apart, sometimes hours: windows see both bursts and quiet spells.
    t += rng() % 10 == 0 ? static_cast<int64_t>(rng() % 20000) : static_cast<int64_t>(rng() % 400);
    data::Interaction x{.user = static_cast<uint32_t>(rng() % 5),
                        .video = static_cast<uint32_t>(rng() % 6),
                        .timestamp = t,
                        .type = static_cast<EventType>(rng() % 7)};
    if (x.type == EventType::kPlay || x.type == EventType::kSkip) {
      x.watch_ratio = static_cast<float>(rng() % 120) / 100.0f;
    }
    if (x.type == EventType::kRating) x.rating = 4;
    p.rows.push_back(x);
  }
  return p;
}

features::Event EventOf(const data::Dataset& ds, const data::Interaction& x, int i) {
  return {.user = ds.users[x.user].id,
          .video = ds.videos[x.video].id,
          .type = x.type,
          .time = x.timestamp,
          .watch_ratio = x.watch_ratio,
          .event_id = std::to_string(i)};
}

TEST(CounterReplayTest, OnlineUpdatesAndTrainingReplayGiveIdenticalFeatures) {
  const Platform p = MakePlatform();
  auto store = features::FeatureStore::Open("memory://");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const auto duration = [&](VideoId id) {
    const std::optional<uint32_t> v = p.ds.FindVideo(id);
    return v ? p.ds.videos[*v].duration_s : data::kMissing;
  };

  // The model's snapshot holds the first third of the log (as a model trained from the platform's
  // exported events: the log keeps those events, and the manifest's through_seq says where the
  // snapshot ends); its counters are built as ServingSnapshot::Build builds them.
  const size_t in_snapshot = p.rows.size() / 3;
  auto base = std::make_unique<features::EngagementCounters>();
  for (size_t i = 0; i < in_snapshot; ++i) base->Apply(features::CounterEventOf(p.ds, p.rows[i]));
  for (size_t i = 0; i < in_snapshot; ++i) {
    const features::Event e = EventOf(p.ds, p.rows[i], static_cast<int>(i));
    ASSERT_TRUE((*store)->AppendEvents({&e, 1}).ok());
  }
  LiveCounters online(std::move(base), (*store)->LastSequence());
  ASSERT_TRUE(online.CatchUp(**store, duration).ok());
  EXPECT_EQ(online.applied_through(), in_snapshot);

  // Reads after the snapshot (serving reads now, never before its model): at moments between the
  // events, and on bucket edges.
  const int64_t snapshot_end = p.rows[in_snapshot - 1].timestamp;
  std::vector<int64_t> reads;
  for (size_t i = in_snapshot + 1; i < p.rows.size(); i += 97) reads.push_back(p.rows[i].timestamp);
  for (int64_t edge = (snapshot_end / 21600 + 1) * 21600; edge < p.rows.back().timestamp; edge += 86400) {
    reads.push_back(edge);
  }
  reads.push_back(p.rows.back().timestamp + 1);
  std::sort(reads.begin(), reads.end());

  features::CounterReplay training(p.ds, p.rows);
  size_t next = in_snapshot;
  int checked = 0;
  for (int64_t as_of : reads) {
    // Online: each event acknowledged (durable append) and then counted, as PostEvents does.
    for (; next < p.rows.size() && p.rows[next].timestamp < as_of; ++next) {
      const features::Event e = EventOf(p.ds, p.rows[next], static_cast<int>(next));
      ASSERT_TRUE((*store)->AppendEvents({&e, 1}).ok());
      ASSERT_TRUE(online.CatchUp(**store, duration).ok());
    }
    training.AdvanceTo(as_of);
    for (const data::Video& v : p.ds.videos) {
      ASSERT_EQ(online.Video(v.id, as_of), training.counters().Video(v.id, as_of))
          << "video " << v.id.value << " at +" << as_of - kStart << " s";
    }
    for (const data::User& u : p.ds.users) {
      ASSERT_EQ(online.User(u.id, as_of), training.counters().User(u.id, as_of))
          << "user " << u.id.value << " at +" << as_of - kStart << " s";
    }
    ASSERT_EQ(online.Platform(as_of), training.counters().Platform(as_of));
    ++checked;
  }
  EXPECT_GT(checked, 30);
  // The windows did see events (the comparison is not between empty counters).
  const features::CounterValues last = training.counters().Platform(reads.back());
  EXPECT_GT(last(features::CounterKind::kPlays, features::CounterWindow::kDay), 0);
  EXPECT_GT(last(features::CounterKind::kCompletions, features::CounterWindow::kWeek), 0);
  EXPECT_GT(last(features::CounterKind::kWatchSeconds, features::CounterWindow::kHour), 0);
}

TEST(LiveCounters, AppliesEveryLogEventOnceAfterTheSnapshot) {
  auto store = features::FeatureStore::Open("memory://");
  ASSERT_TRUE(store.ok());
  std::vector<features::Event> events;
  for (int i = 0; i < 10; ++i) {
    events.push_back({.user = UserId{1}, .video = VideoId{2}, .type = EventType::kPlay, .time = kStart + i});
  }
  ASSERT_TRUE((*store)->AppendEvents(events).ok());
  LiveCounters live(std::make_unique<features::EngagementCounters>(), /*through_seq=*/4);
  const auto no_duration = [](VideoId) { return data::kMissing; };
  ASSERT_TRUE(live.CatchUp(**store, no_duration).ok());
  ASSERT_TRUE(live.CatchUp(**store, no_duration).ok());  // nothing new: nothing counted twice
  const int64_t later = kStart + 86400;
  EXPECT_EQ(live.Video(VideoId{2}, later)(features::CounterKind::kPlays, features::CounterWindow::kAllTime),
            6);
  EXPECT_EQ(live.applied_through(), 10u);
}

}  // namespace
}  // namespace vrec::serving
