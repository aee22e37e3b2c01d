#include "vrec/retrieval/two_tower.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "vrec/retrieval/two_tower_testing.h"

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

// Positives per user as Fit collects them (the synthetic data has one row per user and video).
std::vector<std::vector<std::pair<uint32_t, float>>> Positives(const Synthetic& s) {
  std::vector<std::vector<std::pair<uint32_t, float>>> p(s.ds.users.size());
  for (const data::Interaction& x : s.train) p[x.user].emplace_back(x.video, data::PreferenceWeight(x));
  return p;
}

std::vector<float> EmbedUser(const TwoTowerModel& m, const UserInput& in) {
  std::vector<float> e(static_cast<size_t>(m.dimension()));
  m.EmbedUser(in, e);
  return e;
}
std::vector<float> EmbedVideo(const TwoTowerModel& m, const VideoInput& in) {
  std::vector<float> e(static_cast<size_t>(m.dimension()));
  m.EmbedVideo(in, e);
  return e;
}
double Dot(std::span<const float> a, std::span<const float> b) {
  double s = 0;
  for (size_t d = 0; d < a.size(); ++d) s += static_cast<double>(a[d]) * b[d];
  return s;
}

TEST_F(TwoTowerSynthetic, PlainCppForwardPassMatchesTorch) {
  ASSERT_TRUE(fit_.ok()) << fit_.ToString();
  const TwoTowerModel& m = model_->model();
  const size_t dim = static_cast<size_t>(m.dimension());
  ASSERT_EQ(dim, 16u);
  const std::vector<uint32_t> users = {0, 1, 6, Synthetic::kUsers - 1};
  const std::vector<uint32_t> videos = {0, 7, Synthetic::kVideosPerCategory, 33, Synthetic::kNewVideo};
  std::vector<float> torch_users, torch_videos;
  ASSERT_TRUE(
      testing::TorchEmbeddings(*model_, data_->ds, data_->train, users, videos, torch_users, torch_videos)
          .ok());
  ASSERT_EQ(torch_users.size(), users.size() * dim);
  ASSERT_EQ(torch_videos.size(), videos.size() * dim);
  const auto positives = Positives(*data_);
  for (size_t k = 0; k < users.size(); ++k) {
    const std::vector<float> e = EmbedUser(m, UserInputFrom(data_->ds, users[k], positives[users[k]]));
    for (size_t d = 0; d < dim; ++d) EXPECT_NEAR(e[d], torch_users[k * dim + d], 1e-5) << "user " << users[k];
    // The precomputed embeddings behind ScoreAll come from the same C++ forward pass.
    const auto pre = model_->UserEmbedding(users[k]);
    EXPECT_EQ(std::memcmp(pre.data(), e.data(), dim * sizeof(float)), 0);
  }
  for (size_t k = 0; k < videos.size(); ++k) {
    const std::vector<float> e =
        EmbedVideo(m, VideoInputFrom(data_->ds, videos[k], model_->video_positives()[videos[k]]));
    for (size_t d = 0; d < dim; ++d)
      EXPECT_NEAR(e[d], torch_videos[k * dim + d], 1e-5) << "video " << videos[k];
    const auto pre = model_->VideoEmbedding(videos[k]);
    EXPECT_EQ(std::memcmp(pre.data(), e.data(), dim * sizeof(float)), 0);
  }
  EXPECT_TRUE(m.KnowsVideo(VideoId{1}));
  EXPECT_FALSE(m.KnowsVideo(VideoId{Synthetic::kNewVideo + 1}));  // no interactions
  EXPECT_TRUE(m.KnowsUser(UserId{1}));
}

