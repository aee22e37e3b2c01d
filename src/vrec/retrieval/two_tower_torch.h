// Torch internals of the two-tower trainer (two_tower.h): feature tables, the Torch model and the
// training loop. Internal: included only by two_tower.cc and by the test-only two_tower_testing.cc,
// the two files of the LibTorch adapter; everything else sees two_tower.h, which has no Torch type.
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "vrec/common/parallel.h"
#include "vrec/common/progress.h"
#include "vrec/data/dataset.h"
#include "vrec/retrieval/two_tower.h"
#include "vrec/retrieval/two_tower_features.h"

namespace vrec::retrieval::two_tower_torch {

namespace F = torch::nn::functional;

// ---------------------------------------------------------------------------------------------
// Feature tensors. The features themselves come from two_tower_features.h, shared with
// TwoTowerModel, so that training and serving compute the same inputs.

namespace ttf = two_tower_features;

// Compressed rows of (index, weight).
struct Csr {
  std::vector<int64_t> ptr{0};
  std::vector<int64_t> idx;
  std::vector<float> w;
  void EndRow() { ptr.push_back(static_cast<int64_t>(idx.size())); }
  int64_t RowSize(size_t r) const { return ptr[r + 1] - ptr[r]; }
};

struct VideoFeatures {
  std::vector<int64_t> language, duration, year, popularity;
  std::vector<bool> known;  // has training positives: its id embedding is trained
  Csr categories;           // category index + 1
  Csr text;                 // hashed title words, title trigrams and tags
};

struct UserFeatures {
  std::vector<int64_t> age, gender, country, language;
  std::vector<bool> known;
};

// Each user's positive videos (unique; weight = max PreferenceWeight) and the weight total.
struct History {
  Csr rows;
  std::vector<float> total;
};

inline VideoFeatures BuildVideoFeatures(const data::Dataset& ds, const std::vector<int64_t>& counts,
                                        int64_t text_buckets) {
  VideoFeatures f;
  const size_t n = ds.videos.size();
  for (size_t v = 0; v < n; ++v) {
    const data::Video& x = ds.videos[v];
    f.language.push_back(ttf::VideoLanguageBucket(x.language));
    f.duration.push_back(ttf::DurationBucket(x.duration_s));
    f.year.push_back(ttf::YearBucket(x.upload_time));
    f.popularity.push_back(ttf::PopularityBucket(counts[v]));
    f.known.push_back(counts[v] > 0);
    for (uint16_t c : x.categories) {
      f.categories.idx.push_back(static_cast<int64_t>(c) + 1);
      f.categories.w.push_back(1.0f);
    }
    f.categories.EndRow();
    ttf::AppendTextBuckets(x.title, x.tags, text_buckets, f.text.idx);
    f.text.w.resize(f.text.idx.size(), 1.0f);
    f.text.EndRow();
  }
  return f;
}

inline UserFeatures BuildUserFeatures(const data::Dataset& ds, const History& history) {
  UserFeatures f;
  for (size_t u = 0; u < ds.users.size(); ++u) {
    const data::User& x = ds.users[u];
    f.age.push_back(ttf::AgeBucket(x.age));
    f.gender.push_back(ttf::GenderBucket(x.gender));
    f.country.push_back(ttf::CountryBucket(x.country));
    f.language.push_back(ttf::UserLanguageBucket(x.language));
    f.known.push_back(history.rows.RowSize(u) > 0);
  }
  return f;
}

inline History BuildHistory(size_t num_users,
                            const std::vector<std::vector<std::pair<uint32_t, float>>>& per_user,
                            bool weighted) {
  History h;
  for (size_t u = 0; u < num_users; ++u) {
    float total = 0;
    for (auto [v, w] : per_user[u]) {
      const float weight = weighted ? w : 1.0f;
      h.rows.idx.push_back(static_cast<int64_t>(v) + 1);
      h.rows.w.push_back(weight);
      total += weight;
    }
    h.rows.EndRow();
    h.total.push_back(total);
  }
  return h;
}

inline torch::Tensor ToTensor(const std::vector<int64_t>& v) {
  torch::Tensor t = torch::empty({static_cast<int64_t>(v.size())}, torch::kInt64);
  if (!v.empty()) std::memcpy(t.data_ptr<int64_t>(), v.data(), v.size() * sizeof(int64_t));
  return t;
}
inline torch::Tensor ToTensor(std::span<const float> v) {
  torch::Tensor t = torch::empty({static_cast<int64_t>(v.size())}, torch::kFloat32);
  if (!v.empty()) std::memcpy(t.data_ptr<float>(), v.data(), v.size() * sizeof(float));
  return t;
}

// Concatenated bags of `rows` (indices, offsets, weights) for EmbeddingBag.
struct Bags {
  torch::Tensor idx, offsets, w;
};
inline Bags GatherBags(const Csr& csr, const std::vector<int64_t>& rows) {
  std::vector<int64_t> idx, offsets;
  std::vector<float> w;
  offsets.reserve(rows.size());
  for (int64_t r : rows) {
    offsets.push_back(static_cast<int64_t>(idx.size()));
    if (r < 0) continue;  // an empty bag
    for (int64_t k = csr.ptr[r]; k < csr.ptr[r + 1]; ++k) {
      idx.push_back(csr.idx[k]);
      w.push_back(csr.w[k]);
    }
  }
  return {ToTensor(idx), ToTensor(offsets), ToTensor(w)};
}

// ---------------------------------------------------------------------------------------------
// Model.

struct VideoBatch {
  torch::Tensor id, language, duration, year, popularity;
  Bags categories, text;
};

struct UserBatch {
  torch::Tensor id, age, gender, country, language;
  Bags history;         // one bag per unique user of the batch
  torch::Tensor slot;   // row -> its unique user's bag
  torch::Tensor total;  // row -> history weight total
  // Leave-one-out (training only): the row's positive video (id + 1) and its history weight.
  torch::Tensor held_video, held_weight;
};

inline torch::nn::Sequential MakeMlp(int64_t in, const std::vector<int>& hidden, int64_t out) {
  torch::nn::Sequential mlp;
  for (int h : hidden) {
    mlp->push_back(torch::nn::Linear(in, h));
    mlp->push_back(torch::nn::ReLU());
    in = h;
  }
  mlp->push_back(torch::nn::Linear(in, out));
  return mlp;
}

struct TwoTowerNetImpl : torch::nn::Module {
  TwoTowerNetImpl(const TwoTowerOptions& o, int64_t num_users, int64_t num_videos, int64_t num_categories)
      : share_history(o.share_history_table),
        sparse_users(o.sparse_table_rows > 0 && num_users + 1 >= o.sparse_table_rows),
        sparse_videos(o.sparse_table_rows > 0 && num_videos + 1 >= o.sparse_table_rows) {
    auto table = [&](const char* name, int64_t rows, int64_t dim) {
      return register_parameter(name, torch::randn({rows, dim}) * 0.05);
    };
    user_id = table("user_id", num_users + 1, o.id_dim);
    age = table("age", ttf::kAgeBuckets, o.feature_dim);
    gender = table("gender", ttf::kGenderBuckets, o.feature_dim);
    country = table("country", ttf::kLanguageBuckets, o.feature_dim);
    user_language = table("user_language", ttf::kLanguageBuckets, o.feature_dim);
    video_id = table("video_id", num_videos + 1, o.id_dim);
    history = share_history ? video_id : table("history", num_videos + 1, o.id_dim);
    categories = table("categories", num_categories + 1, o.feature_dim);
    video_language = table("video_language", ttf::kLanguageBuckets, o.feature_dim);
    duration = table("duration", ttf::kDurationBuckets, o.feature_dim);
    year = table("year", ttf::kYearBuckets, o.feature_dim);
    popularity = table("popularity", ttf::kPopularityBuckets, o.feature_dim);
    text = table("text", o.text_buckets, o.text_dim);
    const int64_t user_in = 2 * o.id_dim + 4 * o.feature_dim;
    const int64_t video_in = o.id_dim + 5 * o.feature_dim + o.text_dim;
    user_mlp = register_module("user_mlp", MakeMlp(user_in, o.hidden, o.output_dim));
    video_mlp = register_module("video_mlp", MakeMlp(video_in, o.hidden, o.output_dim));
  }

