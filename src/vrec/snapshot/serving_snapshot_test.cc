#include "vrec/snapshot/serving_snapshot.h"

#include <gtest/gtest.h>

#include <bit>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "vrec/data/synth.h"
#include "vrec/data/test_util.h"

namespace vrec::snapshot {
namespace {

namespace fs = std::filesystem;
using data::testing::TempDir;

data::Dataset Platform() {
  data::SynthConfig config;
  config.num_users = 300;
  config.num_videos = 600;
  config.num_interactions = 15'000;
  config.quiet = true;
  auto ds = data::GenerateSynthetic(config);
  EXPECT_TRUE(ds.ok()) << ds.status().ToString();
  return std::move(ds).value();
}

SnapshotOptions Options() {
  SnapshotOptions o;
  o.cold_start_list = 50;
  o.max_history_per_user = 40;
  o.sar.max_neighbours = 30;
  o.ease.max_videos = 200;
  return o;
}

// Bitwise equality, NaN included: serving must read exactly what training computed.
bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::bit_cast<uint32_t>(a[i]) != std::bit_cast<uint32_t>(b[i])) return false;
  }
  return true;
}

class ServingSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ds_ = Platform();
    auto built = ServingSnapshot::Build(ds_, ds_.interactions, Options());
    ASSERT_TRUE(built.ok()) << built.status().ToString();
    built_ = *built;
    path_ = (dir_.path() / "serving.vart").string();
    ASSERT_TRUE(built_->Save(path_).ok());
    auto loaded = ServingSnapshot::Load(path_);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    loaded_ = *loaded;
  }

  data::Dataset ds_;
  TempDir dir_;
  std::string path_;
  std::shared_ptr<const ServingSnapshot> built_, loaded_;
};

TEST_F(ServingSnapshotTest, TheMappedCatalogIsTheBuiltOne) {
  const data::Dataset& a = built_->catalog();
  const data::Dataset& b = loaded_->catalog();
  ASSERT_EQ(a.users.size(), ds_.users.size());
  ASSERT_EQ(b.users.size(), a.users.size());
  ASSERT_EQ(b.videos.size(), a.videos.size());
  EXPECT_EQ(b.categories, ds_.categories);
  EXPECT_TRUE(b.interactions.empty());
  for (size_t u = 0; u < a.users.size(); ++u) {
    EXPECT_EQ(b.users[u].id, ds_.users[u].id);
    EXPECT_EQ(b.users[u].country, ds_.users[u].country);
    EXPECT_EQ(b.users[u].language, ds_.users[u].language);
    EXPECT_EQ(b.users[u].age, ds_.users[u].age);
    EXPECT_EQ(b.users[u].gender, ds_.users[u].gender);
  }
  for (uint32_t v = 0; v < a.videos.size(); ++v) {
    const data::Video &want = ds_.videos[v], &got = b.videos[v];
    EXPECT_EQ(got.id, want.id);
    EXPECT_EQ(got.categories, want.categories);
    EXPECT_EQ(got.language, want.language);
    EXPECT_EQ(std::bit_cast<uint32_t>(got.duration_s), std::bit_cast<uint32_t>(want.duration_s));
    EXPECT_EQ(got.upload_time, want.upload_time);
    EXPECT_EQ(got.age_restricted, want.age_restricted);
    EXPECT_EQ(got.available, want.available);
    EXPECT_TRUE(got.title.empty()) << "titles stay in the mapped column";
    EXPECT_EQ(loaded_->Title(v), want.title);
    EXPECT_EQ(built_->Title(v), want.title);
    const auto tags = loaded_->Tags(v);
    ASSERT_EQ(tags.size(), want.tags.size());
    for (size_t t = 0; t < tags.size(); ++t) EXPECT_EQ(tags[t], want.tags[t]);
    EXPECT_EQ(b.FindVideo(want.id), v);
  }
}

