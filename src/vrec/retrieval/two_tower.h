// Two-tower retrieval model trained with LibTorch (the only Torch adapter of retrieval/: Torch types
// stay inside two_tower.cc and its internal header two_tower_torch.h).
//
//   user tower:  [user id | age bucket | gender | country | language | pooled watch history]
//   video tower: [video id | categories bag | language | duration bucket | upload-year bucket |
//                 title word + character-trigram hashed bag | tags hashed bag | popularity bucket]
//   each tower: concat -> Linear 256 -> ReLU -> Linear 128 -> ReLU -> Linear 64 -> L2-normalise
//   score(u, v) = <user(u), video(v)>
//
// Training: every positive training row (PreferenceWeight > 0) is a (user, video) pair; the loss is
// the in-batch softmax over the batch's videos (plus optional uniform random negatives) with
// temperature and logQ correction. While training on (u, i) the history pool of u leaves i out, so
// the model cannot learn to copy history; at scoring time the history is all of u's training
// positives. Ids are randomly replaced by the UNK id during training so that the UNK rows learn a
// useful average and unseen videos/users are scored from their content/history/demographics.
//
// Fit carves a validation set (a random fraction of each user's positives), trains with early
// stopping on validation Recall@K, then (by default) retrains from scratch on all rows for the best
// number of epochs. After Fit the Torch parameters are exported into a TwoTowerModel (plain C++, no
// Torch: two_tower_model.h), which serving keeps for request-time embeddings and Save/Load; every
// user and video embedding of the Fit dataset is precomputed with that model, so ScoreAll is a plain
// dot product: thread-safe, no Torch on the serving path.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "vrec/retrieval/item_scorer.h"
#include "vrec/retrieval/two_tower_model.h"

namespace vrec::retrieval {

namespace two_tower_torch {
struct Trainer;  // two_tower_torch.h
}  // namespace two_tower_torch

struct TwoTowerOptions {
  // Architecture.
  int id_dim = 64;             // user/video id embedding width (the history pool uses the same width)
  int feature_dim = 16;        // width of each categorical feature embedding (age, gender, genres...)
  int text_dim = 32;           // width of the hashed title/tag n-gram bag
  int text_buckets = 1 << 15;  // hash buckets shared by title words, title trigrams and tags
  std::vector<int> hidden = {256, 128};  // hidden layer widths of each tower
  int output_dim = 64;                   // embedding width of both towers (L2-normalised)
  // History video embeddings use the video tower's id table (true) or a table of their own.
  bool share_history_table = false;
  // History pooling weight: true = PreferenceWeight (rating), false = plain mean. On ML-100k the
  // rating-weighted mean was slightly better (nDCG@10 0.444 vs 0.443, Recall@100 0.696 vs 0.684).
  bool weight_history_by_preference = true;

  // Loss.
  float temperature = 0.05f;  // logits = <u, v> / temperature
  // logQ correction strength: logits -= logq_weight * log(q(v)), q = the video's share of training
  // positives (its in-batch sampling probability). 1 = full correction, 0 = none.
  float logq_weight = 1.0f;
  int random_negatives = 0;  // extra uniformly sampled negatives per batch (shared by all rows)

  // Optimisation.
  int batch_size = 1024;
  float learning_rate = 3e-3f;  // Adam
  float weight_decay = 0.0f;    // Adam L2 on all parameters
  // Id tables (user id; video id and history, by the catalog size) with at least this many rows get
  // sparse gradients and a lazy Adam: each step updates the moments and weights of the rows in the
  // batch only (PyTorch's SparseAdam, TensorFlow's LazyAdam), where dense Adam reads and writes
  // every row at every step (at 1M videos three 64-wide tables of 1M rows: most of the step time).
  // Smaller tables keep dense Adam. 0 = always dense.
  int64_t sparse_table_rows = 200'000;
  float id_dropout = 0.05f;  // probability of replacing a user/video id by UNK during training
  int max_epochs = 30;
  int patience = 3;                   // early stopping: epochs without validation improvement
  float validation_fraction = 0.05f;  // of each user's positives; 0 = no validation, train max_epochs
  int validation_k = 100;             // early stopping metric: Recall@validation_k
  // Exhaustive validation scores users x candidate videos: at most this many scores per epoch.
  // Beyond it, Recall@k is measured on a fixed random sample of the validation users (the same
  // users every epoch): at 1M videos ~2,000 users, an estimate whose standard error is about
  // 0.01. Scores are computed in chunks of users, whatever the sample size.
  int64_t validation_max_scores = int64_t{2} << 30;
  // After early stopping, retrain on all rows for the best epoch count: doubles the training time
  // for the validation share of the positives, worth it on small data only. Above
  // retrain_max_positives the early-stopped model is kept (scoring with the full histories).
  bool retrain_on_full = true;
  int64_t retrain_max_positives = 1'000'000;
  // Positives seen per fit, at most (epochs x training positives; 0 = no bound): large data trains
  // fewer epochs (at least one). Training time grows with the data, while the id embeddings of a
  // large platform gain little after the first epochs. 8M leaves ML-1M's epochs (<= 22 of 350k
  // positives) untouched and gives one epoch per fit at 1M videos / 10M events (4.1M positives in
  // the label fold's fit, 6.5M in the final one).
  int64_t example_budget = 8'000'000;
  // A training step pools at most this many of each user's history videos, a fresh uniform sample
  // per batch; scoring and validation pool the whole history. The pool is a weighted mean, so the
  // sample estimates it (a ratio estimate), and a step's history gather and sparse gradients stop
  // growing with the heaviest users' histories: a batch's users are drawn by their positives, so
  // it holds ~290 history videos per row at 1M videos / 10M events, ML-1M ~390, ML-100K ~200.
  // 64 made an epoch at 1M videos 1.75x faster and, as a regulariser, did not cost quality on the
  // benchmarks (docs/scale.md); 32 did. 0 = the whole history.
  int history_sample = 64;