  static torch::Tensor Bag(const torch::Tensor& weight, const Bags& b, bool weighted,
                           torch::nn::EmbeddingBagMode mode, bool sparse = false) {
    auto opts = F::EmbeddingBagFuncOptions().offsets(b.offsets).mode(mode);
    if (weighted) opts = opts.per_sample_weights(b.w);
    if (sparse) opts = opts.sparse(true);
    return F::embedding_bag(b.idx, weight, opts);
  }

  // Rows `idx` of `table`; with a sparse gradient (only those rows) for the tables LazyAdam updates.
  // The same values either way.
  static torch::Tensor Rows(const torch::Tensor& table, const torch::Tensor& idx, bool sparse) {
    if (!sparse) return table.index_select(0, idx);
    return F::embedding(idx, table, F::EmbeddingFuncOptions().sparse(true));
  }

  // The id tables whose gradients are sparse (see TwoTowerOptions::sparse_table_rows).
  std::vector<torch::Tensor> SparseTables() const {
    std::vector<torch::Tensor> out;
    if (sparse_users) out.push_back(user_id);
    if (sparse_videos) {
      out.push_back(video_id);
      if (!share_history) out.push_back(history);
    }
    return out;
  }

  torch::Tensor VideoTower(const VideoBatch& b) {
    torch::Tensor x = torch::cat(
        {Rows(video_id, b.id, sparse_videos), video_language.index_select(0, b.language),
         duration.index_select(0, b.duration), year.index_select(0, b.year),
         popularity.index_select(0, b.popularity), Bag(categories, b.categories, false, torch::kMean),
         Bag(text, b.text, false, torch::kMean)},
        1);
    return F::normalize(video_mlp->forward(x), F::NormalizeFuncOptions().dim(1));
  }

