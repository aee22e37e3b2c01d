// TwoTowerModel: the trained two-tower model as plain C++ (no Torch): vocabularies, embedding
// tables and tower weights, with a forward pass for one user or one video. Training happens in
// two_tower.cc (LibTorch), which exports its weights into this class; serving, the retriever and
// benchmarks only need this file, so they neither link Torch nor pay its start-up.
//
// The forward pass mirrors the Torch towers exactly (same features, same hashing, same layers);
// a test checks both give the same embeddings to 1e-5.
//
// Thread safety: const methods are safe to call concurrently; Load/Save are the only mutators.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "vrec/common/flat_array.h"
#include "vrec/common/ids.h"
#include "vrec/common/status.h"
#include "vrec/data/dataset.h"

namespace vrec {
class MappedArtifact;
}

namespace vrec::retrieval {

// What the user tower reads at request time.
struct UserInput {
  std::optional<UserId> id;  // nullopt, or an id unseen in training: the UNK id row
  int age = -1;              // -1 unknown
  data::Gender gender = data::Gender::kUnknown;
  std::string country;   // ISO 3166-1 alpha-2, empty when unknown
  std::string language;  // ISO 639-1, empty when unknown
  // Positive history: (video, weight) with weight = data::PreferenceWeight of the strongest event
  // (the tower pools it as a weighted or plain mean, as trained). Videos unseen in training and
  // entries with weight <= 0 are skipped. Order does not matter; duplicates count twice.
  std::vector<std::pair<VideoId, float>> history;
};

// What the video tower reads: a video's own attributes, so a video uploaded after training gets
// an embedding from its content alone.
struct VideoInput {
  std::optional<VideoId> id;            // nullopt or unseen: the UNK id row
  std::vector<std::string> categories;  // category names (unknown names are ignored)
  std::string language;
  float duration_s = data::kMissing;
  int64_t upload_time = data::kUnknownTime;
  std::string title;
  std::vector<std::string> tags;
  int64_t positives = 0;  // training positives seen for it (popularity bucket); 0 for new videos
};

// VideoInput of video `v` of `ds` with `positives` training positives.
VideoInput VideoInputFrom(const data::Dataset& ds, uint32_t v, int64_t positives);
// UserInput of user `u` of `ds` with the given positive history (dense video indices of `ds`).
UserInput UserInputFrom(const data::Dataset& ds, uint32_t u,
                        std::span<const std::pair<uint32_t, float>> history);

// Row counts of the tables whose size the feature schema fixes (Load checks them exactly), for code
// that builds a TwoTowerModel by hand (the trainer, test models).
struct TwoTowerShape {
  int age_buckets = 0, gender_buckets = 0, language_buckets = 0, duration_buckets = 0, year_buckets = 0,
      popularity_buckets = 0, text_buckets = 0;
};
TwoTowerShape FeatureShape(int text_buckets);

class TwoTowerModel {
 public:
  // The feature schema this build computes (feature names, bucket sizes, hashing). Stored in the
  // manifest; Load refuses a model whose schema hash differs.
  static std::string FeatureSchema();

  // Embedding width (output_dim); 0 for an empty model.
  int dimension() const;
  // Writes the L2-normalised user embedding into `out` (size dimension(); checked, aborts otherwise).
  void EmbedUser(const UserInput& in, std::span<float> out) const;
  // Writes the L2-normalised video embedding into `out` (size dimension(); checked, aborts otherwise).
  void EmbedVideo(const VideoInput& in, std::span<float> out) const;

  // Whether an id has a trained id embedding (seen with positives in training).
  bool KnowsUser(UserId id) const;
  bool KnowsVideo(VideoId id) const;

