#include "vrec/ranking/features.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace vrec::ranking {
namespace {

using data::EventType;
using data::Interaction;

data::Dataset Platform() {
  data::Dataset ds;
  const uint16_t music = ds.InternCategory("Music"), games = ds.InternCategory("Gaming");
  EXPECT_TRUE(
      ds.AddUser({.id = UserId{1}, .language = "en", .age = 30, .gender = data::Gender::kFemale}).ok());
  EXPECT_TRUE(ds.AddUser({.id = UserId{2}}).ok());
  EXPECT_TRUE(
      ds.AddVideo(
            {.id = VideoId{10}, .categories = {music}, .language = "en", .duration_s = 60, .upload_time = 0})
          .ok());
  EXPECT_TRUE(ds.AddVideo({.id = VideoId{11},
                           .categories = {games},
                           .language = "fr",
                           .duration_s = 30,
                           .upload_time = 86400})
                  .ok());
  return ds;
}

size_t Col(const std::string& name) {
  const auto& names = RankingFeatureNames();
  return static_cast<size_t>(std::find(names.begin(), names.end(), name) - names.begin());
}

std::vector<float> Row(const FeatureAggregates& agg, uint32_t user, uint32_t video, int64_t now) {
  std::vector<float> out;
  const uint32_t v[] = {video};
  agg.Assemble(user, RequestContext{.time = now}, v, {}, out);
  return out;
}

TEST(RankingFeatures, NamesAreUniqueAndRowsHaveOneValueEach) {
  const auto& names = RankingFeatureNames();
  std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), names.size());
  data::Dataset ds = Platform();
  FeatureAggregates agg(ds);
  EXPECT_EQ(Row(agg, 0, 0, 1000).size(), names.size());
  EXPECT_NE(RankingFeatureSchema().find("v1"), std::string::npos);
}

TEST(RankingFeatures, ComputesBehaviourEngagementAndCrossFeatures) {
  data::Dataset ds = Platform();
  std::vector<Interaction> rows = {
      {.user = 0, .video = 0, .timestamp = 100, .type = EventType::kPlay, .watch_ratio = 0.5f},
      {.user = 0, .video = 0, .timestamp = 110, .type = EventType::kLike},
      {.user = 1, .video = 0, .timestamp = 120, .type = EventType::kSkip, .watch_ratio = 0.1f},
      {.user = 1, .video = 1, .timestamp = 130, .type = EventType::kPlay, .watch_ratio = 1.0f},
  };
  FeatureAggregates agg = FeatureAggregates::FromRows(ds, rows, 1000);
  const int64_t now = 100 + 2 * 86400;
  std::vector<float> r = Row(agg, 0, 0, now);
  EXPECT_EQ(r[Col("user_age")], 30);
  // play + like, per million of the 3 positives in all
  EXPECT_FLOAT_EQ(r[Col("user_log_positives_ppm")], std::log1p(2.0 * 1e6 / 3));
  EXPECT_FLOAT_EQ(r[Col("video_like_rate")], 1.0f);       // 1 like / 1 play
  EXPECT_FLOAT_EQ(r[Col("video_skip_rate")], 0.5f);       // 1 skip / (1 play + 1 skip)
  EXPECT_FLOAT_EQ(r[Col("video_completion")], 0.3f);      // (0.5 + 0.1) / 2
  EXPECT_FLOAT_EQ(r[Col("cross_category_share")], 1.0f);  // all of user 0's positives are Music
  EXPECT_FLOAT_EQ(r[Col("cross_days_since_category")], (now - 110) / 86400.0f);
  EXPECT_EQ(r[Col("cross_language_match")], 1.0f);
  EXPECT_FLOAT_EQ(r[Col("video_upload_age_days")], now / 86400.0f);
  // User 0 never touched Gaming; user 1 has no language.
  std::vector<float> g = Row(agg, 0, 1, now);
  EXPECT_EQ(g[Col("cross_category_share")], 0.0f);
  EXPECT_TRUE(std::isnan(g[Col("cross_days_since_category")]));
  EXPECT_EQ(g[Col("cross_language_match")], 0.0f);
  EXPECT_TRUE(std::isnan(Row(agg, 1, 0, now)[Col("cross_language_match")]));
}

// The leakage test: features for time t are a function of events before t only.
TEST(RankingFeatures, AFeatureForTimeTIgnoresEventsAtOrAfterT) {
  data::Dataset ds = Platform();
  std::vector<Interaction> past = {
      {.user = 0, .video = 0, .timestamp = 100, .type = EventType::kPlay, .watch_ratio = 0.9f},
      {.user = 1, .video = 1, .timestamp = 200, .type = EventType::kLike},
  };
  std::vector<Interaction> with_future = past;
  with_future.push_back({.user = 0, .video = 1, .timestamp = 500, .type = EventType::kShare});
  with_future.push_back(
      {.user = 1, .video = 0, .timestamp = 500, .type = EventType::kSkip, .watch_ratio = 0.0f});
  with_future.push_back({.user = 0, .video = 0, .timestamp = 900, .type = EventType::kComment});
  const int64_t t = 500;
  FeatureAggregates a = FeatureAggregates::FromRows(ds, past, t);
  FeatureAggregates b = FeatureAggregates::FromRows(ds, with_future, t);
  for (uint32_t u = 0; u < 2; ++u) {
    for (uint32_t v = 0; v < 2; ++v) {
      std::vector<float> ra = Row(a, u, v, t), rb = Row(b, u, v, t);
      ASSERT_EQ(ra.size(), rb.size());
      for (size_t i = 0; i < ra.size(); ++i) {
        if (std::isnan(ra[i])) {
          EXPECT_TRUE(std::isnan(rb[i])) << RankingFeatureNames()[i];
        } else {
          EXPECT_EQ(ra[i], rb[i]) << RankingFeatureNames()[i] << " user " << u << " video " << v;
        }
      }
    }
  }
  // And the future does matter once it is in the past.
  FeatureAggregates c = FeatureAggregates::FromRows(ds, with_future, 1000);
  EXPECT_NE(Row(c, 0, 1, 1000)[Col("cross_category_share")], Row(a, 0, 1, 1000)[Col("cross_category_share")]);
}

TEST(RankingFeatures, CarriesRetrievalSignals) {
  data::Dataset ds = Platform();
  FeatureAggregates agg(ds);
  std::vector<float> out;
  const uint32_t vids[] = {0, 1};
  const CandidateSignals sig[] = {{.retrieval_score = 0.9f, .retrieval_rank = 0}, {}};
  agg.Assemble(0, RequestContext{.time = 10}, vids, sig, out);
  const size_t n = RankingFeatureNames().size();
  ASSERT_EQ(out.size(), 2 * n);
  EXPECT_FLOAT_EQ(out[Col("retrieval_score")], 0.9f);
  EXPECT_EQ(out[Col("retrieval_rank")], 0.0f);
  EXPECT_TRUE(std::isnan(out[n + Col("retrieval_score")]));
}

}  // namespace
}  // namespace vrec::ranking