  torch::Tensor UserTower(const UserBatch& b) {
    torch::Tensor sum = Bag(history, b.history, true, torch::kSum, sparse_videos).index_select(0, b.slot);
    torch::Tensor total = b.total;
    if (b.held_video.defined()) {
      sum = sum - Rows(history, b.held_video, sparse_videos) * b.held_weight.unsqueeze(1);
      total = total - b.held_weight;
    }
    // A user whose only positive is held out (or who has none) has an all-zero pool.
    torch::Tensor has = total > 1e-6;
    torch::Tensor pooled =
        torch::where(has.unsqueeze(1), sum / total.clamp_min(1e-6).unsqueeze(1), torch::zeros_like(sum));
    torch::Tensor x = torch::cat({Rows(user_id, b.id, sparse_users), pooled, age.index_select(0, b.age),
                                  gender.index_select(0, b.gender), country.index_select(0, b.country),
                                  user_language.index_select(0, b.language)},
                                 1);
    return F::normalize(user_mlp->forward(x), F::NormalizeFuncOptions().dim(1));
  }

  bool share_history;
  bool sparse_users, sparse_videos;
  torch::Tensor user_id, age, gender, country, user_language, history;
  torch::Tensor video_id, categories, video_language, duration, year, popularity, text;
  torch::nn::Sequential user_mlp{nullptr}, video_mlp{nullptr};
};
TORCH_MODULE(TwoTowerNet);

// logits[r][c] = <u_r, v_c> / temperature - log_q[c]; the positive of row r is column r; columns
// holding the same video as row r's positive (other than r itself) are masked out.
inline torch::Tensor SoftmaxLoss(const torch::Tensor& u, const torch::Tensor& v, const torch::Tensor& log_q,
                                 float temperature, const torch::Tensor& row_ids,
                                 const torch::Tensor& col_ids) {
  const int64_t batch = u.size(0);
  torch::Tensor logits = torch::matmul(u, v.t()) / temperature - log_q.unsqueeze(0);
  if (row_ids.defined() && col_ids.defined()) {
    torch::Tensor same = row_ids.unsqueeze(1) == col_ids.unsqueeze(0);
    torch::Tensor diag = torch::zeros_like(same);
    diag.narrow(1, 0, batch).copy_(torch::eye(batch, torch::kBool));
    logits = logits.masked_fill(same.logical_and(diag.logical_not()), -1e9);
  }
  return F::cross_entropy(logits, torch::arange(batch, torch::kInt64));
}

// Adam for parameters with sparse gradients, updating only the rows a step touched (PyTorch's
// SparseAdam): m and v of those rows move as in Adam, with the bias corrections of the global step;
// the other rows keep their weights and moments. Dense Adam would decay every row's moments and
// move every row with momentum at every step, which costs a pass over the whole table.
class LazyAdam {
 public:
  LazyAdam(std::vector<torch::Tensor> params, const torch::optim::AdamOptions& o) : o_(o) {
    for (torch::Tensor& p : params) {
      slots_.push_back({p, torch::zeros_like(p), torch::zeros_like(p)});
    }
  }

  void zero_grad() {
    for (Slot& s : slots_) s.param.mutable_grad().reset();
  }

  void step() {
    torch::NoGradGuard no_grad;
    ++step_;
    const auto [beta1, beta2] = o_.betas();
    const double bias1 = 1 - std::pow(beta1, static_cast<double>(step_));
    const double bias2 = 1 - std::pow(beta2, static_cast<double>(step_));
    for (Slot& s : slots_) {
      const torch::Tensor& g = s.param.grad();
      if (!g.defined()) continue;
      // A row looked up twice in a batch has two entries: coalesce sums them.
      const torch::Tensor grad = g.is_sparse() ? g.coalesce() : g.to_sparse();
      const torch::Tensor rows = grad.indices().select(0, 0);
      if (rows.numel() == 0) continue;
      torch::Tensor values = grad.values();
      if (o_.weight_decay() != 0) values = values + o_.weight_decay() * s.param.index_select(0, rows);
      torch::Tensor m = s.m.index_select(0, rows).mul_(beta1).add_(values, 1 - beta1);
      torch::Tensor v = s.v.index_select(0, rows).mul_(beta2).addcmul_(values, values, 1 - beta2);
      s.m.index_copy_(0, rows, m);
      s.v.index_copy_(0, rows, v);
      torch::Tensor denom = (v.sqrt() / std::sqrt(bias2)).add_(o_.eps());
      s.param.index_add_(0, rows, m.div_(denom).mul_(-o_.lr() / bias1));
    }
  }

