// Stage 4 of the online pipeline: turns the ranker's scored candidates into the list the user
// sees. In this order:
//   1. freshness boost: score += freshness_boost * 2^(-age_hours / freshness_half_life_hours)
//   2. sort by score, best first (stable: ties keep the ranker's order); duplicates keep their
//      best entry; candidates outside the catalog are dropped
//   3. diversity: greedily fill the first `diversity_window` slots with the best remaining
//      candidate whose primary category has fewer than `max_per_category` videos there; the rest
//      follow in score order
//   4. promotional slots: each promo that is in the catalog and allowed by the caller (the
//      filters) is put at its 1-based position, moved there if it was already in the list
//   5. truncate to `count`
// Exploration slots for fresh videos are a separate step on Order's output (exploration.h): it
// needs the videos' live engagement, which the caller reads.
// A/B variants change these options per user (experiment.h).
//
// Pure functions of their arguments: no state, safe to call from any number of threads at once
// (the catalog is only read).
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

#include "vrec/common/ids.h"
#include "vrec/common/status.h"
#include "vrec/data/catalog_view.h"
#include "vrec/data/dataset.h"
#include "vrec/filtering/candidate.h"

namespace vrec::ordering {

using filtering::Candidate;

// A sponsored video and where it must appear.
struct PromoSlot {
  VideoId video;
  int position = 1;  // 1-based position in the final list
};

// Exploration slots for fresh videos (applied by Explore, exploration.h, after Order).
struct ExploreOptions {
  // Share of each list's slots given to fresh videos, in [0, 1]: share * count slots, the
  // fractional part as the chance of one more. 0 = off. Default 0.
  double share = 0;
  // A video is fresh for this many hours after its upload (unknown upload time: never). > 0.
  // Default 48.
  double fresh_hours = 48;
  // Fresh candidates in the draw: the first this many of the user's filtered candidates (the
  // nearest by retrieval) not already in the list. In [1, 1000]. Default 20.
  int candidates = 20;
  // 1-based positions of the exploration slots, in order of preference (the largest draw goes
  // to the first); positions beyond the list are not used. Empty = spread evenly over the list
  // (one slot of 10 at position 6, two at 3 and 8). Unique, in [1, 1000]. Default empty.
  std::vector<int> positions;
  // The Beta prior's pseudo-counts: theta ~ Beta(prior_plays + plays, prior_skips + skips).
  // Both > 0. Default 1 and 1 (uniform: an unseen video is drawn as often as any other at first).
  double prior_plays = 1;
  double prior_skips = 1;
};

struct OrderingOptions {
  // At most this many videos of one primary category within the first diversity_window slots.
  // 0 = no diversity constraint. Default 0. Videos without a category are never held back.
  int max_per_category = 0;
  // How many leading slots the diversity constraint covers. 0 = off. Default 0.
  int diversity_window = 0;
  // Score added to a video uploaded just now, halving every freshness_half_life_hours. Must be
  // >= 0; 0 = off. Default 0. In the ranker's score units, so tune it per ranker.
  double freshness_boost = 0;
  // Half-life of the freshness boost in hours; > 0. Default 24.
  double freshness_half_life_hours = 24;
  // Promotional videos; positions and videos must be unique. Default: none.
  std::vector<PromoSlot> promos;
  // Exploration slots; off by default.
  ExploreOptions explore;
};

// OK, or InvalidArgument naming every bad field at once (negative or non-finite values, a
// half-life <= 0, promo positions < 1, duplicate promo positions or videos; for exploration: a
// share outside [0, 1], fresh_hours or a prior not finite and > 0, candidates outside [1, 1000],
// positions outside [1, 1000] or repeated).
Status Validate(const OrderingOptions& options);

struct OrderedItem {
  // kExplored: put in an exploration slot by Explore (exploration.h), never by Order.
  enum Reason : uint8_t { kRanked, kPromoted, kExplored };
  uint32_t video = 0;  // dense index into the catalog
  // The score the list was ordered by (after the freshness boost); for a promoted video that was
  // not among the candidates, 0; for an explored one, its Thompson draw.
  float score = 0;
  Reason reason = kRanked;

  friend bool operator==(const OrderedItem&, const OrderedItem&) = default;
};

// Whether a promotional video (dense index) may be shown to this request's user; the serving
// layer binds filtering::Allowed with the request. An empty function allows every promo.
using PromoAllowed = std::function<bool(uint32_t video)>;

// What Order did to each candidate, for explanations (RecommendRequest::explain).
struct OrderTrace {
  struct Item {
    float boost = 0;                   // the freshness boost added to its score
    int position_by_score = 0;         // 1-based, after the boost and the sort (step 2)
    int position_after_diversity = 0;  // 1-based, after step 3 (equal when diversity is off)
  };
  std::unordered_map<uint32_t, Item> items;  // by dense video index, every ordered candidate
};

// The final list of at most `count` videos (empty when count <= 0), following steps 1-5 above.
// `ranked` need not be sorted; a NaN score sorts last. Options must have passed Validate. `now`
// is unix seconds; videos with an unknown upload time get no boost, videos from the future the
// full boost. `trace`, when given, records each candidate's boost and positions. Never fails. Cost: O(n log n
// + n * diversity_window) for n candidates.
std::vector<OrderedItem> Order(std::vector<Candidate> ranked, int count, const data::CatalogView& catalog,
                               int64_t now, const OrderingOptions& options, const PromoAllowed& promo_allowed,
                               OrderTrace* trace = nullptr);

}  // namespace vrec::ordering
