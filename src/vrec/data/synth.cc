// Synthetic video platform. The generative model, in order:
//
//  1. Categories: a fixed vocabulary of 20 with skewed popularity, each with title words and tags,
//     so that text features carry the category.
//  2. Users: country (weighted), language given the country, age, gender, a primary device, an
//     activity level (lognormal: a few heavy users produce much of the log) and a latent taste, a
//     sparse Dirichlet over 2-4 categories chosen with demographic skews (Gaming leans young and
//     male, News older, ...).
//  3. Videos: primary category by popularity, a second one for ~25%, language from the audience's
//     language mix, duration, upload age and tag count calibrated on KuaiRand-Pure, a latent
//     quality, and a popularity rank inside each of their categories (Zipf, exponent 0.95, ranks
//     correlated with quality).
//  4. Interactions: each user's row budget is fixed up front (so the total is exact and the work
//     splits over threads). An impression draws a category from the user's taste mixed with global
//     popularity, a video in it by popularity (preferring the user's language, hiding
//     age-restricted videos from minors), a time after the upload with a local diurnal and weekly
//     pattern, then a play or a skip whose watch ratio rises with affinity and quality, and
//     sometimes likes, comments and shares. That last part, the response model, is shared with
//     SyntheticWorld::Respond (see "The response model" below and synth.h).
//
// Every user and every video has its own random stream derived from (seed, index), and rows are
// written to slots fixed before the parallel phase, so the output is the same for any thread count.
#include "vrec/data/synth.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <memory>
#include <numbers>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "vrec/common/check.h"
#include "vrec/common/csv.h"
#include "vrec/common/hash.h"
#include "vrec/common/parallel.h"
#include "vrec/common/progress.h"
#include "vrec/common/strings.h"

namespace vrec::data {
namespace {

// ---------------------------------------------------------------------------------------------
// Random numbers. Hand-written transforms rather than std::*_distribution so that a seed gives the
// same data with any standard library.

uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Independent streams per (purpose, index): users and videos are generated in any order.
enum class Stream : uint64_t { kGlobal = 1, kUser = 2, kVideo = 3, kUserRows = 4 };

uint64_t StreamSeed(uint64_t seed, Stream stream, uint64_t index) {
  uint64_t x = Mix64(seed + static_cast<uint64_t>(stream) * 0x9E3779B97F4A7C15ULL);
  return Mix64(x ^ (index * 0xD1B54A32D192ED03ULL + 0x632BE59BD9B4E019ULL));
}

// xoshiro256**: fast, 256-bit state, good enough statistically for simulation.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& s : s_) s = SplitMix64(seed);
  }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  // [0, 1)
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  // [0, n) for n < 2^32 (all uses here); the bias of scaling a 53-bit uniform is below 2^-21.
  uint64_t Below(uint64_t n) {
    auto i = static_cast<uint64_t>(Uniform() * static_cast<double>(n));
    return i < n ? i : n - 1;
  }
  bool Bernoulli(double p) { return Uniform() < p; }
  // Box-Muller; the second variate is dropped to keep the stream position simple.
  double Normal() {
    double u1 = 1.0 - Uniform();  // (0, 1]
    double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }
  // Exponential(1), i.e. Gamma(1): the Dirichlet(1) components before normalisation.
  double Exponential() { return -std::log(1.0 - Uniform()); }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// Index drawn from unnormalised weights by a linear scan: for the short tables (countries,
// categories, languages) this beats building an alias table.
template <typename Weights>
size_t SampleLinear(Rng& rng, const Weights& weights, double total) {
  double u = rng.Uniform() * total;
  size_t last_positive = 0;
  for (size_t i = 0; i < std::size(weights); ++i) {
    if (weights[i] <= 0) continue;
    last_positive = i;
    if (u < weights[i]) return i;
    u -= weights[i];
  }
  return last_positive;  // rounding at the end of the scan
}

// Walker/Vose alias table: O(1) draws from a large discrete distribution (video popularity).
class AliasTable {
 public:
  AliasTable() = default;
  explicit AliasTable(const std::vector<double>& weights) {
    const size_t n = weights.size();
    prob_.resize(n);
    alias_.resize(n);
    double total = 0;
    for (double w : weights) total += w;
    std::vector<double> scaled(n);
    std::vector<uint32_t> small, large;
    for (size_t i = 0; i < n; ++i) {
      scaled[i] = weights[i] * static_cast<double>(n) / total;
      (scaled[i] < 1.0 ? small : large).push_back(static_cast<uint32_t>(i));
    }
    while (!small.empty() && !large.empty()) {
      uint32_t s = small.back(), l = large.back();
      small.pop_back();
      prob_[s] = static_cast<float>(scaled[s]);
      alias_[s] = l;
      scaled[l] -= 1.0 - scaled[s];
      if (scaled[l] < 1.0) {
        large.pop_back();
        small.push_back(l);
      }
    }
    for (uint32_t i : small) prob_[i] = 1.0f, alias_[i] = i;  // leftovers are 1 up to rounding
    for (uint32_t i : large) prob_[i] = 1.0f, alias_[i] = i;
  }

  size_t size() const { return prob_.size(); }
  // One uniform gives both the column and the coin.
  uint32_t Sample(Rng& rng) const {
    double u = rng.Uniform() * static_cast<double>(prob_.size());
    auto i = static_cast<uint32_t>(u);
    if (i >= prob_.size()) i = static_cast<uint32_t>(prob_.size() - 1);
    return (u - i) < prob_[i] ? i : alias_[i];
  }

