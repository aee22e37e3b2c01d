// Synthetic video-platform generator (the spec's preprocessing step generates synthetic data).
// Deterministic by seed, whatever the thread count. See synth.cc for the model.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/data/dataset.h"

namespace vrec::data {

struct SynthConfig {
  uint64_t seed = 42;
  int64_t num_users = 10'000;
  int64_t num_videos = 20'000;
  int64_t num_interactions = 500'000;  // rows in Dataset::interactions, all event types together
  // End of the simulated period (unix seconds) and its length. Fixed defaults keep runs reproducible.
  int64_t end_time = 1'767'225'600;  // 2026-01-01T00:00:00Z
  int days = 30;
  // Folder with KuaiRand's video_features_basic_pure.csv to calibrate durations, tags and upload
  // times; empty uses the built-in quantile tables (derived from the same file).
  std::string calibration_dir;
  int threads = 2;
  bool quiet = false;  // no progress lines
};

// Generates users, videos and interactions. InvalidArgument for non-positive sizes; errors from
// reading the calibration file are returned as they are.
StatusOr<Dataset> GenerateSynthetic(const SynthConfig& config);

// The synthetic platform's hidden truth, rebuilt from the same config (seed, sizes, calibration):
// the latent taste of every user and the latent quality of every video that GenerateSynthetic drew,
// and the response model its log samples. A simulation can ask how a user responds to any video a
// recommender shows, where the log only holds the impressions the generator chose. Online-experiment
// benches use it as the population: the true effect of a model change is known.
//
// The response model (synth.cc draws the log's plays and skips with the same functions):
//  - Affinity a in [0, 1]: the weight of the video's primary category in the user's taste (Taste)
//    divided by the weight of the user's favourite category: 1 for the favourite, 0 outside the
//    2-4 taste categories. A second category counts at 70% when that is higher.
//  - Shown a video, the user never starts it with chance 0.02 (no watch), otherwise skips it with
//    s = clamp(0.04 + 0.5 (1 - a)^2 - 0.05 q, 0.01, 0.9), q = Quality ~ N(0, 1), otherwise plays.
//    PlayProbability = 0.98 (1 - s): ~0.94 for the favourite category, ~0.45 off-taste (0.40-0.50
//    for q in [-1, 1]). Taste dominates; quality moves it by 5 points per standard deviation.
//  - A skip watches a ratio uniform in [0.01, 0.10). A play's watch ratio is
//    clamp(exp(mu + 0.35 N(0, 1)), 0.02, 1 + 2 exp(-duration / 30 s)) with
//    mu = -0.9 + 0.9 a + 0.25 q + b - 0.3 ln(duration / 60 s), b = 0.2 N(0, 1) a per-user habit: a
//    median ratio of ~0.4 off-taste and ~1 in the favourite category for a one-minute video; short
//    clips get rewatched (ratio above 1), long videos are rarely finished.
//  - After a play: a like with p = min(0.9, e (0.004 + 0.06 w (0.3 + 0.7 a))), w = min(ratio, 1.5) /
//    1.5 and e = exp(0.5 N(0, 1)) the user's engagement; a comment with 0.15 p, a share with 0.25 p.
//  - Nothing else matters: language, device, time, the video's age and its popularity rank (which
//    correlates with quality) only steer which videos the log's impression process shows, not how
//    users respond. A recommender gains nothing in this simulator by matching language, and loses
//    nothing by showing a foreign-language video.
//  - Policy: an age-restricted video shown to a minor (age < 18) and a video taken down by the end
//    of the period (Video::available false) would not be shown: Respond returns shown = false
//    counted as a skip (watch ratio 0), and both expectations are 0. The log never shows the first
//    (barring 32 rejected draws in a tiny catalogue) and does hold the second, from before the
//    removal: a comparison with the log should leave unavailable videos out.
//
// Indices are dense, as in the Dataset GenerateSynthetic(config) returns for the same config; an
// index out of range aborts (VREC_CHECK). Immutable once built: every method is const and safe to
// call from many threads; copies share the state.
class SyntheticWorld {
 public:
  // The same latents as GenerateSynthetic(config), for any config.threads, without generating
  // the log. Errors as GenerateSynthetic's (bad sizes, calibration file).
  static StatusOr<SyntheticWorld> Build(const SynthConfig& config);

  struct Response {
    bool shown = true;       // false: the platform would not show it (policy above); a skip
    bool played = false;     // started and not skipped
    bool skipped = false;    // skipped after a glance (or not shown)
    bool completed = false;  // played to the end at least once (watch ratio >= 1)
    bool liked = false;      // these three only after a play
    bool commented = false;
    bool shared = false;
    float watch_ratio = 0;   // watch time / duration; 0 when never started or not shown
    float watch_time_s = 0;  // watch_ratio times the video's duration
  };
  // What user `user` does when shown video `video`: one draw of the model above. The same
  // rng_state gives the same response; each call advances rng_state by one step whatever the
  // outcome, so two arms given the same states get paired (common random number) draws.
  Response Respond(uint32_t user, uint32_t video, uint64_t& rng_state) const;

  // The chance that Respond plays the video (played == true), exact.
  double PlayProbability(uint32_t user, uint32_t video) const;
  // The expectation of Respond's watch_ratio, over everything it draws (zeros for never started
  // and not shown, skips' short ratios, plays), exact.
  double ExpectedWatchRatio(uint32_t user, uint32_t video) const;
  // The chances of Respond's skipped (a skip after a glance, or not shown: 1 then), completed and
  // liked, exact: the like chance of a play is averaged over the play's watch-ratio law. With
  // ExpectedWatchRatio they are the true value of showing `video` to `user` on each objective a
  // ranker may pursue (bench/objectives_sim.cc).
  double SkipProbability(uint32_t user, uint32_t video) const;
  double CompletionProbability(uint32_t user, uint32_t video) const;
  double LikeProbability(uint32_t user, uint32_t video) const;

  // The latents, for benches that reason about true effects. Categories are indices into
  // Dataset::categories; weights sum to 1.
  struct TasteShare {
    uint16_t category;
    float weight;
  };
  std::vector<TasteShare> Taste(uint32_t user) const;
  float Quality(uint32_t video) const;  // standard normal across videos

  size_t num_users() const;
  size_t num_videos() const;

 private:
  SyntheticWorld() = default;
  struct State;
  std::shared_ptr<const State> state_;
};

}  // namespace vrec::data
