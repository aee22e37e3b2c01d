#include "vrec/ranking/ranker.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "vrec/common/strings.h"
#include "vrec/ranking/xgboost_ranker.h"

namespace vrec::ranking {
namespace {

namespace fs = std::filesystem;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr size_t kFeatures = 8;

// Learning to rank with a known signal: relevance is a step function of f0 + 0.5 f1 (+ noise);
// f2 is missing in 20% of rows, f3 in 50% (f3 carries a little signal when present); the rest is noise.
RankingData MakeData(size_t groups, size_t rows_per_group, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  RankingData d;
  for (size_t f = 0; f < kFeatures; ++f) d.feature_names.push_back(StrCat("f", f));
  for (size_t g = 0; g < groups; ++g) {
    d.group_sizes.push_back(static_cast<uint32_t>(rows_per_group));
    for (size_t r = 0; r < rows_per_group; ++r) {
      float x[kFeatures];
      for (float& v : x) v = normal(rng);
      const float signal = x[0] + 0.5f * x[1] + 0.3f * x[3] + 0.3f * normal(rng);
      d.labels.push_back(signal > 1.5f ? 2.0f : signal > 0.5f ? 1.0f : 0.0f);
      if (unit(rng) < 0.2f) x[2] = kNaN;
      if (unit(rng) < 0.5f) x[3] = kNaN;
      d.features.insert(d.features.end(), x, x + kFeatures);
    }
  }
  return d;
}

std::vector<float> RandomRows(size_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.5f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> x(rows * kFeatures);
  for (float& v : x) v = unit(rng) < 0.15f ? kNaN : normal(rng);
  return x;
}

fs::path TempDir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("vrec_ranker_test_" + std::to_string(getpid()) + "_" + name);
  fs::remove_all(p);
  return p;
}

class TrainedRanker : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    train_ = new RankingData(MakeData(500, 50, 1));
    valid_ = new RankingData(MakeData(100, 50, 2));
    RankerOptions options;
    options.num_rounds = 200;
    options.early_stopping_rounds = 20;
    report_ = new RankerTrainReport();
    auto r = TrainXGBoostRanker(*train_, *valid_, options, report_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ranker_ = std::move(r).value().release();
  }
  static void TearDownTestSuite() {
    delete ranker_;
    delete report_;
    delete valid_;
    delete train_;
  }
  static const XGBoostRanker& Xgb() { return dynamic_cast<const XGBoostRanker&>(*ranker_); }

  static RankingData* train_;
  static RankingData* valid_;
  static RankerTrainReport* report_;
  static Ranker* ranker_;
};
RankingData* TrainedRanker::train_ = nullptr;
RankingData* TrainedRanker::valid_ = nullptr;
RankerTrainReport* TrainedRanker::report_ = nullptr;
Ranker* TrainedRanker::ranker_ = nullptr;

TEST_F(TrainedRanker, LearnsTheSignalFarAboveRandom) {
  ASSERT_NE(ranker_, nullptr);
  // Random order on the same groups, for scale.
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> random_scores(valid_->rows());
  for (float& s : random_scores) s = unit(rng);
  const double random_ndcg = MeanNdcgAtK(random_scores, valid_->labels, valid_->group_sizes, 10);
  const double random_auc = MeanGroupAuc(random_scores, valid_->labels, valid_->group_sizes);
  RecordProperty("valid_ndcg", std::to_string(report_->valid_ndcg));
  RecordProperty("valid_auc", std::to_string(report_->valid_auc));
  std::printf(
      "best_iteration=%d valid_ndcg@10=%.4f (random %.4f) valid_auc=%.4f (random %.4f) train_s=%.2f\n",
      report_->best_iteration, report_->valid_ndcg, random_ndcg, report_->valid_auc, random_auc,
      report_->train_seconds);
  EXPECT_GT(report_->valid_ndcg, random_ndcg + 0.3);
  EXPECT_GT(report_->valid_auc, 0.9);
  EXPECT_NEAR(random_auc, 0.5, 0.05);
  EXPECT_GE(report_->best_iteration, 1);
  EXPECT_LE(report_->best_iteration, 200);
  EXPECT_EQ(Xgb().compiled().num_trees(), static_cast<size_t>(report_->best_iteration));
}

// The compiled evaluator (Score) against XGBoost's own predictor on `x`: random rows of several
// sizes, then values exactly on thresholds, infinities and all-missing rows.
void ExpectCompiledMatchesXGBoost(const XGBoostRanker& ranker, const std::vector<float>& x) {
  const size_t rows = x.size() / kFeatures;
  std::vector<float> compiled(rows), xgb(rows);
  ASSERT_TRUE(ranker.Score(x, rows, compiled).ok());
  ASSERT_TRUE(ranker.ScoreWithXGBoost(x, rows, xgb).ok());
  for (size_t i = 0; i < rows; ++i) ASSERT_NEAR(compiled[i], xgb[i], 1e-5) << "row " << i << " of " << rows;
}

