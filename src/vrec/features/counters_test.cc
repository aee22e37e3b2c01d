#include "vrec/features/counters.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <vector>

namespace vrec::features {
namespace {

using data::EventType;

constexpr int64_t kT0 = 1'767'225'600;  // 2026-01-01 00:00 UTC: a multiple of every bucket width

CounterIncrement Plays(uint32_t n) {
  CounterIncrement inc{};
  inc[static_cast<size_t>(CounterKind::kPlays)] = n;
  return inc;
}

int64_t PlaysIn(const CounterValues& v, CounterWindow w) { return v(CounterKind::kPlays, w); }

// The windows as the header defines them, computed from the events directly.
CounterValues Reference(const std::vector<std::pair<int64_t, CounterIncrement>>& events, int64_t as_of) {
  const auto floor_div = [](int64_t a, int64_t b) { return a / b - ((a % b != 0) && (a < 0)); };
  CounterValues out;
  for (const auto& [time, inc] : events) {
    for (size_t r = 0; r < kWindowLayouts.size(); ++r) {
      const int64_t width = kWindowLayouts[r].bucket_s;
      const int64_t current = floor_div(as_of, width), b = floor_div(time, width);
      if (b >= current - kWindowLayouts[r].buckets && b < current) {
        for (size_t k = 0; k < kNumCounterKinds; ++k) out.v[r][k] += inc[k];
      }
    }
    if (time < floor_div(as_of, 300) * 300) {
      for (size_t k = 0; k < kNumCounterKinds; ++k) out.v[3][k] += inc[k];
    }
  }
  return out;
}

TEST(IncrementOf, CountsEachKindAsDocumented) {
  const auto at = [](const CounterIncrement& inc, CounterKind k) { return inc[static_cast<size_t>(k)]; };
  CounterIncrement play = IncrementOf(EventType::kPlay, 0.95f, 100.0f);
  EXPECT_EQ(at(play, CounterKind::kPlays), 1u);
  EXPECT_EQ(at(play, CounterKind::kCompletions), 1u);
  EXPECT_EQ(at(play, CounterKind::kWatchSeconds), 95u);
  CounterIncrement partial = IncrementOf(EventType::kPlay, 0.5f, 61.0f);
  EXPECT_EQ(at(partial, CounterKind::kCompletions), 0u);
  EXPECT_EQ(at(partial, CounterKind::kWatchSeconds), 31u);  // 30.5 rounds away from zero
  EXPECT_EQ(at(IncrementOf(EventType::kPlay, data::kMissing, 60.0f), CounterKind::kWatchSeconds), 0u);
  EXPECT_EQ(at(IncrementOf(EventType::kPlay, 0.5f, data::kMissing), CounterKind::kWatchSeconds), 0u);
  EXPECT_EQ(at(IncrementOf(EventType::kRating, data::kMissing, 60.0f), CounterKind::kPlays), 1u);
  EXPECT_EQ(at(IncrementOf(EventType::kLike, data::kMissing, 60.0f), CounterKind::kLikes), 1u);
  EXPECT_EQ(at(IncrementOf(EventType::kComment, data::kMissing, 60.0f), CounterKind::kComments), 1u);
  EXPECT_EQ(at(IncrementOf(EventType::kShare, data::kMissing, 60.0f), CounterKind::kShares), 1u);
  CounterIncrement skip = IncrementOf(EventType::kSkip, 0.1f, 60.0f);
  EXPECT_EQ(at(skip, CounterKind::kSkips), 1u);
  EXPECT_EQ(at(skip, CounterKind::kPlays), 0u);
  EXPECT_EQ(at(skip, CounterKind::kWatchSeconds), 6u);
  const CounterIncrement impression = IncrementOf(EventType::kImpression, data::kMissing, 60.0f);
  EXPECT_TRUE(std::all_of(impression.begin(), impression.end(), [](uint32_t x) { return x == 0; }));
}

TEST(CounterSeries, WindowsCountCompleteBucketsBeforeTheOneHoldingAsOf) {
  CounterSeries s;
  s.Add(kT0 + 10, Plays(1));  // bucket [kT0, kT0 + 300)
  // Within its own 5-minute bucket nothing is counted yet, not even all time.
  EXPECT_EQ(PlaysIn(s.Read(kT0 + 299), CounterWindow::kAllTime), 0);
  EXPECT_EQ(PlaysIn(s.Read(kT0 + 299), CounterWindow::kHour), 0);
  const CounterValues next = s.Read(kT0 + 300);
  EXPECT_EQ(PlaysIn(next, CounterWindow::kHour), 1);
  EXPECT_EQ(PlaysIn(next, CounterWindow::kAllTime), 1);
  EXPECT_EQ(PlaysIn(next, CounterWindow::kDay), 0);  // its hour is not complete
  EXPECT_EQ(PlaysIn(s.Read(kT0 + 3600), CounterWindow::kDay), 1);
  EXPECT_EQ(PlaysIn(s.Read(kT0 + 6 * 3600), CounterWindow::kWeek), 1);
  // The 1h window keeps it for 12 buckets: up to 65 min after the event's bucket.
  EXPECT_EQ(PlaysIn(s.Read(kT0 + 12 * 300 + 299), CounterWindow::kHour), 1);
  EXPECT_EQ(PlaysIn(s.Read(kT0 + 13 * 300), CounterWindow::kHour), 0);
  EXPECT_EQ(PlaysIn(s.Read(kT0 + 25 * 3600), CounterWindow::kDay), 0);
  EXPECT_EQ(PlaysIn(s.Read(kT0 + 24 * 3600), CounterWindow::kDay), 1);
  EXPECT_EQ(PlaysIn(s.Read(kT0 + 29 * 6 * 3600), CounterWindow::kWeek), 0);
  EXPECT_EQ(PlaysIn(s.Read(kT0 + 29 * 6 * 3600), CounterWindow::kAllTime), 1);
}

TEST(CounterSeries, EventsAtOrAfterAsOfChangeNoRead) {
  CounterSeries s;
  s.Add(kT0 - 4000, Plays(1));
  const CounterValues before = s.Read(kT0 + 100);
  s.Add(kT0 + 100, Plays(5));  // at as_of
  s.Add(kT0 + 350, Plays(7));  // a client clock a few minutes ahead
  EXPECT_EQ(s.Read(kT0 + 100), before);
}

TEST(CounterSeries, MatchesTheDefinitionWhateverTheOrderOfApplication) {
  std::mt19937_64 rng(7);
  std::vector<std::pair<int64_t, CounterIncrement>> events;
  for (int i = 0; i < 3000; ++i) {
    const int64_t t = kT0 + static_cast<int64_t>(rng() % (10 * 86400));
    events.emplace_back(
        t, IncrementOf(static_cast<EventType>(rng() % 7), static_cast<float>(rng() % 100) / 80.0f,
                       static_cast<float>(rng() % 600)));
  }
  std::sort(events.begin(), events.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  // In time order, reading as the replay does: after exactly the events before as_of.
  CounterSeries in_order;
  size_t next = 0;
  for (int64_t as_of = kT0; as_of < kT0 + 11 * 86400; as_of += 1789) {
    for (; next < events.size() && events[next].first < as_of; ++next) {
      in_order.Add(events[next].first, events[next].second);
    }
    std::vector<std::pair<int64_t, CounterIncrement>> past(events.begin(),
                                                           events.begin() + static_cast<ptrdiff_t>(next));
    ASSERT_EQ(in_order.Read(as_of), Reference(past, as_of)) << "as_of " << as_of - kT0;
  }
  // Late arrivals: the same events shuffled within a day, then read at the end.
  std::vector<std::pair<int64_t, CounterIncrement>> shuffled = events;
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  CounterSeries out_of_order;
  for (const auto& [t, inc] : shuffled) out_of_order.Add(t, inc);
  const int64_t end = events.back().first + 1;
  EXPECT_EQ(out_of_order.Read(end), Reference(events, end));
  EXPECT_EQ(out_of_order.Read(end + 86400), Reference(events, end + 86400));
}

TEST(CounterSeries, ReadsFarBeforeTheNewestEventStayBounded) {
  CounterSeries s;
  s.Add(kT0, Plays(1));
  s.Add(kT0 + 40 * 86400, Plays(1));  // a clock far ahead
  const CounterValues v = s.Read(kT0 - 1000 * 86400);
  EXPECT_EQ(PlaysIn(v, CounterWindow::kHour), 0);
  EXPECT_EQ(PlaysIn(s.Read(kT0 + 40 * 86400 + 300), CounterWindow::kHour), 1);
}

TEST(CounterSeries, CompactFreesRingsWithoutChangingLaterReads) {
  CounterSeries s;
  s.Add(kT0, Plays(2));
  s.Add(kT0 + 3 * 86400, Plays(3));
  const int64_t now = kT0 + 3 * 86400 + 2 * 3600;
  const CounterValues before = s.Read(now), later = s.Read(now + 86400);
  const uint64_t bytes = s.bytes();
  EXPECT_FALSE(s.Compact(now));  // the 24h and 7d rings are still needed
  EXPECT_LT(s.bytes(), bytes);   // the 1h ring is not
  EXPECT_EQ(s.Read(now), before);
  EXPECT_EQ(s.Read(now + 86400), later);
  EXPECT_TRUE(s.Compact(now + 30 * 86400));
  EXPECT_EQ(PlaysIn(s.Read(now + 30 * 86400), CounterWindow::kAllTime), 5);
}

std::string TempPath(std::string_view name) {
  return (std::filesystem::temp_directory_path() /
          ("vrec_counters_test_" + std::string(name) + "_" + std::to_string(::getpid())))
      .string();
}

TEST(Counters, SaveThenLoadOrMapKeepsEveryValue) {
  EngagementCounters c;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 500; ++i) {
    c.Apply({.user = UserId{rng() % 20},
             .video = VideoId{rng() % 50},
             .time = kT0 + static_cast<int64_t>(rng() % (9 * 86400)),
             .type = static_cast<EventType>(rng() % 7),
             .watch_ratio = 0.95f,
             .duration_s = 40});
  }
  const std::string path = TempPath("save");
  {
    auto w = ArtifactWriter::Create(path, 1);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE(c.Save(**w, "counters").ok());
    ASSERT_TRUE((*w)->Finish().ok());
  }
  auto in = MappedArtifact::Open(path);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EngagementCounters loaded;
  ASSERT_TRUE(loaded.Load(**in, "counters").ok());
  auto mapped = MappedCounters::Map(*in, "counters");
  ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
  EXPECT_EQ(loaded.videos(), c.videos());
  EXPECT_EQ(loaded.users(), c.users());
  EXPECT_EQ((*mapped)->videos(), c.videos());
  EXPECT_EQ((*mapped)->users(), c.users());
  // After the events (where serving reads): all three agree.
  for (int64_t as_of : {kT0 + 9 * 86400, kT0 + 9 * 86400 + 100, kT0 + 12 * 86400}) {
    for (uint64_t v = 0; v < 50; ++v) {
      EXPECT_EQ(loaded.Video(VideoId{v}, as_of), c.Video(VideoId{v}, as_of));
      EXPECT_EQ((*mapped)->Video(VideoId{v}, as_of), c.Video(VideoId{v}, as_of));
    }
    for (uint64_t u = 0; u < 20; ++u) {
      EXPECT_EQ(loaded.User(UserId{u}, as_of), c.User(UserId{u}, as_of));
      EXPECT_EQ((*mapped)->User(UserId{u}, as_of), c.User(UserId{u}, as_of));
    }
    EXPECT_EQ(loaded.Platform(as_of), c.Platform(as_of));
    EXPECT_EQ((*mapped)->Platform(as_of), c.Platform(as_of));
  }
  // At any moment, also among the events and on bucket edges: the mapped reads equal the loaded.
  for (int64_t as_of = kT0 - 3600; as_of < kT0 + 12 * 86400; as_of += 4380) {
    for (uint64_t v = 0; v < 52; ++v) {
      ASSERT_EQ((*mapped)->Video(VideoId{v}, as_of), loaded.Video(VideoId{v}, as_of)) << v << " " << as_of;
    }
    for (uint64_t u = 0; u < 20; ++u)
      ASSERT_EQ((*mapped)->User(UserId{u}, as_of), loaded.User(UserId{u}, as_of));
    ASSERT_EQ((*mapped)->Platform(as_of), loaded.Platform(as_of));
  }
  EXPECT_GT((*mapped)->bytes(), 0u);
  // Saving the mapped counters writes the same values.
  const std::string copy = TempPath("copy");
  {
    auto w = ArtifactWriter::Create(copy, 1);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*mapped)->Save(**w, "counters").ok());
    ASSERT_TRUE((*w)->Finish().ok());
  }
  auto copied = MappedArtifact::Open(copy);
  ASSERT_TRUE(copied.ok());
  auto remapped = MappedCounters::Map(*copied, "counters");
  ASSERT_TRUE(remapped.ok());
  EXPECT_EQ((*remapped)->Video(VideoId{7}, kT0 + 10 * 86400), c.Video(VideoId{7}, kT0 + 10 * 86400));

