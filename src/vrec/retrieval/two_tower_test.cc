#include "vrec/retrieval/two_tower.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace vrec::retrieval {
namespace {

TEST(InBatchSoftmaxLoss, MatchesHandComputedLogQCorrectedCrossEntropy) {
  // Two rows, dim 2, temperature 0.5. logits[r][c] = <u_r, v_c> / 0.5 - log_q[c].
  const std::vector<float> user = {1, 0, 0, 1};
  const std::vector<float> item = {1, 0, 0.5f, 0.5f};
  const std::vector<float> log_q = {std::log(0.5f), std::log(0.25f)};
  const double l00 = 2.0 - std::log(0.5), l01 = 1.0 - std::log(0.25);
  const double l10 = 0.0 - std::log(0.5), l11 = 1.0 - std::log(0.25);
  const double row0 = -(l00 - std::log(std::exp(l00) + std::exp(l01)));
  const double row1 = -(l11 - std::log(std::exp(l10) + std::exp(l11)));
  EXPECT_NEAR(InBatchSoftmaxLoss(user, item, log_q, 2, 2, 0.5f), (row0 + row1) / 2, 1e-5);
}

TEST(InBatchSoftmaxLoss, MasksOtherColumnsHoldingTheSamePositive) {
  // Both rows have the same video: each row's only unmasked column is its own, so the loss is 0.
  const std::vector<float> user = {1, 0, 0, 1};
  const std::vector<float> item = {0, 1, 1, 0};
  EXPECT_NEAR(InBatchSoftmaxLoss(user, item, {0, 0}, 2, 2, 1.0f, {7, 7}), 0.0, 1e-6);
  EXPECT_GT(InBatchSoftmaxLoss(user, item, {0, 0}, 2, 2, 1.0f, {7, 8}), 0.5);
}

TEST(InBatchSoftmaxLoss, RejectsMismatchedSizes) {
  EXPECT_TRUE(std::isnan(InBatchSoftmaxLoss({1, 2, 3}, {1, 2}, {0}, 1, 2, 1.0f)));
}

// Users of group A (even) like videos of category A, users of group B the others. Video 0..19 are
// A ("alpha ..." titles), 20..39 are B. The last video (40, category A, an "alpha" title) has no
// interactions at all.
struct Synthetic {
  data::Dataset ds;
  std::vector<data::Interaction> train;
  static constexpr uint32_t kUsers = 40, kVideosPerCategory = 20, kNewVideo = 2 * kVideosPerCategory;
};

Synthetic MakeSynthetic() {
  Synthetic s;
  const uint16_t a = s.ds.InternCategory("A"), b = s.ds.InternCategory("B");
  for (uint32_t u = 0; u < Synthetic::kUsers; ++u) {
    data::User user;
    user.id = UserId{u + 1};
    user.age = static_cast<int16_t>(20 + u % 30);
    user.gender = u % 2 == 0 ? data::Gender::kFemale : data::Gender::kMale;
    EXPECT_TRUE(s.ds.AddUser(user).ok());
  }
  const char* a_words[] = {"alpha space saga", "alpha star voyage", "alpha galaxy quest",
                           "alpha rocket tale"};
  const char* b_words[] = {"beta love story", "beta wedding day", "beta romance night", "beta heart song"};
  for (uint32_t v = 0; v <= Synthetic::kNewVideo; ++v) {
    data::Video video;
    video.id = VideoId{v + 1};
    const bool is_a = v < Synthetic::kVideosPerCategory || v == Synthetic::kNewVideo;
    video.categories = {is_a ? a : b};
    video.title = std::string(is_a ? a_words[v % 4] : b_words[v % 4]) + " " + std::to_string(v);
    EXPECT_TRUE(s.ds.AddVideo(video).ok());
  }
  std::mt19937 rng(7);
  for (uint32_t u = 0; u < Synthetic::kUsers; ++u) {
    const uint32_t base = u % 2 == 0 ? 0 : Synthetic::kVideosPerCategory;
    std::vector<uint32_t> vs(Synthetic::kVideosPerCategory);
    for (uint32_t k = 0; k < vs.size(); ++k) vs[k] = base + k;
    std::shuffle(vs.begin(), vs.end(), rng);
    // Videos 0 and 20 are the popular ones: everyone in the group watched them.
    vs.resize(10);
    if (std::find(vs.begin(), vs.end(), base) == vs.end()) vs.back() = base;
    for (uint32_t v : vs) {
      data::Interaction x;
      x.user = u;
      x.video = v;
      x.timestamp = 1000 + v;
      x.type = data::EventType::kRating;
      x.rating = 4;
      s.train.push_back(x);
    }
  }
  return s;
}

TwoTowerOptions SmallOptions() {
  TwoTowerOptions o;
  o.id_dim = 16;
  o.feature_dim = 8;
  o.text_dim = 16;
  o.text_buckets = 1024;
  o.hidden = {32};
  o.output_dim = 16;
  o.batch_size = 32;
  o.max_epochs = 30;
  o.validation_fraction = 0;
  o.temperature = 0.1f;
  o.learning_rate = 5e-3f;
  o.verbose = false;
  return o;
}

double MeanScore(const std::vector<double>& scores, uint32_t begin, uint32_t end) {
  double sum = 0;
  for (uint32_t v = begin; v < end; ++v) sum += scores[v];
  return sum / (end - begin);
}

class TwoTowerSynthetic : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new Synthetic(MakeSynthetic());
    model_ = new TwoTowerScorer(SmallOptions());
    fit_ = model_->Fit(data_->ds, data_->train);
  }
  static void TearDownTestSuite() {
    delete model_;
    delete data_;
  }
  static Synthetic* data_;
  static TwoTowerScorer* model_;
  static Status fit_;
};
Synthetic* TwoTowerSynthetic::data_ = nullptr;
TwoTowerScorer* TwoTowerSynthetic::model_ = nullptr;
Status TwoTowerSynthetic::fit_;

