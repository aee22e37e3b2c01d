#include "vrec/ranking/features.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "vrec/common/check.h"
#include "vrec/common/strings.h"

namespace vrec::ranking {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr int64_t kNever = std::numeric_limits<int64_t>::min();

float Ratio(double num, double den) { return den > 0 ? static_cast<float>(num / den) : kNaN; }
float Log1p(double x) { return static_cast<float>(std::log1p(std::max(0.0, x))); }
float Days(int64_t seconds) { return static_cast<float>(static_cast<double>(seconds) / 86400.0); }

constexpr int64_t kWeekSeconds = 7 * 86400;
int32_t WeekOf(int64_t t) {
  return static_cast<int32_t>(t >= 0 ? t / kWeekSeconds : -((-t + kWeekSeconds - 1) / kWeekSeconds));
}

// The newest positives whose categories cross_recent_category_share reads.
constexpr size_t kRecentForCategories = 20;

bool ShareCategory(const data::Video& a, const data::Video& b) {
  for (uint16_t x : a.categories) {
    if (std::find(b.categories.begin(), b.categories.end(), x) != b.categories.end()) return true;
  }
  return false;
}

}  // namespace

void FeatureAggregates::AddWeek(WeekCounts& weeks, int32_t week) {
  auto it = std::lower_bound(weeks.begin(), weeks.end(), std::pair<int32_t, int32_t>{week, 0});
  if (it != weeks.end() && it->first == week) {
    ++it->second;
  } else {
    weeks.insert(it, {week, 1});
  }
}

int64_t FeatureAggregates::WeekSum(const WeekCounts& weeks, int32_t first, int32_t last) {
  int64_t sum = 0;
  for (auto it = std::lower_bound(weeks.begin(), weeks.end(), std::pair<int32_t, int32_t>{first, 0});
       it != weeks.end() && it->first <= last; ++it) {
    sum += it->second;
  }
  return sum;
}

const std::vector<std::string>& RankingFeatureNames() {
  static const std::vector<std::string> kNames = {
      // user demographics
      "user_age", "user_gender",
      // user behaviour
      "user_log_positives_ppm", "user_mean_weight", "user_mean_watch_ratio", "user_days_since_last",
      // video static
      "video_primary_category", "video_num_categories", "video_log_duration_s", "video_upload_age_days",
      "video_age_restricted",
      // video engagement
      "video_log_positives_ppm", "video_mean_weight", "video_completion", "video_like_rate",
      "video_comment_rate", "video_share_rate", "video_play_rate", "video_skip_rate",
      // request context
      "ctx_hour", "ctx_day_of_week", "ctx_device",
      // cross features
      "cross_category_share", "cross_category_mean_weight", "cross_days_since_category",
      "cross_language_match", "cross_video_popularity_vs_user",
      // retrieval
      "retrieval_score", "retrieval_rank", "similarity_score", "similarity_rank",
      // the same, relative to the request's best candidate (robust to score scale shifts between
      // model versions)
      "retrieval_score_gap", "similarity_share", "popularity_share",
      // v2: the candidate against the user's own history
      "user_active_weeks", "video_days_since_first_positive", "cross_first_positive_vs_user_last_days",
      "cross_log_popularity_in_user_weeks_ppm", "cross_upload_vs_user_mean_days", "cross_upload_z",
      "cross_upload_vs_user_last_days", "cross_popularity_vs_user_recent", "cross_recent_category_share",
      "retrieval_score_z",
      // v3: the EASE item-item regression score vs the history, and its rank within the request
      "ease_score", "ease_rank"};
  return kNames;
}

std::string RankingFeatureSchema() {
  return StrCat("ranking-features v", kRankingFeatureVersion, ": ", StrJoin(RankingFeatureNames(), ","));
}

FeatureAggregates::FeatureAggregates(const data::Dataset& ds)
    : ds_(ds),
      num_categories_(std::max<size_t>(1, ds.categories.size())),
      users_(ds.users.size()),
      videos_(ds.videos.size()),
      user_category_count_(ds.users.size() * num_categories_, 0),
      user_category_last_(ds.users.size() * num_categories_, kNever),
      user_category_weight_(ds.users.size() * num_categories_, 0.0f) {}

