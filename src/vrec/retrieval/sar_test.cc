#include "vrec/retrieval/sar.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "vrec/retrieval/popularity.h"
#include "vrec/retrieval/scorer_testing.h"

namespace vrec::retrieval {
namespace {

using data::Interaction;

using testing::IdOnlyCatalog;

Interaction Rated(uint32_t u, uint32_t v, float rating, int64_t t) {
  return {.user = u, .video = v, .timestamp = t, .type = data::EventType::kRating, .rating = rating};
}

TEST(Sar, JaccardSimilarityFromCooccurrence) {
  data::Dataset ds = IdOnlyCatalog(3, 3);
  // users: 0 saw {0,1}; 1 saw {0,1,2}; 2 saw {0}.
  std::vector<Interaction> train = {Rated(0, 0, 1, 0), Rated(0, 1, 1, 0), Rated(1, 0, 1, 0),
                                    Rated(1, 1, 1, 0), Rated(1, 2, 1, 0), Rated(2, 0, 1, 0)};
  SarScorer sar;
  ASSERT_TRUE(sar.Fit(ds, train).ok());
  // c00=3, c11=2, c22=1, c01=2, c02=1, c12=1
  EXPECT_DOUBLE_EQ(sar.Similarity(0, 1), 2.0 / (3 + 2 - 2));
  EXPECT_DOUBLE_EQ(sar.Similarity(0, 2), 1.0 / (3 + 1 - 1));
  EXPECT_DOUBLE_EQ(sar.Similarity(1, 2), 1.0 / (2 + 1 - 1));
  EXPECT_DOUBLE_EQ(sar.Similarity(1, 1), 1.0);
}

TEST(Sar, TopSimilarIsTheRowBestFirstWithoutTheVideoItself) {
  data::Dataset ds = IdOnlyCatalog(3, 4);
  // As above, and video 3 seen by nobody.
  std::vector<Interaction> train = {Rated(0, 0, 1, 0), Rated(0, 1, 1, 0), Rated(1, 0, 1, 0),
                                    Rated(1, 1, 1, 0), Rated(1, 2, 1, 0), Rated(2, 0, 1, 0)};
  SarScorer sar;
  ASSERT_TRUE(sar.Fit(ds, train).ok());
  using Row = std::vector<std::pair<uint32_t, double>>;
  EXPECT_EQ(sar.TopSimilar(0, 5), (Row{{1, 2.0 / 3}, {2, 1.0 / 3}}));
  EXPECT_EQ(sar.TopSimilar(2, 5), (Row{{1, 0.5}, {0, 1.0 / 3}}));
  EXPECT_EQ(sar.TopSimilar(2, 1), (Row{{1, 0.5}}));
  EXPECT_TRUE(sar.TopSimilar(3, 5).empty());
  EXPECT_TRUE(sar.TopSimilar(99, 5).empty());
  EXPECT_TRUE(sar.TopSimilar(0, 0).empty());
}

TEST(Sar, AffinityDecaysByHalfEveryHalfLife) {
  data::Dataset ds = IdOnlyCatalog(1, 2);
  const int64_t day = 86400;
  std::vector<Interaction> train = {Rated(0, 0, 4, 0), Rated(0, 1, 2, 30 * day), Rated(0, 1, 2, 60 * day)};
  SarScorer sar;
  ASSERT_TRUE(sar.Fit(ds, train).ok());
  EXPECT_DOUBLE_EQ(sar.Affinity(0, 0), 4 * 0.25);
  EXPECT_DOUBLE_EQ(sar.Affinity(0, 1), 2 * 0.5 + 2);
}

TEST(Sar, ScoresAreAffinityTimesSimilarity) {
  data::Dataset ds = IdOnlyCatalog(3, 3);
  std::vector<Interaction> train = {Rated(0, 0, 2, 0), Rated(1, 0, 1, 0), Rated(1, 1, 1, 0),
                                    Rated(1, 2, 1, 0), Rated(2, 1, 1, 0)};
  SarOptions o;
  o.half_life_days = 0;  // no decay
  SarScorer sar(o);
  ASSERT_TRUE(sar.Fit(ds, train).ok());
  std::vector<double> scores(3);
  sar.ScoreAll(0, scores);
  // user 0 has only video 0 (affinity 2): score(j) = 2 * sim(0, j)
  for (uint32_t j = 0; j < 3; ++j) EXPECT_DOUBLE_EQ(scores[j], 2 * sar.Similarity(0, j));
  EXPECT_GT(scores[2], 0);
}

TEST(Sar, ScoreVideosMatchesScoreAllForTheFittedAffinity) {
  data::Dataset ds = IdOnlyCatalog(3, 4);
  std::vector<Interaction> train = {Rated(0, 0, 2, 0), Rated(0, 3, 1, 0), Rated(1, 0, 1, 0),
                                    Rated(1, 1, 1, 0), Rated(1, 2, 1, 0), Rated(2, 1, 1, 0),
                                    Rated(2, 3, 1, 0)};
  SarOptions o;
  o.half_life_days = 0;
  SarScorer sar(o);
  ASSERT_TRUE(sar.Fit(ds, train).ok());
  std::vector<double> all(4);
  sar.ScoreAll(0, all);
  const std::vector<std::pair<uint32_t, double>> affinity = {{0, sar.Affinity(0, 0)},
                                                             {3, sar.Affinity(0, 3)}};
  const std::vector<uint32_t> videos = {2, 1, 3};
  std::vector<double> some(videos.size());
  sar.ScoreVideos(affinity, videos, some);
  for (size_t k = 0; k < videos.size(); ++k) EXPECT_DOUBLE_EQ(some[k], all[videos[k]]) << k;
  EXPECT_GT(some[1], 0);
}

TEST(Sar, ScoreVideosAgreesWithScoreAllOnLongRows) {
  // Dense co-occurrence: rows far longer than the candidate list take the galloping path, short
  // candidate-heavy calls take the walking path; both must equal ScoreAll.
  data::Dataset ds = IdOnlyCatalog(60, 120);
  std::vector<Interaction> train;
  uint64_t state = 12345;
  auto next = [&] { return state = state * 6364136223846793005ULL + 1442695040888963407ULL; };
  for (uint32_t u = 0; u < 60; ++u) {
    for (uint32_t v = 0; v < 120; ++v) {
      if (next() >> 62 != 0) train.push_back(Rated(u, v, 1 + static_cast<float>(next() >> 62), 0));
    }
  }
  SarOptions o;
  o.half_life_days = 0;
  SarScorer sar(o);
  ASSERT_TRUE(sar.Fit(ds, train).ok());
  std::vector<double> all(120);
  sar.ScoreAll(7, all);
  std::vector<std::pair<uint32_t, double>> affinity;
  for (uint32_t v = 0; v < 120; ++v) {
    if (sar.Affinity(7, v) > 0) affinity.emplace_back(v, sar.Affinity(7, v));
  }
  for (const std::vector<uint32_t>& videos :
       {std::vector<uint32_t>{119, 3, 57, 58, 0}, std::vector<uint32_t>{5}, [] {
          std::vector<uint32_t> v(120);
          for (uint32_t i = 0; i < 120; ++i) v[i] = (i * 37) % 120;
          return v;
        }()}) {
    std::vector<double> some(videos.size());
    sar.ScoreVideos(affinity, videos, some);
    for (size_t k = 0; k < videos.size(); ++k) EXPECT_NEAR(some[k], all[videos[k]], 1e-9) << videos[k];
  }
}

TEST(Sar, IndicesOutsideTheFitScoreZeroUpToTheLargest) {
  data::Dataset ds = IdOnlyCatalog(2, 2);
  std::vector<Interaction> train = {Rated(0, 0, 1, 0), Rated(0, 1, 1, 0), Rated(1, 0, 1, 0)};
  SarScorer sar;
  ASSERT_TRUE(sar.Fit(ds, train).ok());
  // The largest index once wrapped to 0 in "index + 1 >= rows" and was read as a row.
  const uint32_t kLargest = std::numeric_limits<uint32_t>::max();
  EXPECT_EQ(sar.Similarity(kLargest, 0), 0.0);
  EXPECT_EQ(sar.Affinity(kLargest, 0), 0.0);
  std::vector<double> scores(2, 1.0);
  sar.ScoreAll(kLargest, scores);
  EXPECT_EQ(scores, (std::vector<double>{0.0, 0.0}));
  const std::pair<uint32_t, double> affinity[] = {{kLargest, 1.0}, {2, 1.0}};
  const uint32_t videos[] = {0, 1};
  std::vector<double> out(2, 1.0);
  sar.ScoreVideos(affinity, videos, out);
  EXPECT_EQ(out, (std::vector<double>{0.0, 0.0}));
}

TEST(Sar, IgnoresSkipsAndImpressions) {
  data::Dataset ds = IdOnlyCatalog(1, 2);
  std::vector<Interaction> train = {{.user = 0, .video = 0, .type = data::EventType::kPlay},
                                    {.user = 0, .video = 1, .type = data::EventType::kSkip}};
  SarScorer sar;
  ASSERT_TRUE(sar.Fit(ds, train).ok());
  EXPECT_GT(sar.Affinity(0, 0), 0);
  EXPECT_EQ(sar.Affinity(0, 1), 0);
  EXPECT_EQ(sar.Similarity(1, 1), 0);
}

TEST(Sar, CapOnItemsPerUserKeepsTheMostRecent) {
  data::Dataset ds = IdOnlyCatalog(1, 3);
  std::vector<Interaction> train = {Rated(0, 0, 1, 10), Rated(0, 1, 1, 30), Rated(0, 2, 1, 20)};
  SarOptions o;
  o.max_items_per_user = 2;
  SarScorer sar(o);
  ASSERT_TRUE(sar.Fit(ds, train).ok());
  EXPECT_EQ(sar.Similarity(0, 0), 0);  // oldest dropped from co-occurrence
  EXPECT_DOUBLE_EQ(sar.Similarity(1, 2), 1.0);
  EXPECT_GT(sar.Affinity(0, 0), 0);  // but still part of the user's affinity
}

TEST(Sar, EmptyTrainingIsAnError) {
  data::Dataset ds = IdOnlyCatalog(1, 1);
  SarScorer sar;
  EXPECT_EQ(sar.Fit(ds, {}).code(), StatusCode::kInvalidArgument);
}

TEST(Popularity, CountsDistinctUsersWithPositiveFeedback) {
  data::Dataset ds = IdOnlyCatalog(3, 2);
  std::vector<Interaction> train = {Rated(0, 0, 5, 0),
                                    Rated(0, 0, 3, 1),
                                    Rated(1, 0, 1, 0),
                                    {.user = 2, .video = 1, .type = data::EventType::kSkip}};
  PopularityScorer pop;
  ASSERT_TRUE(pop.Fit(ds, train).ok());
  std::vector<double> scores(2);
  pop.ScoreAll(2, scores);
  EXPECT_EQ(scores[0], 2);
  EXPECT_EQ(scores[1], 0);
}

}  // namespace
}  // namespace vrec::retrieval