 private:
  std::vector<float> prob_;
  std::vector<uint32_t> alias_;
};

// ---------------------------------------------------------------------------------------------
// Static world description.

struct CountrySpec {
  const char* code;
  double weight;  // share of users (roughly the large short-video markets)
  int utc_offset_min;
  std::array<std::pair<const char*, double>, 3> languages;  // unused entries are {nullptr, 0}
};

constexpr CountrySpec kCountries[] = {
    {"US", 16, -300, {{{"en", 0.82}, {"es", 0.18}}}},
    {"IN", 18, 330, {{{"hi", 0.55}, {"en", 0.35}, {"ta", 0.10}}}},
    {"BR", 10, -180, {{{"pt", 0.97}, {"en", 0.03}}}},
    {"ID", 9, 420, {{{"id", 0.92}, {"en", 0.08}}}},
    {"MX", 7, -360, {{{"es", 0.96}, {"en", 0.04}}}},
    {"GB", 5, 0, {{{"en", 1.0}}}},
    {"DE", 4, 60, {{{"de", 0.90}, {"en", 0.10}}}},
    {"FR", 4, 60, {{{"fr", 0.93}, {"en", 0.07}}}},
    {"JP", 6, 540, {{{"ja", 0.98}, {"en", 0.02}}}},
    {"KR", 4, 540, {{{"ko", 0.97}, {"en", 0.03}}}},
    {"NG", 6, 60, {{{"en", 0.80}, {"ha", 0.20}}}},
    {"PH", 6, 480, {{{"en", 0.50}, {"tl", 0.50}}}},
};
constexpr size_t kNumCountries = std::size(kCountries);

struct CategorySpec {
  const char* name;
  double weight;          // global popularity (skewed on purpose)
  double age_restricted;  // share of its videos marked age-restricted
  // Multipliers on the chance that a user's taste includes the category; they give demographics a
  // (weak) predictive value for cold-start users.
  double male, female, young, older;
  std::array<const char*, 8> words;  // title words
  std::array<const char*, 8> tags;
};

// One category per three lines reads better than the one field per line clang-format wants.
// clang-format off
constexpr CategorySpec kCategories[] = {
    {"Music", 14, 0.02, 1, 1, 1.2, 0.9,
     {"song", "music", "official", "remix", "acoustic", "album", "beat", "lyrics"},
     {"pop", "rock", "cover", "live", "hiphop", "jazz", "kpop", "guitar"}},
    {"Gaming", 12, 0.05, 1.8, 0.5, 1.6, 0.4,
     {"gameplay", "walkthrough", "boss", "speedrun", "level", "ranked", "stream", "build"},
     {"minecraft", "fortnite", "rpg", "esports", "mobilegame", "fps", "retro", "letsplay"}},
    {"Comedy", 11, 0.05, 1.1, 0.9, 1.2, 0.8,
     {"funny", "prank", "sketch", "laugh", "joke", "fails", "parody", "standup"},
     {"prank", "sketch", "memes", "standup", "parody", "fails", "skit", "humor"}},
    {"Sports", 7, 0.01, 1.8, 0.5, 1, 1,
     {"goal", "highlights", "match", "final", "training", "skills", "league", "champion"},
     {"football", "basketball", "cricket", "tennis", "mma", "f1", "soccer", "nba"}},
    {"News", 5, 0.04, 1.1, 0.9, 0.4, 2.2,
     {"breaking", "report", "update", "statement", "interview", "election", "crisis", "analysis"},
     {"politics", "world", "economy", "breaking", "local", "weather", "business", "debate"}},
    {"Education", 5, 0.0, 1, 1, 1.1, 1.1,
     {"explained", "learn", "lesson", "guide", "history", "math", "course", "tutorial"},
     {"history", "math", "language", "study", "exam", "physics", "lecture", "tips"}},
    {"Cooking", 5, 0.005, 0.8, 1.3, 0.7, 1.6,
     {"recipe", "easy", "homemade", "chicken", "cake", "dinner", "kitchen", "spicy"},
     {"recipe", "baking", "streetfood", "vegan", "dessert", "bbq", "asmr", "mukbang"}},
    {"Travel", 3, 0.005, 1, 1.1, 0.8, 1.4,
     {"trip", "tour", "city", "beach", "hotel", "journey", "explore", "island"},
     {"backpacking", "roadtrip", "hotel", "beach", "citytour", "hiking", "flight", "vanlife"}},
    {"Beauty", 4, 0.01, 0.2, 2.2, 1.3, 0.7,
     {"makeup", "skincare", "routine", "glow", "hair", "nails", "look", "products"},
     {"makeup", "skincare", "hair", "nails", "grwm", "lipstick", "haul", "glam"}},
    {"Pets", 4, 0.0, 0.9, 1.2, 1, 1.1,
     {"cat", "dog", "puppy", "kitten", "cute", "rescue", "pet", "adorable"},
     {"cats", "dogs", "puppy", "kitten", "rescue", "aquarium", "birds", "cute"}},
    {"Tech", 4, 0.005, 1.8, 0.5, 1.1, 0.9,
     {"review", "unboxing", "phone", "laptop", "setup", "vs", "specs", "gadget"},
     {"smartphone", "unboxing", "pcbuild", "apple", "android", "ai", "gadgets", "coding"}},
    {"Film", 5, 0.10, 1.1, 1, 1, 1,
     {"trailer", "scene", "movie", "ending", "series", "episode", "clip", "cast"},
     {"trailer", "movie", "series", "anime", "horror", "action", "drama", "review"}},
    {"Dance", 5, 0.02, 0.6, 1.5, 1.7, 0.4,
     {"dance", "challenge", "choreography", "moves", "trend", "steps", "crew", "viral"},
     {"dancechallenge", "choreo", "kpopdance", "hiphop", "ballet", "tutorial", "trend", "freestyle"}},
    {"Fitness", 3, 0.01, 1.2, 1, 1, 1.1,
     {"workout", "abs", "home", "minutes", "gym", "cardio", "stretch", "exercise"},
     {"workout", "gym", "yoga", "hiit", "running", "abs", "weightloss", "calisthenics"}},
    {"Kids", 3, 0.0, 1, 1, 0.8, 1.3,
     {"cartoon", "toys", "learning", "colors", "nursery", "story", "kids", "fun"},
     {"cartoon", "toys", "nurseryrhymes", "abc", "animation", "story", "kids", "play"}},
    {"Autos", 2, 0.005, 2.2, 0.3, 1, 1.2,
     {"car", "drive", "engine", "race", "drift", "test", "garage", "turbo"},
     {"cars", "supercar", "drift", "ev", "motorcycle", "offroad", "repair", "racing"}},
    {"DIY", 2, 0.005, 1, 1.1, 0.7, 1.5,
     {"diy", "craft", "hack", "easy", "home", "project", "ideas", "makeover"},
     {"crafts", "woodworking", "lifehacks", "homedecor", "repair", "garden", "sewing", "upcycle"}},
    {"Science", 2, 0.0, 1.3, 0.8, 1, 1.2,
     {"science", "experiment", "space", "why", "universe", "nature", "physics", "discovery"},
     {"space", "experiment", "biology", "chemistry", "physics", "nature", "astronomy", "facts"}},
    {"Fashion", 3, 0.01, 0.4, 2.0, 1.4, 0.6,
     {"outfit", "style", "haul", "fashion", "wear", "lookbook", "closet", "styling"},
     {"ootd", "streetwear", "haul", "lookbook", "thrift", "style", "sneakers", "luxury"}},
    {"Vlog", 6, 0.02, 0.9, 1.2, 1.3, 0.8,
     {"vlog", "day", "life", "morning", "week", "family", "daily", "routine"},
     {"dailyvlog", "dayinmylife", "family", "couple", "studentlife", "routine", "storytime", "weekend"}},
};
// clang-format on
constexpr size_t kNumCategories = std::size(kCategories);
constexpr uint16_t kNoCategory = 0xFFFF;

// Title filler, so titles are not bags of category words only.
constexpr const char* kGenericWords[] = {
    "the",  "my",   "best", "new",   "top",      "first", "amazing", "how",  "to",   "in",
    "with", "this", "you",  "ever",  "part",     "full",  "short",   "real", "why",  "most",
    "will", "wow",  "epic", "guess", "ultimate", "10",    "episode", "of",   "your", "today",
};

// Age brackets [lo, hi] with their share of known ages: younger users dominate short video.
constexpr struct {
  int lo, hi;
  double weight;
} kAgeBrackets[] = {{13, 17, 12}, {18, 24, 28}, {25, 34, 27}, {35, 44, 16},
                    {45, 54, 9},  {55, 64, 5},  {65, 75, 3}};
constexpr double kAgeUnknownShare = 0.10;

constexpr double kGenderWeights[] = {0.06, 0.46, 0.46, 0.02};  // unknown, female, male, other
constexpr Device kDevices[] = {Device::kAndroid, Device::kIos, Device::kWeb, Device::kTv};
constexpr double kDeviceWeights[] = {0.62, 0.27, 0.07, 0.04};

// Relative activity by local hour: a night trough, a lunch bump and an evening peak.
constexpr double kHourWeights[24] = {0.55, 0.35, 0.22, 0.15, 0.12, 0.15, 0.30, 0.50, 0.65, 0.70, 0.75, 0.85,
                                     0.95, 0.90, 0.85, 0.85, 0.90, 1.00, 1.10, 1.25, 1.35, 1.30, 1.10, 0.80};
constexpr double kWeekendBoost = 1.15;

constexpr double kZipfExponent = 0.95;
constexpr double kSecondaryCategoryWeight = 0.5;  // a video is less prominent in its 2nd category
constexpr double kGlobalMix = 0.15;               // exploration: share of impressions off-taste
constexpr double kForeignLanguageAccept = 0.4;    // keep a foreign-language draw with this chance
constexpr int kMaxDraws = 32;

// ---------------------------------------------------------------------------------------------
// Calibration on KuaiRand-Pure (video_features_basic_pure.csv, KuaiRand by Gao et al., CC BY-SA
// 4.0): video durations, upload ages and tag counts.

// Percentiles 0, 1, ..., 100 of video_duration (ms / 1000) over the 7,344 rows with a duration,
// with linear interpolation between order statistics.
constexpr double kDurationPercentilesS[101] = {
    5.000,   7.444,   8.431,   9.200,   10.131,  10.725,  11.386,  12.166,  12.890,  13.811,   //
    14.593,  15.233,  16.149,  16.966,  17.900,  18.800,  19.633,  20.520,  21.924,  23.122,   //
    24.486,  25.867,  27.466,  29.000,  30.366,  31.950,  33.506,  35.233,  37.250,  38.800,   //
    40.766,  42.444,  44.775,  46.929,  49.533,  51.833,  54.590,  57.200,  59.284,  61.225,   //
    62.733,  64.477,  66.135,  67.840,  69.230,  71.145,  72.840,  74.912,  76.721,  78.771,   //
    81.171,  83.264,  84.962,  86.477,  87.852,  89.421,  91.505,  93.563,  95.637,  97.966,   //
    100.153, 102.746, 106.000, 109.085, 111.850, 114.416, 116.713, 119.980, 122.869, 126.122,  //
    129.818, 133.359, 136.763, 140.466, 144.388, 148.228, 153.094, 157.291, 162.020, 166.194,  //
    170.300, 176.189, 180.645, 185.600, 191.463, 197.374, 204.596, 211.021, 218.766, 228.208,  //
    237.830, 249.544, 258.493, 271.716, 287.084, 303.456, 321.813, 358.396, 413.666, 510.023,  //
    1177.720};
// Videos per (latest upload_dt - upload_dt) in days: 0, 1, 2 (all 7,583 rows).
constexpr double kUploadAgeDayCounts[] = {1327, 3424, 2832};
// Videos per number of ids in the tag column: 0 (empty), 1, 2, 3.
constexpr double kTagCountCounts[] = {96, 5696, 1759, 32};

struct Calibration {
  std::vector<double> duration_s;         // ascending; sampled by inverse CDF with interpolation
  std::vector<double> age_day_weights;    // index: days before the latest upload date
  std::vector<double> tag_count_weights;  // index: number of tags
};

Calibration BuiltInCalibration() {
  Calibration c;
  c.duration_s.assign(std::begin(kDurationPercentilesS), std::end(kDurationPercentilesS));
  c.age_day_weights.assign(std::begin(kUploadAgeDayCounts), std::end(kUploadAgeDayCounts));
  c.tag_count_weights.assign(std::begin(kTagCountCounts), std::end(kTagCountCounts));
  return c;
}

// Days since 1970-01-01 of a "YYYY-MM-DD" date (H. Hinnant's days_from_civil); false if malformed.
bool ParseDate(std::string_view s, int64_t& days) {
  s = StripAsciiWhitespace(s);
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  int64_t y, m, d;
  if (!ParseInt64(s.substr(0, 4), y) || !ParseInt64(s.substr(5, 2), m) || !ParseInt64(s.substr(8, 2), d)) {
    return false;
  }
  if (m < 1 || m > 12 || d < 1 || d > 31) return false;
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  days = era * 146097 + doe - 719468;
  return true;
}

StatusOr<Calibration> LoadCalibration(const std::string& dir) {
  const std::string path = dir + "/video_features_basic_pure.csv";
  // Quoting on: the tag column holds lists such as "39,68".
  VREC_ASSIGN_OR_RETURN(DelimitedReader reader, DelimitedReader::Open(path, ',', /*quoting=*/true));
  std::vector<std::string_view> fields;
  if (!reader.Next(fields)) {
    if (!reader.status().ok()) return reader.status();
    return InvalidArgumentError(StrCat(path, ": empty file"));
  }
  int duration_col = -1, upload_col = -1, tag_col = -1;
  for (size_t i = 0; i < fields.size(); ++i) {
    std::string_view name = StripAsciiWhitespace(fields[i]);
    if (name == "video_duration") duration_col = static_cast<int>(i);
    if (name == "upload_dt") upload_col = static_cast<int>(i);
    if (name == "tag") tag_col = static_cast<int>(i);
  }
  if (duration_col < 0 || upload_col < 0 || tag_col < 0) {
    return reader.Error("header lacks video_duration, upload_dt or tag");
  }
  const size_t needed = static_cast<size_t>(std::max({duration_col, upload_col, tag_col})) + 1;
  std::vector<double> durations;
  std::vector<int64_t> upload_days;
  std::vector<double> tag_counts;
  while (reader.Next(fields)) {
    if (fields.size() < needed) {
      return reader.Error(StrCat("expected ", needed, " fields, got ", fields.size()));
    }
    // Empty and "nan" durations are missing values in KuaiRand, not errors.
    double ms;
    if (ParseDouble(fields[duration_col], ms) && ms > 0) durations.push_back(ms / 1000.0);
    int64_t day;
    if (ParseDate(fields[upload_col], day)) upload_days.push_back(day);
    std::string_view tag = StripAsciiWhitespace(fields[tag_col]);
    size_t n = tag.empty() ? 0 : static_cast<size_t>(std::count(tag.begin(), tag.end(), ',')) + 1;
    if (tag_counts.size() <= n) tag_counts.resize(n + 1, 0.0);
    tag_counts[n] += 1;
  }
  if (!reader.status().ok()) return reader.status();
  if (durations.empty() || upload_days.empty()) {
    return InvalidArgumentError(StrCat(path, ": no usable video_duration or upload_dt values"));
  }
  Calibration c;
  std::sort(durations.begin(), durations.end());
  c.duration_s = std::move(durations);
  const int64_t latest = *std::max_element(upload_days.begin(), upload_days.end());
  for (int64_t d : upload_days) {
    auto age = static_cast<size_t>(latest - d);
    if (c.age_day_weights.size() <= age) c.age_day_weights.resize(age + 1, 0.0);
    c.age_day_weights[age] += 1;
  }
  c.tag_count_weights = std::move(tag_counts);
  return c;
}

// Inverse CDF of an empirical distribution given by ascending values (order statistics or
// percentiles), interpolating linearly between neighbours.
double SampleQuantiles(Rng& rng, const std::vector<double>& sorted) {
  if (sorted.size() == 1) return sorted[0];
  double pos = rng.Uniform() * static_cast<double>(sorted.size() - 1);
  auto i = static_cast<size_t>(pos);
  if (i + 1 >= sorted.size()) return sorted.back();
  return sorted[i] + (sorted[i + 1] - sorted[i]) * (pos - static_cast<double>(i));
}

// ---------------------------------------------------------------------------------------------
// Latent state kept beside the public Dataset rows: compact, so the hot interaction loop reads
// 32-byte records instead of Video objects with strings.

struct UserLatent {
  std::array<uint16_t, 4> taste_category{};
  std::array<float, 4> taste_weight{};  // Dirichlet draw, sums to 1
  int taste_size = 0;
  float taste_max = 0;
  uint8_t country = 0;
  uint8_t language = 0;
  int16_t age = -1;
  Device device = Device::kAndroid;  // primary
  Device alt_device = Device::kIos;  // the occasional other one
  float ratio_bias = 0;              // some users watch longer in general
  float engagement = 1;              // multiplier on like/comment/share rates
  double activity = 1;               // relative number of rows
};

// Age-restricted videos are never shown to minors (unknown ages are treated as adults).
bool IsMinor(const UserLatent& u) { return u.age >= 0 && u.age < 18; }

struct VideoLatent {
  int64_t upload_time = 0;
  float duration_s = 0;
  float quality = 0;
  float popularity_score = 0;  // rank key inside categories: quality plus noise
  uint16_t category = 0;
  uint16_t second_category = kNoCategory;
  uint8_t language = 0;
  bool age_restricted = false;
  bool available = true;  // false: taken down by the end of the period (Video::available)
};

// Video draws for one category: members and their Zipf weights.
struct CategoryPool {
  std::vector<uint32_t> videos;
  AliasTable alias;
};

struct World {
  const SynthConfig* config = nullptr;
  int64_t start_time = 0;
  int64_t end_time = 0;
  std::vector<std::string> languages;
  std::array<std::vector<double>, kNumCountries> country_language;  // weights over `languages`
  std::vector<double> audience_language;                            // video language mix
  double country_total = 0;
  double category_total = 0;
  Calibration calibration;
  double tag_count_total = 0;
  double age_day_total = 0;
  double age_day_scale = 1;  // days of simulated age per calibration day
  std::vector<UserLatent> users;
  std::vector<VideoLatent> videos;
  std::array<CategoryPool, kNumCategories> pools;
};

uint8_t LanguageIndex(std::vector<std::string>& languages, std::string_view code) {
  auto it = std::find(languages.begin(), languages.end(), code);
  if (it != languages.end()) return static_cast<uint8_t>(it - languages.begin());
  languages.emplace_back(code);
  return static_cast<uint8_t>(languages.size() - 1);
}

void InitWorld(World& w) {
  for (const CountrySpec& c : kCountries) {
    w.country_total += c.weight;
    for (const auto& [code, share] : c.languages) {
      if (code != nullptr) LanguageIndex(w.languages, code);
    }
  }
  w.audience_language.assign(w.languages.size(), 0.0);
  for (size_t i = 0; i < kNumCountries; ++i) {
    w.country_language[i].assign(w.languages.size(), 0.0);
    for (const auto& [code, share] : kCountries[i].languages) {
      if (code == nullptr) continue;
      uint8_t l = LanguageIndex(w.languages, code);
      w.country_language[i][l] += share;
      w.audience_language[l] += share * kCountries[i].weight / w.country_total;
    }
  }
  for (const CategorySpec& c : kCategories) w.category_total += c.weight;
  for (double x : w.calibration.tag_count_weights) w.tag_count_total += x;
  for (double x : w.calibration.age_day_weights) w.age_day_total += x;
  // KuaiRand-Pure's upload dates span only 3 days (2022-04-09..11): taken literally, every video
  // would be at most 3 days old and a 30-day log would fit in its last 3 days. When the calibration
  // spans less than the period we keep the shape of the age histogram but stretch it over twice
  // the period, so that a back catalogue exists when the log starts and the catalogue keeps growing
  // during it. A calibration that covers the period is used as it is.
  const double span = static_cast<double>(w.calibration.age_day_weights.size());
  const double days = w.config->days;
  w.age_day_scale = span >= days ? 1.0 : 2.0 * days / span;
}

// ---------------------------------------------------------------------------------------------
// Users.

void GenerateUser(const World& w, uint64_t seed, uint32_t index, User& user, UserLatent& latent) {
  Rng rng(StreamSeed(seed, Stream::kUser, index));
  user.id = UserId{index + 1ULL};
  double country_weights[kNumCountries];
  for (size_t i = 0; i < kNumCountries; ++i) country_weights[i] = kCountries[i].weight;
  latent.country = static_cast<uint8_t>(SampleLinear(rng, country_weights, w.country_total));
  user.country = kCountries[latent.country].code;
  latent.language = static_cast<uint8_t>(SampleLinear(rng, w.country_language[latent.country], 1.0));
  user.language = w.languages[latent.language];

  int age = -1;
  if (!rng.Bernoulli(kAgeUnknownShare)) {
    double weights[std::size(kAgeBrackets)];
    double total = 0;
    for (size_t i = 0; i < std::size(kAgeBrackets); ++i) total += weights[i] = kAgeBrackets[i].weight;
    const auto& b = kAgeBrackets[SampleLinear(rng, weights, total)];
    age = b.lo + static_cast<int>(rng.Below(static_cast<uint64_t>(b.hi - b.lo + 1)));
  }
  user.age = static_cast<int16_t>(age);
  latent.age = user.age;
  user.gender = static_cast<Gender>(SampleLinear(rng, kGenderWeights, 1.0));

  latent.device = kDevices[SampleLinear(rng, kDeviceWeights, 1.0)];
  do {
    latent.alt_device = kDevices[SampleLinear(rng, kDeviceWeights, 1.0)];
  } while (latent.alt_device == latent.device);
  // Lognormal activity (sigma 1.1): the top 1% of users produce roughly 10% of the rows.
  latent.activity = std::exp(1.1 * rng.Normal());
  latent.ratio_bias = static_cast<float>(0.2 * rng.Normal());
  latent.engagement = static_cast<float>(std::exp(0.5 * rng.Normal()));

  // Taste: 2-4 categories drawn without replacement by popularity times demographic skew, with
  // Dirichlet(1) weights, so one or two categories usually dominate.
  double weights[kNumCategories];
  double total = 0;
  const bool young = age >= 0 && age < 25, older = age >= 40;
  for (size_t c = 0; c < kNumCategories; ++c) {
    const CategorySpec& s = kCategories[c];
    double x = s.weight;
    if (user.gender == Gender::kMale) x *= s.male;
    if (user.gender == Gender::kFemale) x *= s.female;
    if (young) x *= s.young;
    if (older) x *= s.older;
    total += weights[c] = x;
  }
  const double u = rng.Uniform();
  latent.taste_size = u < 0.35 ? 2 : u < 0.75 ? 3 : 4;
  double weight_sum = 0;
  for (int k = 0; k < latent.taste_size; ++k) {
    size_t c = SampleLinear(rng, weights, total);
    total -= weights[c];
    weights[c] = 0;
    latent.taste_category[k] = static_cast<uint16_t>(c);
    double g = rng.Exponential();
    latent.taste_weight[k] = static_cast<float>(g);
    weight_sum += g;
  }
  for (int k = 0; k < latent.taste_size; ++k) {
    latent.taste_weight[k] = static_cast<float>(latent.taste_weight[k] / weight_sum);
    latent.taste_max = std::max(latent.taste_max, latent.taste_weight[k]);
  }
}

// ---------------------------------------------------------------------------------------------
// Videos.

void GenerateVideo(const World& w, uint64_t seed, uint32_t index, Video& video, VideoLatent& latent) {
  Rng rng(StreamSeed(seed, Stream::kVideo, index));
  video.id = VideoId{index + 1ULL};
  double weights[kNumCategories];
  for (size_t c = 0; c < kNumCategories; ++c) weights[c] = kCategories[c].weight;
  latent.category = static_cast<uint16_t>(SampleLinear(rng, weights, w.category_total));
  video.categories.push_back(latent.category);
  if (rng.Bernoulli(0.25)) {
    double total = w.category_total - weights[latent.category];
    weights[latent.category] = 0;
    latent.second_category = static_cast<uint16_t>(SampleLinear(rng, weights, total));
    video.categories.push_back(latent.second_category);
  }
  latent.language = static_cast<uint8_t>(SampleLinear(rng, w.audience_language, 1.0));
  video.language = w.languages[latent.language];

  latent.duration_s = static_cast<float>(SampleQuantiles(rng, w.calibration.duration_s));
  video.duration_s = latent.duration_s;
  // Age at the end of the period: a calibration day (stretched, see InitWorld) plus a uniform time
  // within it.
  const double age_days =
      (static_cast<double>(SampleLinear(rng, w.calibration.age_day_weights, w.age_day_total)) +
       rng.Uniform()) *
      w.age_day_scale;
  latent.upload_time = w.end_time - static_cast<int64_t>(age_days * 86400.0);
  video.upload_time = latent.upload_time;

  const CategorySpec& primary = kCategories[latent.category];
  const CategorySpec* secondary =
      latent.second_category == kNoCategory ? nullptr : &kCategories[latent.second_category];
  // Titles mix category words with filler, so title n-grams predict the category without giving it
  // away on every word.
  const int words = 3 + static_cast<int>(rng.Below(6));
  for (int i = 0; i < words; ++i) {
    std::string_view word;
    if (rng.Bernoulli(0.55)) {
      const CategorySpec& c = secondary != nullptr && rng.Bernoulli(0.25) ? *secondary : primary;
      word = c.words[rng.Below(c.words.size())];
    } else {
      word = kGenericWords[rng.Below(std::size(kGenericWords))];
    }
    if (i > 0) video.title.push_back(' ');
    video.title.append(word);
  }
  if (video.title[0] >= 'a' && video.title[0] <= 'z') {
    video.title[0] = static_cast<char>(video.title[0] - 'a' + 'A');
  }

  size_t num_tags = SampleLinear(rng, w.calibration.tag_count_weights, w.tag_count_total);
  num_tags = std::min(num_tags, primary.tags.size());
  std::array<uint8_t, 8> order{0, 1, 2, 3, 4, 5, 6, 7};
  for (size_t i = 0; i < num_tags; ++i) {  // partial Fisher-Yates: distinct tags
    size_t j = i + rng.Below(order.size() - i);
    std::swap(order[i], order[j]);
    const CategorySpec& c = secondary != nullptr && i > 0 && rng.Bernoulli(0.5) ? *secondary : primary;
    std::string_view tag = c.tags[order[i]];
    if (std::find(video.tags.begin(), video.tags.end(), tag) == video.tags.end()) {
      video.tags.emplace_back(tag);
    }
  }

  const double restricted = std::max(primary.age_restricted, secondary ? secondary->age_restricted : 0.0);
  video.age_restricted = rng.Bernoulli(restricted);
  latent.age_restricted = video.age_restricted;
  // Taken down after the fact: such videos keep their past interactions, and filters must drop them.
  video.available = !rng.Bernoulli(0.01);
  latent.available = video.available;
  latent.quality = static_cast<float>(rng.Normal());
  // Popular videos tend to be good ones, but not always: rank by quality plus as much noise.
  latent.popularity_score = static_cast<float>(latent.quality + rng.Normal());
}

void BuildPools(World& w) {
  struct Member {
    float score;
    uint32_t video;
    bool secondary;
  };
  std::array<std::vector<Member>, kNumCategories> members;
  for (uint32_t v = 0; v < w.videos.size(); ++v) {
    const VideoLatent& x = w.videos[v];
    members[x.category].push_back({x.popularity_score, v, false});
    if (x.second_category != kNoCategory) members[x.second_category].push_back({x.popularity_score, v, true});
  }
  for (size_t c = 0; c < kNumCategories; ++c) {
    auto& m = members[c];
    std::sort(m.begin(), m.end(), [](const Member& a, const Member& b) {
      return a.score != b.score ? a.score > b.score : a.video < b.video;
    });
    std::vector<double> weights(m.size());
    CategoryPool& pool = w.pools[c];
    pool.videos.resize(m.size());
    for (size_t r = 0; r < m.size(); ++r) {
      weights[r] = std::pow(static_cast<double>(r + 1), -kZipfExponent) *
                   (m[r].secondary ? kSecondaryCategoryWeight : 1.0);
      pool.videos[r] = m[r].video;
    }
    if (!m.empty()) pool.alias = AliasTable(weights);
  }
}

// ---------------------------------------------------------------------------------------------
// Interactions.

double Affinity(const UserLatent& u, uint16_t category) {
  for (int k = 0; k < u.taste_size; ++k) {
    if (u.taste_category[k] == category) return u.taste_weight[k] / u.taste_max;
  }
  return 0;
}

// The response model: what a user does with a video once it is shown. The log's plays and skips
// and SyntheticWorld::Respond both draw from these functions, so the simulator answers with the
// log's truth by construction. (synth.h explains the model for bench authors.)

constexpr double kNoStartShare = 0.02;                        // shown but never started: an impression row
constexpr double kSkipRatioLo = 0.01, kSkipRatioSpan = 0.09;  // a skip watches U[0.01, 0.10)
constexpr double kPlayRatioSigma = 0.35;                      // log-normal spread of a play's ratio
constexpr double kPlayRatioFloor = 0.02;
constexpr double kCommentPerLike = 0.15, kSharePerLike = 0.25;

// How much the video suits the user, in [0, 1]: its primary category's affinity, or 70% of its
// second category's when that is higher.
double VideoAffinity(const UserLatent& u, const VideoLatent& v) {
  double affinity = Affinity(u, v.category);
  if (v.second_category != kNoCategory) affinity = std::max(affinity, 0.7 * Affinity(u, v.second_category));
  return affinity;
}

// Chance that a started video is skipped: about 0.54 off-taste, 0.04 for the favourite category,
// lowered by quality, within [0.01, 0.9].
double SkipChance(const VideoLatent& v, double affinity) {
  return std::clamp(0.04 + 0.5 * (1 - affinity) * (1 - affinity) - 0.05 * v.quality, 0.01, 0.9);
}

// A play's watch ratio is clamp(exp(mu + kPlayRatioSigma * N(0, 1)), kPlayRatioFloor, cap).
struct PlayRatioLaw {
  double mu;
  double cap;
};

// Affinity and quality lengthen the watch, long videos are rarely finished, short ones get
// rewatched (ratio up to ~2.7 for the shortest clips, ~1 past 3 minutes).
PlayRatioLaw PlayRatio(const UserLatent& u, const VideoLatent& v, double affinity) {
  const double duration = v.duration_s;
  return {-0.9 + 0.9 * affinity + 0.25 * v.quality + u.ratio_bias - 0.3 * std::log(duration / 60.0),
          1.0 + 2.0 * std::exp(-duration / 30.0)};
}

struct Watch {
  EventType type;  // kImpression (never started, ratio NaN), kSkip or kPlay
  double ratio;
};

// Draws whether the shown video is started, skipped or played, and the watch ratio.
Watch DrawWatch(Rng& rng, const UserLatent& u, const VideoLatent& v, double affinity) {
  if (rng.Bernoulli(kNoStartShare)) return {EventType::kImpression, kMissing};
  if (rng.Bernoulli(SkipChance(v, affinity))) {
    return {EventType::kSkip, kSkipRatioLo + kSkipRatioSpan * rng.Uniform()};
  }
  const PlayRatioLaw law = PlayRatio(u, v, affinity);
  return {EventType::kPlay,
          std::clamp(std::exp(law.mu + kPlayRatioSigma * rng.Normal()), kPlayRatioFloor, law.cap)};
}

// Chances of a like, a comment and a share after a play of `ratio`, in the order they are drawn:
// engagement grows with how much of the video was watched and with affinity.
// The like chance is min(kLikeCap, base + slope * min(ratio, kLikeFullRatio)): affine in the
// ratio below its cap, which SyntheticWorld::LikeProbability integrates over the ratio's law.
constexpr double kLikeCap = 0.9, kLikeFullRatio = 1.5;
struct LikeLaw {
  double base, slope;
};
LikeLaw LikeChance(const UserLatent& u, double affinity) {
  return {u.engagement * 0.004, u.engagement * 0.06 * (0.3 + 0.7 * affinity) / kLikeFullRatio};
}

std::array<std::pair<EventType, double>, 3> EngagementChances(const UserLatent& u, double affinity,
                                                              double ratio) {
  const LikeLaw law = LikeChance(u, affinity);
  const double like_p = std::min(kLikeCap, law.base + law.slope * std::min(ratio, kLikeFullRatio));
  return {{{EventType::kLike, like_p},
           {EventType::kComment, kCommentPerLike * like_p},
           {EventType::kShare, kSharePerLike * like_p}}};
}

// A time in [lo, end] following the diurnal and weekly pattern in the user's local time (rejection
// against the peak; the last draw is kept if all fail, which only matters for tiny windows).
int64_t SampleTime(Rng& rng, int64_t lo, int64_t end, int utc_offset_min) {
  constexpr double kPeak = 1.35 * kWeekendBoost;
  const auto span = static_cast<uint64_t>(end - lo + 1);
  int64_t t = end;
  for (int attempt = 0; attempt < 16; ++attempt) {
    t = lo + static_cast<int64_t>(rng.Below(span));
    const int64_t local = t + utc_offset_min * 60;
    const int64_t day = local >= 0 ? local / 86400 : (local - 86399) / 86400;
    const int hour = static_cast<int>((local - day * 86400) / 3600);
    const int dow = static_cast<int>(((day + 3) % 7 + 7) % 7);  // 0 = Monday
    const double weight = kHourWeights[hour] * (dow >= 5 ? kWeekendBoost : 1.0);
    if (rng.Uniform() * kPeak < weight) break;
  }
  return t;
}

void GenerateUserRows(const World& w, uint64_t seed, uint32_t user_index, Interaction* out, int64_t budget) {
  if (budget <= 0) return;
  Rng rng(StreamSeed(seed, Stream::kUserRows, user_index));
  const UserLatent& u = w.users[user_index];
  const int utc_offset = kCountries[u.country].utc_offset_min;
  const bool minor = IsMinor(u);
  const double period = static_cast<double>(w.end_time - w.start_time);

  // The user's category distribution: taste mixed with global popularity; empty categories (tiny
  // catalogues) are left out.
  double cat_weights[kNumCategories];
  double cat_total = 0;
  for (size_t c = 0; c < kNumCategories; ++c) {
    double x = kGlobalMix * kCategories[c].weight / w.category_total;
    for (int k = 0; k < u.taste_size; ++k) {
      if (u.taste_category[k] == c) x += (1.0 - kGlobalMix) * u.taste_weight[k];
    }
    if (w.pools[c].videos.empty()) x = 0;
    cat_total += cat_weights[c] = x;
  }

  int64_t written = 0;
  auto emit = [&](const Interaction& x) { out[written++] = x; };
  while (written < budget) {
    const auto category = static_cast<uint16_t>(SampleLinear(rng, cat_weights, cat_total));
    const CategoryPool& pool = w.pools[category];
    // Rejection keeps the popularity law while (a) favouring the user's language, (b) hiding
    // age-restricted videos from minors and (c) weighting each video by the share of the period it
    // existed, so that a video uploaded an hour before the end does not get a full period's views.
    uint32_t video = 0;
    for (int attempt = 0; attempt < kMaxDraws; ++attempt) {
      video = pool.videos[pool.alias.Sample(rng)];
      const VideoLatent& v = w.videos[video];
      if (minor && v.age_restricted) continue;
      double accept = v.language == u.language ? 1.0 : kForeignLanguageAccept;
      const int64_t lo = std::max(w.start_time, v.upload_time);
      accept *= static_cast<double>(w.end_time - lo) / period;
      if (rng.Uniform() < accept) break;
    }
    const VideoLatent& v = w.videos[video];
    Interaction x;
    x.user = user_index;
    x.video = video;
    x.timestamp = SampleTime(rng, std::max(w.start_time, v.upload_time), w.end_time, utc_offset);
    x.device = rng.Bernoulli(0.9) ? u.device : u.alt_device;

    const double affinity = VideoAffinity(u, v);
    const Watch watch = DrawWatch(rng, u, v, affinity);
    x.type = watch.type;
    if (watch.type == EventType::kImpression) {  // no watch fields
      emit(x);
      continue;
    }
    x.watch_ratio = static_cast<float>(watch.ratio);
    x.watch_time_s = static_cast<float>(watch.ratio * static_cast<double>(v.duration_s));
    emit(x);
    if (x.type != EventType::kPlay) continue;

    for (const auto& [type, p] : EngagementChances(u, affinity, watch.ratio)) {
      if (written >= budget || !rng.Bernoulli(p)) continue;
      Interaction e;
      e.user = user_index;
      e.video = video;
      e.device = x.device;
      e.type = type;
      // During or right after the watch, never past the end of the period.
      const auto delay = static_cast<int64_t>(rng.Uniform() * std::min<double>(x.watch_time_s, 600.0));
      e.timestamp = std::min(w.end_time, x.timestamp + delay);
      emit(e);
    }
  }
}

// Rows per user: proportional to activity with cumulative rounding, so the total is exact. When
// there are enough rows every user gets at least one.
std::vector<int64_t> RowBudgets(const std::vector<UserLatent>& users, int64_t rows) {
  const auto n = static_cast<int64_t>(users.size());
  const int64_t base = rows >= n ? 1 : 0;
  const int64_t rest = rows - base * n;
  double total = 0;
  for (const UserLatent& u : users) total += u.activity;
  std::vector<int64_t> budgets(users.size());
  double cumulative = 0;
  int64_t assigned = 0;
  for (int64_t i = 0; i < n; ++i) {
    cumulative += users[i].activity;
    int64_t target =
        i + 1 == n ? rest
                   : std::min<int64_t>(rest, std::llround(static_cast<double>(rest) * (cumulative / total)));
    target = std::max(target, assigned);
    budgets[i] = base + (target - assigned);
    assigned = target;
  }
  return budgets;
}

bool EarlierRow(const Interaction& a, const Interaction& b) {
  return a.timestamp != b.timestamp ? a.timestamp < b.timestamp : a.user < b.user;
}

// Stable sort by (timestamp, user). Rows are laid out by user, so sorting user-aligned chunks in
// parallel and merging them left to right gives exactly what one std::stable_sort would.
void SortRows(std::vector<Interaction>& rows, const std::vector<int64_t>& offsets, int threads) {
  const auto n_users = static_cast<int64_t>(offsets.size()) - 1;
  std::vector<int64_t> bounds{0};
  for (int k = 1; k < threads; ++k) {
    const int64_t target = static_cast<int64_t>(rows.size()) * k / threads;
    const int64_t at = *std::lower_bound(offsets.begin(), offsets.begin() + n_users + 1, target);
    if (at > bounds.back() && at < static_cast<int64_t>(rows.size())) bounds.push_back(at);
  }
  bounds.push_back(static_cast<int64_t>(rows.size()));
  const auto chunks = static_cast<int64_t>(bounds.size()) - 1;
  ParallelFor(chunks, threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      std::stable_sort(rows.begin() + bounds[c], rows.begin() + bounds[c + 1], EarlierRow);
    }
  });
  for (int64_t c = 1; c < chunks; ++c) {
    std::inplace_merge(rows.begin(), rows.begin() + bounds[c], rows.begin() + bounds[c + 1], EarlierRow);
  }
}