 private:
  struct Slot {
    torch::Tensor param, m, v;
  };
  torch::optim::AdamOptions o_;
  std::vector<Slot> slots_;
  int64_t step_ = 0;
};

// The trainer's optimizer: Adam for the dense parameters, LazyAdam for the sparse id tables.
class Optimizer {
 public:
  Optimizer(std::vector<torch::Tensor> dense, std::vector<torch::Tensor> sparse,
            const torch::optim::AdamOptions& o)
      : dense_(std::move(dense), o), sparse_(std::move(sparse), o) {}
  void zero_grad() {
    dense_.zero_grad();
    sparse_.zero_grad();
  }
  void step() {
    dense_.step();
    sparse_.step();
  }

 private:
  torch::optim::Adam dense_;
  LazyAdam sparse_;
};

// Unique positives per user in first-seen order (weight: the largest PreferenceWeight).
inline std::vector<std::vector<std::pair<uint32_t, float>>> CollectPositives(
    const data::Dataset& ds, std::span<const data::Interaction> train) {
  const size_t nu = ds.users.size();
  std::vector<std::vector<std::pair<uint32_t, float>>> positives(nu);
  std::vector<std::unordered_map<uint32_t, size_t>> slot(nu);
  for (const data::Interaction& x : train) {
    const float w = data::PreferenceWeight(x);
    if (!(w > 0) || x.user >= nu || x.video >= ds.videos.size()) continue;
    auto [it, inserted] = slot[x.user].try_emplace(x.video, positives[x.user].size());
    if (inserted) {
      positives[x.user].emplace_back(x.video, w);
    } else {
      positives[x.user][it->second].second = std::max(positives[x.user][it->second].second, w);
    }
  }
  return positives;
}

// Training state of one Fit: the feature tables of the Fit dataset, the training pairs, and the
// Torch model's construction, training, evaluation and export. Holds references to the options
// and the dataset, which must outlive it. Not thread-safe.
struct Trainer {
  const TwoTowerOptions& o;
  const data::Dataset& ds;
  std::mt19937_64 rng;
  VideoFeatures videos;
  UserFeatures users;
  History history;
  // Training pairs: user, video, history weight of the pair.
  std::vector<uint32_t> ex_user, ex_video;
  std::vector<float> ex_weight;
  std::vector<float> log_q;         // per video: log(batch * q(v) + random_negatives / catalog)
  std::vector<int64_t> candidates;  // videos with training positives (random negatives, validation)
  // The per-user positives and per-video positive counts of the last Prepare (scoring history and
  // popularity of the exported model).
  std::vector<std::vector<std::pair<uint32_t, float>>> positives;
  std::vector<int64_t> counts;

  Trainer(const TwoTowerOptions& opts, const data::Dataset& d) : o(opts), ds(d), rng(opts.seed) {}

  // Builds features from per-user positives (the training part).
  void Prepare(const std::vector<std::vector<std::pair<uint32_t, float>>>& per_user) {
    const size_t nv = ds.videos.size();
    counts.assign(nv, 0);
    ex_user.clear();
    ex_video.clear();
    ex_weight.clear();
    history = BuildHistory(ds.users.size(), per_user, o.weight_history_by_preference);
    for (size_t u = 0; u < per_user.size(); ++u) {
      for (size_t k = 0; k < per_user[u].size(); ++k) {
        const uint32_t v = per_user[u][k].first;
        ++counts[v];
        ex_user.push_back(static_cast<uint32_t>(u));
        ex_video.push_back(v);
        ex_weight.push_back(history.rows.w[static_cast<size_t>(history.rows.ptr[u]) + k]);
      }
    }
    videos = BuildVideoFeatures(ds, counts, o.text_buckets);
    users = BuildUserFeatures(ds, history);
    positives = per_user;
    candidates.clear();
    for (size_t v = 0; v < nv; ++v) {
      if (counts[v] > 0) candidates.push_back(static_cast<int64_t>(v));
    }
    const double total = static_cast<double>(ex_user.size());
    const double uniform =
        candidates.empty() ? 0.0 : o.random_negatives / static_cast<double>(candidates.size());
    log_q.assign(nv, 0.0f);
    for (size_t v = 0; v < nv; ++v) {
      const double q = o.batch_size * counts[v] / total + uniform;
      log_q[v] = static_cast<float>(std::log(std::max(q, 1e-12)));
    }
  }