void ExpectCompiledMatchesXGBoostOnAnyRows(const XGBoostRanker& ranker) {
  for (const size_t rows : {1, 7, 33, 200, 517}) {
    ExpectCompiledMatchesXGBoost(ranker, RandomRows(rows, static_cast<uint32_t>(rows)));
  }
  std::vector<float> edge = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  const float inf = std::numeric_limits<float>::infinity();
  for (float v : {kNaN, inf, -inf, 0.5f, -0.5f}) edge.insert(edge.end(), kFeatures, v);
  ExpectCompiledMatchesXGBoost(ranker, edge);
}

TEST_F(TrainedRanker, CompiledEvaluatorMatchesXGBoost) {
  ASSERT_NE(ranker_, nullptr);
  EXPECT_FALSE(Xgb().compiled().dense());  // depth 6: walked
  ExpectCompiledMatchesXGBoostOnAnyRows(Xgb());
}

TEST_F(TrainedRanker, CompiledEvaluatorMatchesXGBoostOnDataRows) {
  // Real rows hit split thresholds exactly (hist cuts are data quantiles): the x < t edge.
  ASSERT_NE(ranker_, nullptr);
  for (const RankingData* d : {train_, valid_}) ExpectCompiledMatchesXGBoost(Xgb(), d->features);
}

TEST(TrainXGBoostRanker, ShallowTreesAreScoredDenselyLikeXGBoost) {
  // The two-stage ranker's depth: the dense evaluation.
  const RankingData train = MakeData(300, 50, 5), valid = MakeData(60, 50, 6);
  RankerOptions options;
  options.num_rounds = 80;
  options.early_stopping_rounds = 0;
  options.max_depth = 4;
  RankerTrainReport report;
  auto r = TrainXGBoostRanker(train, valid, options, &report);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& ranker = dynamic_cast<const XGBoostRanker&>(**r);
  EXPECT_TRUE(ranker.compiled().dense());
  ExpectCompiledMatchesXGBoostOnAnyRows(ranker);
  ExpectCompiledMatchesXGBoost(ranker, train.features);
}

TEST_F(TrainedRanker, ScoreIsSafeFromManyThreads) {
  ASSERT_NE(ranker_, nullptr);
  const size_t rows = 200;
  const std::vector<float> x = RandomRows(rows, 21);
  std::vector<float> expected(rows);
  ASSERT_TRUE(ranker_->Score(x, rows, expected).ok());
  std::vector<std::vector<float>> got(4, std::vector<float>(rows));
  std::vector<std::thread> threads;
  for (size_t t = 0; t < got.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        if (!ranker_->Score(x, rows, got[t]).ok()) return;
        if (t % 2 == 1 && !Xgb().ScoreWithXGBoost(x, rows, got[t]).ok()) return;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& g : got) {
    for (size_t i = 0; i < rows; ++i) ASSERT_NEAR(g[i], expected[i], 1e-5);
  }
}

TEST_F(TrainedRanker, ContributionsSumToTheScore) {
  ASSERT_NE(ranker_, nullptr);
  const size_t rows = 64;
  const std::vector<float> x = RandomRows(rows, 11);
  std::vector<float> scores(rows), contrib;
  ASSERT_TRUE(ranker_->Score(x, rows, scores).ok());
  ASSERT_TRUE(ranker_->Contributions(x, rows, contrib).ok());
  ASSERT_EQ(contrib.size(), rows * (kFeatures + 1));
  for (size_t r = 0; r < rows; ++r) {
    double sum = 0;
    for (size_t f = 0; f <= kFeatures; ++f) sum += contrib[r * (kFeatures + 1) + f];
    EXPECT_NEAR(sum, scores[r], 1e-4) << "row " << r;
  }
}

TEST_F(TrainedRanker, SaveLoadRoundTripGivesIdenticalScores) {
  ASSERT_NE(ranker_, nullptr);
  const fs::path dir = TempDir("roundtrip");
  ASSERT_TRUE(ranker_->Save(dir.string()).ok());
  EXPECT_TRUE(fs::exists(dir / "ranker.ubj"));
  EXPECT_TRUE(fs::exists(dir / "ranker.json"));
  auto loaded = LoadRanker(dir.string());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->feature_names(), ranker_->feature_names());
  const auto& x = dynamic_cast<const XGBoostRanker&>(**loaded);
  EXPECT_EQ(x.best_iteration(), report_->best_iteration);

  const size_t rows = 300;
  const std::vector<float> rows_x = RandomRows(rows, 5);
  std::vector<float> before(rows), after(rows), after_xgb(rows);
  ASSERT_TRUE(ranker_->Score(rows_x, rows, before).ok());
  ASSERT_TRUE((*loaded)->Score(rows_x, rows, after).ok());
  ASSERT_TRUE(x.ScoreWithXGBoost(rows_x, rows, after_xgb).ok());
  for (size_t i = 0; i < rows; ++i) {
    ASSERT_EQ(before[i], after[i]) << "row " << i;
    ASSERT_NEAR(before[i], after_xgb[i], 1e-5) << "row " << i;
  }
  fs::remove_all(dir);
}