Status ValidateConfig(const SynthConfig& c) {
  if (c.num_users <= 0 || c.num_videos <= 0 || c.num_interactions <= 0) {
    return InvalidArgumentError(StrCat("synth: sizes must be positive (users ", c.num_users, ", videos ",
                                       c.num_videos, ", interactions ", c.num_interactions, ")"));
  }
  // Dense indices are uint32_t.
  if (c.num_users > UINT32_MAX || c.num_videos > UINT32_MAX) {
    return InvalidArgumentError("synth: num_users and num_videos must fit in 32 bits");
  }
  if (c.days <= 0) return InvalidArgumentError(StrCat("synth: days must be positive, got ", c.days));
  if (c.threads < 1) return InvalidArgumentError(StrCat("synth: threads must be >= 1, got ", c.threads));
  return OkStatus();
}

// Steps 1-3 of the model: the static world, the users and the videos, as public rows in `ds` and
// latents in `w`. GenerateSynthetic and SyntheticWorld::Build both start here, so they see the same
// population for a config.
Status BuildPopulation(const SynthConfig& config, World& w, Dataset& ds) {
  VREC_RETURN_IF_ERROR(ValidateConfig(config));
  w.config = &config;
  w.end_time = config.end_time;
  w.start_time = config.end_time - static_cast<int64_t>(config.days) * 86400;
  if (config.calibration_dir.empty()) {
    w.calibration = BuiltInCalibration();
  } else {
    VREC_ASSIGN_OR_RETURN(w.calibration, LoadCalibration(config.calibration_dir));
  }
  InitWorld(w);

  for (const CategorySpec& c : kCategories) ds.InternCategory(c.name);

  const int threads = config.threads;
  const uint64_t seed = config.seed;
  {
    Progress progress("synth users", config.num_users, config.quiet);
    ds.users.resize(static_cast<size_t>(config.num_users));
    w.users.resize(ds.users.size());
    ParallelFor(config.num_users, threads, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        GenerateUser(w, seed, static_cast<uint32_t>(i), ds.users[i], w.users[i]);
      }
      progress.Add(end - begin);
    });
  }
  {
    Progress progress("synth videos", config.num_videos, config.quiet);
    ds.videos.resize(static_cast<size_t>(config.num_videos));
    w.videos.resize(ds.videos.size());
    ParallelFor(config.num_videos, threads, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        GenerateVideo(w, seed, static_cast<uint32_t>(i), ds.videos[i], w.videos[i]);
      }
      progress.Add(end - begin);
    });
  }
  return OkStatus();
}