TEST_F(ServingSnapshotTest, HistoriesKeepTheNewestEventsOldestFirst) {
  size_t capped = 0;
  for (uint32_t u = 0; u < ds_.users.size(); ++u) {
    std::vector<int64_t> times;
    for (const data::Interaction& x : ds_.interactions) {
      if (x.user == u) times.push_back(x.timestamp);
    }
    std::sort(times.begin(), times.end());
    const auto h = loaded_->History(u);
    ASSERT_EQ(h.size(), std::min<size_t>(times.size(), 40)) << u;
    capped += times.size() > 40;
    for (size_t i = 0; i < h.size(); ++i) {
      EXPECT_EQ(h[i].time, times[times.size() - h.size() + i]);
      EXPECT_LT(h[i].video, ds_.videos.size());
    }
    ASSERT_EQ(built_->History(u).size(), h.size());
  }
  EXPECT_GT(capped, 0u) << "the platform has users beyond the cap";
  EXPECT_TRUE(loaded_->History(1'000'000).empty());
  EXPECT_EQ(loaded_->data_end_time(), built_->data_end_time());
}

TEST_F(ServingSnapshotTest, ColdStartListsAndPopularityMatch) {
  for (uint32_t v = 0; v < ds_.videos.size(); ++v) EXPECT_EQ(loaded_->Positives(v), built_->Positives(v));
  std::set<std::pair<std::string, std::string>> locales = {{"", ""}, {"XX", "zz"}};
  for (const data::User& u : ds_.users) locales.insert({u.country, u.language});
  for (const auto& [country, language] : locales) {
    const auto a = built_->Popular(country, language), b = loaded_->Popular(country, language);
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << country << "|" << language;
    const auto f = built_->Fresh(language), g = loaded_->Fresh(language);
    EXPECT_TRUE(std::equal(f.begin(), f.end(), g.begin(), g.end())) << language;
    EXPECT_FALSE(b.empty());
  }
}

TEST_F(ServingSnapshotTest, ItemItemAndEaseScoresMatchTheFit) {
  EXPECT_EQ(loaded_->sar().neighbours(), 30);
  EXPECT_EQ(loaded_->ease().modelled_videos(), 200u);
  std::vector<uint32_t> videos(ds_.videos.size());
  std::iota(videos.begin(), videos.end(), 0u);
  for (uint32_t u = 0; u < ds_.users.size(); u += 7) {
    std::vector<std::pair<uint32_t, double>> affinity;
    std::vector<uint32_t> history;
    for (const HistoryItem& h : loaded_->History(u)) {
      affinity.emplace_back(h.video, 1.0);
      history.push_back(h.video);
    }
    std::vector<double> a(videos.size()), b(videos.size());
    built_->sar().ScoreVideos(affinity, videos, a);
    loaded_->sar().ScoreVideos(affinity, videos, b);
    EXPECT_EQ(a, b) << u;
    built_->ease().ScoreVideos(history, videos, a);
    loaded_->ease().ScoreVideos(history, videos, b);
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(std::bit_cast<uint64_t>(a[i]), std::bit_cast<uint64_t>(b[i])) << u << " " << i;
    }
  }
}

TEST_F(ServingSnapshotTest, RankingFeaturesAreBitIdentical) {
  std::vector<uint32_t> videos(ds_.videos.size());
  std::iota(videos.begin(), videos.end(), 0u);
  std::vector<ranking::CandidateSignals> signals(videos.size());
  for (size_t i = 0; i < signals.size(); ++i) {
    signals[i].retrieval_score = static_cast<float>(i % 17) / 17.0f;
    signals[i].retrieval_rank = static_cast<int>(i);
    signals[i].ease_score = static_cast<float>(i % 5);
  }
  const ranking::RequestContext context{.time = built_->data_end_time() + 3600};
  for (uint32_t u = 0; u < ds_.users.size() + 2; ++u) {  // + users outside the catalog
    std::vector<float> a, b;
    built_->aggregates().Assemble(u, context, videos, signals, a);
    loaded_->aggregates().Assemble(u, context, videos, signals, b);
    ASSERT_TRUE(SameBits(a, b)) << "user " << u;
  }
  // And they are the aggregates of the training fit over the same rows.
  const ranking::FeatureAggregates direct =
      ranking::FeatureAggregates::FromRows(ds_, ds_.interactions, std::numeric_limits<int64_t>::max());
  std::vector<float> a, b;
  direct.Assemble(5, context, videos, signals, a);
  loaded_->aggregates().Assemble(5, context, videos, signals, b);
  EXPECT_TRUE(SameBits(a, b));
}

