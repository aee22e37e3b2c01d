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
};

// OK, or InvalidArgument naming every bad field at once (negative or non-finite values, a
// half-life <= 0, promo positions < 1, duplicate promo positions or videos).
Status Validate(const OrderingOptions& options);

struct OrderedItem {
  enum Reason : uint8_t { kRanked, kPromoted };
  uint32_t video = 0;  // dense index into the catalog
  // The score the list was ordered by (after the freshness boost); for a promoted video that was
  // not among the candidates, 0.
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