TEST_F(TwoTowerSynthetic, SavedModelScoresBitForBitTheSame) {
  ASSERT_TRUE(fit_.ok()) << fit_.ToString();
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("vrec_two_tower_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(model_->model().Save(dir.string(), "hash", {{"ndcg@10", 0.5}}).ok());
  StatusOr<TwoTowerModel> loaded = TwoTowerModel::Load(dir.string());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const auto positives = Positives(*data_);
  std::vector<double> scores(data_->ds.videos.size());
  for (uint32_t u : {0u, 3u, 17u}) {
    model_->ScoreAll(u, scores);
    const std::vector<float> e = EmbedUser(*loaded, UserInputFrom(data_->ds, u, positives[u]));
    for (uint32_t v = 0; v < data_->ds.videos.size(); ++v) {
      const std::vector<float> ve =
          EmbedVideo(*loaded, VideoInputFrom(data_->ds, v, model_->video_positives()[v]));
      ASSERT_EQ(std::memcmp(ve.data(), model_->VideoEmbedding(v).data(), ve.size() * sizeof(float)), 0);
      float s = 0;  // ScoreAll's float dot product
      for (size_t d = 0; d < e.size(); ++d) s += e[d] * ve[d];
      ASSERT_EQ(static_cast<double>(s), scores[v]) << "user " << u << " video " << v;
    }
  }
}

TEST_F(TwoTowerSynthetic, RequestTimeHistoryMovesTheUserTowardsWhatTheyWatched) {
  ASSERT_TRUE(fit_.ok()) << fit_.ToString();
  const TwoTowerModel& m = model_->model();
  const uint32_t n = Synthetic::kVideosPerCategory;
  std::vector<std::vector<float>> video(2 * n);
  for (uint32_t v = 0; v < 2 * n; ++v) {
    video[v] = EmbedVideo(m, VideoInputFrom(data_->ds, v, model_->video_positives()[v]));
  }
  auto mean_b_minus_a = [&](const std::vector<float>& u) {
    double a = 0, b = 0;
    for (uint32_t v = 0; v < n; ++v) a += Dot(u, video[v]) / n;
    for (uint32_t v = n; v < 2 * n; ++v) b += Dot(u, video[v]) / n;
    return b - a;
  };
  // A user of group A (even) watches three B videos after training.
  UserInput in = UserInputFrom(data_->ds, 0, Positives(*data_)[0]);
  const std::vector<float> before = EmbedUser(m, in);
  double b_before = 0;
  for (uint32_t v = n; v < 2 * n; ++v) b_before += Dot(before, video[v]);
  for (uint32_t v : {n + 1, n + 2, n + 3}) in.history.emplace_back(data_->ds.videos[v].id, 5.0f);
  const std::vector<float> after = EmbedUser(m, in);
  EXPECT_NE(before, after);
  double b_after = 0;
  for (uint32_t v = n; v < 2 * n; ++v) b_after += Dot(after, video[v]);
  EXPECT_GT(b_after, b_before) << "B videos should score higher once B videos are in the history";
  EXPECT_GT(mean_b_minus_a(after), mean_b_minus_a(before));

  // An anonymous user (no id, no demographics) is placed by their history alone.
  UserInput anon;
  for (uint32_t v : {n + 4, n + 5}) anon.history.emplace_back(data_->ds.videos[v].id, 4.0f);
  EXPECT_GT(mean_b_minus_a(EmbedUser(m, anon)), 0.0);
}

TEST_F(TwoTowerSynthetic, NewVideoIsEmbeddedFromItsContentThroughTheModel) {
  ASSERT_TRUE(fit_.ok()) << fit_.ToString();
  const TwoTowerModel& m = model_->model();
  const uint32_t n = Synthetic::kVideosPerCategory;
  // An upload after training: unseen id, no positives, title and category like the popular A video.
  VideoInput fresh;
  fresh.id = VideoId{987654};
  fresh.categories = {"A"};
  fresh.title = "alpha space saga 99";
  ASSERT_FALSE(m.KnowsVideo(*fresh.id));
  const std::vector<float> e = EmbedVideo(m, fresh);
  EXPECT_NEAR(Dot(e, e), 1.0, 1e-5);
  // It sits with the popular A video it resembles and with A videos in general, not with B.
  const double to_popular = Dot(e, model_->VideoEmbedding(0));
  double same = 0, other = 0;
  for (uint32_t v = 0; v < n; ++v) same += Dot(e, model_->VideoEmbedding(v)) / n;
  for (uint32_t v = n; v < 2 * n; ++v) other += Dot(e, model_->VideoEmbedding(v)) / n;
  EXPECT_GT(to_popular, 0.4);
  EXPECT_GT(to_popular, other + 0.5);
  EXPECT_GT(same, other + 0.3);
  // Most of its 10 nearest trained videos are A videos.
  std::vector<std::pair<double, uint32_t>> by_sim;
  for (uint32_t v = 0; v < 2 * n; ++v) by_sim.emplace_back(Dot(e, model_->VideoEmbedding(v)), v);
  std::sort(by_sim.rbegin(), by_sim.rend());
  int a_neighbours = 0;
  for (size_t k = 0; k < 10; ++k) a_neighbours += by_sim[k].second < n ? 1 : 0;
  EXPECT_GE(a_neighbours, 7);
  // Same content as the dataset's never-watched video 40, which Fit embedded: nearly the same point.
  EXPECT_GT(Dot(e, model_->VideoEmbedding(Synthetic::kNewVideo)), 0.95);
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

TEST(TwoTower, LargeDataTrainsWithinItsExampleBudgetAndSkipsTheRetrain) {
  Synthetic s = MakeSynthetic();
  const int64_t positives = int64_t{Synthetic::kUsers} * 10;  // every user has 10 positives
  TwoTowerOptions o = SmallOptions();
  o.max_epochs = 10;
  o.validation_fraction = 0;
  o.example_budget = 3 * positives + positives / 2;  // 3.5 passes: 3 epochs
  TwoTowerScorer budgeted(o);
  ASSERT_TRUE(budgeted.Fit(s.ds, s.train).ok());
  EXPECT_EQ(budgeted.epochs_trained(), 3);
  o.example_budget = positives / 2;  // less than one pass: still one epoch
  TwoTowerScorer tiny(o);
  ASSERT_TRUE(tiny.Fit(s.ds, s.train).ok());
  EXPECT_EQ(tiny.epochs_trained(), 1);
  // Early stopping without the retrain on the validation share: the early-stopped model is kept,
  // and it scores users by their full histories like the retrained one.
  o.example_budget = 0;
  o.max_epochs = 3;
  o.patience = 3;
  o.validation_fraction = 0.2f;
  o.retrain_max_positives = positives - 1;
  TwoTowerScorer kept(o);
  ASSERT_TRUE(kept.Fit(s.ds, s.train).ok());
  EXPECT_GE(kept.epochs_trained(), 1);
  EXPECT_LE(kept.epochs_trained(), 3);
  const uint32_t n = Synthetic::kVideosPerCategory;
  int correct = 0;
  std::vector<double> scores(s.ds.videos.size());
  for (uint32_t u = 0; u < Synthetic::kUsers; ++u) {
    kept.ScoreAll(u, scores);
    correct += (u % 2 == 0) == (MeanScore(scores, 0, n) > MeanScore(scores, n, 2 * n)) ? 1 : 0;
  }
  EXPECT_GE(correct, static_cast<int>(Synthetic::kUsers) * 9 / 10);
}

// Two-stage fits its label folds and its final refit side by side: a fit beside others (drawing
// initial weights from Torch's global generator at the same time) gives the model it gives alone.
TEST(TwoTower, FitsRunningSideBySideGiveTheModelsTheyGiveAlone) {
  Synthetic s = MakeSynthetic();
  TwoTowerOptions o = SmallOptions();
  o.max_epochs = 2;
  o.threads = 1;
  auto embeddings = [&](const TwoTowerScorer& m) {
    std::vector<float> out;
    for (uint32_t v = 0; v < s.ds.videos.size(); ++v) {
      const std::span<const float> e = m.VideoEmbedding(v);
      out.insert(out.end(), e.begin(), e.end());
    }
    return out;
  };
  TwoTowerScorer alone(o);
  ASSERT_TRUE(alone.Fit(s.ds, s.train).ok());
  std::vector<std::unique_ptr<TwoTowerScorer>> models;
  for (int i = 0; i < 4; ++i) {
    TwoTowerOptions oi = o;
    oi.seed = o.seed + static_cast<uint64_t>(i % 2);  // two with the seed of `alone`, two with another
    models.push_back(std::make_unique<TwoTowerScorer>(oi));
  }
  std::vector<Status> status(models.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < models.size(); ++i) {
    threads.emplace_back([&, i] { status[i] = models[i]->Fit(s.ds, s.train); });
  }
  for (std::thread& t : threads) t.join();
  for (const Status& st : status) ASSERT_TRUE(st.ok()) << st.message();
  const std::vector<float> expected = embeddings(alone);
  EXPECT_EQ(embeddings(*models[0]), expected);
  EXPECT_EQ(embeddings(*models[2]), expected);
  EXPECT_NE(embeddings(*models[1]), expected);
}

TEST(LazyAdam, MatchesAdamOnRowsEveryStepTouchesAndLeavesOtherRowsAlone) {
  // Rows 0-2 are looked up at every step (row 1 twice: its gradients add up), row 3 only at the
  // first step, row 4 never.
  const std::vector<std::vector<int64_t>> steps = {{0, 1, 2, 3, 1}, {2, 1, 0, 1}, {1, 0, 2, 1}};
  std::vector<float> lazy, dense;
  ASSERT_TRUE(testing::LazyAdamAndAdam(5, 3, steps, 0.1f, lazy, dense).ok());
  std::vector<float> first_lazy, first_dense;
  ASSERT_TRUE(testing::LazyAdamAndAdam(5, 3, {steps[0]}, 0.1f, first_lazy, first_dense).ok());
  for (int d = 0; d < 3; ++d) {
    for (int r = 0; r < 3; ++r) EXPECT_NEAR(lazy[r * 3 + d], dense[r * 3 + d], 1e-5) << r << "," << d;
    // Row 3: Adam keeps moving it with the momentum of step 1; LazyAdam stops where step 1 left it.
    EXPECT_FLOAT_EQ(lazy[3 * 3 + d], first_lazy[3 * 3 + d]);
    EXPECT_GT(std::abs(dense[3 * 3 + d] - first_dense[3 * 3 + d]), 1e-3);
    // Row 4 never had a gradient: both leave it at its start.
    EXPECT_FLOAT_EQ(lazy[4 * 3 + d], dense[4 * 3 + d]);
  }
}

// Users whose mean score over their group's videos beats the other group's.
int UsersPreferringTheirGroup(const TwoTowerScorer& model, const Synthetic& s) {
  const uint32_t n = Synthetic::kVideosPerCategory;
  int correct = 0;
  std::vector<double> scores(s.ds.videos.size());
  for (uint32_t u = 0; u < Synthetic::kUsers; ++u) {
    model.ScoreAll(u, scores);
    correct += (u % 2 == 0) == (MeanScore(scores, 0, n) > MeanScore(scores, n, 2 * n)) ? 1 : 0;
  }
  return correct;
}

TEST(TwoTower, SparseIdTablesLearnTheGroupsToo) {
  Synthetic s = MakeSynthetic();
  TwoTowerOptions o = SmallOptions();
  o.sparse_table_rows = 1;  // every id table sparse, trained by LazyAdam
  TwoTowerScorer model(o);
  ASSERT_TRUE(model.Fit(s.ds, s.train).ok());
  EXPECT_EQ(UsersPreferringTheirGroup(model, s), static_cast<int>(Synthetic::kUsers));
}

TEST(TwoTower, HistorySampleAsLongAsEveryHistoryTrainsTheSameModel) {
  // Every user has 10 positives: a sample of 10 is the whole history, drawn through the sampling
  // path, and must give the model of the whole-history path bit for bit.
  Synthetic s = MakeSynthetic();
  TwoTowerOptions o = SmallOptions();
  o.max_epochs = 2;
  TwoTowerScorer whole(o);
  ASSERT_TRUE(whole.Fit(s.ds, s.train).ok());
  o.history_sample = 10;
  TwoTowerScorer sampled(o);
  ASSERT_TRUE(sampled.Fit(s.ds, s.train).ok());
  for (uint32_t u = 0; u < Synthetic::kUsers; ++u) {
    const std::span<const float> a = whole.UserEmbedding(u), b = sampled.UserEmbedding(u);
    ASSERT_EQ(std::vector<float>(a.begin(), a.end()), std::vector<float>(b.begin(), b.end())) << u;
  }
}

TEST(TwoTower, HistorySampleSmallerThanTheHistoriesStillLearnsTheGroupsFromThem) {
  // Users differ by their history alone: the same demographics, and every id replaced by UNK in
  // training. A step pools 3 of each user's 10 videos; scoring pools all 10.
  Synthetic s = MakeSynthetic();
  for (data::User& u : s.ds.users) {
    u.age = 30;
    u.gender = data::Gender::kFemale;
  }
  TwoTowerOptions o = SmallOptions();
  o.id_dropout = 1.0f;
  o.history_sample = 3;
  TwoTowerScorer model(o);
  ASSERT_TRUE(model.Fit(s.ds, s.train).ok());
  EXPECT_EQ(UsersPreferringTheirGroup(model, s), static_cast<int>(Synthetic::kUsers));
}

TEST(TwoTower, ValidationSamplesUsersBeyondItsScoreBudget) {
  Synthetic s = MakeSynthetic();
  TwoTowerOptions o = SmallOptions();
  o.max_epochs = 2;
  o.validation_fraction = 0.2f;
  TwoTowerScorer all(o);
  ASSERT_TRUE(all.Fit(s.ds, s.train).ok());
  EXPECT_EQ(all.validation_users(), Synthetic::kUsers);  // every user has 10 positives, 2 held out
  EXPECT_EQ(all.validation_users_total(), Synthetic::kUsers);
  // 41 videos: a budget of 41 * 10 scores measures 10 users.
  o.validation_max_scores = 41 * 10;
  TwoTowerScorer sampled(o);
  ASSERT_TRUE(sampled.Fit(s.ds, s.train).ok());
  EXPECT_EQ(sampled.validation_users(), 10);
  EXPECT_EQ(sampled.validation_users_total(), Synthetic::kUsers);
  EXPECT_GT(sampled.best_validation_recall(), 0.0);
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
