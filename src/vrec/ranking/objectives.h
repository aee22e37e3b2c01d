// Objective heads and the blend: ranking for what a video platform wants from a list (watch time,
// completions, likes) rather than for the ranker's relevance alone.
//
// A head is a pointwise model of one outcome of showing a candidate, trained on the ranker's own
// groups and feature rows (offline/two_stage.cc) with labels from the same label slice:
//   watch     expected watch seconds (reg:squarederror on the seconds played; 0 when not played)
//   complete  chance of a play to the end (binary:logistic on watch_ratio >= 1)
//   like      chance of a like (binary:logistic on a like event)
// Heads are Rankers (ranker.h; XGBoost behind xgboost_ranker.cc), so they score the same rows
// with the same compiled evaluator. A model has any subset of them: none when its training rows
// carry no such signal (MovieLens ratings), and then it serves exactly as the ranker alone.
//
// The blend, per request: final = sum over components c of w_c z_c / sum of w_c, where z_c is
// component c's score standardised over the request's ranked candidates ((x - mean) / sd; 0 when
// sd is 0) and the components are the ranker and the heads present with a weight > 0. Z-scores
// make the weights comparable whatever a head's unit (seconds, probabilities, the ranker's
// pairwise margins) and keep the magnitudes within the request that ranks would discard (a like
// chance of 0.3 against 0.02 matters more than one place in a list). The result is mapped back to
// the ranker's scale (its request mean and sd), so that ordering's freshness boost keeps its
// meaning. With no head weighted (the default) the ranker's scores are returned untouched.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/ranking/ranker.h"

namespace vrec::ranking {

enum class Objective : uint8_t { kWatch, kComplete, kLike };
inline constexpr size_t kNumObjectives = 3;
inline constexpr std::array<Objective, kNumObjectives> kObjectives = {Objective::kWatch, Objective::kComplete,
                                                                      Objective::kLike};
// "watch", "complete", "like": config keys, folder names, explanation keys.
std::string_view Name(Objective o);
std::optional<Objective> ParseObjective(std::string_view name);
// The XGBoost objective a head is trained with: "reg:squarederror" or "binary:logistic".
std::string_view TrainingObjective(Objective o);

// The heads of one model. Thread safety: const methods are safe to call concurrently.
class ObjectiveHeads {
 public:
  ObjectiveHeads() = default;
  ObjectiveHeads(ObjectiveHeads&&) = default;
  ObjectiveHeads& operator=(ObjectiveHeads&&) = default;

  bool empty() const;
  const Ranker* get(Objective o) const { return heads_[static_cast<size_t>(o)].get(); }
  void Set(Objective o, std::unique_ptr<Ranker> head) { heads_[static_cast<size_t>(o)] = std::move(head); }

  // Writes each head into dir/<name>/ (Ranker::Save). Internal on I/O errors.
  Status Save(const std::string& dir) const;
  // Loads the heads Save wrote into `dir`: those whose folder exists. DataLoss when a folder does
  // not hold a head, when a head's objective is not its folder's, or when `dir` holds a folder
  // this build does not know (a head a newer build trained: serving it without would be wrong);
  // NotFound when `dir` does not exist.
  static StatusOr<ObjectiveHeads> Load(const std::string& dir);

  // Scores `rows` rows of `features` with every head present: out[o] gets `rows` scores, or is
  // left empty when the head is absent. InvalidArgument on size mismatch.
  Status Score(std::span<const float> features, size_t rows,
               std::array<std::vector<float>, kNumObjectives>& out) const;

 private:
  std::array<std::unique_ptr<Ranker>, kNumObjectives> heads_;
};

// The weight of each component in the final score. Only ratios matter (the blend divides by the
// sum of the weights in use).
struct BlendWeights {
  double ranker = 1;    // the learning-to-rank model (relevance)
  double watch = 0;     // expected watch seconds
  double complete = 0;  // completion chance
  double like = 0;      // like chance

  double head(Objective o) const;
  double& head(Objective o);
  // No head weighted: the ranker's order and scores, untouched.
  bool RankerOnly() const { return watch == 0 && complete == 0 && like == 0; }
  bool operator==(const BlendWeights&) const = default;
};

// The weights per surface ("home", "up_next", ...): `defaults` unless the surface has its own.
struct BlendOptions {
  BlendWeights defaults;
  std::map<std::string, BlendWeights, std::less<>> surfaces;

  const BlendWeights& For(std::string_view surface) const;
};

// InvalidArgument naming every bad weight: each must be finite and in [0, 1000], and each set must
// weight something (a sum > 0).
Status Validate(const BlendOptions& options);

// The final scores of n candidates into `out` (n): `ranker` their ranker scores, `heads[o]` the
// scores of head o (n values, or empty when the model has no such head). See the file comment.
// Heads absent from the model do not count, whatever their weight. `out` may alias `ranker`.
void Blend(const BlendWeights& weights, std::span<const float> ranker,
           const std::array<std::vector<float>, kNumObjectives>& heads, std::span<float> out);

// Whether Blend would change anything: some head present in `heads` has a weight > 0.
bool BlendUsesHeads(const BlendWeights& weights, const std::array<std::vector<float>, kNumObjectives>& heads);

}  // namespace vrec::ranking