// E[clamp(exp(mu + sigma Z), lo, hi)] for a standard normal Z.
double ClampedLogNormalMean(double mu, double sigma, double lo, double hi) {
  auto phi = [](double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); };
  const double a = (std::log(lo) - mu) / sigma, b = (std::log(hi) - mu) / sigma;
  return lo * phi(a) + hi * (1.0 - phi(b)) +
         std::exp(mu + 0.5 * sigma * sigma) * (phi(b - sigma) - phi(a - sigma));
}

}  // namespace

StatusOr<Dataset> GenerateSynthetic(const SynthConfig& config) {
  World w;
  Dataset ds;
  VREC_RETURN_IF_ERROR(BuildPopulation(config, w, ds));
  BuildPools(w);

  const int threads = config.threads;
  const uint64_t seed = config.seed;
  const std::vector<int64_t> budgets = RowBudgets(w.users, config.num_interactions);
  std::vector<int64_t> offsets(budgets.size() + 1, 0);
  for (size_t i = 0; i < budgets.size(); ++i) offsets[i + 1] = offsets[i] + budgets[i];
  ds.interactions.resize(static_cast<size_t>(config.num_interactions));
  {
    Progress progress("synth interactions", config.num_interactions, config.quiet);
    ParallelFor(config.num_users, threads, 256, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        GenerateUserRows(w, seed, static_cast<uint32_t>(i), ds.interactions.data() + offsets[i], budgets[i]);
      }
      progress.Add(offsets[end] - offsets[begin]);
    });
  }
  SortRows(ds.interactions, offsets, threads);

  ds.RebuildIndex();
  VREC_RETURN_IF_ERROR(ds.Validate());
  return ds;
}