  EngagementCounters missing;
  EXPECT_EQ(missing.Load(**in, "other").code(), StatusCode::kNotFound);
  EXPECT_EQ(MappedCounters::Map(*in, "other").status().code(), StatusCode::kNotFound);
  std::filesystem::remove(path);
  std::filesystem::remove(copy);
}

// Writes one entity's counters as the sections of `prefix`.{v,u,p}, with the given keys (and
// without the key index when `index` is false: the layout before it).
void WriteSections(const std::string& path, std::vector<uint64_t> keys, bool index) {
  auto w = ArtifactWriter::Create(path, 1);
  ASSERT_TRUE(w.ok());
  for (std::string_view t : {"c.v", "c.u", "c.p"}) {
    const std::string p(t);
    std::vector<int64_t> totals(keys.size() * kNumCounterKinds, 1);
    std::vector<MappedCounters::SavedSlot> slots;
    std::vector<uint64_t> ptr{0};
    for (uint64_t key : keys) {
      slots.push_back(
          {.key = key, .ring = 0, .slot = {.bucket = static_cast<int32_t>(kT0 / 300), .values = {1}}});
      ptr.push_back(slots.size());
    }
    ASSERT_TRUE((*w)->Add<uint64_t>(p + ".keys", keys).ok());
    ASSERT_TRUE((*w)->Add<int64_t>(p + ".totals", totals).ok());
    if (index) {
      ASSERT_TRUE((*w)->Add<uint64_t>(p + ".slot_ptr", ptr).ok());
    }
    ASSERT_TRUE((*w)->Add<MappedCounters::SavedSlot>(p + ".slots", slots).ok());
  }
  ASSERT_TRUE((*w)->Finish().ok());
}