TEST_F(TwoTowerSynthetic, LearnsThatEachGroupLikesItsCategory) {
  ASSERT_TRUE(fit_.ok()) << fit_.ToString();
  const uint32_t n = Synthetic::kVideosPerCategory;
  int correct = 0;
  std::vector<double> scores(data_->ds.videos.size());
  for (uint32_t u = 0; u < Synthetic::kUsers; ++u) {
    model_->ScoreAll(u, scores);
    const double a = MeanScore(scores, 0, n), b = MeanScore(scores, n, 2 * n);
    correct += (u % 2 == 0) == (a > b) ? 1 : 0;
  }
  EXPECT_EQ(correct, static_cast<int>(Synthetic::kUsers));
}

TEST_F(TwoTowerSynthetic, UnseenVideoIsEmbeddedFromItsContent) {
  ASSERT_TRUE(fit_.ok()) << fit_.ToString();
  auto fresh = model_->VideoEmbedding(Synthetic::kNewVideo);
  auto popular_a = model_->VideoEmbedding(0);
  auto popular_b = model_->VideoEmbedding(Synthetic::kVideosPerCategory);
  ASSERT_EQ(fresh.size(), 16u);
  double norm = 0, sim_a = 0, sim_b = 0;
  for (size_t d = 0; d < fresh.size(); ++d) {
    norm += fresh[d] * fresh[d];
    sim_a += fresh[d] * popular_a[d];
    sim_b += fresh[d] * popular_b[d];
  }
  EXPECT_NEAR(norm, 1.0, 1e-4);
  EXPECT_GT(sim_a, sim_b + 0.2) << "an alpha/A video should sit with the A videos";
  // Group A users score it above the average B video; group B users below the average B video.
  std::vector<double> scores(data_->ds.videos.size());
  model_->ScoreAll(0, scores);
  EXPECT_GT(scores[Synthetic::kNewVideo],
            MeanScore(scores, Synthetic::kVideosPerCategory, 2 * Synthetic::kVideosPerCategory));
  model_->ScoreAll(1, scores);
  EXPECT_LT(scores[Synthetic::kNewVideo],
            MeanScore(scores, Synthetic::kVideosPerCategory, 2 * Synthetic::kVideosPerCategory));
}

TEST_F(TwoTowerSynthetic, UnseenUsersGetFiniteScores) {
  ASSERT_TRUE(fit_.ok()) << fit_.ToString();
  std::vector<double> scores(data_->ds.videos.size(), -42);
  for (uint32_t user : {Synthetic::kUsers + 5, 1000000u}) {
    model_->ScoreAll(user, scores);
    for (double s : scores) EXPECT_TRUE(std::isfinite(s));
  }
  EXPECT_TRUE(model_->UserEmbedding(1000000u).empty());
}

TEST(TwoTower, UserWithoutTrainingRowsAndEarlyStoppingWork) {
  Synthetic s = MakeSynthetic();
  data::User extra;
  extra.id = UserId{999};
  ASSERT_TRUE(s.ds.AddUser(extra).ok());
  TwoTowerOptions o = SmallOptions();
  o.max_epochs = 4;
  o.patience = 2;
  o.validation_fraction = 0.2f;
  o.validation_k = 5;
  TwoTowerScorer model(o);
  ASSERT_TRUE(model.Fit(s.ds, s.train).ok());
  EXPECT_GE(model.epochs_trained(), 1);
  EXPECT_LE(model.epochs_trained(), 4);
  std::vector<double> scores(s.ds.videos.size());
  model.ScoreAll(Synthetic::kUsers, scores);  // the extra user: demographics only
  for (double x : scores) EXPECT_TRUE(std::isfinite(x));
}

TEST(TwoTower, RejectsEmptyTrainingAndBadOptions) {
  Synthetic s = MakeSynthetic();
  TwoTowerScorer model(SmallOptions());
  EXPECT_EQ(model.Fit(s.ds, {}).code(), StatusCode::kInvalidArgument);
  TwoTowerOptions bad = SmallOptions();
  bad.temperature = 0;
  EXPECT_EQ(TwoTowerScorer(bad).Fit(s.ds, s.train).code(), StatusCode::kInvalidArgument);
  std::vector<double> scores(s.ds.videos.size(), 1.0);
  model.ScoreAll(0, scores);  // before a successful Fit: zeros, no crash
  EXPECT_EQ(scores[0], 0.0);
}

}  // namespace
}  // namespace vrec::retrieval