// ---------------------------------------------------------------------------------------------
// SyntheticWorld: the population's latents and the response model, without the log.

struct SyntheticWorld::State {
  std::vector<UserLatent> users;
  std::vector<VideoLatent> videos;

  std::pair<const UserLatent&, const VideoLatent&> Pair(uint32_t user, uint32_t video) const {
    VREC_CHECK(user < users.size(), "user ", user, " of ", users.size());
    VREC_CHECK(video < videos.size(), "video ", video, " of ", videos.size());
    return {users[user], videos[video]};
  }
};

namespace {

// The platform's policy, as in the log's impression process: age-restricted videos are hidden
// from minors. Taken-down videos cannot be played any more (the log predates their removal).
bool Showable(const UserLatent& u, const VideoLatent& v) {
  return v.available && !(IsMinor(u) && v.age_restricted);
}

}  // namespace

StatusOr<SyntheticWorld> SyntheticWorld::Build(const SynthConfig& config) {
  World w;
  Dataset ds;
  VREC_RETURN_IF_ERROR(BuildPopulation(config, w, ds));
  auto state = std::make_shared<State>();
  state->users = std::move(w.users);
  state->videos = std::move(w.videos);
  SyntheticWorld world;
  world.state_ = std::move(state);
  return world;
}

size_t SyntheticWorld::num_users() const { return state_->users.size(); }
size_t SyntheticWorld::num_videos() const { return state_->videos.size(); }

