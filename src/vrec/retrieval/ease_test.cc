#include "vrec/retrieval/ease.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>

#include "vrec/common/artifact.h"
#include "vrec/retrieval/scorer_testing.h"

namespace vrec::retrieval {
namespace {

using data::Interaction;

using testing::IdOnlyCatalog;

Interaction Liked(uint32_t u, uint32_t v, int64_t t = 0) {
  return {.user = u, .video = v, .timestamp = t, .type = data::EventType::kRating, .rating = 5};
}

// A random log: 40 users, 12 videos, each user likes a random subset.
std::vector<Interaction> RandomLog(uint32_t users, uint32_t videos, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Interaction> rows;
  for (uint32_t u = 0; u < users; ++u) {
    for (uint32_t v = 0; v < videos; ++v) {
      if (rng() % 3 == 0) rows.push_back(Liked(u, v, static_cast<int64_t>(rng() % 1000)));
    }
  }
  return rows;
}

// The closed form B = I - P diag(1/diag P), P = (G + lambda I)^-1, G = X^T X, satisfies
// (G + lambda I) B = (G + lambda I) - diag(1/diag P): off the diagonal, (G + lambda I) B equals G,
// and diag(B) = 0. Checked against a Gram matrix counted here, independently of the fit.
TEST(Ease, WeightsSolveTheConstrainedRegression) {
  const uint32_t nu = 40, nv = 12;
  data::Dataset ds = IdOnlyCatalog(nu, nv);
  const std::vector<Interaction> rows = RandomLog(nu, nv, 7);
  EaseOptions o;
  o.lambda = 3.0;
  EaseScorer ease(o);
  ASSERT_TRUE(ease.Fit(ds, rows).ok());
  ASSERT_EQ(ease.modelled_videos(), nv);
  std::vector<double> gram(nv * nv, 0.0);
  for (const Interaction& a : rows) {
    for (const Interaction& b : rows) {
      if (a.user == b.user) gram[a.video * nv + b.video] += 1;
    }
  }
  for (uint32_t i = 0; i < nv; ++i) {
    EXPECT_EQ(ease.Weight(i, i), 0.0);
    for (uint32_t j = 0; j < nv; ++j) {
      if (i == j) continue;
      double gb = 0;
      for (uint32_t m = 0; m < nv; ++m)
        gb += (gram[i * nv + m] + (i == m ? o.lambda : 0.0)) * ease.Weight(m, j);
      EXPECT_NEAR(gb, gram[i * nv + j], 1e-4) << i << "," << j;
    }
  }
}

TEST(Ease, CooccurringVideosScoreHighest) {
  data::Dataset ds = IdOnlyCatalog(30, 4);
  std::vector<Interaction> rows;
  // Videos 0 and 1 go together; 2 and 3 go together.
  for (uint32_t u = 0; u < 15; ++u) rows.insert(rows.end(), {Liked(u, 0), Liked(u, 1)});
  for (uint32_t u = 15; u < 30; ++u) rows.insert(rows.end(), {Liked(u, 2), Liked(u, 3)});
  rows.push_back(Liked(0, 2));
  EaseScorer ease(EaseOptions{.lambda = 1.0});
  ASSERT_TRUE(ease.Fit(ds, rows).ok());
  std::vector<double> scores(4);
  ease.ScoreAll(16, scores);  // likes 2 and 3
  EXPECT_GT(scores[2], scores[0]);
  const uint32_t history[] = {0};
  const uint32_t videos[] = {1, 2, 3};
  std::vector<double> out(3);
  ease.ScoreVideos(history, videos, out);
  EXPECT_GT(out[0], out[1]);
  EXPECT_GT(out[0], out[2]);
}

TEST(Ease, ScoreVideosMatchesScoreAllAndMarksUnmodelledVideos) {
  const uint32_t nu = 50, nv = 20;
  data::Dataset ds = IdOnlyCatalog(nu, nv);
  std::vector<Interaction> rows = RandomLog(nu, nv, 11);
  // Video 19 gets no positive at all; max_videos leaves out the least popular others.
  std::erase_if(rows, [](const Interaction& x) { return x.video == 19; });
  EaseScorer ease(EaseOptions{.lambda = 10.0, .max_videos = 15, .max_history = 0});
  ASSERT_TRUE(ease.Fit(ds, rows).ok());
  EXPECT_EQ(ease.modelled_videos(), 15u);
  EXPECT_FALSE(ease.Modelled(19));
  for (uint32_t u = 0; u < nu; ++u) {
    std::vector<double> all(nv);
    ease.ScoreAll(u, all);
    std::vector<uint32_t> history, videos(nv);
    for (const Interaction& x : rows) {
      if (x.user == u) history.push_back(x.video);
    }
    history.push_back(history.empty() ? 0 : history[0]);  // duplicates count once
    for (uint32_t v = 0; v < nv; ++v) videos[v] = v;
    std::vector<double> some(nv);
    ease.ScoreVideos(history, videos, some);
    for (uint32_t v = 0; v < nv; ++v) {
      if (ease.Modelled(v)) {
        EXPECT_NEAR(some[v], all[v], 1e-9) << u << "," << v;
      } else {
        EXPECT_TRUE(std::isnan(some[v]));
        EXPECT_EQ(all[v], 0.0);
      }
    }
  }
}

// The candidate source: Top is ScoreVideos over every modelled video, sorted (score descending,
// lower index first), without the excluded ones; and the same after Save and Load.
TEST(Ease, TopIsTheBestScoredModelledVideosLeftAfterTheExclusions) {
  const uint32_t nu = 40, nv = 20;
  data::Dataset ds = IdOnlyCatalog(nu, nv);
  const std::vector<Interaction> rows = RandomLog(nu, nv, 5);
  EaseScorer fitted(EaseOptions{.lambda = 10.0, .max_videos = 16, .max_history = 0});
  ASSERT_TRUE(fitted.Fit(ds, rows).ok());
  const std::string path = ::testing::TempDir() + "/vrec_ease_top_" + std::to_string(::getpid());
  {
    auto out = ArtifactWriter::Create(path, 1);
    ASSERT_TRUE(out.ok());
    ASSERT_TRUE(fitted.Save(**out, "ease").ok());
    ASSERT_TRUE((*out)->Finish().ok());
  }
  auto mapped = MappedArtifact::Open(path);
  ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
  auto loaded = EaseScorer::Load(*mapped, "ease", nv);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  for (const EaseScorer* ease : std::initializer_list<const EaseScorer*>{&fitted, loaded->get()}) {
    for (uint32_t u = 0; u < nu; ++u) {
      std::vector<uint32_t> history;
      for (const Interaction& x : rows) {
        if (x.user == u) history.push_back(x.video);
      }
      std::vector<uint32_t> exclude = history;
      exclude.push_back(u % nv);  // a video the user never liked can be excluded too
      std::sort(exclude.begin(), exclude.end());
      exclude.erase(std::unique(exclude.begin(), exclude.end()), exclude.end());
      std::vector<uint32_t> all(nv);
      std::iota(all.begin(), all.end(), 0u);
      std::vector<double> score(nv);
      ease->ScoreVideos(history, all, score);
      std::vector<uint32_t> expected;
      for (uint32_t v = 0; v < nv; ++v) {
        if (ease->Modelled(v) && !std::binary_search(exclude.begin(), exclude.end(), v))
          expected.push_back(v);
      }
      std::sort(expected.begin(), expected.end(),
                [&](uint32_t a, uint32_t b) { return score[a] != score[b] ? score[a] > score[b] : a < b; });
      expected.resize(std::min<size_t>(expected.size(), 5));
      std::vector<uint32_t> top;
      std::vector<double> top_scores;
      ease->Top(history, 5, exclude, top, &top_scores);
      EXPECT_EQ(top, expected) << "user " << u;
      ASSERT_EQ(top_scores.size(), top.size());
      for (size_t i = 0; i < top.size(); ++i) EXPECT_EQ(top_scores[i], score[top[i]]);
    }
  }
  std::remove(path.c_str());
}

TEST(Ease, ScoreAllReadsOnlyTheMostRecentHistory) {
  data::Dataset ds = IdOnlyCatalog(20, 3);
  std::vector<Interaction> rows;
  for (uint32_t u = 1; u < 20; ++u) rows.insert(rows.end(), {Liked(u, 0), Liked(u, 1)});
  rows.insert(rows.end(), {Liked(0, 0, 100), Liked(0, 2, 200)});  // 0 is older than 2
  EaseScorer ease(EaseOptions{.lambda = 1.0, .max_history = 1});
  ASSERT_TRUE(ease.Fit(ds, rows).ok());
  std::vector<double> scores(3);
  ease.ScoreAll(0, scores);
  // Only video 2 is read: score(1) = B[2][1].
  EXPECT_NEAR(scores[1], ease.Weight(2, 1), 1e-6);
}

TEST(Ease, RejectsBadOptionsAndEmptyLogs) {
  data::Dataset ds = IdOnlyCatalog(2, 2);
  EXPECT_EQ(EaseScorer(EaseOptions{.lambda = 0}).Fit(ds, {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EaseScorer(EaseOptions{.max_videos = 0}).Fit(ds, {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EaseScorer().Fit(ds, {}).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vrec::retrieval