FeatureAggregates FeatureAggregates::FromRows(const data::Dataset& ds,
                                              std::span<const data::Interaction> rows, int64_t as_of) {
  FeatureAggregates agg(ds);
  for (const data::Interaction& x : rows) {
    if (x.timestamp < as_of) agg.Observe(x);
  }
  return agg;
}

void FeatureAggregates::Observe(const data::Interaction& x) {
  if (x.user >= users_.size() || x.video >= videos_.size()) return;
  VideoAgg& v = videos_[x.video];
  UserAgg& u = users_[x.user];
  switch (x.type) {
    case data::EventType::kImpression:
      ++v.impressions;
      break;
    case data::EventType::kSkip:
      ++v.skips;
      break;
    case data::EventType::kLike:
      ++v.likes;
      break;
    case data::EventType::kComment:
      ++v.comments;
      break;
    case data::EventType::kShare:
      ++v.shares;
      break;
    case data::EventType::kPlay:
    case data::EventType::kRating:
      ++v.plays;
      break;
  }
  if (!data::IsMissing(x.watch_ratio)) {
    v.ratio_sum += x.watch_ratio;
    ++v.ratio_count;
    u.ratio_sum += x.watch_ratio;
    ++u.ratio_count;
  }
  u.last_time = std::max(u.last_time, x.timestamp);
  const float w = data::PreferenceWeight(x);
  if (w <= 0) return;
  ++v.positives;
  ++total_positives_;
  v.weight_sum += w;
  ++u.positives;
  u.weight_sum += w;
  v.first_positive = std::min(v.first_positive, x.timestamp);
  const int32_t week = WeekOf(x.timestamp);
  AddWeek(v.weeks, week);
  AddWeek(u.weeks, week);
  AddWeek(total_weeks_, week);
  if (const int64_t upload = ds_.videos[x.video].upload_time; upload != data::kUnknownTime) {
    const double d = Days(upload);
    u.upload_days_sum += d;
    u.upload_days_sq_sum += d * d;
    ++u.upload_count;
  }
  u.recent.emplace_back(x.timestamp, x.video);
  if (u.recent.size() >= 2 * kRecentPositives) {
    std::nth_element(u.recent.begin(), u.recent.begin() + kRecentPositives, u.recent.end(), std::greater<>());
    u.recent.resize(kRecentPositives);
  }
  const size_t base = static_cast<size_t>(x.user) * num_categories_;
  for (uint16_t c : ds_.videos[x.video].categories) {
    ++user_category_count_[base + c];
    user_category_weight_[base + c] += w;
    user_category_last_[base + c] = std::max(user_category_last_[base + c], x.timestamp);
  }
}