SyntheticWorld::Response SyntheticWorld::Respond(uint32_t user, uint32_t video, uint64_t& rng_state) const {
  const auto [u, v] = state_->Pair(user, video);
  // One step of the caller's stream per call, whatever the outcome, so that two arms fed the same
  // states get paired draws.
  Rng rng(SplitMix64(rng_state));
  Response r;
  if (!Showable(u, v)) {
    r.shown = false;
    r.skipped = true;
    return r;
  }
  const double affinity = VideoAffinity(u, v);
  const Watch watch = DrawWatch(rng, u, v, affinity);
  if (watch.type == EventType::kImpression) return r;
  r.watch_ratio = static_cast<float>(watch.ratio);
  r.watch_time_s = static_cast<float>(watch.ratio * static_cast<double>(v.duration_s));
  if (watch.type == EventType::kSkip) {
    r.skipped = true;
    return r;
  }
  r.played = true;
  r.completed = watch.ratio >= 1.0;
  const auto chances = EngagementChances(u, affinity, watch.ratio);
  r.liked = rng.Bernoulli(chances[0].second);
  r.commented = rng.Bernoulli(chances[1].second);
  r.shared = rng.Bernoulli(chances[2].second);
  return r;
}

double SyntheticWorld::PlayProbability(uint32_t user, uint32_t video) const {
  const auto [u, v] = state_->Pair(user, video);
  if (!Showable(u, v)) return 0;
  return (1.0 - kNoStartShare) * (1.0 - SkipChance(v, VideoAffinity(u, v)));
}