  bool Drop() { return o.id_dropout > 0 && std::uniform_real_distribution<float>(0, 1)(rng) < o.id_dropout; }

  VideoBatch MakeVideoBatch(const std::vector<int64_t>& vs, bool train) {
    std::vector<int64_t> id, language, duration, year, popularity;
    for (int64_t v : vs) {
      const bool drop = train && Drop();
      id.push_back(videos.known[v] && !drop ? v + 1 : 0);
      language.push_back(videos.language[v]);
      duration.push_back(videos.duration[v]);
      year.push_back(videos.year[v]);
      popularity.push_back(videos.popularity[v]);
    }
    return {ToTensor(id),
            ToTensor(language),
            ToTensor(duration),
            ToTensor(year),
            ToTensor(popularity),
            GatherBags(videos.categories, vs),
            GatherBags(videos.text, vs)};
  }

  // `held`: for training rows, the positive video of each row (left out of the history pool).
  UserBatch MakeUserBatch(const std::vector<int64_t>& us, const std::vector<int64_t>* held_video,
                          const std::vector<float>* held_weight, bool train) {
    std::vector<int64_t> id, age, gender, country, language, slot, unique;
    std::vector<float> total;
    std::unordered_map<int64_t, int64_t> slot_of;
    for (int64_t u : us) {
      if (u < 0) {  // the unknown user: no id, demographics or history
        id.push_back(0);
        age.push_back(0);
        gender.push_back(0);
        country.push_back(0);
        language.push_back(0);
        auto [it, inserted] = slot_of.try_emplace(u, static_cast<int64_t>(unique.size()));
        if (inserted) unique.push_back(u);
        slot.push_back(it->second);
        total.push_back(0.0f);
        continue;
      }
      const bool drop = train && Drop();
      id.push_back(users.known[u] && !drop ? u + 1 : 0);
      age.push_back(users.age[u]);
      gender.push_back(users.gender[u]);
      country.push_back(users.country[u]);
      language.push_back(users.language[u]);
      auto [it, inserted] = slot_of.try_emplace(u, static_cast<int64_t>(unique.size()));
      if (inserted) unique.push_back(u);
      slot.push_back(it->second);
      total.push_back(history.total[u]);
    }
    if (train && o.history_sample > 0 && held_video != nullptr) {
      return SampledUserBatch(id, age, gender, country, language, slot, unique, *held_video, *held_weight);
    }
    UserBatch b{ToTensor(id),
                ToTensor(age),
                ToTensor(gender),
                ToTensor(country),
                ToTensor(language),
                GatherBags(history.rows, unique),
                ToTensor(slot),
                ToTensor(total),
                {},
                {}};
    if (held_video != nullptr) {
      b.held_video = ToTensor(*held_video);
      b.held_weight = ToTensor(*held_weight);
    }
    return b;
  }

  // A training batch whose history bags hold at most o.history_sample of each user's videos, a
  // fresh uniform sample per batch (TwoTowerOptions::history_sample). Each row's pool is the
  // weighted mean of its user's sample, leaving the row's positive out when the sample holds it.
  UserBatch SampledUserBatch(const std::vector<int64_t>& id, const std::vector<int64_t>& age,
                             const std::vector<int64_t>& gender, const std::vector<int64_t>& country,
                             const std::vector<int64_t>& language, const std::vector<int64_t>& slot,
                             const std::vector<int64_t>& unique, const std::vector<int64_t>& held_video,
                             const std::vector<float>& held_weight) {
    const auto cap = static_cast<int64_t>(o.history_sample);
    std::vector<int64_t> idx, offsets, pick;
    std::vector<float> w, sample_total(unique.size(), 0.0f);
    offsets.reserve(unique.size());
    for (size_t j = 0; j < unique.size(); ++j) {
      offsets.push_back(static_cast<int64_t>(idx.size()));
      const int64_t u = unique[j];
      if (u < 0) continue;  // the unknown user: an empty bag
      const int64_t begin = history.rows.ptr[static_cast<size_t>(u)];
      const int64_t n = history.rows.RowSize(static_cast<size_t>(u));
      pick.resize(static_cast<size_t>(n));
      std::iota(pick.begin(), pick.end(), begin);
      const int64_t m = std::min(n, cap);
      for (int64_t k = 0; k < m && m < n; ++k) {  // partial Fisher-Yates: the first m are the sample
        std::uniform_int_distribution<int64_t> any(k, n - 1);
        std::swap(pick[static_cast<size_t>(k)], pick[static_cast<size_t>(any(rng))]);
      }
      for (int64_t k = 0; k < m; ++k) {
        const auto at = static_cast<size_t>(pick[static_cast<size_t>(k)]);
        idx.push_back(history.rows.idx[at]);
        w.push_back(history.rows.w[at]);
        sample_total[j] += history.rows.w[at];
      }
    }
    offsets.push_back(static_cast<int64_t>(idx.size()));  // the end of the last bag, for the lookups
    std::vector<float> total(slot.size()), held_in_sample(slot.size());
    for (size_t r = 0; r < slot.size(); ++r) {
      const auto j = static_cast<size_t>(slot[r]);
      total[r] = sample_total[j];
      const auto first = idx.begin() + offsets[j], last = idx.begin() + offsets[j + 1];
      held_in_sample[r] = std::find(first, last, held_video[r]) != last ? held_weight[r] : 0.0f;
    }
    offsets.pop_back();
    UserBatch b{ToTensor(id),         ToTensor(age),
                ToTensor(gender),     ToTensor(country),
                ToTensor(language),   Bags{ToTensor(idx), ToTensor(offsets), ToTensor(w)},
                ToTensor(slot),       ToTensor(total),
                ToTensor(held_video), ToTensor(held_in_sample)};
    return b;
  }