void FeatureAggregates::Assemble(uint32_t user, const RequestContext& request,
                                 std::span<const uint32_t> videos, std::span<const CandidateSignals> signals,
                                 std::vector<float>& out) const {
  // Wrong sizes here would read past the signals and write past ease_rank below.
  VREC_CHECK(signals.empty() || signals.size() == videos.size(), signals.size(), " signals for ",
             videos.size(), " videos");
  const data::User* du = user < ds_.users.size() ? &ds_.users[user] : nullptr;
  const UserAgg none_user;
  const UserAgg& u = du != nullptr ? users_[user] : none_user;
  const size_t base = static_cast<size_t>(user) * num_categories_;
  const data::Context ctx = data::ContextOf(data::Interaction{.timestamp = request.time});
  // Counts per million positives rather than raw: a model trained on aggregates of part of the log
  // then reads aggregates of the whole log on the same scale.
  const double per_million = total_positives_ > 0 ? 1e6 / static_cast<double>(total_positives_) : 0.0;
  const float user_log_positives = Log1p(u.positives * per_million);
  int32_t most_positives = 0;
  for (uint32_t vi : videos) {
    VREC_CHECK(vi < videos_.size(), "video ", vi, " of ", videos_.size());
    most_positives = std::max(most_positives, videos_[vi].positives);
  }
  // The user's history, read once per request.
  std::vector<std::pair<int64_t, uint32_t>> recent = u.recent;
  const size_t n_newest = std::min(recent.size(), kRecentPositives);
  std::partial_sort(recent.begin(), recent.begin() + static_cast<ptrdiff_t>(n_newest), recent.end(),
                    std::greater<>());
  const size_t n_category = std::min(n_newest, kRecentForCategories);
  double recent_log_popularity = 0;
  for (size_t r = 0; r < n_newest; ++r) {
    recent_log_popularity += Log1p(videos_[recent[r].second].positives * per_million);
  }
  const float mean_recent_log_popularity =
      n_newest == 0 ? kNaN : static_cast<float>(recent_log_popularity / static_cast<double>(n_newest));
  const float upload_mean =
      u.upload_count > 0 ? static_cast<float>(u.upload_days_sum / u.upload_count) : kNaN;
  const float upload_sd =
      u.upload_count > 1
          ? static_cast<float>(std::sqrt(std::max(
                0.0, u.upload_days_sq_sum / u.upload_count - static_cast<double>(upload_mean) * upload_mean)))
          : kNaN;
  // Positives of all videos around each week the user was active (the week and its neighbours).
  std::vector<double> week_totals;
  week_totals.reserve(u.weeks.size());
  int32_t user_week_positives = 0;
  for (const auto& [week, count] : u.weeks) {
    week_totals.push_back(static_cast<double>(WeekSum(total_weeks_, week - 1, week + 1)));
    user_week_positives += count;
  }
  float retrieval_mean = 0, retrieval_sd = kNaN;
  {
    double sum = 0, sq = 0;
    int n = 0;
    for (const CandidateSignals& s : signals) {
      if (std::isnan(s.retrieval_score)) continue;
      sum += s.retrieval_score;
      sq += static_cast<double>(s.retrieval_score) * s.retrieval_score;
      ++n;
    }
    if (n > 1) {
      retrieval_mean = static_cast<float>(sum / n);
      retrieval_sd = static_cast<float>(std::sqrt(std::max(0.0, sq / n - (sum / n) * (sum / n))));
    }
  }
  // Rank of each candidate's EASE score among the request's scored candidates (0 = best).
  std::vector<float> ease_rank(videos.size(), kNaN);
  {
    std::vector<uint32_t> order;
    for (uint32_t i = 0; i < signals.size(); ++i) {
      if (!std::isnan(signals[i].ease_score)) order.push_back(i);
    }
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return signals[a].ease_score != signals[b].ease_score ? signals[a].ease_score > signals[b].ease_score
                                                            : a < b;
    });
    for (size_t r = 0; r < order.size(); ++r) ease_rank[order[r]] = static_cast<float>(r);
  }
  float best_retrieval = kNaN, best_similarity = kNaN;
  for (const CandidateSignals& s : signals) {
    if (!std::isnan(s.retrieval_score) && !(s.retrieval_score <= best_retrieval))
      best_retrieval = s.retrieval_score;
    if (!std::isnan(s.similarity_score) && !(s.similarity_score <= best_similarity)) {
      best_similarity = s.similarity_score;
    }
  }
  const size_t width = RankingFeatureNames().size();
  for (size_t i = 0; i < videos.size(); ++i) {
    const uint32_t vi = videos[i];
    const data::Video& dv = ds_.videos[vi];
    const VideoAgg& v = videos_[vi];
    // Cross features over the video's categories: share of the user's positives, mean weight,
    // most recent positive.
    int32_t cat_count = 0;
    float cat_weight = 0;
    int64_t cat_last = kNever;
    if (du != nullptr) {
      for (uint16_t c : dv.categories) {
        cat_count += user_category_count_[base + c];
        cat_weight += user_category_weight_[base + c];
        cat_last = std::max(cat_last, user_category_last_[base + c]);
      }
    }
    const CandidateSignals s = signals.empty() ? CandidateSignals{} : signals[i];
    // The video's share of all positives in the weeks the user was active, weighted by the
    // user's positives in each week.
    float popularity_in_user_weeks = kNaN;
    if (user_week_positives > 0) {
      double share = 0;
      for (size_t w = 0; w < u.weeks.size(); ++w) {
        if (week_totals[w] <= 0) continue;
        const int32_t week = u.weeks[w].first;
        share +=
            u.weeks[w].second * static_cast<double>(WeekSum(v.weeks, week - 1, week + 1)) / week_totals[w];
      }
      popularity_in_user_weeks = Log1p(1e6 * share / user_week_positives);
    }
    int32_t recent_same_category = 0;
    for (size_t r = 0; r < n_category; ++r) {
      if (ShareCategory(dv, ds_.videos[recent[r].second])) ++recent_same_category;
    }
    const float upload_days = dv.upload_time == data::kUnknownTime ? kNaN : Days(dv.upload_time);
    const size_t start = out.size();
    out.insert(
        out.end(),
        {
            du != nullptr && du->age >= 0 ? static_cast<float>(du->age) : kNaN,
            du != nullptr && du->gender != data::Gender::kUnknown ? static_cast<float>(du->gender) : kNaN,
            user_log_positives,
            Ratio(u.weight_sum, u.positives),
            Ratio(u.ratio_sum, u.ratio_count),
            u.last_time == kNever ? kNaN : Days(request.time - u.last_time),
            dv.categories.empty() ? kNaN : static_cast<float>(dv.categories[0]),
            static_cast<float>(dv.categories.size()),
            data::IsMissing(dv.duration_s) ? kNaN : Log1p(dv.duration_s),
            dv.upload_time == data::kUnknownTime ? kNaN : Days(request.time - dv.upload_time),
            dv.age_restricted ? 1.0f : 0.0f,
            Log1p(v.positives * per_million),
            Ratio(v.weight_sum, v.positives),
            Ratio(v.ratio_sum, v.ratio_count),
            Ratio(v.likes, v.plays),
            Ratio(v.comments, v.plays),
            Ratio(v.shares, v.plays),
            Ratio(v.plays, v.plays + v.skips + v.impressions),
            Ratio(v.skips, v.plays + v.skips),
            request.known_time_of_day ? static_cast<float>(ctx.hour) : kNaN,
            request.known_time_of_day ? static_cast<float>(ctx.day_of_week) : kNaN,
            request.device == data::Device::kUnknown ? kNaN : static_cast<float>(request.device),
            Ratio(cat_count, u.positives),
            Ratio(cat_weight, cat_count),
            cat_last == kNever ? kNaN : Days(request.time - cat_last),
            du == nullptr || du->language.empty() || dv.language.empty()
                ? kNaN
                : (du->language == dv.language ? 1.0f : 0.0f),
            Log1p(v.positives * per_million) - user_log_positives,
            s.retrieval_score,
            s.retrieval_rank < 0 ? kNaN : static_cast<float>(s.retrieval_rank),
            s.similarity_score,
            s.similarity_rank < 0 ? kNaN : static_cast<float>(s.similarity_rank),
            s.retrieval_score - best_retrieval,
            best_similarity > 0 ? s.similarity_score / best_similarity : kNaN,
            most_positives > 0 ? static_cast<float>(v.positives) / static_cast<float>(most_positives) : kNaN,
            static_cast<float>(u.weeks.size()),
            v.positives == 0 ? kNaN : Days(request.time - v.first_positive),
            v.positives == 0 || u.last_time == kNever ? kNaN : Days(v.first_positive - u.last_time),
            popularity_in_user_weeks,
            upload_days - upload_mean,
            upload_sd > 0 ? (upload_days - upload_mean) / upload_sd : kNaN,
            dv.upload_time == data::kUnknownTime || u.last_time == kNever
                ? kNaN
                : Days(dv.upload_time - u.last_time),
            Log1p(v.positives * per_million) - mean_recent_log_popularity,
            n_category == 0 ? kNaN
                            : static_cast<float>(recent_same_category) / static_cast<float>(n_category),
            retrieval_sd > 0 ? (s.retrieval_score - retrieval_mean) / retrieval_sd : kNaN,
            s.ease_score,
            ease_rank[i],
        });
    // A row of another width would shift every later candidate's features under the ranker.
    VREC_CHECK(out.size() - start == width, out.size() - start, " features, the schema has ", width);
  }
}

}  // namespace vrec::ranking