  int threads = 2;      // at::set_num_threads during Fit
  uint64_t seed = 42;   // torch::manual_seed and the shuffles
  bool verbose = true;  // one progress line per epoch on stderr
};

// In-batch softmax loss with logQ correction, on plain arrays (exposed for exact tests; training
// uses the same Torch code). `user` and `item` are row-major batch x dim (not normalised here),
// `log_q` has batch entries (log sampling probability of each row's item). Row r's positive is
// item r; logits[r][c] = <user_r, item_c> / temperature - log_q[c]; loss = mean over rows of
// cross-entropy. Items with equal `item_ids` (when non-empty) other than the diagonal are masked
// out (accidental hits). Returns NaN on size mismatch.
float InBatchSoftmaxLoss(const std::vector<float>& user, const std::vector<float>& item,
                         const std::vector<float>& log_q, int batch, int dim, float temperature,
                         const std::vector<int64_t>& item_ids = {});

class TwoTowerScorer final : public ItemScorer {
 public:
  explicit TwoTowerScorer(TwoTowerOptions options = {});
  ~TwoTowerScorer() override;
  TwoTowerScorer(const TwoTowerScorer&) = delete;
  TwoTowerScorer& operator=(const TwoTowerScorer&) = delete;

  std::string_view Name() const override { return "two-tower"; }
  // InvalidArgument when `train` has no positive rows or options are bad; Internal on a Torch error.
  Status Fit(const data::Dataset& ds, std::span<const data::Interaction> train) override;
  // Users outside the Fit dataset get the UNK user's (no history) scores. Thread-safe after Fit.
  void ScoreAll(uint32_t user, std::span<double> scores) const override;
  // The same scores, bit for bit, for a batch of users (inner_products.h): each tile of video
  // embeddings is read once per batch. Thread-safe after Fit.
  void ScoreUsers(std::span<const uint32_t> users, std::span<double> scores) const override;

  // Precomputed embeddings (output_dim floats, L2-normalised; empty before Fit or out of range).
  std::span<const float> VideoEmbedding(uint32_t video) const;
  std::span<const float> UserEmbedding(uint32_t user) const;
  // Epochs of the final training run and its wall time (for reports).
  int epochs_trained() const { return epochs_trained_; }
  double best_validation_recall() const { return best_validation_recall_; }
  // Validation users Recall@k was measured on, and how many had validation rows (equal unless
  // validation_max_scores sampled them).
  int64_t validation_users() const { return validation_users_; }
  int64_t validation_users_total() const { return validation_users_total_; }
  // The trained model (empty before Fit): request-time embeddings, Save/Load.
  const TwoTowerModel& model() const { return model_; }
  // Training positives per video of the Fit dataset (VideoInput::positives), num_videos entries.
  std::span<const int64_t> video_positives() const { return video_positives_; }

  const TwoTowerOptions& options() const { return options_; }

 private:
  friend struct two_tower_torch::Trainer;  // Torch model and training state, only during Fit

  TwoTowerOptions options_;
  TwoTowerModel model_;
  std::vector<int64_t> video_positives_;
  int dim_ = 0;
  std::vector<float> video_emb_;     // num_videos x dim_
  std::vector<float> user_emb_;      // num_users x dim_
  std::vector<float> unk_user_emb_;  // dim_
  int epochs_trained_ = 0;
  double best_validation_recall_ = 0;
  int64_t validation_users_ = 0, validation_users_total_ = 0;
};

}  // namespace vrec::retrieval