  // Video embeddings of all videos, num_videos x dim.
  torch::Tensor AllVideos(TwoTowerNet& net) {
    const int64_t nv = static_cast<int64_t>(ds.videos.size());
    std::vector<torch::Tensor> parts;
    for (int64_t start = 0; start < nv; start += 4096) {
      std::vector<int64_t> vs(static_cast<size_t>(std::min<int64_t>(4096, nv - start)));
      std::iota(vs.begin(), vs.end(), start);
      parts.push_back(net->VideoTower(MakeVideoBatch(vs, false)));
    }
    return parts.empty() ? torch::zeros({0, o.output_dim}) : torch::cat(parts, 0);
  }

  // User embeddings of `us` from their whole (training) history.
  torch::Tensor Users(TwoTowerNet& net, const std::vector<int64_t>& us) {
    std::vector<torch::Tensor> parts;
    for (size_t start = 0; start < us.size(); start += 1024) {
      std::vector<int64_t> chunk(us.begin() + static_cast<ptrdiff_t>(start),
                                 us.begin() + static_cast<ptrdiff_t>(std::min(us.size(), start + 1024)));
      parts.push_back(net->UserTower(MakeUserBatch(chunk, nullptr, nullptr, false)));
    }
    return parts.empty() ? torch::zeros({0, o.output_dim}) : torch::cat(parts, 0);
  }

  // One pass over the shuffled training pairs; returns the mean loss. `label` names the epoch in
  // progress lines (printed every 15 s when verbose, so only long epochs show them).
  double TrainEpoch(TwoTowerNet& net, Optimizer& opt, const std::string& label = "two-tower: epoch") {
    net->train();
    std::vector<size_t> order(ex_user.size());
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    double loss_sum = 0;
    int batches = 0;
    std::uniform_int_distribution<size_t> pick(0, candidates.empty() ? 0 : candidates.size() - 1);
    const auto batch = static_cast<int64_t>(o.batch_size);
    Progress progress(label, (static_cast<int64_t>(order.size()) + batch - 1) / batch, !o.verbose, 15.0,
                      "batches", /*final_line=*/false);
    for (size_t start = 0; start < order.size(); start += static_cast<size_t>(o.batch_size)) {
      const size_t end = std::min(order.size(), start + static_cast<size_t>(o.batch_size));
      if (end - start < 2) break;  // a softmax over one column teaches nothing
      std::vector<int64_t> us, vs, held;
      std::vector<float> hw, lq;
      for (size_t k = start; k < end; ++k) {
        const size_t e = order[k];
        us.push_back(ex_user[e]);
        vs.push_back(ex_video[e]);
        held.push_back(static_cast<int64_t>(ex_video[e]) + 1);
        hw.push_back(ex_weight[e]);
      }
      std::vector<int64_t> cols = vs;
      for (int r = 0; r < o.random_negatives; ++r) cols.push_back(candidates[pick(rng)]);
      for (int64_t v : cols) lq.push_back(o.logq_weight * log_q[static_cast<size_t>(v)]);
      torch::Tensor u = net->UserTower(MakeUserBatch(us, &held, &hw, true));
      torch::Tensor v = net->VideoTower(MakeVideoBatch(cols, true));
      torch::Tensor loss = SoftmaxLoss(u, v, ToTensor(lq), o.temperature, ToTensor(vs), ToTensor(cols));
      opt.zero_grad();
      loss.backward();
      opt.step();
      loss_sum += loss.item<double>();
      ++batches;
      progress.Add(1);
    }
    return batches == 0 ? 0.0 : loss_sum / batches;
  }

