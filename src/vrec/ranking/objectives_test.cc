#include "vrec/ranking/objectives.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <random>

#include "vrec/common/strings.h"

namespace vrec::ranking {
namespace {

namespace fs = std::filesystem;
using Heads = std::array<std::vector<float>, kNumObjectives>;

std::vector<size_t> OrderBy(std::span<const float> scores) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  return order;
}

TEST(Blend, WithoutAWeightedHeadTheRankersScoresAreReturnedUntouched) {
  const std::vector<float> ranker = {0.3f, -1.25f, 2.5f, 0.1f};
  Heads heads;
  heads[static_cast<size_t>(Objective::kLike)] = {0.9f, 0.1f, 0.2f, 0.3f};
  std::vector<float> out(4);
  Blend(BlendWeights{}, ranker, heads, out);  // default: ranker only
  EXPECT_EQ(out, ranker);
  // A weighted head the model does not have counts for nothing.
  Blend(BlendWeights{.ranker = 1, .watch = 5}, ranker, heads, out);
  EXPECT_EQ(out, ranker);
  EXPECT_FALSE(BlendUsesHeads(BlendWeights{.watch = 5}, heads));
  EXPECT_TRUE(BlendUsesHeads(BlendWeights{.like = 0.1}, heads));
}

TEST(Blend, OneHeadAloneOrdersByItOnTheRankersScale) {
  const std::vector<float> ranker = {0.3f, -1.25f, 2.5f, 0.1f, 1.0f};
  Heads heads;
  heads[static_cast<size_t>(Objective::kWatch)] = {10, 300, 45, 120, 0};
  std::vector<float> out(5);
  Blend(BlendWeights{.ranker = 0, .watch = 2}, ranker, heads, out);
  EXPECT_EQ(OrderBy(out), OrderBy(heads[0]));
  // Mapped onto the ranker's request mean and spread.
  double mean = 0, rmean = 0;
  for (size_t i = 0; i < 5; ++i) mean += out[i], rmean += ranker[i];
  EXPECT_NEAR(mean, rmean, 1e-5);
}

TEST(Blend, WeightsTradeTheComponentsZScoresAgainstEachOther) {
  // Ranker and like disagree completely; the like head's unit is irrelevant (z-scores).
  const std::vector<float> ranker = {3, 2, 1};
  Heads heads;
  heads[static_cast<size_t>(Objective::kLike)] = {0.01f, 0.02f, 0.03f};
  std::vector<float> out(3);
  Blend(BlendWeights{.ranker = 2, .like = 1}, ranker, heads, out);
  EXPECT_EQ(OrderBy(out), (std::vector<size_t>{0, 1, 2}));
  Blend(BlendWeights{.ranker = 1, .like = 2}, ranker, heads, out);
  EXPECT_EQ(OrderBy(out), (std::vector<size_t>{2, 1, 0}));
  // Equal weights cancel exactly: every score is the ranker's mean.
  Blend(BlendWeights{.ranker = 1, .like = 1}, ranker, heads, out);
  for (float v : out) EXPECT_NEAR(v, 2.0f, 1e-6);
  // Only ratios matter.
  std::vector<float> scaled(3);
  Blend(BlendWeights{.ranker = 20, .like = 10}, ranker, heads, scaled);
  Blend(BlendWeights{.ranker = 2, .like = 1}, ranker, heads, out);
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(out[i], scaled[i], 1e-6);
  // A head without spread says nothing about the order but keeps its share of the weight.
  heads[static_cast<size_t>(Objective::kLike)] = {0.5f, 0.5f, 0.5f};
  Blend(BlendWeights{.ranker = 1, .like = 1}, ranker, heads, out);
  EXPECT_EQ(OrderBy(out), (std::vector<size_t>{0, 1, 2}));
  EXPECT_NEAR(out[0] - out[2], 0.5 * (3 - 1), 1e-6);
}

TEST(BlendOptions, SurfacesFallBackToTheDefaults) {
  BlendOptions o;
  o.defaults.like = 0.5;
  o.surfaces["shorts"] = BlendWeights{.ranker = 0, .watch = 1};
  EXPECT_EQ(o.For("shorts").watch, 1.0);
  EXPECT_EQ(o.For("home").like, 0.5);
  EXPECT_TRUE(Validate(o).ok());
}

TEST(BlendOptions, ValidateNamesEveryBadWeight) {
  BlendOptions o;
  o.defaults.watch = -1;
  o.surfaces["home"] = BlendWeights{.ranker = 0};
  o.surfaces["up_next"] = BlendWeights{.like = std::numeric_limits<double>::quiet_NaN()};
  const Status s = Validate(o);
  ASSERT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("ranking.blend.watch = -1 must be in [0, 1000]"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("ranking.blend.surface.home: every weight is 0"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("ranking.blend.surface.up_next.like"), std::string::npos) << s.message();
}

// Heads on a toy problem: the label depends on f0.
RankingData ToyData(uint32_t seed, bool binary) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  RankingData d;
  d.feature_names = {"f0", "f1"};
  for (int g = 0; g < 40; ++g) {
    d.group_sizes.push_back(20);
    for (int r = 0; r < 20; ++r) {
      const float x0 = normal(rng), x1 = normal(rng);
      d.features.insert(d.features.end(), {x0, x1});
      d.labels.push_back(binary ? (x0 + 0.3f * normal(rng) > 0.5f ? 1.0f : 0.0f) : std::max(0.0f, 60 * x0));
    }
  }
  return d;
}

std::unique_ptr<Ranker> ToyHead(Objective o) {
  const bool binary = o != Objective::kWatch;
  RankerOptions options;
  options.objective = std::string(TrainingObjective(o));
  options.num_rounds = 20;
  auto head = TrainXGBoostRanker(ToyData(1, binary), ToyData(2, binary), options, nullptr);
  EXPECT_TRUE(head.ok()) << head.status().ToString();
  return std::move(head).value();
}

fs::path TempDir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / StrCat("vrec_objectives_test_", getpid(), "_", name);
  fs::remove_all(p);
  return p;
}