TEST_F(ServingSnapshotTest, CountersAreThoseOfEverySnapshotEventAndSurviveTheFile) {
  ASSERT_TRUE(loaded_->has_counters());
  // The base the server updates: the log replayed to its end, as training reads it.
  features::CounterReplay replay(ds_, ds_.interactions);
  int64_t end = 0;
  for (const data::Interaction& x : ds_.interactions) end = std::max(end, x.timestamp + 1);
  replay.AdvanceTo(end);
  for (int64_t as_of : {end, end + 3600, end + 8 * 86400}) {
    for (const data::Video& v : ds_.videos) {
      ASSERT_EQ(loaded_->counters().Video(v.id, as_of), replay.counters().Video(v.id, as_of));
      ASSERT_EQ(built_->counters().Video(v.id, as_of), replay.counters().Video(v.id, as_of));
    }
    for (const data::User& u : ds_.users) {
      ASSERT_EQ(loaded_->counters().User(u.id, as_of), replay.counters().User(u.id, as_of));
    }
  }
  EXPECT_GT(
      replay.counters().Platform(end + 3600)(features::CounterKind::kPlays, features::CounterWindow::kDay),
      0);
}

TEST_F(ServingSnapshotTest, ReportsTheBytesOfEachPart) {
  const auto bytes = loaded_->ComponentBytes();
  for (const char* part : {"history", "cold_start", "positives", "sar", "ease", "aggregates", "counters"}) {
    ASSERT_TRUE(bytes.count(part)) << part;
    EXPECT_GT(bytes.at(part), 0u) << part;
  }
  EXPECT_EQ(bytes.at("ease"), 200u * 200u * 4u + ds_.videos.size() * 4u);
}

TEST_F(ServingSnapshotTest, CorruptionIsFoundAndOtherFormatsAreRefusedByName) {
  EXPECT_TRUE(loaded_->Verify().ok());
  loaded_.reset();
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 + 13);
    f.put('\x7f');
  }
  auto corrupt = ServingSnapshot::Load(path_);
  if (corrupt.ok()) {
    const Status s = (*corrupt)->Verify();
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
    EXPECT_NE(s.message().find("checksum mismatch"), std::string::npos);
  } else {
    EXPECT_EQ(corrupt.status().code(), StatusCode::kDataLoss);
  }
  // A snapshot of another content version.
  auto w = ArtifactWriter::Create(path_, kServingSnapshotVersion + 1);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Finish().ok());
  const Status s = ServingSnapshot::Load(path_).status();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("serving snapshot format 2; this build reads format 1"), std::string::npos)
      << s.message();
}

TEST(SarNeighbours, KeepTheStrongestPerVideoAndAllOnSmallCatalogs) {
  EXPECT_EQ(retrieval::NeighboursForBudget(1682, uint64_t{512} << 20), 0);
  EXPECT_EQ(retrieval::NeighboursForBudget(1'000'000, uint64_t{512} << 20), 50);
  EXPECT_EQ(retrieval::NeighboursForBudget(100'000, uint64_t{512} << 20), 447);
  const data::Dataset ds = Platform();
  retrieval::SarOptions full_options, top_options;
  full_options.max_neighbours = 0;
  top_options.max_neighbours = 5;
  retrieval::SarScorer full(full_options), top(top_options);
  ASSERT_TRUE(full.Fit(ds, ds.interactions).ok());
  ASSERT_TRUE(top.Fit(ds, ds.interactions).ok());
  for (uint32_t i = 0; i < 50; ++i) {
    std::vector<std::pair<double, uint32_t>> row;
    for (uint32_t j = 0; j < ds.videos.size(); ++j) {
      if (full.Similarity(i, j) > 0) row.emplace_back(full.Similarity(i, j), j);
    }
    std::sort(row.begin(), row.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    size_t kept = 0;
    for (uint32_t j = 0; j < ds.videos.size(); ++j) kept += top.Similarity(i, j) > 0;
    EXPECT_EQ(kept, std::min<size_t>(row.size(), 5)) << i;
    for (size_t r = 0; r < std::min<size_t>(row.size(), 5); ++r) {
      EXPECT_EQ(top.Similarity(i, row[r].second), row[r].first) << i;
    }
  }
}

}  // namespace
}  // namespace vrec::snapshot