TEST_F(TrainedRanker, ScoreRejectsWrongSizes) {
  ASSERT_NE(ranker_, nullptr);
  std::vector<float> x(3 * kFeatures, 0.0f), out(3);
  EXPECT_EQ(ranker_->Score(std::span<const float>(x).first(x.size() - 1), 3, out).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ranker_->Score(x, 3, std::span<float>(out).first(2)).code(), StatusCode::kInvalidArgument);
  std::vector<float> contrib;
  EXPECT_EQ(ranker_->Contributions(x, 4, contrib).code(), StatusCode::kInvalidArgument);
}

TEST_F(TrainedRanker, LoadRejectsCorruptFiles) {
  ASSERT_NE(ranker_, nullptr);
  const fs::path dir = TempDir("corrupt");
  ASSERT_TRUE(ranker_->Save(dir.string()).ok());
  {  // flip one byte in the middle of the model
    std::fstream f(dir / "ranker.ubj", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(dir / "ranker.ubj") / 2));
    f.put('\x7f');
  }
  EXPECT_EQ(LoadRanker(dir.string()).status().code(), StatusCode::kDataLoss);

  ASSERT_TRUE(ranker_->Save(dir.string()).ok());
  fs::resize_file(dir / "ranker.json", fs::file_size(dir / "ranker.json") / 2);
  EXPECT_EQ(LoadRanker(dir.string()).status().code(), StatusCode::kDataLoss);

  ASSERT_TRUE(ranker_->Save(dir.string()).ok());
  fs::remove(dir / "ranker.ubj");
  EXPECT_EQ(LoadRanker(dir.string()).status().code(), StatusCode::kNotFound);
  fs::remove_all(dir);
}

TEST(LoadRanker, MissingFolderIsNotFound) {
  EXPECT_EQ(LoadRanker("/nonexistent/vrec/ranker").status().code(), StatusCode::kNotFound);
}

TEST(RankingData, ValidateRejectsBadData) {
  RankingData good = MakeData(3, 4, 9);
  EXPECT_TRUE(good.Validate().ok());

  RankingData bad_groups = good;
  bad_groups.group_sizes.back() += 1;
  EXPECT_EQ(bad_groups.Validate().code(), StatusCode::kInvalidArgument);

  RankingData negative = good;
  negative.labels[5] = -1.0f;
  EXPECT_EQ(negative.Validate().code(), StatusCode::kInvalidArgument);

  RankingData nan_label = good;
  nan_label.labels[0] = kNaN;
  EXPECT_EQ(nan_label.Validate().code(), StatusCode::kInvalidArgument);

  RankingData short_features = good;
  short_features.features.pop_back();
  EXPECT_EQ(short_features.Validate().code(), StatusCode::kInvalidArgument);
}

TEST(TrainXGBoostRanker, RejectsBadDataBeforeTraining) {
  const RankingData train = MakeData(20, 10, 1);
  const RankingData valid = MakeData(5, 10, 2);
  RankerOptions options;
  options.num_rounds = 2;

  RankingData bad_groups = train;
  bad_groups.group_sizes[0] -= 1;
  EXPECT_EQ(TrainXGBoostRanker(bad_groups, valid, options, nullptr).status().code(),
            StatusCode::kInvalidArgument);

  RankingData renamed = valid;
  renamed.feature_names[3] = "other";
  EXPECT_EQ(TrainXGBoostRanker(train, renamed, options, nullptr).status().code(),
            StatusCode::kInvalidArgument);

  RankingData negative = train;
  negative.labels[7] = -2.0f;
  EXPECT_EQ(TrainXGBoostRanker(negative, valid, options, nullptr).status().code(),
            StatusCode::kInvalidArgument);

  RankerOptions bad_options = options;
  bad_options.max_depth = 0;
  bad_options.subsample = 0;
  const Status s = TrainXGBoostRanker(train, valid, bad_options, nullptr).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("max_depth"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("subsample"), std::string::npos) << s.message();
}

TEST(TrainXGBoostRanker, WithoutEarlyStoppingKeepsEveryRound) {
  const RankingData train = MakeData(50, 20, 1);
  const RankingData valid = MakeData(10, 20, 2);
  RankerOptions options;
  options.num_rounds = 15;
  options.early_stopping_rounds = 0;
  RankerTrainReport report;
  auto r = TrainXGBoostRanker(train, valid, options, &report);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(report.best_iteration, 15);
  EXPECT_EQ(dynamic_cast<const XGBoostRanker&>(**r).compiled().num_trees(), 15u);
}