  // The users ValidationRecall measures: those with validation rows, or a fixed random sample of
  // them when all of them would need more than validation_max_scores scores (ascending).
  std::vector<int64_t> ValidationUsers(const std::vector<std::vector<uint32_t>>& validation) const {
    std::vector<int64_t> us;
    for (size_t u = 0; u < validation.size(); ++u) {
      if (!validation[u].empty()) us.push_back(static_cast<int64_t>(u));
    }
    const int64_t nv = std::max<int64_t>(1, static_cast<int64_t>(ds.videos.size()));
    const auto cap = static_cast<size_t>(std::max<int64_t>(1, o.validation_max_scores / nv));
    if (o.validation_max_scores > 0 && us.size() > cap) {
      std::mt19937_64 sample_rng(o.seed ^ 0x5bd1e995ULL);
      std::shuffle(us.begin(), us.end(), sample_rng);
      us.resize(cap);
      std::sort(us.begin(), us.end());
    }
    return us;
  }

  // Mean over `us` (users with validation rows) of Recall@k, training videos excluded, candidates =
  // videos with training positives. Scores are computed for chunks of users at a time, so memory
  // stays near kChunkScores floats whatever the number of users.
  double ValidationRecall(TwoTowerNet& net, const std::vector<std::vector<uint32_t>>& validation,
                          const std::vector<int64_t>& us) {
    c10::InferenceMode guard;
    net->eval();
    if (us.empty()) return 0.0;
    const torch::Tensor videos_t = AllVideos(net).t();
    const int64_t nv = videos_t.size(1);
    std::vector<bool> candidate(static_cast<size_t>(nv), false);
    for (int64_t v : candidates) candidate[static_cast<size_t>(v)] = true;
    const float kExcluded = -std::numeric_limits<float>::infinity();
    const int64_t k = std::min<int64_t>(o.validation_k, nv);
    constexpr int64_t kChunkScores = int64_t{64} << 20;  // 256 MB of scores
    const auto chunk = static_cast<size_t>(std::max<int64_t>(1, kChunkScores / std::max<int64_t>(nv, 1)));
    double sum = 0;
    for (size_t begin = 0; begin < us.size(); begin += chunk) {
      const std::vector<int64_t> part(
          us.begin() + static_cast<ptrdiff_t>(begin),
          us.begin() + static_cast<ptrdiff_t>(std::min(us.size(), begin + chunk)));
      torch::Tensor scores = torch::matmul(Users(net, part), videos_t).contiguous();
      float* s = scores.data_ptr<float>();
      for (size_t r = 0; r < part.size(); ++r) {
        float* row = s + static_cast<int64_t>(r) * nv;
        for (int64_t v = 0; v < nv; ++v) {
          if (!candidate[static_cast<size_t>(v)]) row[v] = kExcluded;
        }
        const int64_t u = part[r];
        for (int64_t j = history.rows.ptr[u]; j < history.rows.ptr[u + 1]; ++j)
          row[history.rows.idx[j] - 1] = kExcluded;
      }
      torch::Tensor top = std::get<1>(scores.topk(k, 1)).contiguous();
      const int64_t* t = top.data_ptr<int64_t>();
      for (size_t r = 0; r < part.size(); ++r) {
        const auto& truth = validation[static_cast<size_t>(part[r])];
        int hits = 0;
        for (int64_t j = 0; j < k; ++j) {
          const auto v = static_cast<uint32_t>(t[static_cast<int64_t>(r) * k + j]);
          hits += std::find(truth.begin(), truth.end(), v) != truth.end() ? 1 : 0;
        }
        sum += static_cast<double>(hits) / static_cast<double>(truth.size());
      }
    }
    return sum / static_cast<double>(us.size());
  }

