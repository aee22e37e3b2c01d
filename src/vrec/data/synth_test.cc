#include "vrec/data/synth.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "vrec/common/csv.h"
#include "vrec/common/hash.h"

namespace vrec::data {
namespace {

SynthConfig SmallConfig() {
  SynthConfig c;
  c.num_users = 2'000;
  c.num_videos = 5'000;
  c.num_interactions = 50'000;
  c.threads = 2;
  c.quiet = true;
  return c;
}

// Floats compared bit for bit, so NaN == NaN and any drift in the generator shows.
bool SameBits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

void ExpectSameDataset(const Dataset& a, const Dataset& b) {
  ASSERT_EQ(a.categories, b.categories);
  ASSERT_EQ(a.users.size(), b.users.size());
  for (size_t i = 0; i < a.users.size(); ++i) {
    const User &x = a.users[i], &y = b.users[i];
    ASSERT_TRUE(x.id == y.id && x.country == y.country && x.language == y.language && x.age == y.age &&
                x.gender == y.gender)
        << "user " << i;
  }
  ASSERT_EQ(a.videos.size(), b.videos.size());
  for (size_t i = 0; i < a.videos.size(); ++i) {
    const Video &x = a.videos[i], &y = b.videos[i];
    ASSERT_TRUE(x.id == y.id && x.categories == y.categories && x.language == y.language &&
                SameBits(x.duration_s, y.duration_s) && x.upload_time == y.upload_time &&
                x.title == y.title && x.tags == y.tags && x.age_restricted == y.age_restricted &&
                x.available == y.available)
        << "video " << i;
  }
  ASSERT_EQ(a.interactions.size(), b.interactions.size());
  for (size_t i = 0; i < a.interactions.size(); ++i) {
    const Interaction &x = a.interactions[i], &y = b.interactions[i];
    ASSERT_TRUE(x.user == y.user && x.video == y.video && x.timestamp == y.timestamp && x.type == y.type &&
                x.device == y.device && SameBits(x.watch_time_s, y.watch_time_s) &&
                SameBits(x.watch_ratio, y.watch_ratio) && SameBits(x.rating, y.rating))
        << "interaction " << i;
  }
}

TEST(Synth, IsDeterministicForASeed) {
  auto a = GenerateSynthetic(SmallConfig());
  auto b = GenerateSynthetic(SmallConfig());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ExpectSameDataset(*a, *b);
}

TEST(Synth, DoesNotDependOnTheThreadCount) {
  SynthConfig one = SmallConfig();
  one.threads = 1;
  SynthConfig three = SmallConfig();
  three.threads = 3;  // an odd count splits users, rows and the sort differently from 2
  auto a = GenerateSynthetic(one);
  auto b = GenerateSynthetic(SmallConfig());
  auto c = GenerateSynthetic(three);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  ExpectSameDataset(*a, *b);
  ExpectSameDataset(*a, *c);
}

// Every field of every user, video and row, in order: a fingerprint of the generator's output.
std::string DatasetFingerprint(const Dataset& ds) {
  Hasher h;
  for (const std::string& c : ds.categories) h.Update(c), h.UpdatePod('\0');
  for (const User& u : ds.users) {
    h.UpdatePod(u.id.value);
    h.Update(u.country), h.Update(u.language);
    h.UpdatePod(u.age), h.UpdatePod(u.gender);
  }
  for (const Video& v : ds.videos) {
    h.UpdatePod(v.id.value);
    for (uint16_t c : v.categories) h.UpdatePod(c);
    h.Update(v.language), h.UpdatePod(v.duration_s), h.UpdatePod(v.upload_time);
    h.Update(v.title), h.UpdatePod('\0');
    for (const std::string& t : v.tags) h.Update(t), h.UpdatePod('\0');
    h.UpdatePod(v.age_restricted), h.UpdatePod(v.available);
  }
  for (const Interaction& x : ds.interactions) {
    h.UpdatePod(x.user), h.UpdatePod(x.video), h.UpdatePod(x.timestamp), h.UpdatePod(x.type);
    h.UpdatePod(x.device), h.UpdatePod(x.watch_time_s), h.UpdatePod(x.watch_ratio), h.UpdatePod(x.rating);
  }
  return h.Hex();
}

// The output of a fixed config, pinned: refactors of the generator (such as sharing its response
// model with SyntheticWorld) must not change a single bit of the data. The value was computed with
// the generator as of commit 2103575 (glibc, x86-64). A failure with synth.cc untouched means the
// math library rounds exp/log/cos differently, not a generator bug.
TEST(Synth, OutputIsPinnedForAFixedConfig) {
  SynthConfig c = SmallConfig();
  c.num_users = 500;
  c.num_videos = 1'000;
  c.num_interactions = 20'000;
  auto ds = GenerateSynthetic(c);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  EXPECT_EQ(DatasetFingerprint(*ds), "80a7e9bfa1c359f6");
}

TEST(Synth, DifferentSeedsGiveDifferentData) {
  SynthConfig other = SmallConfig();
  other.seed = 7;
  auto a = GenerateSynthetic(SmallConfig());
  auto b = GenerateSynthetic(other);
  ASSERT_TRUE(a.ok() && b.ok());
  int same_titles = 0;
  for (size_t i = 0; i < a->videos.size(); ++i) same_titles += a->videos[i].title == b->videos[i].title;
  EXPECT_LT(same_titles, 50);
  size_t same_rows = 0;
  for (size_t i = 0; i < a->interactions.size(); ++i) {
    same_rows += a->interactions[i].user == b->interactions[i].user &&
                 a->interactions[i].video == b->interactions[i].video;
  }
  EXPECT_LT(same_rows, a->interactions.size() / 100);
}

// ---------------------------------------------------------------------------------------------
// Calibration against KuaiRand-Pure.

std::string KuaiRandDir() {
  const char* shared = std::getenv("VREC_SHARED_DIR");
  if (shared == nullptr || *shared == '\0') return "";
  std::string dir = std::string(shared) + "/data/kuairand-pure-features";
  if (!std::filesystem::exists(dir + "/video_features_basic_pure.csv")) return "";
  return dir;
}

struct KuaiRandStats {
  std::vector<double> durations_s;  // sorted
  std::map<size_t, double> tag_count_share;
};

KuaiRandStats ReadKuaiRand(const std::string& dir) {
  KuaiRandStats s;
  auto reader = DelimitedReader::Open(dir + "/video_features_basic_pure.csv", ',', true);
  EXPECT_TRUE(reader.ok());
  if (!reader.ok()) return s;
  std::vector<std::string_view> f;
  EXPECT_TRUE(reader->Next(f));  // header: ..., video_duration (6), ..., tag (11)
  double rows = 0;
  while (reader->Next(f)) {
    double ms;
    if (ParseDouble(f[6], ms) && ms > 0) s.durations_s.push_back(ms / 1000);
    size_t tags = f[11].empty() ? 0 : static_cast<size_t>(std::count(f[11].begin(), f[11].end(), ',')) + 1;
    s.tag_count_share[tags] += 1;
    rows += 1;
  }
  for (auto& [n, share] : s.tag_count_share) share /= rows;
  std::sort(s.durations_s.begin(), s.durations_s.end());
  return s;
}

double Quantile(const std::vector<double>& sorted, double p) {
  double pos = p * static_cast<double>(sorted.size() - 1);
  auto i = static_cast<size_t>(pos);
  if (i + 1 >= sorted.size()) return sorted.back();
  return sorted[i] + (sorted[i + 1] - sorted[i]) * (pos - static_cast<double>(i));
}

// Generates 50k videos (and a token log) and checks their durations and tag counts against the
// real file.
void ExpectMatchesKuaiRand(const std::string& calibration_dir, const KuaiRandStats& real) {
  SynthConfig c;
  c.num_users = 10;
  c.num_videos = 50'000;
  c.num_interactions = 10;
  c.calibration_dir = calibration_dir;
  c.quiet = true;
  auto ds = GenerateSynthetic(c);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  std::vector<double> generated;
  std::map<size_t, double> tag_share;
  for (const Video& v : ds->videos) {
    generated.push_back(v.duration_s);
    tag_share[v.tags.size()] += 1.0 / static_cast<double>(ds->videos.size());
  }
  std::sort(generated.begin(), generated.end());
  // The generated quartiles estimate the real ones with a sampling error of ~1% at n = 50k (the
  // standard error of a quantile is sqrt(p(1-p)/n)/f(q)); the built-in table adds interpolation
  // between percentiles, well under 1% at the quartiles. 5% relative fails on any real drift
  // (wrong unit, wrong column, a shifted table) without flaking.
  for (double p : {0.25, 0.5, 0.75}) {
    const double want = Quantile(real.durations_s, p), got = Quantile(generated, p);
    EXPECT_NEAR(got, want, 0.05 * want) << "duration quantile " << p;
  }
  EXPECT_GE(generated.front(), real.durations_s.front());
  EXPECT_LE(generated.back(), real.durations_s.back());
  // Tag counts: shares within 2 points (binomial sd at n = 50k is ~0.2 points).
  for (const auto& [n, share] : real.tag_count_share) {
    EXPECT_NEAR(tag_share[n], share, 0.02) << "share of videos with " << n << " tags";
  }
}

TEST(Synth, DurationsAndTagCountsFollowTheKuaiRandCalibrationFile) {
  const std::string dir = KuaiRandDir();
  if (dir.empty()) {
    GTEST_SKIP() << "set VREC_SHARED_DIR to the folder holding data/kuairand-pure-features/"
                    "video_features_basic_pure.csv";
  }
  ExpectMatchesKuaiRand(dir, ReadKuaiRand(dir));
}

TEST(Synth, BuiltInTablesMatchKuaiRand) {
  const std::string dir = KuaiRandDir();
  if (dir.empty()) {
    GTEST_SKIP() << "set VREC_SHARED_DIR to the folder holding data/kuairand-pure-features/"
                    "video_features_basic_pure.csv";
  }
  ExpectMatchesKuaiRand("", ReadKuaiRand(dir));
}

TEST(Synth, MissingCalibrationFileIsNotFound) {
  SynthConfig c = SmallConfig();
  c.calibration_dir = "/nonexistent/vrec";
  auto ds = GenerateSynthetic(c);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------------------------
// Structure and signal.

class SynthStructure : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    SynthConfig c = SmallConfig();
    c.num_interactions = 100'000;
    config_ = new SynthConfig(c);
    auto ds = GenerateSynthetic(c);
    ASSERT_TRUE(ds.ok()) << ds.status().ToString();
    ds_ = new Dataset(std::move(ds).value());
  }
  static void TearDownTestSuite() {
    delete ds_;
    delete config_;
  }
  static SynthConfig* config_;
  static Dataset* ds_;
};
SynthConfig* SynthStructure::config_ = nullptr;
Dataset* SynthStructure::ds_ = nullptr;

TEST_F(SynthStructure, HasTheRequestedSizesAndDenseIds) {
  ASSERT_TRUE(ds_->Validate().ok());
  EXPECT_EQ(ds_->users.size(), 2'000u);
  EXPECT_EQ(ds_->videos.size(), 5'000u);
  EXPECT_EQ(ds_->interactions.size(), 100'000u);
  EXPECT_EQ(ds_->categories.size(), 20u);
  for (size_t i = 0; i < ds_->users.size(); ++i) EXPECT_EQ(ds_->users[i].id.value, i + 1);
  for (size_t i = 0; i < ds_->videos.size(); ++i) EXPECT_EQ(ds_->videos[i].id.value, i + 1);
  EXPECT_EQ(ds_->FindVideo(VideoId{5'000}), 4'999u);
}

TEST_F(SynthStructure, AttributesAreInRange) {
  int unknown_age = 0;
  for (const User& u : ds_->users) {
    EXPECT_EQ(u.country.size(), 2u);
    EXPECT_EQ(u.language.size(), 2u);
    EXPECT_TRUE(u.age == -1 || (u.age >= 13 && u.age <= 75)) << u.age;
    unknown_age += u.age == -1;
  }
  EXPECT_NEAR(unknown_age / 2000.0, 0.10, 0.03);
  int second = 0, restricted = 0;
  for (const Video& v : ds_->videos) {
    ASSERT_FALSE(v.categories.empty());
    second += v.categories.size() == 2;
    restricted += v.age_restricted;
    EXPECT_GE(v.duration_s, 5.0f);
    EXPECT_LE(v.upload_time, config_->end_time);
    EXPECT_LE(v.tags.size(), 3u);
    const auto words = std::count(v.title.begin(), v.title.end(), ' ') + 1;
    EXPECT_TRUE(words >= 3 && words <= 8) << v.title;
  }
  EXPECT_NEAR(second / 5000.0, 0.25, 0.03);
  EXPECT_NEAR(restricted / 5000.0, 0.03, 0.015);
}

TEST_F(SynthStructure, RowsAreSortedWithinThePeriodAndAfterUpload) {
  const int64_t start = config_->end_time - int64_t{config_->days} * 86400;
  std::map<EventType, int> types;
  for (size_t i = 0; i < ds_->interactions.size(); ++i) {
    const Interaction& x = ds_->interactions[i];
    ASSERT_GE(x.timestamp, start);
    ASSERT_LE(x.timestamp, config_->end_time);
    ASSERT_GE(x.timestamp, ds_->videos[x.video].upload_time) << "row " << i;
    if (i > 0) {
      const Interaction& p = ds_->interactions[i - 1];
      ASSERT_TRUE(p.timestamp < x.timestamp || (p.timestamp == x.timestamp && p.user <= x.user))
          << "row " << i;
    }
    ++types[x.type];
    if (x.type == EventType::kPlay || x.type == EventType::kSkip) {
      ASSERT_TRUE(x.watch_ratio >= 0 && x.watch_ratio <= 3.0f) << x.watch_ratio;
      ASSERT_NEAR(x.watch_time_s, x.watch_ratio * ds_->videos[x.video].duration_s,
                  1e-3f * x.watch_time_s + 1e-3f);
    } else {
      ASSERT_TRUE(IsMissing(x.watch_ratio));
    }
    ASSERT_NE(x.device, Device::kUnknown);
  }
  EXPECT_GT(types[EventType::kPlay], 50'000);
  EXPECT_GT(types[EventType::kSkip], 1'000);
  EXPECT_GT(types[EventType::kLike], 1'000);
  EXPECT_GT(types[EventType::kComment], 100);
  EXPECT_GT(types[EventType::kShare], 100);
  EXPECT_EQ(types[EventType::kRating], 0);
  // Rows spread over the period rather than piling up at its end.
  int64_t first_half = 0;
  for (const Interaction& x : ds_->interactions) {
    first_half += x.timestamp < start + int64_t{config_->days} * 43200;
  }
  EXPECT_GT(first_half, 25'000);
}

TEST_F(SynthStructure, PopularityIsSkewed) {
  std::vector<int> plays(ds_->videos.size(), 0);
  int total = 0;
  for (const Interaction& x : ds_->interactions) {
    if (x.type == EventType::kPlay) ++plays[x.video], ++total;
  }
  std::sort(plays.rbegin(), plays.rend());
  int top = 0;
  for (size_t i = 0; i < plays.size() / 100; ++i) top += plays[i];
  // Uniform popularity would give the top 1% about 1-2% of the plays (sampling noise); Zipf with
  // exponent 0.95 over ~300 videos per category gives them about a fifth.
  EXPECT_GT(static_cast<double>(top) / total, 0.10);
}

TEST_F(SynthStructure, UsersConcentrateOnTheirTopCategories) {
  // Per user: plays per primary category, and watch ratios inside / outside the top category.
  std::vector<std::vector<int>> plays(ds_->users.size(), std::vector<int>(ds_->categories.size(), 0));
  for (const Interaction& x : ds_->interactions) {
    if (x.type == EventType::kPlay) ++plays[x.user][ds_->videos[x.video].categories[0]];
  }
  double share_sum = 0;
  int users = 0;
  std::vector<int> top_category(ds_->users.size(), -1);
  for (size_t u = 0; u < plays.size(); ++u) {
    std::vector<int> counts = plays[u];
    int total = 0;
    for (int n : counts) total += n;
    if (total < 20) continue;
    top_category[u] = static_cast<int>(std::max_element(counts.begin(), counts.end()) - counts.begin());
    std::sort(counts.rbegin(), counts.rend());
    share_sum += static_cast<double>(counts[0] + counts[1] + counts[2]) / total;
    ++users;
  }
  ASSERT_GT(users, 300);
  // Chance (plays spread like global category popularity) would put ~35% in the 3 largest
  // categories, and 3/20 for uniform categories.
  EXPECT_GT(share_sum / users, 0.6);

  // A ranker can learn from watch ratios: they are higher in the user's favourite category.
  double in_sum = 0, out_sum = 0;
  int in_n = 0, out_n = 0;
  for (const Interaction& x : ds_->interactions) {
    if (x.type != EventType::kPlay || top_category[x.user] < 0) continue;
    if (ds_->videos[x.video].categories[0] == top_category[x.user]) {
      in_sum += x.watch_ratio, ++in_n;
    } else {
      out_sum += x.watch_ratio, ++out_n;
    }
  }
  ASSERT_GT(in_n, 0);
  ASSERT_GT(out_n, 0);
  EXPECT_GT(in_sum / in_n, 1.1 * (out_sum / out_n));
}

// ---------------------------------------------------------------------------------------------

TEST(Synth, RejectsBadConfig) {
  auto expect_invalid = [](SynthConfig c, const char* what) {
    auto ds = GenerateSynthetic(c);
    ASSERT_FALSE(ds.ok()) << what;
    EXPECT_EQ(ds.status().code(), StatusCode::kInvalidArgument) << what;
  };
  SynthConfig c = SmallConfig();
  c.num_users = 0;
  expect_invalid(c, "no users");
  c = SmallConfig();
  c.num_videos = -5;
  expect_invalid(c, "negative videos");
  c = SmallConfig();
  c.num_interactions = 0;
  expect_invalid(c, "no interactions");
  c = SmallConfig();
  c.threads = 0;
  expect_invalid(c, "no threads");
  c = SmallConfig();
  c.days = 0;
  expect_invalid(c, "empty period");
}

TEST(Synth, HandlesTinyCatalogues) {
  // Fewer videos than categories: empty categories must not be drawn.
  SynthConfig c = SmallConfig();
  c.num_users = 3;
  c.num_videos = 4;
  c.num_interactions = 200;
  auto ds = GenerateSynthetic(c);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  EXPECT_EQ(ds->interactions.size(), 200u);
  EXPECT_TRUE(ds->Validate().ok());
}

// ---------------------------------------------------------------------------------------------
// SyntheticWorld: the log's truth as a response simulator.

// The SynthStructure dataset and the world rebuilt from its config.
class SyntheticWorldTest : public SynthStructure {
 protected:
  static void SetUpTestSuite() {
    SynthStructure::SetUpTestSuite();
    auto world = SyntheticWorld::Build(*config_);
    ASSERT_TRUE(world.ok()) << world.status().ToString();
    world_ = new SyntheticWorld(std::move(world).value());
  }
  static void TearDownTestSuite() {
    delete world_;
    SynthStructure::TearDownTestSuite();
  }
  static bool IsShownRow(const Interaction& x) {
    return x.type == EventType::kImpression || x.type == EventType::kPlay || x.type == EventType::kSkip;
  }
  // The user's taste categories, heaviest first.
  static std::vector<uint16_t> TasteCategories(uint32_t user) {
    auto taste = world_->Taste(user);
    std::sort(taste.begin(), taste.end(), [](auto& a, auto& b) { return a.weight > b.weight; });
    std::vector<uint16_t> categories;
    for (const auto& t : taste) categories.push_back(t.category);
    return categories;
  }
  static SyntheticWorld* world_;
};
SyntheticWorld* SyntheticWorldTest::world_ = nullptr;

TEST_F(SyntheticWorldTest, HasTheDatasetsSizes) {
  EXPECT_EQ(world_->num_users(), ds_->users.size());
  EXPECT_EQ(world_->num_videos(), ds_->videos.size());
}

// The log's impressions are samples of the same model: if Build drew other latents (another
// stream, another index), plays would not follow PlayProbability, bucket by bucket.
TEST_F(SyntheticWorldTest, TheLogsPlaysFollowPlayProbability) {
  // Buckets of PlayProbability: [0, 0.5), [0.5, 0.8), [0.8, 1].
  double p_sum[3] = {}, p_var[3] = {}, plays[3] = {}, n[3] = {};
  double ratio_sum = 0, expected_ratio_sum = 0, rows = 0;
  int restricted_to_minors = 0;
  for (const Interaction& x : ds_->interactions) {
    // Taken-down videos answer 0 now; the log holds their plays from before the removal.
    if (!IsShownRow(x) || !ds_->videos[x.video].available) continue;
    const double p = world_->PlayProbability(x.user, x.video);
    if (p == 0) {  // an age-restricted video kept for a minor after 32 rejected draws
      ++restricted_to_minors;
      continue;
    }
    const int b = p < 0.5 ? 0 : p < 0.8 ? 1 : 2;
    p_sum[b] += p, p_var[b] += p * (1 - p), n[b] += 1;
    plays[b] += x.type == EventType::kPlay;
    ratio_sum += x.type == EventType::kImpression ? 0.0 : x.watch_ratio;
    expected_ratio_sum += world_->ExpectedWatchRatio(x.user, x.video);
    rows += 1;
  }
  EXPECT_EQ(restricted_to_minors, 0);
  double all_p = 0, all_plays = 0, all_var = 0;
  for (int b = 0; b < 3; ++b) {
    ASSERT_GT(n[b], 2'000) << "bucket " << b;
    // Plays in a bucket are a sum of independent Bernoullis: 4 standard errors.
    const double se = std::sqrt(p_var[b]) / n[b];
    std::printf("bucket=%d rows=%.0f log_play_rate=%.4f mean_play_probability=%.4f\n", b, n[b],
                plays[b] / n[b], p_sum[b] / n[b]);
    EXPECT_NEAR(plays[b] / n[b], p_sum[b] / n[b], 4 * se) << "bucket " << b;
    all_p += p_sum[b], all_plays += plays[b], all_var += p_var[b];
  }
  std::printf("rows=%.0f log_play_rate=%.4f mean_play_probability=%.4f\n", rows, all_plays / rows,
              all_p / rows);
  EXPECT_NEAR(all_plays / rows, all_p / rows, 4 * std::sqrt(all_var) / rows);
  // Watch ratios: a per-row sd of ~0.5 gives a standard error of ~0.002 over ~95k rows.
  std::printf("log_mean_watch_ratio=%.4f mean_expected_watch_ratio=%.4f\n", ratio_sum / rows,
              expected_ratio_sum / rows);
  EXPECT_NEAR(ratio_sum / rows, expected_ratio_sum / rows, 0.01);
}

// Respond replayed on the log's impressions gives the log's totals, likes included.
TEST_F(SyntheticWorldTest, RespondOnTheLogsImpressionsReproducesItsTotals) {
  double log_plays = 0, log_likes = 0, sim_plays = 0, sim_likes = 0, sim_comments = 0, log_comments = 0;
  uint64_t state = 12345;
  for (const Interaction& x : ds_->interactions) {
    if (!ds_->videos[x.video].available) continue;
    log_plays += x.type == EventType::kPlay;
    log_likes += x.type == EventType::kLike;
    log_comments += x.type == EventType::kComment;
    if (!IsShownRow(x)) continue;
    const SyntheticWorld::Response r = world_->Respond(x.user, x.video, state);
    sim_plays += r.played, sim_likes += r.liked, sim_comments += r.commented;
  }
  std::printf(
      "log_plays=%.0f sim_plays=%.0f log_likes=%.0f sim_likes=%.0f log_comments=%.0f sim_comments=%.0f\n",
      log_plays, sim_plays, log_likes, sim_likes, log_comments, sim_comments);
  EXPECT_NEAR(sim_plays / log_plays, 1.0, 0.02);
  // Likes: a few thousand, sd ~2%; the log also loses the odd like where a user's row budget ends.
  EXPECT_NEAR(sim_likes / log_likes, 1.0, 0.1);
  EXPECT_NEAR(sim_comments / log_comments, 1.0, 0.25);
}

TEST_F(SyntheticWorldTest, RespondSamplesItsExpectations) {
  // For a few users, a video of their favourite category (a play is near certain) and an
  // off-taste one (about even).
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
  for (uint32_t user = 0; user < 4; ++user) {
    const std::vector<uint16_t> taste = TasteCategories(user);
    // And the shortest favourite: rewatched past a ratio of 1.5, where the like chance stops growing.
    std::optional<uint32_t> favourite, off, shortest;
    for (uint32_t v = 0; v < ds_->videos.size(); ++v) {
      const Video& video = ds_->videos[v];
      if (world_->PlayProbability(user, v) == 0 || video.categories.size() != 1) continue;
      const auto it = std::find(taste.begin(), taste.end(), video.categories[0]);
      if (it == taste.begin() && !favourite) favourite = v;
      if (it == taste.end() && !off) off = v;
      if (it == taste.begin() && (!shortest || video.duration_s < ds_->videos[*shortest].duration_s)) {
        shortest = v;
      }
    }
    ASSERT_TRUE(favourite && off && shortest);
    pairs.emplace_back(user, *favourite);
    pairs.emplace_back(user, *off);
    pairs.emplace_back(user, *shortest);
  }
  // A video the platform would not show: skipped, never completed nor liked.
  for (uint32_t v = 0; v < ds_->videos.size(); ++v) {
    if (!ds_->videos[v].available) {
      EXPECT_EQ(world_->SkipProbability(0, v), 1.0);
      EXPECT_EQ(world_->CompletionProbability(0, v), 0.0);
      EXPECT_EQ(world_->LikeProbability(0, v), 0.0);
      break;
    }
  }
  constexpr int kDraws = 200'000;  // likes (p ~ 0.02-0.1) to ~2% of their value
  for (const auto& [user, video] : pairs) {
    uint64_t state = user * 1'000'003ULL + video;
    double plays = 0, ratio = 0, skips = 0, completions = 0, likes = 0;
    for (int i = 0; i < kDraws; ++i) {
      const SyntheticWorld::Response r = world_->Respond(user, video, state);
      ASSERT_TRUE(r.shown);
      ASSERT_FALSE(r.played && r.skipped);
      ASSERT_EQ(r.completed, r.played && r.watch_ratio >= 1.0f);
      ASSERT_TRUE(r.played || !(r.liked || r.commented || r.shared));
      ASSERT_NEAR(r.watch_time_s, r.watch_ratio * ds_->videos[video].duration_s,
                  1e-3f * r.watch_time_s + 1e-4f);
      plays += r.played, ratio += r.watch_ratio;
      skips += r.skipped, completions += r.completed, likes += r.liked;
    }
    const auto expect_share = [&](double count, double p, const char* what) {
      EXPECT_NEAR(count / kDraws, p, 4 * std::sqrt(p * (1 - p) / kDraws) + 1e-9)
          << what << " " << user << " " << video;
    };
    expect_share(plays, world_->PlayProbability(user, video), "play");
    expect_share(skips, world_->SkipProbability(user, video), "skip");
    expect_share(completions, world_->CompletionProbability(user, video), "completion");
    expect_share(likes, world_->LikeProbability(user, video), "like");
    // Ratios are at most ~2.7: a standard error below 0.01.
    EXPECT_NEAR(ratio / kDraws, world_->ExpectedWatchRatio(user, video), 0.03) << user << " " << video;
  }
}

TEST_F(SyntheticWorldTest, TasteCategoriesArePlayedMoreThanOthers) {
  double top_sum = 0, other_sum = 0, off_sum = 0;
  int top_n = 0, other_n = 0, off_n = 0;
  for (uint32_t user = 0; user < 200; ++user) {
    const std::vector<uint16_t> taste = TasteCategories(user);
    for (uint32_t v = 0; v < ds_->videos.size(); ++v) {
      const Video& video = ds_->videos[v];
      if (video.categories.size() != 1 || !video.available || video.age_restricted) continue;
      const double p = world_->PlayProbability(user, v);
      const auto it = std::find(taste.begin(), taste.end(), video.categories[0]);
      if (it == taste.begin()) {
        top_sum += p, ++top_n;
      } else if (it != taste.end()) {
        other_sum += p, ++other_n;
      } else {
        off_sum += p, ++off_n;
      }
    }
  }
  std::printf("play_probability top_taste=%.4f other_taste=%.4f off_taste=%.4f\n", top_sum / top_n,
              other_sum / other_n, off_sum / off_n);
  EXPECT_GT(top_sum / top_n, 0.9);
  EXPECT_LT(off_sum / off_n, 0.5);
  EXPECT_GT(other_sum / other_n, off_sum / off_n + 0.1);
  EXPECT_GT(top_sum / top_n, other_sum / other_n);
}

TEST_F(SyntheticWorldTest, BetterVideosArePlayedMoreWithinACategory) {
  double better = 0, worse = 0;
  int pairs = 0;
  for (uint32_t user = 0; user < 50; ++user) {
    const std::vector<uint16_t> taste = TasteCategories(user);
    // The favourite category (the skip chance's floor flattens it at the top) and one off-taste.
    uint16_t off = 0;
    while (std::find(taste.begin(), taste.end(), off) != taste.end()) ++off;
    for (uint16_t category : {taste[0], off}) {
      std::vector<uint32_t> videos;
      for (uint32_t v = 0; v < ds_->videos.size(); ++v) {
        const Video& video = ds_->videos[v];
        if (video.categories.size() == 1 && video.categories[0] == category && video.available &&
            !video.age_restricted) {
          videos.push_back(v);
        }
      }
      ASSERT_GT(videos.size(), 10u);
      std::sort(videos.begin(), videos.end(),
                [](uint32_t a, uint32_t b) { return world_->Quality(a) < world_->Quality(b); });
      // Only quality differs within a single category: play probability never falls with it.
      for (size_t i = 1; i < videos.size(); ++i) {
        ASSERT_GE(world_->PlayProbability(user, videos[i]), world_->PlayProbability(user, videos[i - 1]));
      }
      const size_t half = videos.size() / 2;
      for (size_t i = 0; i < half; ++i) {
        worse += world_->PlayProbability(user, videos[i]);
        better += world_->PlayProbability(user, videos[videos.size() - 1 - i]);
        ++pairs;
      }
    }
  }
  std::printf("play_probability better_half=%.4f worse_half=%.4f\n", better / pairs, worse / pairs);
  EXPECT_GT(better / pairs, worse / pairs + 0.02);
}

TEST_F(SyntheticWorldTest, PolicyBlockedVideosAreSkipsWithoutAPlay) {
  std::optional<std::pair<uint32_t, uint32_t>> minor_restricted;
  std::optional<uint32_t> taken_down;
  for (uint32_t v = 0; v < ds_->videos.size(); ++v) {
    if (!ds_->videos[v].available && !taken_down) taken_down = v;
    if (!ds_->videos[v].age_restricted || !ds_->videos[v].available || minor_restricted) continue;
    for (uint32_t u = 0; u < ds_->users.size(); ++u) {
      if (ds_->users[u].age >= 0 && ds_->users[u].age < 18) {
        minor_restricted.emplace(u, v);
        break;
      }
    }
  }
  ASSERT_TRUE(minor_restricted && taken_down);
  for (const auto& [user, video] : {*minor_restricted, std::pair<uint32_t, uint32_t>{0, *taken_down}}) {
    EXPECT_EQ(world_->PlayProbability(user, video), 0.0);
    EXPECT_EQ(world_->ExpectedWatchRatio(user, video), 0.0);
    uint64_t state = 1;
    const SyntheticWorld::Response r = world_->Respond(user, video, state);
    EXPECT_FALSE(r.shown);
    EXPECT_TRUE(r.skipped);
    EXPECT_FALSE(r.played || r.liked || r.completed);
    EXPECT_EQ(r.watch_ratio, 0.0f);
    EXPECT_NE(state, 1u);  // the stream moves on regardless
  }
  // The same video for an adult is an ordinary one.
  for (uint32_t u = 0; u < ds_->users.size(); ++u) {
    if (ds_->users[u].age >= 18) {
      EXPECT_GT(world_->PlayProbability(u, minor_restricted->second), 0.0);
      break;
    }
  }
}

bool SameResponse(const SyntheticWorld::Response& a, const SyntheticWorld::Response& b) {
  return a.shown == b.shown && a.played == b.played && a.skipped == b.skipped && a.completed == b.completed &&
         a.liked == b.liked && a.commented == b.commented && a.shared == b.shared &&
         SameBits(a.watch_ratio, b.watch_ratio) && SameBits(a.watch_time_s, b.watch_time_s);
}

TEST_F(SyntheticWorldTest, TheSameStateGivesTheSameResponse) {
  uint64_t a = 99, b = 99;
  std::set<float> ratios;
  for (int i = 0; i < 100; ++i) {
    const uint32_t user = static_cast<uint32_t>(i % 7), video = static_cast<uint32_t>(i * 31 % 5'000);
    const SyntheticWorld::Response x = world_->Respond(user, video, a);
    const SyntheticWorld::Response y = world_->Respond(user, video, b);
    ASSERT_TRUE(SameResponse(x, y)) << i;
    ASSERT_EQ(a, b);
    ratios.insert(x.watch_ratio);
  }
  EXPECT_GT(ratios.size(), 50u);  // and the stream does move
}

TEST(SyntheticWorld, DoesNotDependOnTheThreadCount) {
  SynthConfig one = SmallConfig(), three = SmallConfig();
  one.threads = 1;
  three.threads = 3;
  auto a = SyntheticWorld::Build(one);
  auto b = SyntheticWorld::Build(three);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->num_users(), b->num_users());
  ASSERT_EQ(a->num_videos(), b->num_videos());
  uint64_t sa = 5, sb = 5;
  for (uint32_t user = 0; user < a->num_users(); user += 13) {
    ASSERT_EQ(a->Taste(user).size(), b->Taste(user).size());
    for (uint32_t video = user % 17; video < a->num_videos(); video += 97) {
      ASSERT_EQ(a->PlayProbability(user, video), b->PlayProbability(user, video));
      ASSERT_EQ(a->ExpectedWatchRatio(user, video), b->ExpectedWatchRatio(user, video));
      ASSERT_TRUE(SameResponse(a->Respond(user, video, sa), b->Respond(user, video, sb)));
    }
  }
  for (uint32_t video = 0; video < a->num_videos(); ++video) ASSERT_EQ(a->Quality(video), b->Quality(video));
}

TEST(SyntheticWorld, RejectsBadConfig) {
  SynthConfig c = SmallConfig();
  c.num_users = 0;
  auto world = SyntheticWorld::Build(c);
  ASSERT_FALSE(world.ok());
  EXPECT_EQ(world.status().code(), StatusCode::kInvalidArgument);
}

// What an online-experiment bench relies on: recommending by the truth beats recommending the
// most popular videos, by a wide margin, in the simulated plays.
TEST_F(SyntheticWorldTest, RecommendingByTheTruthBeatsPopularity) {
  std::vector<int> plays(ds_->videos.size(), 0);
  for (const Interaction& x : ds_->interactions) plays[x.video] += x.type == EventType::kPlay;
  std::vector<uint32_t> popular(ds_->videos.size());
  std::iota(popular.begin(), popular.end(), 0u);
  // A popularity recommender that filters what the platform cannot show.
  std::erase_if(popular,
                [&](uint32_t v) { return !ds_->videos[v].available || ds_->videos[v].age_restricted; });
  std::partial_sort(popular.begin(), popular.begin() + 10, popular.end(), [&](uint32_t a, uint32_t b) {
    return plays[a] != plays[b] ? plays[a] > plays[b] : a < b;
  });
  popular.resize(10);

  double truth_plays = 0, popular_plays = 0, truth_ratio = 0, popular_ratio = 0, draws = 0;
  std::vector<uint32_t> all(ds_->videos.size());
  std::iota(all.begin(), all.end(), 0u);
  uint64_t state = 2026;
  for (uint32_t user = 0; user < ds_->users.size(); user += 10) {
    std::vector<uint32_t> best = all;
    std::partial_sort(best.begin(), best.begin() + 10, best.end(), [&](uint32_t a, uint32_t b) {
      return world_->PlayProbability(user, a) > world_->PlayProbability(user, b);
    });
    for (int k = 0; k < 10; ++k) {
      // The same state for both arms: paired draws.
      uint64_t s1 = state, s2 = state;
      const SyntheticWorld::Response t = world_->Respond(user, best[k], s1);
      const SyntheticWorld::Response p = world_->Respond(user, popular[k], s2);
      state = s1;
      truth_plays += t.played, popular_plays += p.played;
      truth_ratio += t.watch_ratio, popular_ratio += p.watch_ratio;
      draws += 1;
    }
  }
  std::printf(
      "top10_by_truth play_rate=%.4f watch_ratio=%.4f; top10_popular play_rate=%.4f watch_ratio=%.4f\n",
      truth_plays / draws, truth_ratio / draws, popular_plays / draws, popular_ratio / draws);
  EXPECT_GT(truth_plays / draws, 0.9);
  EXPECT_GT(truth_plays / draws, popular_plays / draws + 0.2);
  EXPECT_GT(truth_ratio / draws, 1.3 * (popular_ratio / draws));
}

}  // namespace
}  // namespace vrec::data
