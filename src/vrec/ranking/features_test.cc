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
  EXPECT_NE(RankingFeatureSchema().find(std::string("v") + std::to_string(kRankingFeatureVersion) + ":"),
            std::string::npos);
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

// Three videos: 0 and 1 Music (uploaded on days 0 and 1), 2 Gaming (day 10).
data::Dataset HistoryPlatform() {
  data::Dataset ds = Platform();
  EXPECT_TRUE(ds.AddUser({.id = UserId{3}}).ok());
  EXPECT_TRUE(ds.AddVideo({.id = VideoId{12}, .categories = {1}, .upload_time = 10 * 86400}).ok());
  // Video 1 becomes Music too.
  ds.videos[1].categories = {0};
  return ds;
}

TEST(RankingFeatures, ComparesTheCandidateWithTheUsersHistory) {
  data::Dataset ds = HistoryPlatform();
  const int64_t week = 7 * 86400;
  const std::vector<Interaction> rows = {
      {.user = 0, .video = 0, .timestamp = 100, .type = EventType::kLike},
      {.user = 0, .video = 1, .timestamp = 200, .type = EventType::kLike},
      {.user = 1, .video = 0, .timestamp = 300, .type = EventType::kLike},
      {.user = 1, .video = 2, .timestamp = 10 * week, .type = EventType::kLike},
      {.user = 2, .video = 2, .timestamp = 10 * week + 5, .type = EventType::kSkip},
  };
  const FeatureAggregates agg = FeatureAggregates::FromRows(ds, rows, 20 * week);
  const int64_t now = 20 * week;
  const std::vector<float> gaming = Row(agg, 0, 2, now), music = Row(agg, 0, 1, now);
  // User 0's newest positives: video 1, then video 0, both Music.
  EXPECT_FLOAT_EQ(gaming[Col("cross_recent_category_share")], 0.0f);
  EXPECT_FLOAT_EQ(music[Col("cross_recent_category_share")], 1.0f);
  // Release dates: user 0 watched days 0 and 1 (mean 0.5, sd 0.5).
  EXPECT_FLOAT_EQ(gaming[Col("cross_upload_vs_user_mean_days")], 9.5f);
  EXPECT_FLOAT_EQ(gaming[Col("cross_upload_z")], 19.0f);
  EXPECT_FLOAT_EQ(gaming[Col("cross_upload_vs_user_last_days")], (10 * 86400 - 200) / 86400.0f);
  // User 0 was active in week 0 only, when video 2 had no positives and video 0 two of three.
  EXPECT_FLOAT_EQ(gaming[Col("cross_log_popularity_in_user_weeks_ppm")], 0.0f);
  EXPECT_FLOAT_EQ(Row(agg, 0, 0, now)[Col("cross_log_popularity_in_user_weeks_ppm")],
                  std::log1p(1e6 * 2.0 / 3.0));
  EXPECT_FLOAT_EQ(gaming[Col("cross_first_positive_vs_user_last_days")], (10 * week - 200) / 86400.0f);
  EXPECT_FLOAT_EQ(gaming[Col("video_days_since_first_positive")], 10 * week / 86400.0f);
  EXPECT_EQ(gaming[Col("user_active_weeks")], 1.0f);
  // Popularity vs the user's recent videos: video 2 has 1 positive, videos 0 and 1 have 2 and 1.
  const double ppm = 1e6 / 4;
  EXPECT_NEAR(gaming[Col("cross_popularity_vs_user_recent")],
              std::log1p(ppm) - (std::log1p(2 * ppm) + std::log1p(ppm)) / 2, 1e-5);
  // A user without history has none of these.
  const std::vector<float> none = Row(agg, 2, 0, now);
  EXPECT_TRUE(std::isnan(none[Col("cross_upload_vs_user_mean_days")]));
  EXPECT_TRUE(std::isnan(none[Col("cross_log_popularity_in_user_weeks_ppm")]));
}