// The objective heads' pointwise objectives: a logistic head outputs probabilities that the
// compiled evaluator reproduces (sigmoid and base_score conversion included) and that survive a
// save/load; a squared-error head estimates the label's mean; both stop early on a loss.
TEST(TrainXGBoostRanker, PointwiseHeadsLearnTheirLabelsAndScoreLikeXGBoost) {
  RankingData train = MakeData(300, 30, 11), valid = MakeData(60, 30, 12);
  for (RankingData* d : {&train, &valid}) {
    for (float& l : d->labels) l = l > 0 ? 1.0f : 0.0f;
  }
  RankerOptions options;
  options.objective = "binary:logistic";
  options.num_rounds = 300;
  options.early_stopping_rounds = 20;
  RankerTrainReport report;
  auto head = TrainXGBoostRanker(train, valid, options, &report);
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(report.metric, "logloss");
  EXPECT_GT(report.valid_metric, 0.0);
  EXPECT_LT(report.valid_metric, 0.5);  // a constant predictor: ~0.6 at this base rate
  EXPECT_GT(report.valid_auc, 0.85);
  EXPECT_EQ(report.valid_ndcg, 0.0);  // not a ranking objective
  EXPECT_LT(report.best_iteration, 300);
  const auto& xgb = dynamic_cast<const XGBoostRanker&>(**head);
  EXPECT_TRUE(xgb.compiled().logistic());
  const size_t rows = valid.rows();
  std::vector<float> compiled(rows), reference(rows);
  ASSERT_TRUE((*head)->Score(valid.features, rows, compiled).ok());
  ASSERT_TRUE(xgb.ScoreWithXGBoost(valid.features, rows, reference).ok());
  double mean = 0, base_rate = 0;
  for (size_t i = 0; i < rows; ++i) {
    ASSERT_GT(compiled[i], 0.0f);
    ASSERT_LT(compiled[i], 1.0f);
    ASSERT_NEAR(compiled[i], reference[i], 1e-6) << "row " << i;
    mean += compiled[i], base_rate += valid.labels[i];
  }
  EXPECT_NEAR(mean / static_cast<double>(rows), base_rate / static_cast<double>(rows), 0.03);
  const fs::path dir = TempDir("logistic_head");
  ASSERT_TRUE((*head)->Save(dir.string()).ok());
  auto loaded = LoadRanker(dir.string());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  std::vector<float> after(rows);
  ASSERT_TRUE((*loaded)->Score(valid.features, rows, after).ok());
  EXPECT_EQ(after, compiled);
  fs::remove_all(dir);

  // Squared error on a scaled label: the predictions' mean is the labels' mean.
  for (RankingData* d : {&train, &valid}) {
    for (float& l : d->labels) l *= 120.0f;
  }
  options.objective = "reg:squarederror";
  auto watch = TrainXGBoostRanker(train, valid, options, &report);
  ASSERT_TRUE(watch.ok()) << watch.status().ToString();
  EXPECT_EQ(report.metric, "rmse");
  EXPECT_LT(report.valid_metric, 50.0);  // a constant predictor: ~58 at this base rate
  ASSERT_TRUE((*watch)->Score(valid.features, rows, compiled).ok());
  ASSERT_TRUE(
      dynamic_cast<const XGBoostRanker&>(**watch).ScoreWithXGBoost(valid.features, rows, reference).ok());
  mean = 0;
  for (size_t i = 0; i < rows; ++i) {
    ASSERT_NEAR(compiled[i], reference[i], 1e-3) << "row " << i;
    mean += compiled[i];
  }
  EXPECT_NEAR(mean / static_cast<double>(rows), 120.0 * base_rate / static_cast<double>(rows), 5.0);
}

TEST(RankingMetrics, NdcgAndAucOnKnownOrders) {
  const std::vector<float> labels = {2, 1, 0, 0};
  const std::vector<uint32_t> groups = {4};
  const std::vector<float> perfect = {4, 3, 2, 1};
  const std::vector<float> reversed = {1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(MeanNdcgAtK(perfect, labels, groups, 10), 1.0);
  EXPECT_LT(MeanNdcgAtK(reversed, labels, groups, 10), 0.6);
  EXPECT_DOUBLE_EQ(MeanGroupAuc(perfect, labels, groups), 1.0);
  EXPECT_DOUBLE_EQ(MeanGroupAuc(reversed, labels, groups), 0.0);
  const std::vector<float> ties = {1, 1, 1, 1};
  EXPECT_DOUBLE_EQ(MeanGroupAuc(ties, labels, groups), 0.5);
}

}  // namespace
}  // namespace vrec::ranking
