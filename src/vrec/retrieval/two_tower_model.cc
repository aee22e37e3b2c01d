#include "vrec/retrieval/two_tower_model.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "vrec/common/artifact.h"
#include "vrec/common/check.h"
#include "vrec/common/hash.h"
#include "vrec/common/strings.h"
#include "vrec/registry/manifest.h"
#include "vrec/retrieval/two_tower_features.h"

namespace vrec::retrieval {
namespace {

namespace ttf = two_tower_features;

constexpr char kMagic[8] = {'V', 'R', 'E', 'C', 'T', 'T', '0', '1'};  // version 1 (below)
constexpr const char* kModelKind = "two-tower";

// ---------------------------------------------------------------------------------------------
// Forward pass helpers.

// out += mean of table rows `rows` (nothing when `rows` is empty, like EmbeddingBag's empty bag).
void AddMean(const TwoTowerModel::Table& t, std::span<const int64_t> rows, float* out) {
  if (rows.empty()) return;
  const size_t dim = static_cast<size_t>(t.dim);
  std::vector<float> sum(dim, 0.0f);
  for (int64_t r : rows) {
    const float* e = &t.data[static_cast<size_t>(r) * dim];
    for (size_t d = 0; d < dim; ++d) sum[d] += e[d];
  }
  const float n = static_cast<float>(rows.size());
  for (size_t d = 0; d < dim; ++d) out[d] = sum[d] / n;
}

void CopyRow(const TwoTowerModel::Table& t, int64_t row, float* out) {
  const size_t dim = static_cast<size_t>(t.dim);
  std::copy_n(&t.data[static_cast<size_t>(row) * dim], dim, out);
}

// Runs `x` through the layers (ReLU between them, none after the last) and writes the
// L2-normalised result to `out`. `transposed[l]` is layer l's weight as in x out.
void Mlp(const std::vector<TwoTowerModel::Layer>& layers, const std::vector<std::vector<float>>& transposed,
         std::vector<float> x, std::span<float> out) {
  std::vector<float> y;
  for (size_t l = 0; l < layers.size(); ++l) {
    const TwoTowerModel::Layer& layer = layers[l];
    const size_t n_out = static_cast<size_t>(layer.out);
    y.assign(layer.bias.begin(), layer.bias.end());
    const float* wt = transposed[l].data();
    for (size_t i = 0; i < static_cast<size_t>(layer.in); ++i) {
      const float xi = x[i];
      const float* col = wt + i * n_out;
      for (size_t o = 0; o < n_out; ++o) y[o] += xi * col[o];
    }
    if (l + 1 < layers.size()) {
      for (float& v : y) v = std::max(v, 0.0f);
    }
    x.swap(y);
  }
  double sq = 0;
  for (float v : x) sq += static_cast<double>(v) * v;
  const float norm = std::max(static_cast<float>(std::sqrt(sq)), 1e-12f);
  for (size_t d = 0; d < out.size() && d < x.size(); ++d) out[d] = x[d] / norm;
}

std::vector<std::vector<float>> Transpose(const std::vector<TwoTowerModel::Layer>& layers) {
  std::vector<std::vector<float>> t;
  for (const TwoTowerModel::Layer& l : layers) {
    std::vector<float> w(l.weight.size());
    for (size_t o = 0; o < static_cast<size_t>(l.out); ++o) {
      for (size_t i = 0; i < static_cast<size_t>(l.in); ++i) {
        w[i * static_cast<size_t>(l.out) + o] = l.weight[o * static_cast<size_t>(l.in) + i];
      }
    }
    t.push_back(std::move(w));
  }
  return t;
}

int UserInputWidth(const TwoTowerModel::Weights& w) {
  return w.user_id.dim + w.history.dim + w.age.dim + w.gender.dim + w.country.dim + w.user_language.dim;
}
int VideoInputWidth(const TwoTowerModel::Weights& w) {
  return w.video_id.dim + w.video_language.dim + w.duration.dim + w.year.dim + w.popularity.dim +
         w.categories.dim + w.text.dim;
}

// Every check that makes the forward pass memory-safe: table sizes, bucket counts fixed by the
// schema, layer shapes chaining from the concatenated inputs, category rows in range (IdRows
// checks the id rows).
Status Validate(const TwoTowerModel::Config& c, const TwoTowerModel::Weights& w,
                const std::unordered_map<std::string, int64_t>& category_rows) {
  struct Expect {
    const char* name;
    const TwoTowerModel::Table* t;
    int64_t rows;  // exact row count, or -1 for "at least 1"
  };
  const Expect tables[] = {
      {"user_id", &w.user_id, -1},
      {"age", &w.age, ttf::kAgeBuckets},
      {"gender", &w.gender, ttf::kGenderBuckets},
      {"country", &w.country, ttf::kLanguageBuckets},
      {"user_language", &w.user_language, ttf::kLanguageBuckets},
      {"history", &w.history, w.video_id.rows},
      {"video_id", &w.video_id, -1},
      {"categories", &w.categories, -1},
      {"video_language", &w.video_language, ttf::kLanguageBuckets},
      {"duration", &w.duration, ttf::kDurationBuckets},
      {"year", &w.year, ttf::kYearBuckets},
      {"popularity", &w.popularity, ttf::kPopularityBuckets},
      {"text", &w.text, c.text_buckets},
  };
  if (c.text_buckets < 2) return DataLossError(StrCat("two-tower: text_buckets ", c.text_buckets, " < 2"));
  for (const Expect& e : tables) {
    if (e.t->rows < 1 || e.t->dim < 1 || (e.rows >= 0 && e.t->rows != e.rows) ||
        e.t->data.size() != static_cast<size_t>(e.t->rows) * static_cast<size_t>(e.t->dim)) {
      return DataLossError(StrCat("two-tower: table ", e.name, " has shape ", e.t->rows, "x", e.t->dim,
                                  " and ", e.t->data.size(), " values"));
    }
  }
  auto check_mlp = [](const char* name, const std::vector<TwoTowerModel::Layer>& layers, int in) -> Status {
    if (layers.empty()) return DataLossError(StrCat("two-tower: ", name, " has no layers"));
    for (const TwoTowerModel::Layer& l : layers) {
      if (l.in != in || l.out < 1 ||
          l.weight.size() != static_cast<size_t>(l.in) * static_cast<size_t>(l.out) ||
          l.bias.size() != static_cast<size_t>(l.out)) {
        return DataLossError(
            StrCat("two-tower: ", name, " layer ", l.out, "x", l.in, " does not fit input width ", in));
      }
      in = l.out;
    }
    return OkStatus();
  };
  VREC_RETURN_IF_ERROR(check_mlp("user_mlp", w.user_mlp, UserInputWidth(w)));
  VREC_RETURN_IF_ERROR(check_mlp("video_mlp", w.video_mlp, VideoInputWidth(w)));
  if (w.user_mlp.back().out != w.video_mlp.back().out) {
    return DataLossError("two-tower: user and video towers have different output widths");
  }
  for (const auto& [name, row] : category_rows) {
    if (row < 1 || row >= w.categories.rows) {
      return DataLossError(StrCat("two-tower: category row ", row, " out of range"));
    }
  }
  return OkStatus();
}

// ---------------------------------------------------------------------------------------------
// The weights file, two_tower.vart: an artifact (common/artifact.h) of content version
// kWeightsVersion with sections
//   config                     u32 text_buckets, u32 flags (bit 0: weight_history_by_preference)
//   shapes                     u32 rows, u32 dim of the 13 tables in Weights order (user_id .. text)
//   table.0 .. table.12        rows x dim f32 each
//   user_mlp.shapes, video_mlp.shapes   u32 in, u32 out per layer
//   user_mlp.params, video_mlp.params   per layer: out x in f32 weight, then out f32 bias
//   vocab.sizes                u64 known users, u64 known videos
//   users.slots, videos.slots  IdRows::Slot (u64 id, i64 row): the open-addressing tables as is
//   categories.lengths, categories.text, categories.rows   u32 length per name, the names end to
//                              end, i64 row per name (sorted by name)
// Version 1 was one FNV-checksummed stream (two_tower.bin, "VRECTT01"); Load still reads it:
//   "VRECTT01", u32 text_buckets, u32 flags, 13 tables (u32 rows, u32 dim, rows*dim f32),
//   user_mlp, video_mlp (u32 layers; per layer u32 in, u32 out, out*in f32 weight, out f32 bias),
//   users, videos (u64 count; per entry u64 id, i64 row), categories (u64 count; per entry u32
//   length, name bytes, i64 row), u64 FNV-1a 64 of every byte before it.
constexpr uint32_t kWeightsVersion = 2;
constexpr const char* kWeightsFile = "two_tower.vart";
static_assert(std::endian::native == std::endian::little, "the weights file is mapped as little-endian");

template <typename T>
T ToLittle(T v) {
  if constexpr (std::endian::native == std::endian::big) {
    unsigned char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    std::reverse(b, b + sizeof(T));
    std::memcpy(&v, b, sizeof(T));
  }
  return v;
}

// Bounds-checked reader over the whole file: every count is checked against the bytes left before
// anything is allocated, so a corrupt file cannot make it allocate more than the file's size.
// (Version 1 only.)
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  size_t remaining() const { return data_.size() - pos_; }
  bool ok() const { return ok_; }