// The history features see the newest positives before `as_of` only; later ones change them.
TEST(RankingFeatures, HistoryFeaturesArePointInTime) {
  data::Dataset ds = HistoryPlatform();
  const std::vector<Interaction> rows = {
      {.user = 0, .video = 0, .timestamp = 100, .type = EventType::kLike},
      {.user = 1, .video = 0, .timestamp = 110, .type = EventType::kLike},
      {.user = 1, .video = 2, .timestamp = 120, .type = EventType::kLike},
      // The future: user 0 watches the Gaming video, then video 1.
      {.user = 0, .video = 2, .timestamp = 500, .type = EventType::kLike},
      {.user = 0, .video = 1, .timestamp = 600, .type = EventType::kLike},
  };
  const FeatureAggregates past = FeatureAggregates::FromRows(ds, std::span(rows).first(3), 500);
  const FeatureAggregates all_before = FeatureAggregates::FromRows(ds, rows, 500);
  const FeatureAggregates later = FeatureAggregates::FromRows(ds, rows, 1000);
  for (const char* name : {"cross_recent_category_share", "cross_upload_vs_user_mean_days",
                           "cross_popularity_vs_user_recent", "cross_log_popularity_in_user_weeks_ppm",
                           "cross_first_positive_vs_user_last_days", "user_active_weeks"}) {
    EXPECT_EQ(Row(past, 0, 2, 500)[Col(name)], Row(all_before, 0, 2, 500)[Col(name)]) << name;
  }
  // Before: user 0 has watched video 0 only (Music, day 0).
  EXPECT_FLOAT_EQ(Row(all_before, 0, 2, 500)[Col("cross_recent_category_share")], 0.0f);
  EXPECT_FLOAT_EQ(Row(all_before, 0, 2, 500)[Col("cross_upload_vs_user_mean_days")], 10.0f);
  // After: Gaming is one of user 0's three positives; release dates 0, 10 and 1 days.
  EXPECT_FLOAT_EQ(Row(later, 0, 2, 1000)[Col("cross_recent_category_share")], 1.0f / 3.0f);
  EXPECT_FLOAT_EQ(Row(later, 0, 2, 1000)[Col("cross_upload_vs_user_mean_days")], 10.0f - 11.0f / 3.0f);
}

TEST(RankingFeatures, KeepsOnlyTheNewestPositivesPerUser) {
  data::Dataset ds = HistoryPlatform();
  std::vector<Interaction> rows;
  // 200 positives on Gaming, out of order, then one older Music positive: the newest 20 are all Gaming.
  for (int i = 0; i < 200; ++i) {
    rows.push_back({.user = 0, .video = 2, .timestamp = 1000 + (i * 37) % 200, .type = EventType::kLike});
  }
  rows.push_back({.user = 0, .video = 0, .timestamp = 10, .type = EventType::kLike});
  const FeatureAggregates agg = FeatureAggregates::FromRows(ds, rows, 5000);
  EXPECT_FLOAT_EQ(Row(agg, 0, 2, 5000)[Col("cross_recent_category_share")], 1.0f);
  EXPECT_FLOAT_EQ(Row(agg, 0, 0, 5000)[Col("cross_recent_category_share")], 0.0f);
}

TEST(RankingFeatures, NormalisesTheRetrievalScoreWithinTheRequest) {
  data::Dataset ds = Platform();
  FeatureAggregates agg(ds);
  std::vector<float> out;
  const uint32_t vids[] = {0, 1};
  const CandidateSignals sig[] = {{.retrieval_score = 3.0f}, {.retrieval_score = 1.0f}};
  agg.Assemble(0, RequestContext{.time = 10}, vids, sig, out);
  const size_t n = RankingFeatureNames().size();
  EXPECT_FLOAT_EQ(out[Col("retrieval_score_z")], 1.0f);
  EXPECT_FLOAT_EQ(out[n + Col("retrieval_score_z")], -1.0f);
}

TEST(RankingFeatures, RanksTheEaseScoreWithinTheRequest) {
  data::Dataset ds = Platform();
  FeatureAggregates agg(ds);
  std::vector<float> out;
  const uint32_t vids[] = {0, 1, 0};  // the platform has two videos
  const CandidateSignals sig[] = {{.ease_score = 0.5f}, {}, {.ease_score = 2.0f}};
  agg.Assemble(0, RequestContext{.time = 10}, vids, sig, out);
  const size_t n = RankingFeatureNames().size();
  EXPECT_FLOAT_EQ(out[Col("ease_score")], 0.5f);
  EXPECT_FLOAT_EQ(out[Col("ease_rank")], 1.0f);
  EXPECT_TRUE(std::isnan(out[n + Col("ease_score")]));  // not modelled: missing, not last
  EXPECT_TRUE(std::isnan(out[n + Col("ease_rank")]));
  EXPECT_FLOAT_EQ(out[2 * n + Col("ease_rank")], 0.0f);
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
