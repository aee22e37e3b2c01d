#include "vrec/retrieval/two_tower.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>

#include "vrec/common/progress.h"
#include "vrec/common/strings.h"
#include "vrec/retrieval/inner_products.h"
#include "vrec/retrieval/two_tower_torch.h"

namespace vrec::retrieval {

using two_tower_torch::CollectPositives;
using two_tower_torch::Optimizer;
using two_tower_torch::SoftmaxLoss;
using two_tower_torch::ToTensor;
using two_tower_torch::Trainer;
using two_tower_torch::TwoTowerNet;

float InBatchSoftmaxLoss(const std::vector<float>& user, const std::vector<float>& item,
                         const std::vector<float>& log_q, int batch, int dim, float temperature,
                         const std::vector<int64_t>& item_ids) {
  const size_t n = static_cast<size_t>(batch) * static_cast<size_t>(dim);
  if (batch <= 0 || dim <= 0 || user.size() != n || item.size() != n ||
      log_q.size() != static_cast<size_t>(batch) ||
      (!item_ids.empty() && item_ids.size() != static_cast<size_t>(batch))) {
    return std::numeric_limits<float>::quiet_NaN();
  }
  try {
    c10::InferenceMode guard;
    torch::Tensor u = ToTensor(user).view({batch, dim});
    torch::Tensor v = ToTensor(item).view({batch, dim});
    torch::Tensor ids = item_ids.empty() ? torch::Tensor() : ToTensor(item_ids);
    return SoftmaxLoss(u, v, ToTensor(log_q), temperature, ids, ids).item<float>();
  } catch (const c10::Error&) {
    return std::numeric_limits<float>::quiet_NaN();
  }
}

TwoTowerScorer::TwoTowerScorer(TwoTowerOptions options) : options_(std::move(options)) {}
TwoTowerScorer::~TwoTowerScorer() = default;

Status TwoTowerScorer::Fit(const data::Dataset& ds, std::span<const data::Interaction> train) {
  const TwoTowerOptions& o = options_;
  if (o.batch_size < 2 || o.temperature <= 0 || o.id_dim <= 0 || o.output_dim <= 0 || o.feature_dim <= 0 ||
      o.text_dim <= 0 || o.text_buckets < 2 || o.max_epochs < 1 || o.validation_fraction < 0 ||
      o.validation_fraction >= 1 || o.random_negatives < 0 || o.validation_k < 1) {
    return InvalidArgumentError("two-tower: invalid options");
  }
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };

  const size_t nu = ds.users.size();
  std::vector<std::vector<std::pair<uint32_t, float>>> positives = CollectPositives(ds, train);
  if (std::all_of(positives.begin(), positives.end(), [](const auto& p) { return p.empty(); })) {
    return InvalidArgumentError("two-tower: no positive training rows");
  }

  int64_t num_positives = 0;
  for (const auto& p : positives) num_positives += static_cast<int64_t>(p.size());
  const int max_epochs =
      o.example_budget > 0
          ? static_cast<int>(std::clamp<int64_t>(o.example_budget / num_positives, 1, o.max_epochs))
          : o.max_epochs;
  const bool retrain = o.retrain_on_full && num_positives <= o.retrain_max_positives;
  if (o.verbose && (max_epochs < o.max_epochs || retrain != o.retrain_on_full)) {
    std::fprintf(stderr, "two-tower: %lld positives: at most %d epochs (example budget %lld)%s\n",
                 static_cast<long long>(num_positives), max_epochs, static_cast<long long>(o.example_budget),
                 retrain == o.retrain_on_full ? "" : ", no retrain on the validation share");
  }