TEST(ObjectiveHeads, SaveAndLoadKeepTheHeadsAndTheirScores) {
  ObjectiveHeads heads;
  EXPECT_TRUE(heads.empty());
  heads.Set(Objective::kWatch, ToyHead(Objective::kWatch));
  heads.Set(Objective::kLike, ToyHead(Objective::kLike));
  const fs::path dir = TempDir("roundtrip");
  ASSERT_TRUE(heads.Save(dir.string()).ok());
  EXPECT_TRUE(fs::exists(dir / "watch" / "ranker.json"));
  EXPECT_FALSE(fs::exists(dir / "complete"));
  auto loaded = ObjectiveHeads::Load(dir.string());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->get(Objective::kComplete), nullptr);
  const std::vector<float> rows = {1.0f, 0.0f, -1.0f, 0.5f, 2.0f, -2.0f};
  Heads before, after;
  ASSERT_TRUE(heads.Score(rows, 3, before).ok());
  ASSERT_TRUE(loaded->Score(rows, 3, after).ok());
  EXPECT_EQ(before, after);
  EXPECT_TRUE(after[static_cast<size_t>(Objective::kComplete)].empty());
  for (float p : after[static_cast<size_t>(Objective::kLike)]) EXPECT_TRUE(p > 0 && p < 1) << p;
  EXPECT_GT(after[0][2], after[0][1]) << "watch grows with f0";
  EXPECT_GT(after[2][2], after[2][1]) << "like grows with f0";

  // A head this build does not know is refused by name, as is a head trained for another objective.
  fs::copy(dir / "like", dir / "share", fs::copy_options::recursive);
  Status s = ObjectiveHeads::Load(dir.string()).status();
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("'share'"), std::string::npos) << s.message();
  fs::remove_all(dir / "share");
  fs::rename(dir / "watch", dir / "complete");
  s = ObjectiveHeads::Load(dir.string()).status();
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("reg:squarederror, expected binary:logistic"), std::string::npos) << s.message();
  EXPECT_EQ(ObjectiveHeads::Load((dir / "none").string()).status().code(), StatusCode::kNotFound);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace vrec::ranking
