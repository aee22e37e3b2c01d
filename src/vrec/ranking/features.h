// Ranking features: the one place that defines them (names, order, version). Every value is
// computed from events strictly before the moment being scored (point-in-time correct): the
// aggregates only ever see rows with timestamp < as_of, so adding later events cannot change a
// feature (a test checks it).
//
// Groups, as in the spec's feature table:
//   user demographics, user behaviour, video static, video engagement, request context,
//   cross features (user-category affinity and recency, language match), retrieval score/rank,
//   and (v2) the candidate against the user's own history: when the user was active vs when the
//   video was (popularity during the user's active weeks), release-date preference, popularity
//   vs what the user usually watches, category share among the most recent positives, and the
//   retrieval score normalised within the request; (v3) the EASE item-item regression score of the
//   candidate against the history, and its rank within the request.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "vrec/data/dataset.h"

namespace vrec::ranking {

// Bumped whenever a feature is added, removed, reordered or computed differently.
inline constexpr int kRankingFeatureVersion = 3;

// Column names, in order.
const std::vector<std::string>& RankingFeatureNames();
// "ranking-features v1: name,name,..." (its HashHex goes into the ranker's manifest).
std::string RankingFeatureSchema();

// What the retrieval stage says about a candidate.
struct CandidateSignals {
  float retrieval_score = std::numeric_limits<float>::quiet_NaN();   // two-tower inner product
  int retrieval_rank = -1;                                           // 0-based; -1 when not retrieved
  float similarity_score = std::numeric_limits<float>::quiet_NaN();  // item-item (SAR) score vs history
  int similarity_rank = -1;
  float ease_score = std::numeric_limits<float>::quiet_NaN();  // EASE score vs history; NaN: not modelled
};

// The request being scored.
struct RequestContext {
  int64_t time = 0;  // unix seconds: "now" for ages and recencies
  data::Device device = data::Device::kUnknown;
  bool known_time_of_day = true;  // false: hour and day of week are missing (offline benchmarks)
};

// Per-user and per-video aggregates of past events. Not thread-safe for Observe; Assemble is const.
class FeatureAggregates {
 public:
  // Empty aggregates for the users, videos and categories of `ds` (which must outlive this).
  explicit FeatureAggregates(const data::Dataset& ds);

  // Aggregates of the rows of `rows` with timestamp < as_of.
  static FeatureAggregates FromRows(const data::Dataset& ds, std::span<const data::Interaction> rows,
                                    int64_t as_of);

  // Adds one event. Callers keep point-in-time correctness by observing only past events.
  void Observe(const data::Interaction& x);

  // Appends one row of RankingFeatureNames().size() floats per candidate to `out`.
  // `signals` is empty or has one entry per video.
  void Assemble(uint32_t user, const RequestContext& request, std::span<const uint32_t> videos,
                std::span<const CandidateSignals> signals, std::vector<float>& out) const;

 private:
  // Positives per week (unix seconds / 7 days), sorted by week. Weeks keep the state small
  // (one entry per active week) while still telling when a user or a video was active.
  using WeekCounts = std::vector<std::pair<int32_t, int32_t>>;

  struct UserAgg {
    int32_t positives = 0;
    double weight_sum = 0;
    double ratio_sum = 0;
    int32_t ratio_count = 0;
    int64_t last_time = std::numeric_limits<int64_t>::min();
    // Release-date preference: sum and sum of squares of the upload times (in days) of the
    // positives' videos, over those with a known upload time.
    double upload_days_sum = 0, upload_days_sq_sum = 0;
    int32_t upload_count = 0;
    WeekCounts weeks;
    // The most recent positives as (timestamp, video), at most 2 * kRecentPositives, trimmed to
    // the newest kRecentPositives when full (events may arrive out of order). The features read
    // the newest kRecentPositives; the slack keeps trimming rare.
    std::vector<std::pair<int64_t, uint32_t>> recent;
  };
  struct VideoAgg {
    int32_t impressions = 0, plays = 0, skips = 0, likes = 0, comments = 0, shares = 0, positives = 0;
    double weight_sum = 0;
    double ratio_sum = 0;
    int32_t ratio_count = 0;
    int64_t first_positive = std::numeric_limits<int64_t>::max();
    WeekCounts weeks;
  };

  static constexpr size_t kRecentPositives = 50;
  static void AddWeek(WeekCounts& weeks, int32_t week);
  // Sum of the counts of weeks first..last (inclusive).
  static int64_t WeekSum(const WeekCounts& weeks, int32_t first, int32_t last);

  const data::Dataset& ds_;
  size_t num_categories_;
  std::vector<UserAgg> users_;
  std::vector<VideoAgg> videos_;
  int64_t total_positives_ = 0;  // all users, all videos: counts are read per million of these
  WeekCounts total_weeks_;       // all positives per week
  // users x categories: positives and last positive time per category.
  std::vector<int32_t> user_category_count_;
  std::vector<int64_t> user_category_last_;
  std::vector<float> user_category_weight_;
};

}  // namespace vrec::ranking
