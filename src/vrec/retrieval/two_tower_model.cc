#include "vrec/retrieval/two_tower_model.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "vrec/common/check.h"
#include "vrec/common/hash.h"
#include "vrec/common/strings.h"
#include "vrec/registry/manifest.h"
#include "vrec/retrieval/two_tower_features.h"

namespace vrec::retrieval {
namespace {

namespace ttf = two_tower_features;

constexpr char kMagic[8] = {'V', 'R', 'E', 'C', 'T', 'T', '0', '1'};
constexpr const char* kWeightsFile = "two_tower.bin";
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
// schema, layer shapes chaining from the concatenated inputs, vocabulary rows in range.
Status Validate(const TwoTowerModel::Config& c, const TwoTowerModel::Weights& w,
                const std::unordered_map<uint64_t, int64_t>& user_rows,
                const std::unordered_map<uint64_t, int64_t>& video_rows,
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
  for (const auto& [id, row] : user_rows) {
    if (row < 1 || row >= w.user_id.rows)
      return DataLossError(StrCat("two-tower: user row ", row, " out of range"));
  }
  for (const auto& [id, row] : video_rows) {
    if (row < 1 || row >= w.video_id.rows)
      return DataLossError(StrCat("two-tower: video row ", row, " out of range"));
  }
  for (const auto& [name, row] : category_rows) {
    if (row < 1 || row >= w.categories.rows) {
      return DataLossError(StrCat("two-tower: category row ", row, " out of range"));
    }
  }
  return OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Binary format (little-endian):
//   "VRECTT01"
//   u32 text_buckets, u32 flags (bit 0: weight_history_by_preference)
//   13 tables in Weights order (user_id .. text): u32 rows, u32 dim, rows*dim f32
//   user_mlp, video_mlp: u32 layers; per layer u32 in, u32 out, out*in f32 weight, out f32 bias
//   users, videos: u64 count; per entry u64 external id, i64 row
//   categories: u64 count; per entry u32 length, name bytes, i64 row
//   u64 FNV-1a 64 of every byte before it

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

class Writer {
 public:
  template <typename T>
  void Put(T v) {
    v = ToLittle(v);
    buf_.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void PutFloats(const std::vector<float>& v) {
    if constexpr (std::endian::native == std::endian::little) {
      buf_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
    } else {
      for (float f : v) Put(f);
    }
  }
  void PutBytes(std::string_view s) { buf_.append(s); }
  void PutTable(const TwoTowerModel::Table& t) {
    Put(static_cast<uint32_t>(t.rows));
    Put(static_cast<uint32_t>(t.dim));
    PutFloats(t.data);
  }
  void PutLayers(const std::vector<TwoTowerModel::Layer>& layers) {
    Put(static_cast<uint32_t>(layers.size()));
    for (const TwoTowerModel::Layer& l : layers) {
      Put(static_cast<uint32_t>(l.in));
      Put(static_cast<uint32_t>(l.out));
      PutFloats(l.weight);
      PutFloats(l.bias);
    }
  }
  std::string& buffer() { return buf_; }

 private:
  std::string buf_;
};

// Bounds-checked reader over the whole file: every count is checked against the bytes left before
// anything is allocated, so a corrupt file cannot make it allocate more than the file's size.
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
    return GetFloats(static_cast<uint64_t>(rows) * dim, t.data);
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
  int64_t id_row = 0;
  if (in.id) {
    auto it = user_rows_.find(in.id->value);
    if (it != user_rows_.end()) id_row = it->second;
  }
  CopyRow(w_.user_id, id_row, p);
  p += w_.user_id.dim;
  // Pooled history: sum of weight * history row over the videos known to the model, divided by
  // the total weight (zeros when nothing is left), as the Torch UserTower at inference.
  {
    const size_t dim = static_cast<size_t>(w_.history.dim);
    std::vector<float> sum(dim, 0.0f);
    float total = 0;
    for (const auto& [video, weight] : in.history) {
      if (!(weight > 0)) continue;
      auto it = video_rows_.find(video.value);
      if (it == video_rows_.end()) continue;
      const float wt = config_.weight_history_by_preference ? weight : 1.0f;
      const float* e = &w_.history.data[static_cast<size_t>(it->second) * dim];
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
  int64_t id_row = 0;
  if (in.id) {
    auto it = video_rows_.find(in.id->value);
    if (it != video_rows_.end()) id_row = it->second;
  }
  CopyRow(w_.video_id, id_row, p);
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

bool TwoTowerModel::KnowsUser(UserId id) const { return user_rows_.contains(id.value); }
bool TwoTowerModel::KnowsVideo(VideoId id) const { return video_rows_.contains(id.value); }

void TwoTowerModel::Set(Config config, Weights weights, std::unordered_map<uint64_t, int64_t> user_rows,
                        std::unordered_map<uint64_t, int64_t> video_rows,
                        std::unordered_map<std::string, int64_t> category_rows) {
  assert(Validate(config, weights, user_rows, video_rows, category_rows).ok());
  config_ = config;
  w_ = std::move(weights);
  user_rows_ = std::move(user_rows);
  video_rows_ = std::move(video_rows);
  category_rows_ = std::move(category_rows);
  user_wt_ = Transpose(w_.user_mlp);
  video_wt_ = Transpose(w_.video_mlp);
}

Status TwoTowerModel::Save(const std::string& dir, const std::string& training_data_hash,
                           const std::map<std::string, double>& metrics) const {
  if (dimension() == 0) return FailedPreconditionError("two-tower: cannot save an empty model");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return InternalError(StrCat("cannot create ", dir, ": ", ec.message()));

  Writer out;
  out.PutBytes(std::string_view(kMagic, sizeof(kMagic)));
  out.Put(static_cast<uint32_t>(config_.text_buckets));
  out.Put(static_cast<uint32_t>(config_.weight_history_by_preference ? 1 : 0));
  for (const Table* t :
       {&w_.user_id, &w_.age, &w_.gender, &w_.country, &w_.user_language, &w_.history, &w_.video_id,
        &w_.categories, &w_.video_language, &w_.duration, &w_.year, &w_.popularity, &w_.text}) {
    out.PutTable(*t);
  }
  out.PutLayers(w_.user_mlp);
  out.PutLayers(w_.video_mlp);
  // Sorted, so that the same model always gives the same bytes.
  for (const auto* vocab : {&user_rows_, &video_rows_}) {
    std::vector<std::pair<uint64_t, int64_t>> sorted(vocab->begin(), vocab->end());
    std::sort(sorted.begin(), sorted.end());
    out.Put(static_cast<uint64_t>(sorted.size()));
    for (auto [id, row] : sorted) {
      out.Put(id);
      out.Put(row);
    }
  }
  std::vector<std::pair<std::string, int64_t>> cats(category_rows_.begin(), category_rows_.end());
  std::sort(cats.begin(), cats.end());
  out.Put(static_cast<uint64_t>(cats.size()));
  for (const auto& [name, row] : cats) {
    out.Put(static_cast<uint32_t>(name.size()));
    out.PutBytes(name);
    out.Put(row);
  }
  out.Put(Fnv(out.buffer()));

  const std::filesystem::path path = std::filesystem::path(dir) / kWeightsFile;
  const std::filesystem::path tmp = std::filesystem::path(dir) / StrCat(kWeightsFile, ".tmp");
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(out.buffer().data(), static_cast<std::streamsize>(out.buffer().size()));
    f.flush();
    if (!f.good()) return InternalError(StrCat(tmp.string(), ": write failed"));
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) return InternalError(StrCat("cannot rename ", tmp.string(), ": ", ec.message()));

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
  const std::filesystem::path path = std::filesystem::path(dir) / file->second;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return NotFoundError(StrCat(path.string(), ": ", ec.message()));
  std::string bytes(static_cast<size_t>(size), '\0');
  {
    std::ifstream f(path, std::ios::binary);
    if (!f.is_open()) return NotFoundError(StrCat(path.string(), ": cannot open"));
    f.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (static_cast<size_t>(f.gcount()) != bytes.size())
      return DataLossError(StrCat(path.string(), ": short read"));
  }
  auto corrupt = [&](std::string_view what) {
    return DataLossError(StrCat(path.string(), ": ", what, " (truncated or corrupt two-tower weights)"));
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
  Config config;
  const uint32_t text_buckets = in.Get<uint32_t>();
  const uint32_t flags = in.Get<uint32_t>();
  if (!in.ok() || text_buckets > static_cast<uint32_t>(std::numeric_limits<int>::max()) || flags > 1) {
    return corrupt("bad config");
  }
  config.text_buckets = static_cast<int>(text_buckets);
  config.weight_history_by_preference = (flags & 1) != 0;
  Weights w;
  for (Table* t : {&w.user_id, &w.age, &w.gender, &w.country, &w.user_language, &w.history, &w.video_id,
                   &w.categories, &w.video_language, &w.duration, &w.year, &w.popularity, &w.text}) {
    if (!in.GetTable(*t)) return corrupt("bad table");
  }
  if (!in.GetLayers(w.user_mlp) || !in.GetLayers(w.video_mlp)) return corrupt("bad layers");
  std::unordered_map<uint64_t, int64_t> users, videos;
  std::unordered_map<std::string, int64_t> categories;
  if (!in.GetIdRows(users) || !in.GetIdRows(videos) || !in.GetNameRows(categories)) {
    return corrupt("bad vocabulary");
  }
  if (in.remaining() != 0) return corrupt("trailing bytes");
  Status valid = Validate(config, w, users, videos, categories);
  if (!valid.ok()) return DataLossError(StrCat(path.string(), ": ", valid.message()));
  TwoTowerModel model;
  model.Set(config, std::move(w), std::move(users), std::move(videos), std::move(categories));
  return model;
}

uint64_t TwoTowerModel::MemoryBytes() const {
  uint64_t bytes = 0;
  for (const Table* t :
       {&w_.user_id, &w_.age, &w_.gender, &w_.country, &w_.user_language, &w_.history, &w_.video_id,
        &w_.categories, &w_.video_language, &w_.duration, &w_.year, &w_.popularity, &w_.text}) {
    bytes += t->data.size() * sizeof(float);
  }
  for (const auto* layers : {&w_.user_mlp, &w_.video_mlp}) {
    for (const Layer& l : *layers)
      bytes += (l.weight.size() + l.bias.size()) * sizeof(float) * 2;  // + transposed
  }
  // Hash map nodes: key, value, next pointer and bucket, ~40 bytes each.
  bytes += (user_rows_.size() + video_rows_.size() + category_rows_.size()) * 40;
  return bytes;
}

}  // namespace vrec::retrieval