  // The trained parameters as a TwoTowerModel. Vocabularies: users and videos with positives in
  // the training part (`known`: their id rows are trained) map to index + 1, categories to index + 1.
  TwoTowerModel ToModel(TwoTowerNet& net) const {
    auto table = [](const torch::Tensor& t) {
      const torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
      TwoTowerModel::Table out;
      out.rows = static_cast<int>(c.size(0));
      out.dim = static_cast<int>(c.size(1));
      out.data = FlatArray<float>(std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel()));
      return out;
    };
    auto layers = [](const torch::nn::Sequential& mlp) {
      std::vector<TwoTowerModel::Layer> out;
      for (const auto& child : mlp->children()) {
        const auto* linear = child->as<torch::nn::Linear>();
        if (linear == nullptr) continue;
        const torch::Tensor w = linear->weight.detach().to(torch::kFloat32).contiguous();
        const torch::Tensor b = linear->bias.detach().to(torch::kFloat32).contiguous();
        TwoTowerModel::Layer l;
        l.out = static_cast<int>(w.size(0));
        l.in = static_cast<int>(w.size(1));
        l.weight.assign(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
        l.bias.assign(b.data_ptr<float>(), b.data_ptr<float>() + b.numel());
        out.push_back(std::move(l));
      }
      return out;
    };
    TwoTowerModel::Weights w{table(net->user_id),  table(net->age),           table(net->gender),
                             table(net->country),  table(net->user_language), table(net->history),
                             table(net->video_id), table(net->categories),    table(net->video_language),
                             table(net->duration), table(net->year),          table(net->popularity),
                             table(net->text),     layers(net->user_mlp),     layers(net->video_mlp)};
    std::unordered_map<uint64_t, int64_t> user_rows, video_rows;
    std::unordered_map<std::string, int64_t> category_rows;
    for (size_t u = 0; u < ds.users.size(); ++u) {
      if (users.known[u]) user_rows.emplace(ds.users[u].id.value, static_cast<int64_t>(u) + 1);
    }
    for (size_t v = 0; v < ds.videos.size(); ++v) {
      if (videos.known[v]) video_rows.emplace(ds.videos[v].id.value, static_cast<int64_t>(v) + 1);
    }
    for (size_t c = 0; c < ds.categories.size(); ++c) {
      category_rows.emplace(ds.categories[c], static_cast<int64_t>(c) + 1);
    }
    TwoTowerModel model;
    model.Set({static_cast<int>(o.text_buckets), o.weight_history_by_preference}, std::move(w),
              std::move(user_rows), std::move(video_rows), std::move(category_rows));
    return model;
  }

  // Exports the model into `out` and precomputes every user and video embedding with it, i.e. with
  // the same plain C++ forward pass that serving uses.
  void Export(TwoTowerNet& net, TwoTowerScorer& out) {
    {
      c10::InferenceMode guard;
      net->eval();
      out.model_ = ToModel(net);
    }
    out.video_positives_ = counts;
    const TwoTowerModel& m = out.model_;
    const size_t d = static_cast<size_t>(m.dimension());
    const size_t nu = ds.users.size(), nv = ds.videos.size();
    out.dim_ = m.dimension();
    out.user_emb_.assign(nu * d, 0.0f);
    out.video_emb_.assign(nv * d, 0.0f);
    out.unk_user_emb_.assign(d, 0.0f);
    m.EmbedUser(UserInput{}, out.unk_user_emb_);
    ParallelFor(static_cast<int64_t>(nu + nv), o.threads, 256, [&](int64_t begin, int64_t end) {
      for (auto k = static_cast<size_t>(begin); k < static_cast<size_t>(end); ++k) {
        if (k < nu) {
          m.EmbedUser(UserInputFrom(ds, static_cast<uint32_t>(k), positives[k]),
                      std::span<float>(&out.user_emb_[k * d], d));
        } else {
          const size_t v = k - nu;
          m.EmbedVideo(VideoInputFrom(ds, static_cast<uint32_t>(v), counts[v]),
                       std::span<float>(&out.video_emb_[v * d], d));
        }
      }
    });
  }

  // A fresh model; the retrain on all rows starts from the same seeds as the validation run, so it
  // does not depend on how many epochs early stopping took. The initial weights come from Torch's
  // global generator: fits running side by side (two-stage's folds and final refit) seed and draw
  // from it one at a time, so each gets the same weights as alone.
  TwoTowerNet NewNet() {
    static std::mutex global_generator_mu;
    std::lock_guard<std::mutex> lock(global_generator_mu);
    torch::manual_seed(o.seed);
    rng.seed(o.seed);
    return TwoTowerNet(o, static_cast<int64_t>(ds.users.size()), static_cast<int64_t>(ds.videos.size()),
                       static_cast<int64_t>(ds.categories.size()));
  }
  Optimizer NewOptimizer(TwoTowerNet& net) {
    const std::vector<torch::Tensor> sparse = net->SparseTables();
    std::vector<torch::Tensor> dense;
    for (const torch::Tensor& p : net->parameters()) {
      const bool is_sparse =
          std::any_of(sparse.begin(), sparse.end(), [&](const torch::Tensor& t) { return t.is_same(p); });
      if (!is_sparse) dense.push_back(p);
    }
    return Optimizer(std::move(dense), sparse,
                     torch::optim::AdamOptions(o.learning_rate).weight_decay(o.weight_decay));
  }
};

}  // namespace vrec::retrieval::two_tower_torch
