#include "vrec/retrieval/two_tower.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>

#include "vrec/common/strings.h"
#include "vrec/retrieval/two_tower_torch.h"

namespace vrec::retrieval {

using two_tower_torch::CollectPositives;
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

  try {
    at::set_num_threads(std::max(1, o.threads));
    Trainer trainer(o, ds);
    int epochs = o.max_epochs;

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
      TwoTowerNet net = trainer.NewNet();
      torch::optim::Adam opt = trainer.NewOptimizer(net);
      double best = -1;
      int best_epoch = 0;
      for (int epoch = 1; epoch <= o.max_epochs; ++epoch) {
        const double loss = trainer.TrainEpoch(net, opt);
        const double recall = trainer.ValidationRecall(net, validation);
        if (o.verbose) {
          std::fprintf(stderr, "two-tower: epoch %d loss=%.4f val_recall@%d=%.4f elapsed=%.1fs\n", epoch,
                       loss, o.validation_k, recall, elapsed());
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
      if (!o.retrain_on_full) {
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
    torch::optim::Adam opt = trainer.NewOptimizer(net);
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      const double loss = trainer.TrainEpoch(net, opt);
      if (o.verbose) {
        std::fprintf(stderr, "two-tower: full-train epoch %d/%d loss=%.4f elapsed=%.1fs\n", epoch, epochs,
                     loss, elapsed());
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
  const size_t nv = std::min(scores.size(), video_emb_.size() / static_cast<size_t>(std::max(dim_, 1)));
  std::fill(scores.begin(), scores.end(), 0.0);
  if (dim_ == 0) return;
  const float* u = user < user_emb_.size() / static_cast<size_t>(dim_)
                       ? &user_emb_[static_cast<size_t>(user) * dim_]
                       : unk_user_emb_.data();
  for (size_t v = 0; v < nv; ++v) {
    const float* e = &video_emb_[v * static_cast<size_t>(dim_)];
    float s = 0;
    for (int d = 0; d < dim_; ++d) s += u[d] * e[d];
    scores[v] = s;
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
