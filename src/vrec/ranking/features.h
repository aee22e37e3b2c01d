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
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vrec/common/artifact.h"
#include "vrec/common/flat_array.h"
#include "vrec/data/catalog_view.h"
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

// What changed after FeatureAggregates were built, as serving sees it.
struct OnlineState {
  // The catalog with uploads and updates (video and user indices beyond the aggregates' are new:
  // no events); null = the catalog the aggregates were built for.
  const data::CatalogView* catalog = nullptr;
};

// Per-user and per-video aggregates of past events, built once from a log (FromRows) and then
// immutable: flat arrays that the pipeline writes into the serving snapshot and `vrec serve` maps
// (Save / Load), so serving reads exactly the values training computed. Thread-safe to read.
class FeatureAggregates {
 public:
  // Empty aggregates (no events) for the users, videos and categories of `ds`, which must outlive
  // this.
  explicit FeatureAggregates(const data::Dataset& ds);

  // Aggregates of the rows of `rows` with timestamp < as_of. `ds` must outlive the result.
  static FeatureAggregates FromRows(const data::Dataset& ds, std::span<const data::Interaction> rows,
                                    int64_t as_of);

  // Appends one row of RankingFeatureNames().size() floats per candidate to `out`.
  // `signals` is empty or has one entry per video.
  void Assemble(uint32_t user, const RequestContext& request, std::span<const uint32_t> videos,
                std::span<const CandidateSignals> signals, std::vector<float>& out,
                const OnlineState& online = {}) const;

  // Writes the aggregates as sections <prefix>.*.
  Status Save(ArtifactWriter& out, std::string_view prefix) const;
  // Maps aggregates written by Save for the catalog `ds` (which must outlive them). DataLoss naming
  // the section when one is missing or does not fit the catalog.
  static StatusOr<std::shared_ptr<const FeatureAggregates>> Load(
      const std::shared_ptr<const MappedArtifact>& in, std::string_view prefix, const data::Dataset& ds);
  // Bytes held (mapped or owned).
  uint64_t bytes() const;

  // Positives per week (unix seconds / 7 days). Weeks keep the state small (one entry per active
  // week) while still telling when a user or a video was active.
  struct Week {
    int32_t week = 0;
    int32_t count = 0;
  };
  struct UserStats {
    int32_t positives = 0;
    int32_t ratio_count = 0;
    int32_t upload_count = 0;
    int32_t unused = 0;
    double weight_sum = 0;
    double ratio_sum = 0;
    // Release-date preference: sum and sum of squares of the upload times (in days) of the
    // positives' videos, over those with a known upload time.
    double upload_days_sum = 0, upload_days_sq_sum = 0;
    int64_t last_time = std::numeric_limits<int64_t>::min();
  };
  struct VideoStats {
    int32_t impressions = 0, plays = 0, skips = 0, likes = 0, comments = 0, shares = 0, positives = 0;
    int32_t ratio_count = 0;
    double weight_sum = 0;
    double ratio_sum = 0;
    int64_t first_positive = std::numeric_limits<int64_t>::max();
  };
  // One of a user's most recent positives.
  struct Recent {
    int64_t time = 0;
    uint32_t video = 0;
    uint32_t unused = 0;
  };
  // The newest positives kept per user (newest first).
  static constexpr size_t kRecentPositives = 50;

 private:
  class Builder;
  FeatureAggregates() = default;
  // Sum of the counts of weeks first..last (inclusive); `weeks` sorted by week.
  static int64_t WeekSum(std::span<const Week> weeks, int32_t first, int32_t last);
  std::span<const Week> UserWeeks(uint32_t user) const;
  std::span<const Week> VideoWeeks(uint32_t video) const;
  std::span<const Recent> UserRecent(uint32_t user) const;

  const data::Dataset* ds_ = nullptr;
  size_t num_categories_ = 1;
  int64_t total_positives_ = 0;  // all users, all videos: counts are read per million of these
  FlatArray<Week> total_weeks_;  // all positives per week
  FlatArray<UserStats> users_;
  FlatArray<uint64_t> user_week_ptr_;  // users + 1 offsets into user_weeks_
  FlatArray<Week> user_weeks_;
  FlatArray<uint64_t> user_recent_ptr_;  // users + 1 offsets into user_recent_
  FlatArray<Recent> user_recent_;        // per user, newest first, at most kRecentPositives
  FlatArray<VideoStats> videos_;
  FlatArray<uint64_t> video_week_ptr_;  // videos + 1 offsets into video_weeks_
  FlatArray<Week> video_weeks_;
  // users x categories: positives, summed weight and last positive time per category.
  FlatArray<int32_t> user_category_count_;
  FlatArray<int64_t> user_category_last_;
  FlatArray<float> user_category_weight_;
};

}  // namespace vrec::ranking
