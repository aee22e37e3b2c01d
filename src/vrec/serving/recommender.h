// The online recommendation pipeline for one request, as a plain function of its inputs:
//
//   user state (snapshot history + online events)
//     -> 1 retrieve: user tower -> ANN top-N            (cold start: popular in locale + fresh)
//     -> 2 filter: watched, content policy, availability, freshness
//     -> 3 rank: ranking features for the top candidates -> Ranker
//     -> 4 order: diversity, freshness boost, promotional slots, exploration slots for fresh videos
//
// The caller (the HTTP service) fetches the online state and picks the experiment variant; this
// file does no I/O, so every stage can be tested with an in-memory model and state.
// Thread safety: Recommend is safe to call concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vrec/common/status.h"
#include "vrec/features/feature_store.h"
#include "vrec/filtering/filters.h"
#include "vrec/ordering/experiment.h"
#include "vrec/ordering/exploration.h"
#include "vrec/ordering/ordering.h"
#include "vrec/ranking/objectives.h"
#include "vrec/serving/live_catalog.h"
#include "vrec/serving/live_counters.h"
#include "vrec/serving/serving_model.h"

namespace vrec::serving {

// Per-request parameters; an experiment variant may override any of them (see service.h).
struct RecommendOptions {
  // Videos retrieved from the ANN index before filtering (more than the ranker's depth, so the
  // filters cannot starve the ranker). In [1, 2000]. Default 300.
  int retrieve = 300;
  // Candidates the ranker scores; 0 = as many as it was trained on (the model's group size).
  int rank_candidates = 0;
  // false: skip the ranker and keep retrieval order.
  bool rank = true;
  // How the ranker and the model's objective heads make the final score, per request surface
  // (ranking/objectives.h). Default: the ranker alone. Heads the model lacks count for nothing.
  ranking::BlendOptions blend;
  // Most recent history events fed to the user tower and the similarity features. Default 200.
  int max_history = 200;
  filtering::FilterOptions filter;
  ordering::OrderingOptions ordering;
};

// InvalidArgument naming every bad field (and those of the filter and ordering options).
Status Validate(const RecommendOptions& options);

struct RecommendRequest {
  UserId user;
  int count = 10;
  data::Device device = data::Device::kUnknown;
  std::string country;   // used when the user is not in the catalog (cold start)
  std::string language;  // idem
  std::string surface = "home";
  int64_t now = 0;  // unix seconds
  // Videos the client already shows: never recommended (the on_screen filter). Unknown ids are
  // ignored.
  std::vector<VideoId> exclude;
  // Also say why each item is there (RecommendResult::explanations). Never changes the items or
  // their scores; costs the ranker's feature contributions (TreeSHAP) for the ranked candidates.
  bool explain = false;
  // Seeds the exploration slots' random draws (ordering.explore): the same seed, user state and
  // engagement give the same list. The service derives it from the request id.
  uint64_t explore_seed = 0;
};

struct RecommendedItem {
  VideoId video;
  float score = 0;
  // "ranked", "retrieved", "popular", "fresh", "promoted", or "explore" (an exploration slot)
  std::string_view reason;
};

// Why one recommended item is where it is (RecommendRequest::explain).
struct ItemExplanation {
  // Where the candidate came from: "retrieval" (the ANN index over the user tower), "ease" (EASE's
  // best videos for the history, the second source of ranked users), "popular" or "fresh" (the
  // cold-start lists), "promoted" (a promo slot, not among the candidates), or "explore" (an
  // exploration slot; its retrieval fields still say where retrieval found it).
  std::string_view source;
  float retrieval_score = 0;  // the index's inner product, EASE's score, or the cold-start slot score
  int retrieval_rank = -1;    // 0-based position among the retrieved candidates; -1 for promos
  // The ranker's view, when it ordered the candidates (ranked = true).
  bool ranked = false;
  float ranker_score = 0;
  // 0-based position among the ranked candidates by the stage's final score: the ranker's, or the
  // blend's when the surface weights a head.
  int ranker_rank = -1;
  // The objective heads, when the model has them (has_heads): each head's score (NaN for a head
  // the model lacks; watch seconds, completion and like chances), the weights of the request's
  // surface, and the final score they and the ranker made (ranker_score when no head is weighted).
  bool has_heads = false;
  std::array<float, ranking::kNumObjectives> head_scores{};
  ranking::BlendWeights blend;
  float blended_score = 0;
  struct Contribution {
    std::string_view feature;  // a ranking feature's name
    float value = 0;           // its value for this candidate (NaN: missing)
    float contribution = 0;    // its TreeSHAP contribution to ranker_score
  };
  // The largest contributions by absolute value, largest first; with `bias` and
  // `other_contributions` (the sum of the rest) they add up to ranker_score.
  std::vector<Contribution> contributions;
  float bias = 0;
  float other_contributions = 0;
  // Ordering (stage 4): the freshness boost added to the score, the 1-based position by score
  // after the boost, and the position after the diversity constraint (0 for a promo that was not a
  // candidate); a promo is placed at its slot whatever its score.
  float freshness_boost = 0;
  int position_by_score = 0;
  int position_after_diversity = 0;
  bool promoted = false;
  // Exploration (ordering.explore): the video's evidence (plays, skips from the live counters) and
  // its Thompson draw, for an explored item.
  bool explored = false;
  double explore_plays = 0, explore_skips = 0, explore_sample = 0;
};

// Per request: what the filters dropped, the first few videos of each filter.
struct RequestExplanation {
  static constexpr size_t kMaxDroppedListed = 20;
  std::array<std::vector<VideoId>, filtering::kNumFilters> dropped;  // in retrieval order
};

// Microseconds spent in each stage of one request.
struct StageTimings {
  double retrieve_us = 0, filter_us = 0, rank_us = 0, order_us = 0;
};

struct RecommendResult {
  std::vector<RecommendedItem> items;
  bool cold_start = false;  // the user had neither a catalog profile nor history
  bool ranked = false;      // the ranker ordered the candidates
  int retrieved = 0;        // candidates before filtering
  int explored = 0;         // items in exploration slots
  filtering::FilterReport filter;
  StageTimings timings;
  // With RecommendRequest::explain: one per item, in the same order, and the request's.
  std::vector<ItemExplanation> explanations;
  RequestExplanation explanation;
};

// Runs the four stages for `request` on `model`. `online` are the user's events since the snapshot
// (features::FeatureStore::History); `flags` the admin flags per catalog video (filtering bits;
// may be shorter than the catalog). InvalidArgument when count is outside [1, 1000].
// `live`, when given, is the catalog as it is now (uploads and updates after the model's
// snapshot, held under its read lock for the call): new videos are retrieved from its fresh
// index, filtered and ordered with their current fields, and new uploads lead the cold-start fresh
// list.
// Exploration (options.ordering.explore.share > 0): the fresh videos among the user's filtered
// candidates (before the ranker's cut, in retrieval order) are offered to ordering::Explore with
// their engagement from `counters` (without counters every one has none: the draw is uniform).
StatusOr<RecommendResult> Recommend(const ServingModel& model, const RecommendRequest& request,
                                    std::span<const features::HistoryEntry> online,
                                    std::span<const uint8_t> flags, const RecommendOptions& options,
                                    const LiveCatalog::Reader* live = nullptr,
                                    const LiveCounters* counters = nullptr);

// "Up next": videos like one video, for whoever watches it.
struct SimilarRequest {
  VideoId video;
  int count = 10;
  std::optional<UserId> user;  // when given: what the user watched is filtered, and their age applies
  std::string surface = "up_next";
  int64_t now = 0;               // unix seconds
  std::vector<VideoId> exclude;  // on the client's screen
};

struct SimilarResult {
  std::vector<RecommendedItem> items;  // reason "co_watched" or "similar_content"
  int candidates = 0;                  // before filtering
  filtering::FilterReport filter;
};

// The videos watched together with request.video (its item-item similarity row of the snapshot,
// by similarity), then the videos nearest to its embedding by the video tower (by inner product:
// content, and what the tower learnt of its audience), which is all a video uploaded after the
// snapshot has. Each list is asked for 3 x count candidates; the video itself and what the filters
// remove (the user's watched videos, policy for the user's age or for an unknown one,
// availability, the surface's freshness, the exclude list) never appear.
// Errors: NotFound when the video is in neither the snapshot nor the live catalog; InvalidArgument
// for a count outside [1, 1000].
StatusOr<SimilarResult> Similar(const ServingModel& model, const SimilarRequest& request,
                                std::span<const features::HistoryEntry> online,
                                std::span<const uint8_t> flags, const RecommendOptions& options,
                                const LiveCatalog::Reader* live = nullptr);

}  // namespace vrec::serving