double SyntheticWorld::ExpectedWatchRatio(uint32_t user, uint32_t video) const {
  const auto [u, v] = state_->Pair(user, video);
  if (!Showable(u, v)) return 0;
  const double affinity = VideoAffinity(u, v);
  const double skip = SkipChance(v, affinity);
  const PlayRatioLaw law = PlayRatio(u, v, affinity);
  const double play_mean = ClampedLogNormalMean(law.mu, kPlayRatioSigma, kPlayRatioFloor, law.cap);
  return (1.0 - kNoStartShare) * (skip * (kSkipRatioLo + 0.5 * kSkipRatioSpan) + (1.0 - skip) * play_mean);
}

double SyntheticWorld::SkipProbability(uint32_t user, uint32_t video) const {
  const auto [u, v] = state_->Pair(user, video);
  if (!Showable(u, v)) return 1;
  return (1.0 - kNoStartShare) * SkipChance(v, VideoAffinity(u, v));
}

double SyntheticWorld::CompletionProbability(uint32_t user, uint32_t video) const {
  const auto [u, v] = state_->Pair(user, video);
  if (!Showable(u, v)) return 0;
  const double affinity = VideoAffinity(u, v);
  const PlayRatioLaw law = PlayRatio(u, v, affinity);
  // The clamp's floor is below 1 and its cap above: a play completes when exp(mu + sigma Z) >= 1.
  const double complete = 0.5 * std::erfc(-law.mu / (kPlayRatioSigma * std::numbers::sqrt2));
  return (1.0 - kNoStartShare) * (1.0 - SkipChance(v, affinity)) * complete;
}