  template <typename T>
  T Get() {
    T v{};
    if (!Need(sizeof(T))) return v;
    std::memcpy(&v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return ToLittle(v);
  }
  std::string_view GetBytes(size_t n) {
    if (!Need(n)) return {};
    std::string_view s = data_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  bool GetFloats(uint64_t n, std::vector<float>& out) {
    if (n > remaining() / sizeof(float)) return Fail();
    out.resize(static_cast<size_t>(n));
    std::memcpy(out.data(), data_.data() + pos_, out.size() * sizeof(float));
    pos_ += out.size() * sizeof(float);
    if constexpr (std::endian::native == std::endian::big) {
      for (float& f : out) f = ToLittle(f);
    }
    return true;
  }
  bool GetTable(TwoTowerModel::Table& t) {
    const uint32_t rows = Get<uint32_t>(), dim = Get<uint32_t>();
    if (!ok_ || rows > static_cast<uint32_t>(std::numeric_limits<int>::max()) ||
        dim > static_cast<uint32_t>(std::numeric_limits<int>::max())) {
      return Fail();
    }
    t.rows = static_cast<int>(rows);
    t.dim = static_cast<int>(dim);
    std::vector<float> data;
    if (!GetFloats(static_cast<uint64_t>(rows) * dim, data)) return false;
    t.data = FlatArray<float>(std::move(data));
    return true;
  }
  bool GetLayers(std::vector<TwoTowerModel::Layer>& layers) {
    const uint32_t n = Get<uint32_t>();
    if (!ok_ || n > remaining() / 8) return Fail();  // each layer takes at least 8 bytes
    layers.resize(n);
    for (TwoTowerModel::Layer& l : layers) {
      const uint32_t in = Get<uint32_t>(), out = Get<uint32_t>();
      if (!ok_ || in > static_cast<uint32_t>(std::numeric_limits<int>::max()) ||
          out > static_cast<uint32_t>(std::numeric_limits<int>::max())) {
        return Fail();
      }
      l.in = static_cast<int>(in);
      l.out = static_cast<int>(out);
      if (!GetFloats(static_cast<uint64_t>(in) * out, l.weight) || !GetFloats(out, l.bias)) return false;
    }
    return true;
  }
  bool GetIdRows(std::unordered_map<uint64_t, int64_t>& rows) {
    const uint64_t n = Get<uint64_t>();
    if (!ok_ || n > remaining() / 16) return Fail();
    rows.reserve(static_cast<size_t>(n));
    for (uint64_t k = 0; k < n; ++k) {
      const uint64_t id = Get<uint64_t>();
      const int64_t row = Get<int64_t>();
      if (!rows.emplace(id, row).second) return Fail();  // duplicate id
    }
    return ok_;
  }
  bool GetNameRows(std::unordered_map<std::string, int64_t>& rows) {
    const uint64_t n = Get<uint64_t>();
    if (!ok_ || n > remaining() / 12) return Fail();
    rows.reserve(static_cast<size_t>(n));
    for (uint64_t k = 0; k < n; ++k) {
      const uint32_t len = Get<uint32_t>();
      const std::string_view name = GetBytes(len);
      const int64_t row = Get<int64_t>();
      if (!ok_ || !rows.emplace(std::string(name), row).second) return Fail();
    }
    return ok_;
  }

 private:
  bool Need(size_t n) {
    if (!ok_ || n > remaining()) return Fail();
    return true;
  }
  bool Fail() {
    ok_ = false;
    return false;
  }
  std::string_view data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

uint64_t Fnv(std::string_view data) {
  Hasher h;
  h.Update(data);
  return h.Value();
}

std::string HiddenWidths(const std::vector<TwoTowerModel::Layer>& layers) {
  std::vector<int> widths;
  for (size_t l = 0; l + 1 < layers.size(); ++l) widths.push_back(layers[l].out);
  return StrJoin(widths, ",");
}

}  // namespace

VideoInput VideoInputFrom(const data::Dataset& ds, uint32_t v, int64_t positives) {
  VideoInput in;
  if (v >= ds.videos.size()) return in;
  const data::Video& x = ds.videos[v];
  in.id = x.id;
  for (uint16_t c : x.categories) {
    if (c < ds.categories.size()) in.categories.push_back(ds.categories[c]);
  }
  in.language = x.language;
  in.duration_s = x.duration_s;
  in.upload_time = x.upload_time;
  in.title = x.title;
  in.tags = x.tags;
  in.positives = positives;
  return in;
}

UserInput UserInputFrom(const data::Dataset& ds, uint32_t u,
                        std::span<const std::pair<uint32_t, float>> history) {
  UserInput in;
  if (u >= ds.users.size()) return in;
  const data::User& x = ds.users[u];
  in.id = x.id;
  in.age = x.age;
  in.gender = x.gender;
  in.country = x.country;
  in.language = x.language;
  in.history.reserve(history.size());
  for (auto [v, w] : history) {
    if (v < ds.videos.size()) in.history.emplace_back(ds.videos[v].id, w);
  }
  return in;
}

TwoTowerShape FeatureShape(int text_buckets) {
  return {static_cast<int>(ttf::kAgeBuckets),
          static_cast<int>(ttf::kGenderBuckets),
          static_cast<int>(ttf::kLanguageBuckets),
          static_cast<int>(ttf::kDurationBuckets),
          static_cast<int>(ttf::kYearBuckets),
          static_cast<int>(ttf::kPopularityBuckets),
          text_buckets};
}

std::string TwoTowerModel::FeatureSchema() {
  // Canonical description of what two_tower_features.{h,cc} and EmbedUser/EmbedVideo compute.
  // Any change to a bucket count, a hash prefix, the text bag or the concatenation order must
  // change this text, so that models trained by another build are refused instead of misread.
  return StrCat(
      "v1;hash:fnv1a64(prefix+value)%(buckets-1)+1,0=missing;"
      "user:id(vocab,0=unk),history(video vocab,mean|pref-weighted mean,skip unknown),age",
      ttf::kAgeBuckets, "(1+min(age,104)/5),gender", ttf::kGenderBuckets, ",country", ttf::kLanguageBuckets,
      "('c:'),language", ttf::kLanguageBuckets,
      "('l:');"
      "video:id(vocab,0=unk),language",
      ttf::kLanguageBuckets, "(''),duration", ttf::kDurationBuckets, "(1+log2(1+s)),year", ttf::kYearBuckets,
      "(1+clamp(year-1900)),popularity", ttf::kPopularityBuckets,
      "(1+log2(1+positives)),categories(vocab,mean),text(mean);"
      "text:words('w:',lower alnum)+char3grams('t:','<word>')+tags('g:',lower),buckets=config;"
      "concat:user=id|history|age|gender|country|language,"
      "video=id|language|duration|year|popularity|categories|text;"
      "mlp:linear+relu..linear,l2norm");
}

int TwoTowerModel::dimension() const { return w_.user_mlp.empty() ? 0 : w_.user_mlp.back().out; }

void TwoTowerModel::EmbedUser(const UserInput& in, std::span<float> out) const {
  VREC_CHECK(out.size() == static_cast<size_t>(dimension()), out.size(), " floats for dimension ",
             dimension());
  if (dimension() == 0) return;
  std::vector<float> x(static_cast<size_t>(UserInputWidth(w_)), 0.0f);
  float* p = x.data();
  CopyRow(w_.user_id, in.id ? user_rows_.Find(in.id->value) : 0, p);
  p += w_.user_id.dim;
  // Pooled history: sum of weight * history row over the videos known to the model, divided by
  // the total weight (zeros when nothing is left), as the Torch UserTower at inference.
  {
    const size_t dim = static_cast<size_t>(w_.history.dim);
    std::vector<float> sum(dim, 0.0f);
    float total = 0;
    for (const auto& [video, weight] : in.history) {
      if (!(weight > 0)) continue;
      const int64_t row = video_rows_.Find(video.value);
      if (row == 0) continue;
      const float wt = config_.weight_history_by_preference ? weight : 1.0f;
      const float* e = &w_.history.data[static_cast<size_t>(row) * dim];
      for (size_t d = 0; d < dim; ++d) sum[d] += wt * e[d];
      total += wt;
    }
    if (total > 1e-6f) {
      for (size_t d = 0; d < dim; ++d) p[d] = sum[d] / total;
    }
    p += dim;
  }
  CopyRow(w_.age, ttf::AgeBucket(in.age), p);
  p += w_.age.dim;
  CopyRow(w_.gender, ttf::GenderBucket(in.gender), p);
  p += w_.gender.dim;
  CopyRow(w_.country, ttf::CountryBucket(in.country), p);
  p += w_.country.dim;
  CopyRow(w_.user_language, ttf::UserLanguageBucket(in.language), p);
  Mlp(w_.user_mlp, user_wt_, std::move(x), out);
}

void TwoTowerModel::EmbedVideo(const VideoInput& in, std::span<float> out) const {
  VREC_CHECK(out.size() == static_cast<size_t>(dimension()), out.size(), " floats for dimension ",
             dimension());
  if (dimension() == 0) return;
  std::vector<float> x(static_cast<size_t>(VideoInputWidth(w_)), 0.0f);
  float* p = x.data();
  CopyRow(w_.video_id, in.id ? video_rows_.Find(in.id->value) : 0, p);
  p += w_.video_id.dim;
  CopyRow(w_.video_language, ttf::VideoLanguageBucket(in.language), p);
  p += w_.video_language.dim;
  CopyRow(w_.duration, ttf::DurationBucket(in.duration_s), p);
  p += w_.duration.dim;
  CopyRow(w_.year, ttf::YearBucket(in.upload_time), p);
  p += w_.year.dim;
  CopyRow(w_.popularity, ttf::PopularityBucket(in.positives), p);
  p += w_.popularity.dim;
  std::vector<int64_t> rows;
  for (const std::string& name : in.categories) {
    auto it = category_rows_.find(name);
    if (it != category_rows_.end()) rows.push_back(it->second);
  }
  AddMean(w_.categories, rows, p);
  p += w_.categories.dim;
  rows.clear();
  ttf::AppendTextBuckets(in.title, in.tags, config_.text_buckets, rows);
  AddMean(w_.text, rows, p);
  Mlp(w_.video_mlp, video_wt_, std::move(x), out);
}

bool TwoTowerModel::KnowsUser(UserId id) const { return user_rows_.Find(id.value) != 0; }
bool TwoTowerModel::KnowsVideo(VideoId id) const { return video_rows_.Find(id.value) != 0; }

// --- IdRows ---

namespace {

// splitmix64's finaliser: ids are often sequential, so mix before taking the slot.
uint64_t MixId(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

TwoTowerModel::IdRows::IdRows(const std::unordered_map<uint64_t, int64_t>& rows) : size_(rows.size()) {
  std::vector<std::pair<uint64_t, int64_t>> sorted(rows.begin(), rows.end());
  std::sort(sorted.begin(), sorted.end());  // the same model always gives the same slots
  std::vector<Slot> slots(std::bit_ceil(std::max<size_t>(2, 2 * rows.size())));
  const size_t mask = slots.size() - 1;
  for (const auto& [id, row] : sorted) {
    VREC_CHECK(row >= 1, "id ", id, " maps to row ", row);
    size_t i = MixId(id) & mask;
    while (slots[i].row != 0) i = (i + 1) & mask;
    slots[i] = {id, row};
  }
  slots_ = FlatArray<Slot>(std::move(slots));
}

StatusOr<TwoTowerModel::IdRows> TwoTowerModel::IdRows::FromSlots(FlatArray<Slot> slots, uint64_t size,
                                                                 int64_t max_row, std::string_view what) {
  if (!std::has_single_bit(slots.size()) || size >= slots.size()) {
    return DataLossError(StrCat("two-tower: ", what, " has ", slots.size(), " slots for ", size, " ids"));
  }
  uint64_t used = 0;
  for (const Slot& slot : slots) {
    if (slot.row == 0) continue;
    if (slot.row < 1 || slot.row >= max_row) {
      return DataLossError(StrCat("two-tower: ", what, " row ", slot.row, " out of range"));
    }
    ++used;
  }
  if (used != size) return DataLossError(StrCat("two-tower: ", what, " holds ", used, " ids, not ", size));
  IdRows r;
  r.slots_ = std::move(slots);
  r.size_ = size;
  return r;
}

int64_t TwoTowerModel::IdRows::Find(uint64_t id) const {
  if (slots_.empty()) return 0;
  const size_t mask = slots_.size() - 1;
  for (size_t i = MixId(id) & mask;; i = (i + 1) & mask) {  // ends: at least one slot is empty
    const Slot& s = slots_[i];
    if (s.row == 0 || s.id == id) return s.row;
  }
}

// --- Building, saving and loading ---

namespace {

constexpr const char* kTableNames[] = {
    "user_id", "age",        "gender",     "country",        "user_language",
    "history", "video_id",   "categories", "video_language", "duration",
    "year",    "popularity", "text"};

std::array<TwoTowerModel::Table*, 13> TablesOf(TwoTowerModel::Weights& w) {
  return {&w.user_id, &w.age,        &w.gender,     &w.country,        &w.user_language,
          &w.history, &w.video_id,   &w.categories, &w.video_language, &w.duration,
          &w.year,    &w.popularity, &w.text};
}
std::array<const TwoTowerModel::Table*, 13> TablesOf(const TwoTowerModel::Weights& w) {
  return {&w.user_id, &w.age,        &w.gender,     &w.country,        &w.user_language,
          &w.history, &w.video_id,   &w.categories, &w.video_language, &w.duration,
          &w.year,    &w.popularity, &w.text};
}

Status CheckIdRows(const std::unordered_map<uint64_t, int64_t>& rows, int64_t max_row,
                   std::string_view what) {
  for (const auto& [id, row] : rows) {
    if (row < 1 || row >= max_row)
      return DataLossError(StrCat("two-tower: ", what, " row ", row, " out of range"));
  }
  return OkStatus();
}

}  // namespace

Status TwoTowerModel::Finish() {
  VREC_RETURN_IF_ERROR(Validate(config_, w_, category_rows_));
  user_wt_ = Transpose(w_.user_mlp);
  video_wt_ = Transpose(w_.video_mlp);
  return OkStatus();
}

void TwoTowerModel::Set(Config config, Weights weights, std::unordered_map<uint64_t, int64_t> user_rows,
                        std::unordered_map<uint64_t, int64_t> video_rows,
                        std::unordered_map<std::string, int64_t> category_rows) {
  VREC_CHECK(CheckIdRows(user_rows, weights.user_id.rows, "user").ok() &&
                 CheckIdRows(video_rows, weights.video_id.rows, "video").ok(),
             "two-tower: id rows out of range");
  config_ = config;
  w_ = std::move(weights);
  user_rows_ = IdRows(user_rows);
  video_rows_ = IdRows(video_rows);
  category_rows_ = std::move(category_rows);
  artifact_.reset();
  const Status valid = Finish();
  VREC_CHECK(valid.ok(), valid.message());
}

Status TwoTowerModel::Save(const std::string& dir, const std::string& training_data_hash,
                           const std::map<std::string, double>& metrics) const {
  if (dimension() == 0) return FailedPreconditionError("two-tower: cannot save an empty model");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return InternalError(StrCat("cannot create ", dir, ": ", ec.message()));

  VREC_ASSIGN_OR_RETURN(
      std::unique_ptr<ArtifactWriter> out,
      ArtifactWriter::Create((std::filesystem::path(dir) / kWeightsFile).string(), kWeightsVersion));
  const std::array<uint32_t, 2> config = {static_cast<uint32_t>(config_.text_buckets),
                                          config_.weight_history_by_preference ? 1u : 0u};
  VREC_RETURN_IF_ERROR(out->Add<uint32_t>("config", config));
  std::vector<uint32_t> shapes;
  const auto tables = TablesOf(w_);
  for (const Table* t : tables) {
    shapes.push_back(static_cast<uint32_t>(t->rows));
    shapes.push_back(static_cast<uint32_t>(t->dim));
  }
  VREC_RETURN_IF_ERROR(out->Add<uint32_t>("shapes", shapes));
  for (size_t i = 0; i < tables.size(); ++i) {
    VREC_RETURN_IF_ERROR(out->Add<float>(StrCat("table.", i), tables[i]->data.span()));
  }
  for (const auto& [name, layers] :
       {std::pair{"user_mlp", &w_.user_mlp}, std::pair{"video_mlp", &w_.video_mlp}}) {
    std::vector<uint32_t> layer_shapes;
    std::vector<float> params;
    for (const Layer& l : *layers) {
      layer_shapes.push_back(static_cast<uint32_t>(l.in));
      layer_shapes.push_back(static_cast<uint32_t>(l.out));
      params.insert(params.end(), l.weight.begin(), l.weight.end());
      params.insert(params.end(), l.bias.begin(), l.bias.end());
    }
    VREC_RETURN_IF_ERROR(out->Add<uint32_t>(StrCat(name, ".shapes"), layer_shapes));
    VREC_RETURN_IF_ERROR(out->Add<float>(StrCat(name, ".params"), params));
  }
  const std::array<uint64_t, 2> sizes = {user_rows_.size(), video_rows_.size()};
  VREC_RETURN_IF_ERROR(out->Add<uint64_t>("vocab.sizes", sizes));
  VREC_RETURN_IF_ERROR(out->Add<IdRows::Slot>("users.slots", user_rows_.slots()));
  VREC_RETURN_IF_ERROR(out->Add<IdRows::Slot>("videos.slots", video_rows_.slots()));
  std::vector<std::pair<std::string, int64_t>> cats(category_rows_.begin(), category_rows_.end());
  std::sort(cats.begin(), cats.end());
  std::vector<uint32_t> lengths;
  std::string text;
  std::vector<int64_t> rows;
  for (const auto& [name, row] : cats) {
    lengths.push_back(static_cast<uint32_t>(name.size()));
    text += name;
    rows.push_back(row);
  }
  VREC_RETURN_IF_ERROR(out->Add<uint32_t>("categories.lengths", lengths));
  VREC_RETURN_IF_ERROR(out->AddString("categories.text", text));
  VREC_RETURN_IF_ERROR(out->Add<int64_t>("categories.rows", rows));
  VREC_RETURN_IF_ERROR(out->Finish());

  registry::Manifest m;
  m.model_kind = kModelKind;
  m.created_at = registry::NowUtcIso8601();
  m.feature_schema = FeatureSchema();
  m.feature_schema_hash = HashHex(m.feature_schema);
  m.training_data_hash = training_data_hash;
  m.metrics = metrics;
  m.files = {{"weights", kWeightsFile}};
  m.params = {
      {"id_dim", StrCat(w_.video_id.dim)},
      {"feature_dim", StrCat(w_.age.dim)},
      {"text_dim", StrCat(w_.text.dim)},
      {"text_buckets", StrCat(config_.text_buckets)},
      {"hidden", HiddenWidths(w_.user_mlp)},
      {"output_dim", StrCat(dimension())},
      {"weight_history_by_preference", config_.weight_history_by_preference ? "true" : "false"},
      {"known_users", StrCat(user_rows_.size())},
      {"known_videos", StrCat(video_rows_.size())},
      {"categories", StrCat(category_rows_.size())},
  };
  return registry::WriteManifest(dir, m);
}

StatusOr<TwoTowerModel> TwoTowerModel::Load(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return NotFoundError(StrCat(dir, ": no such model directory"));
  VREC_ASSIGN_OR_RETURN(registry::Manifest m, registry::ReadManifest(dir));
  VREC_RETURN_IF_ERROR(registry::CheckCompatible(m, kModelKind, HashHex(FeatureSchema())));
  auto file = m.files.find("weights");
  if (file == m.files.end() || file->second.empty() || file->second.find('/') != std::string::npos ||
      file->second == "..") {
    return DataLossError(StrCat(dir, "/manifest.json: no valid 'weights' file entry"));
  }
  const std::string path = (std::filesystem::path(dir) / file->second).string();
  char magic[sizeof(kMagic)] = {};
  {
    std::ifstream f(path, std::ios::binary);
    if (!f.is_open()) return NotFoundError(StrCat(path, ": cannot open"));
    f.read(magic, sizeof(magic));
  }
  if (std::memcmp(magic, kMagic, sizeof(kMagic)) == 0) return LoadFormatOne(path);
  return LoadMapped(path);
}

StatusOr<TwoTowerModel> TwoTowerModel::LoadMapped(const std::string& path) {
  VREC_ASSIGN_OR_RETURN(std::shared_ptr<const MappedArtifact> in, MappedArtifact::Open(path));
  if (in->content_version() != kWeightsVersion) {
    return FailedPreconditionError(StrCat(path, ": two-tower weights format version ", in->content_version(),
                                          ", this build reads version ", kWeightsVersion, " (and 1)"));
  }
  auto corrupt = [&](std::string_view what) {
    return DataLossError(StrCat(path, ": ", what, " (truncated or corrupt two-tower weights)"));
  };
  TwoTowerModel model;
  model.artifact_ = in;
  VREC_ASSIGN_OR_RETURN(std::span<const uint32_t> config, in->Get<uint32_t>("config"));
  if (config.size() != 2 || config[0] > static_cast<uint32_t>(std::numeric_limits<int>::max()) ||
      config[1] > 1) {
    return corrupt("bad config");
  }
  model.config_.text_buckets = static_cast<int>(config[0]);
  model.config_.weight_history_by_preference = (config[1] & 1) != 0;
  VREC_ASSIGN_OR_RETURN(std::span<const uint32_t> shapes, in->Get<uint32_t>("shapes"));
  const auto tables = TablesOf(model.w_);
  if (shapes.size() != 2 * tables.size()) return corrupt("bad table shapes");
  for (size_t i = 0; i < tables.size(); ++i) {
    if (shapes[2 * i] > static_cast<uint32_t>(std::numeric_limits<int>::max()) ||
        shapes[2 * i + 1] > static_cast<uint32_t>(std::numeric_limits<int>::max())) {
      return corrupt(StrCat("bad shape of table ", kTableNames[i]));
    }
    tables[i]->rows = static_cast<int>(shapes[2 * i]);
    tables[i]->dim = static_cast<int>(shapes[2 * i + 1]);
    VREC_ASSIGN_OR_RETURN(std::span<const float> data, in->Get<float>(StrCat("table.", i)));
    tables[i]->data = FlatArray<float>(data, in);  // Validate checks rows x dim
  }
  for (const auto& [name, layers] :
       {std::pair{"user_mlp", &model.w_.user_mlp}, std::pair{"video_mlp", &model.w_.video_mlp}}) {
    VREC_ASSIGN_OR_RETURN(std::span<const uint32_t> layer_shapes, in->Get<uint32_t>(StrCat(name, ".shapes")));
    VREC_ASSIGN_OR_RETURN(std::span<const float> params, in->Get<float>(StrCat(name, ".params")));
    if (layer_shapes.size() % 2 != 0) return corrupt(StrCat("bad ", name, " shapes"));
    size_t at = 0;
    for (size_t l = 0; l < layer_shapes.size(); l += 2) {
      const uint64_t n_in = layer_shapes[l], n_out = layer_shapes[l + 1];
      if (n_in > (1u << 20) || n_out > (1u << 20) || (n_in + 1) * n_out > params.size() - at) {
        return corrupt(StrCat("bad ", name, " layer"));
      }
      Layer layer{.in = static_cast<int>(n_in), .out = static_cast<int>(n_out)};
      layer.weight.assign(params.begin() + static_cast<ptrdiff_t>(at),
                          params.begin() + static_cast<ptrdiff_t>(at + n_in * n_out));
      at += n_in * n_out;
      layer.bias.assign(params.begin() + static_cast<ptrdiff_t>(at),
                        params.begin() + static_cast<ptrdiff_t>(at + n_out));
      at += n_out;
      layers->push_back(std::move(layer));
    }
    if (at != params.size()) return corrupt(StrCat("bad ", name, " parameters"));
  }
  VREC_ASSIGN_OR_RETURN(std::span<const uint64_t> sizes, in->Get<uint64_t>("vocab.sizes"));
  if (sizes.size() != 2) return corrupt("bad vocabulary sizes");
  VREC_ASSIGN_OR_RETURN(std::span<const IdRows::Slot> user_slots, in->Get<IdRows::Slot>("users.slots"));
  VREC_ASSIGN_OR_RETURN(std::span<const IdRows::Slot> video_slots, in->Get<IdRows::Slot>("videos.slots"));
  auto users =
      IdRows::FromSlots(FlatArray<IdRows::Slot>(user_slots, in), sizes[0], model.w_.user_id.rows, "user ids");
  auto videos = IdRows::FromSlots(FlatArray<IdRows::Slot>(video_slots, in), sizes[1], model.w_.video_id.rows,
                                  "video ids");
  if (!users.ok()) return DataLossError(StrCat(path, ": ", users.status().message()));
  if (!videos.ok()) return DataLossError(StrCat(path, ": ", videos.status().message()));
  model.user_rows_ = std::move(users).value();
  model.video_rows_ = std::move(videos).value();
  VREC_ASSIGN_OR_RETURN(std::span<const uint32_t> lengths, in->Get<uint32_t>("categories.lengths"));
  VREC_ASSIGN_OR_RETURN(std::string_view text, in->GetString("categories.text"));
  VREC_ASSIGN_OR_RETURN(std::span<const int64_t> rows, in->Get<int64_t>("categories.rows"));
  if (lengths.size() != rows.size()) return corrupt("bad categories");
  size_t at = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    if (lengths[i] > text.size() - at) return corrupt("bad categories");
    if (!model.category_rows_.emplace(std::string(text.substr(at, lengths[i])), rows[i]).second) {
      return corrupt("repeated category");
    }
    at += lengths[i];
  }
  if (at != text.size()) return corrupt("bad categories");
  if (Status valid = model.Finish(); !valid.ok()) return DataLossError(StrCat(path, ": ", valid.message()));
  return model;
}

StatusOr<TwoTowerModel> TwoTowerModel::LoadFormatOne(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return NotFoundError(StrCat(path, ": ", ec.message()));
  std::string bytes(static_cast<size_t>(size), '\0');
  {
    std::ifstream f(path, std::ios::binary);
    if (!f.is_open()) return NotFoundError(StrCat(path, ": cannot open"));
    f.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (static_cast<size_t>(f.gcount()) != bytes.size()) return DataLossError(StrCat(path, ": short read"));
  }
  auto corrupt = [&](std::string_view what) {
    return DataLossError(StrCat(path, ": ", what, " (truncated or corrupt two-tower weights)"));
  };
  if (bytes.size() < sizeof(kMagic) + 8 || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return corrupt("bad magic");
  }
  {
    Reader tail(std::string_view(bytes).substr(bytes.size() - 8));
    if (tail.Get<uint64_t>() != Fnv(std::string_view(bytes).substr(0, bytes.size() - 8))) {
      return corrupt("checksum mismatch");
    }
  }
  Reader in(std::string_view(bytes).substr(sizeof(kMagic), bytes.size() - sizeof(kMagic) - 8));
  TwoTowerModel model;
  const uint32_t text_buckets = in.Get<uint32_t>();
  const uint32_t flags = in.Get<uint32_t>();
  if (!in.ok() || text_buckets > static_cast<uint32_t>(std::numeric_limits<int>::max()) || flags > 1) {
    return corrupt("bad config");
  }
  model.config_.text_buckets = static_cast<int>(text_buckets);
  model.config_.weight_history_by_preference = (flags & 1) != 0;
  for (Table* t : TablesOf(model.w_)) {
    if (!in.GetTable(*t)) return corrupt("bad table");
  }
  if (!in.GetLayers(model.w_.user_mlp) || !in.GetLayers(model.w_.video_mlp)) return corrupt("bad layers");
  std::unordered_map<uint64_t, int64_t> users, videos;
  if (!in.GetIdRows(users) || !in.GetIdRows(videos) || !in.GetNameRows(model.category_rows_)) {
    return corrupt("bad vocabulary");
  }
  if (in.remaining() != 0) return corrupt("trailing bytes");
  for (Status valid : {model.Finish(), CheckIdRows(users, model.w_.user_id.rows, "user"),
                       CheckIdRows(videos, model.w_.video_id.rows, "video")}) {
    if (!valid.ok()) return DataLossError(StrCat(path, ": ", valid.message()));
  }
  model.user_rows_ = IdRows(users);
  model.video_rows_ = IdRows(videos);
  return model;
}

Status TwoTowerModel::Verify() const { return artifact_ ? artifact_->Verify() : OkStatus(); }

uint64_t TwoTowerModel::MemoryBytes() const {
  uint64_t bytes = 0;
  for (const Table* t : TablesOf(w_)) bytes += t->data.size() * sizeof(float);
  for (const auto* layers : {&w_.user_mlp, &w_.video_mlp}) {
    for (const Layer& l : *layers)
      bytes += (l.weight.size() + l.bias.size()) * sizeof(float) * 2;  // + transposed
  }
  bytes += user_rows_.slots().size_bytes() + video_rows_.slots().size_bytes();
  bytes += category_rows_.size() * 40;  // hash map nodes: key, value, next pointer and bucket
  return bytes;
}

}  // namespace vrec::retrieval