  // Writes the model into folder `dir` (created if needed): the weights (two_tower.vart, an
  // artifact laid out to be mapped: tables, layers and id lookup tables as sections) plus
  // manifest.json (kind "two-tower", FeatureSchema() and its hash, `training_data_hash`,
  // `metrics`). Files are written to a temporary name and renamed. Internal on I/O errors;
  // FailedPrecondition for an empty model.
  Status Save(const std::string& dir, const std::string& training_data_hash,
              const std::map<std::string, double>& metrics) const;
  // Reads a model written by Save: maps the weights (nothing is copied; pages load as requests
  // touch them) and checks their structure; Verify checks the bytes. Weights written before the
  // mapped layout (two_tower.bin) are read into memory and checksummed. NotFound when files are
  // missing; DataLoss when corrupt or truncated; FailedPrecondition ("feature schema mismatch
  // ...") when written by a build with another feature schema, or not a two-tower model, or by a
  // build with another weights format version (naming both).
  static StatusOr<TwoTowerModel> Load(const std::string& dir);
  // Checks the checksum of every mapped section (DataLoss naming the first bad one); OK for a
  // model built in memory or read from the earlier layout (checked as it was read).
  Status Verify() const;

  // --- Filled by the trainer (two_tower.cc); not for other callers. ---
  struct Layer {
    int in = 0, out = 0;
    std::vector<float> weight;  // out x in, row-major (torch::nn::Linear layout)
    std::vector<float> bias;    // out
  };
  struct Table {
    int rows = 0, dim = 0;
    FlatArray<float> data;  // rows x dim (owned, or mapped from the weights file)
  };
  struct Weights {
    Table user_id, age, gender, country, user_language, history;
    Table video_id, categories, video_language, duration, year, popularity, text;
    std::vector<Layer> user_mlp, video_mlp;  // ReLU between layers, none after the last
  };
  struct Config {
    int text_buckets = 0;
    bool weight_history_by_preference = false;
  };
  // Vocabularies map external ids / category names to table rows (row 0 is UNK). The shapes must
  // be consistent (tables vs. bucket counts, layers chaining from the concatenated inputs,
  // vocabulary rows in range): asserted here, checked with DataLoss by Load.
  void Set(Config config, Weights weights, std::unordered_map<uint64_t, int64_t> user_rows,
           std::unordered_map<uint64_t, int64_t> video_rows,
           std::unordered_map<std::string, int64_t> category_rows);
  const Config& config() const { return config_; }
  const Weights& weights() const { return w_; }
  // Bytes of the tables, layers and vocabularies (owned or mapped).
  uint64_t MemoryBytes() const;

  // External id -> table row, as an open-addressing table (linear probing from a mixed hash of
  // the id; at most half the slots used; row 0 marks an empty slot, as the UNK row is never
  // stored): Save writes the slots as they are and Load maps them, so a lookup costs one or two
  // cache lines and loading a million ids costs nothing.
  class IdRows {
   public:
    struct Slot {
      uint64_t id = 0;
      int64_t row = 0;
    };
    IdRows() = default;
    explicit IdRows(const std::unordered_map<uint64_t, int64_t>& rows);
    // Slots as Save wrote them. DataLoss (naming `what`) unless the slot count is a power of two,
    // `size` slots are used, at least one is empty, and every row is in [1, max_row).
    static StatusOr<IdRows> FromSlots(FlatArray<Slot> slots, uint64_t size, int64_t max_row,
                                      std::string_view what);
    // The row of `id`, 0 when absent.
    int64_t Find(uint64_t id) const;
    size_t size() const { return size_; }
    std::span<const Slot> slots() const { return slots_.span(); }

   private:
    FlatArray<Slot> slots_;
    size_t size_ = 0;
  };

 private:
  static StatusOr<TwoTowerModel> LoadMapped(const std::string& path);
  static StatusOr<TwoTowerModel> LoadFormatOne(const std::string& path);
  // Checks the model's shapes (DataLoss) and prepares the forward pass.
  Status Finish();

  std::shared_ptr<const MappedArtifact> artifact_;  // the weights file, when mapped
  Config config_;
  Weights w_;
  IdRows user_rows_;
  IdRows video_rows_;
  std::unordered_map<std::string, int64_t> category_rows_;
  // Tower weights transposed (in x out) so the forward pass runs over contiguous rows.
  std::vector<std::vector<float>> user_wt_, video_wt_;
};

}  // namespace vrec::retrieval