double SyntheticWorld::LikeProbability(uint32_t user, uint32_t video) const {
  const auto [u, v] = state_->Pair(user, video);
  if (!Showable(u, v)) return 0;
  const double affinity = VideoAffinity(u, v);
  const PlayRatioLaw ratio = PlayRatio(u, v, affinity);
  const LikeLaw like = LikeChance(u, affinity);
  double per_play = kLikeCap;
  if (like.base < kLikeCap) {
    // min(cap, base + slope min(R, full)) = base + slope min(R, m), m the ratio where the cap binds;
    // min(R, m) for R = clamp(X, floor, cap) is X clamped to [min(floor, m'), m'], m' = min(cap, m).
    const double m = std::min(kLikeFullRatio, (kLikeCap - like.base) / like.slope);
    const double hi = std::min(ratio.cap, m);
    const double lo = std::min(kPlayRatioFloor, hi);
    per_play = like.base + like.slope * ClampedLogNormalMean(ratio.mu, kPlayRatioSigma, lo, hi);
  }
  return (1.0 - kNoStartShare) * (1.0 - SkipChance(v, affinity)) * per_play;
}

std::vector<SyntheticWorld::TasteShare> SyntheticWorld::Taste(uint32_t user) const {
  VREC_CHECK(user < state_->users.size(), "user ", user, " of ", state_->users.size());
  const UserLatent& u = state_->users[user];
  std::vector<TasteShare> taste;
  for (int k = 0; k < u.taste_size; ++k) taste.push_back({u.taste_category[k], u.taste_weight[k]});
  return taste;
}

float SyntheticWorld::Quality(uint32_t video) const {
  VREC_CHECK(video < state_->videos.size(), "video ", video, " of ", state_->videos.size());
  return state_->videos[video].quality;
}

}  // namespace vrec::data