  try {
    at::set_num_threads(std::max(1, o.threads));
    Trainer trainer(o, ds);
    int epochs = max_epochs;

    if (o.validation_fraction > 0) {
      // A random fraction of each user's positives (users with fewer than 5 keep them all).
      std::vector<std::vector<std::pair<uint32_t, float>>> fit_part(nu);
      std::vector<std::vector<uint32_t>> validation(nu);
      std::mt19937_64 split_rng(o.seed ^ 0x9e3779b97f4a7c15ULL);
      for (size_t u = 0; u < nu; ++u) {
        std::vector<std::pair<uint32_t, float>> rows = positives[u];
        std::shuffle(rows.begin(), rows.end(), split_rng);
        const auto n_val =
            static_cast<size_t>(std::floor(o.validation_fraction * static_cast<double>(rows.size()) + 0.5));
        for (size_t k = 0; k < rows.size(); ++k) {
          if (k < n_val && rows.size() >= 5) {
            validation[u].push_back(rows[k].first);
          } else {
            fit_part[u].push_back(rows[k]);
          }
        }
      }
      trainer.Prepare(fit_part);
      const std::vector<int64_t> validation_users = trainer.ValidationUsers(validation);
      validation_users_ = static_cast<int64_t>(validation_users.size());
      validation_users_total_ = std::count_if(validation.begin(), validation.end(),
                                              [](const std::vector<uint32_t>& v) { return !v.empty(); });
      if (o.verbose && validation_users_ < validation_users_total_) {
        std::fprintf(stderr, "two-tower: validation Recall@%d on a sample of %lld of %lld users\n",
                     o.validation_k, static_cast<long long>(validation_users_),
                     static_cast<long long>(validation_users_total_));
      }
      TwoTowerNet net = trainer.NewNet();
      Optimizer opt = trainer.NewOptimizer(net);
      double best = -1;
      int best_epoch = 0;
      const double start = elapsed();
      for (int epoch = 1; epoch <= max_epochs; ++epoch) {
        const double loss = trainer.TrainEpoch(net, opt, StrCat("two-tower: epoch ", epoch, "/", max_epochs));
        const double recall = trainer.ValidationRecall(net, validation, validation_users);
        if (o.verbose) {
          // Early stopping ends the run at best_epoch + patience at the latest: the ETA is a bound.
          const int last = std::min(max_epochs, (recall > best ? epoch : best_epoch) + o.patience);
          const double per_epoch = (elapsed() - start) / epoch;
          std::fprintf(stderr, "two-tower: epoch %d/%d loss=%.4f val_recall@%d=%.4f elapsed=%.1fs eta<=%s\n",
                       epoch, max_epochs, loss, o.validation_k, recall, elapsed(),
                       FormatDuration(per_epoch * (last - epoch)).c_str());
        }
        if (recall > best) {
          best = recall;
          best_epoch = epoch;
        } else if (epoch - best_epoch >= o.patience) {
          break;
        }
      }
      best_validation_recall_ = best;
      epochs = best_epoch;
      if (!retrain) {
        // Keep the early-stopped model, but score with the full history.
        const std::vector<bool> trained_videos = trainer.videos.known;
        const std::vector<bool> trained_users = trainer.users.known;
        trainer.Prepare(positives);
        // Ids without rows in the fit part have untrained embeddings: they stay UNK.
        trainer.videos.known = trained_videos;
        trainer.users.known = trained_users;
        epochs_trained_ = best_epoch;
        trainer.Export(net, *this);
        return OkStatus();
      }
    }

    trainer.Prepare(positives);
    TwoTowerNet net = trainer.NewNet();
    Optimizer opt = trainer.NewOptimizer(net);
    const double start = elapsed();
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      const double loss =
          trainer.TrainEpoch(net, opt, StrCat("two-tower: full-train epoch ", epoch, "/", epochs));
      if (o.verbose) {
        const double per_epoch = (elapsed() - start) / epoch;
        std::fprintf(stderr, "two-tower: full-train epoch %d/%d loss=%.4f elapsed=%.1fs eta %s\n", epoch,
                     epochs, loss, elapsed(), FormatDuration(per_epoch * (epochs - epoch)).c_str());
      }
    }
    epochs_trained_ = epochs;
    trainer.Export(net, *this);
    return OkStatus();
  } catch (const c10::Error& e) {
    return InternalError(StrCat("two-tower: torch error: ", e.what_without_backtrace()));
  }
}

void TwoTowerScorer::ScoreAll(uint32_t user, std::span<double> scores) const {
  ScoreUsers(std::span<const uint32_t>(&user, 1), scores);
}

void TwoTowerScorer::ScoreUsers(std::span<const uint32_t> users, std::span<double> scores) const {
  std::fill(scores.begin(), scores.end(), 0.0);
  if (users.empty() || dim_ == 0) return;
  const auto d = static_cast<size_t>(dim_);
  const size_t stride = scores.size() / users.size();
  const size_t nv = std::min(stride, video_emb_.size() / d);
  // Batches of users share each tile of video embeddings; the products go through a float buffer
  // a slice of the catalog at a time, so scratch stays small whatever the catalog.
  constexpr size_t kSlice = 16384;
  thread_local std::vector<float> queries, out;
  queries.resize(users.size() * d);
  for (size_t r = 0; r < users.size(); ++r) {
    const float* u = users[r] < user_emb_.size() / d ? &user_emb_[static_cast<size_t>(users[r]) * d]
                                                     : unk_user_emb_.data();
    std::copy(u, u + d, queries.begin() + static_cast<ptrdiff_t>(r * d));
  }
  for (size_t v0 = 0; v0 < nv; v0 += kSlice) {
    const size_t v1 = std::min(nv, v0 + kSlice);
    out.resize(users.size() * (v1 - v0));
    InnerProducts(queries, users.size(), video_emb_, d, v0, v1, out);
    for (size_t r = 0; r < users.size(); ++r) {
      const float* o = &out[r * (v1 - v0)];
      double* row = &scores[r * stride];
      for (size_t v = v0; v < v1; ++v) row[v] = o[v - v0];
    }
  }
}

std::span<const float> TwoTowerScorer::VideoEmbedding(uint32_t video) const {
  if (dim_ == 0 || video >= video_emb_.size() / static_cast<size_t>(dim_)) return {};
  return {&video_emb_[static_cast<size_t>(video) * dim_], static_cast<size_t>(dim_)};
}

std::span<const float> TwoTowerScorer::UserEmbedding(uint32_t user) const {
  if (dim_ == 0 || user >= user_emb_.size() / static_cast<size_t>(dim_)) return {};
  return {&user_emb_[static_cast<size_t>(user) * dim_], static_cast<size_t>(dim_)};
}

}  // namespace vrec::retrieval