TEST(MappedCounters, RefusesKeysOutOfOrderAndTheLayoutBeforeTheIndex) {
  const std::string path = TempPath("bad");
  WriteSections(path, {5, 3}, /*index=*/true);
  auto in = MappedArtifact::Open(path);
  ASSERT_TRUE(in.ok());
  const Status unsorted = MappedCounters::Map(*in, "c").status();
  EXPECT_EQ(unsorted.code(), StatusCode::kDataLoss);
  EXPECT_NE(unsorted.message().find("out of order"), std::string::npos) << unsorted.message();

  WriteSections(path, {3, 5}, /*index=*/false);
  in = MappedArtifact::Open(path);
  ASSERT_TRUE(in.ok());
  const Status old = MappedCounters::Map(*in, "c").status();
  EXPECT_EQ(old.code(), StatusCode::kNotFound);
  EXPECT_NE(old.message().find("key index"), std::string::npos) << old.message();
  // The layout before the index still loads into memory.
  EngagementCounters loaded;
  ASSERT_TRUE(loaded.Load(**in, "c").ok());
  EXPECT_EQ(loaded.Video(VideoId{5}, kT0 + 86400)(CounterKind::kPlays, CounterWindow::kAllTime), 1);
  std::filesystem::remove(path);
}

TEST(CounterReplay, ReadsOnlyTheRowsBeforeEachMoment) {
  data::Dataset ds;
  ASSERT_TRUE(ds.AddUser({.id = UserId{1}}).ok());
  ASSERT_TRUE(ds.AddVideo({.id = VideoId{9}, .duration_s = 100}).ok());
  std::vector<data::Interaction> rows = {
      {.user = 0, .video = 0, .timestamp = kT0 + 7200, .type = EventType::kPlay, .watch_ratio = 1.0f},
      {.user = 0, .video = 0, .timestamp = kT0, .type = EventType::kPlay, .watch_ratio = 0.5f},
  };
  CounterReplay replay(ds, rows);
  replay.AdvanceTo(kT0 + 3600);
  CounterValues v = replay.counters().Video(VideoId{9}, kT0 + 3600);
  EXPECT_EQ(v(CounterKind::kPlays, CounterWindow::kAllTime), 1);
  EXPECT_EQ(v(CounterKind::kWatchSeconds, CounterWindow::kAllTime), 50);
  EXPECT_EQ(v(CounterKind::kCompletions, CounterWindow::kAllTime), 0);
  replay.AdvanceTo(kT0 + 7500);
  v = replay.counters().User(UserId{1}, kT0 + 7500);
  EXPECT_EQ(v(CounterKind::kPlays, CounterWindow::kAllTime), 2);
  EXPECT_EQ(v(CounterKind::kCompletions, CounterWindow::kAllTime), 1);
  EXPECT_EQ(v(CounterKind::kPlays, CounterWindow::kDay), 1);  // the 2 h bucket is still open
}

}  // namespace
}  // namespace vrec::features
