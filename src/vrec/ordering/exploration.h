// Exploration for fresh videos: a share of a list's slots goes to recently uploaded videos drawn by
// Thompson sampling over their live engagement. A new video has no history, so the ranker (which
// learnt from engagement) rarely puts it in a top 10 and it never gets the engagement that would
// let it in; an exploration slot shows it to users whose retrieval found it close to them, and the
// plays and skips that follow decide how often it is drawn again.
//
// The step runs after Order (ordering.h), on its output:
//   1. slots: share * count of them, the fractional part as the chance of one more slot (so the
//      share holds on average at any count: 0.05 of 10 slots is one slot in every other list)
//   2. pool: the fresh candidates the caller passes (already filtered like the list, in retrieval
//      order: the nearest to the user first; FreshCandidates picks them), minus videos the list
//      already holds, at most ExploreOptions::candidates of them
//   3. draw: for each video of the pool theta ~ Beta(prior_plays + successes, prior_skips +
//      failures); the slots go to the largest thetas, the largest first
//   4. place: the drawn videos take the exploration positions (ExploreOptions::positions, or
//      spread evenly); promotional items keep their positions; the ranked items fill the other
//      slots in their order and the last ones fall off the list
//
// The reward (EngagementOf): a play is a success and a skip a failure, all time (a fresh video's
// "all time" is its life so far). The counters count no impressions (features/counters.h), so a
// video shown and ignored without a skip event adds nothing; clients that post skips for what
// users scrolled past make it a failure. Plays against skips, rather than completions, because a
// completion depends on the video's length as much as on its audience.
//
// Pure functions of their arguments (the random draws come from the ExploreRng passed in): safe to
// call from any number of threads with one generator each.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/data/catalog_view.h"
#include "vrec/features/counters.h"
#include "vrec/filtering/candidate.h"
#include "vrec/ordering/ordering.h"

namespace vrec::ordering {

// The sampler's evidence about one video.
struct Engagement {
  double successes = 0;
  double failures = 0;
  friend bool operator==(const Engagement&, const Engagement&) = default;
};

// The reward from a video's live counters: successes = plays, failures = skips, all time.
Engagement EngagementOf(const features::CounterValues& counters);

// Whether a video uploaded at `upload_time` (unix seconds; data::kUnknownTime = never fresh) is
// fresh at `now`: uploaded at most fresh_hours before now. A video from the future is fresh (the
// availability filter is what keeps unpublished videos out).
bool IsFresh(int64_t upload_time, int64_t now, double fresh_hours);

// The fresh videos among `candidates` (dense indices, already filtered, in retrieval order), in
// that order without duplicates, at most options.candidates + max(count, 0) of them: enough for
// ExplorePool to find options.candidates outside a list of `count` videos. Videos outside the
// catalog are left out.
std::vector<uint32_t> FreshCandidates(std::span<const filtering::Candidate> candidates,
                                      const data::CatalogView& catalog, int64_t now,
                                      const ExploreOptions& options, int count);

// The videos Explore draws from (step 2): `fresh` in order, without duplicates and without the
// videos of `list`, at most options.candidates of them. The caller reads the engagement of these
// only.
std::vector<uint32_t> ExplorePool(std::span<const uint32_t> fresh, std::span<const OrderedItem> list,
                                  const ExploreOptions& options);

// A fresh video offered to Explore, with its evidence.
struct FreshCandidate {
  uint32_t video = 0;  // dense index into the catalog
  Engagement engagement;
};

// A small deterministic generator (SplitMix64): the same seed gives the same draws on every
// platform, which std::*_distribution does not promise. Not thread-safe; one per request.
class ExploreRng {
 public:
  explicit ExploreRng(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform in (0, 1): never exactly 0 or 1.
  double Uniform();
  // Standard normal (Box-Muller).
  double Normal();

 private:
  uint64_t state_;
};

// One draw from Gamma(shape, 1) (Marsaglia and Tsang), shape > 0.
double SampleGamma(double shape, ExploreRng& rng);
// One draw from Beta(a, b), a > 0 and b > 0, in [0, 1].
double SampleBeta(double a, double b, ExploreRng& rng);

// What Explore did, for explanations: every explored video's evidence and draw.
struct ExploreTrace {
  struct Item {
    Engagement engagement;
    double sample = 0;  // its theta
  };
  std::unordered_map<uint32_t, Item> items;  // by dense video index, explored videos only
};

// Steps 1-4 above on `list` (Order's output for `count`: at most count items; more are cut),
// which becomes at most `count` items, explored ones with reason kExplored and their theta as
// score. `fresh` is the pool (ExplorePool; Explore applies it again, so any list of fresh videos
// will do). Options must have passed Validate. Nothing changes when share is 0, count <= 0, the
// slots round to 0 or the pool is empty; no Beta draw is made then (rounding a fractional
// share * count takes one uniform draw first). Never duplicates a video. Cost: O(p log p + count)
// for a pool of p videos, two Gamma draws per video of the pool.
void Explore(std::vector<OrderedItem>& list, int count, std::span<const FreshCandidate> fresh,
             const ExploreOptions& options, ExploreRng& rng, ExploreTrace* trace = nullptr);

}  // namespace vrec::ordering
