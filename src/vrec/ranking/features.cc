#include "vrec/ranking/features.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <tuple>

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

int64_t FeatureAggregates::WeekSum(std::span<const Week> weeks, int32_t first, int32_t last) {
  int64_t sum = 0;
  for (auto it = std::lower_bound(weeks.begin(), weeks.end(), first,
                                  [](const Week&w, int32_t value) { return w.week < value; });
       it != weeks.end() && it->week <= last; ++it) {
    sum += it->count;
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

// The mutable aggregates FromRows fills one event at a time, frozen into flat arrays at the end.
class FeatureAggregates::Builder {
 public:
  explicit Builder(const data::Dataset& ds)
      : ds_(ds),
        num_categories_(std::max<size_t>(1, ds.categories.size())),
        users_(ds.users.size()),
        videos_(ds.videos.size()),
        user_weeks_(ds.users.size()),
        user_recent_(ds.users.size()),
        video_weeks_(ds.videos.size()),
        user_category_count_(ds.users.size() * num_categories_, 0),
        user_category_last_(ds.users.size() * num_categories_, kNever),
        user_category_weight_(ds.users.size() * num_categories_, 0.0f) {}

  void Observe(const data::Interaction& x) {
    if (x.user >= users_.size() || x.video >= videos_.size()) return;
    VideoStats& v = videos_[x.video];
    UserStats& u = users_[x.user];
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
    AddWeek(video_weeks_[x.video], week);
    AddWeek(user_weeks_[x.user], week);
    AddWeek(total_weeks_, week);
    if (const int64_t upload = ds_.videos[x.video].upload_time; upload != data::kUnknownTime) {
      const double d = Days(upload);
      u.upload_days_sum += d;
      u.upload_days_sq_sum += d * d;
      ++u.upload_count;
    }
    // The newest positives, at most 2 * kRecentPositives, trimmed to the newest kRecentPositives
    // when full (events may arrive out of order).
    auto& recent = user_recent_[x.user];
    recent.emplace_back(x.timestamp, x.video);
    if (recent.size() >= 2 * kRecentPositives) {
      std::nth_element(recent.begin(), recent.begin() + kRecentPositives, recent.end(), std::greater<>());
      recent.resize(kRecentPositives);
    }
    const size_t base = static_cast<size_t>(x.user) * num_categories_;
    for (uint16_t c : ds_.videos[x.video].categories) {
      ++user_category_count_[base + c];
      user_category_weight_[base + c] += w;
      user_category_last_[base + c] = std::max(user_category_last_[base + c], x.timestamp);
    }
  }

  FeatureAggregates Freeze() && {
    FeatureAggregates a;
    a.ds_ = &ds_;
    a.num_categories_ = num_categories_;
    a.total_positives_ = total_positives_;
    a.total_weeks_ = FlatArray<Week>(Flatten(total_weeks_));
    a.users_ = FlatArray<UserStats>(std::move(users_));
    a.videos_ = FlatArray<VideoStats>(std::move(videos_));
    std::tie(a.user_week_ptr_, a.user_weeks_) = Csr(user_weeks_);
    std::tie(a.video_week_ptr_, a.video_weeks_) = Csr(video_weeks_);
    // Each user's newest positives, newest first (the order Assemble reads them in).
    std::vector<uint64_t> ptr{0};
    std::vector<Recent> recent;
    for (auto& list : user_recent_) {
      const size_t n = std::min(list.size(), kRecentPositives);
      std::partial_sort(list.begin(), list.begin() + static_cast<ptrdiff_t>(n), list.end(), std::greater<>());
      for (size_t r = 0; r < n; ++r) recent.push_back(Recent{list[r].first, list[r].second, 0});
      ptr.push_back(recent.size());
      list = {};
    }
    a.user_recent_ptr_ = FlatArray<uint64_t>(std::move(ptr));
    a.user_recent_ = FlatArray<Recent>(std::move(recent));
    a.user_category_count_ = FlatArray<int32_t>(std::move(user_category_count_));
    a.user_category_last_ = FlatArray<int64_t>(std::move(user_category_last_));
    a.user_category_weight_ = FlatArray<float>(std::move(user_category_weight_));
    return a;
  }

 private:
  using WeekCounts = std::vector<std::pair<int32_t, int32_t>>;  // (week, count) sorted by week

  static void AddWeek(WeekCounts& weeks, int32_t week) {
    auto it = std::lower_bound(weeks.begin(), weeks.end(), std::pair<int32_t, int32_t>{week, 0});
    if (it != weeks.end() && it->first == week) {
      ++it->second;
    } else {
      weeks.insert(it, {week, 1});
    }
  }
  static std::vector<Week> Flatten(const WeekCounts& weeks) {
    std::vector<Week> out;
    out.reserve(weeks.size());
    for (const auto& [week, count] : weeks) out.push_back(Week{week, count});
    return out;
  }
  static std::pair<FlatArray<uint64_t>, FlatArray<Week>> Csr(std::vector<WeekCounts>& lists) {
    std::vector<uint64_t> ptr{0};
    std::vector<Week> weeks;
    for (WeekCounts& list : lists) {
      for (const auto& [week, count] : list) weeks.push_back(Week{week, count});
      ptr.push_back(weeks.size());
      list = {};
    }
    return {FlatArray<uint64_t>(std::move(ptr)), FlatArray<Week>(std::move(weeks))};
  }

  const data::Dataset& ds_;
  size_t num_categories_;
  int64_t total_positives_ = 0;
  WeekCounts total_weeks_;
  std::vector<UserStats> users_;
  std::vector<VideoStats> videos_;
  std::vector<WeekCounts> user_weeks_;
  std::vector<std::vector<std::pair<int64_t, uint32_t>>> user_recent_;  // (time, video)
  std::vector<WeekCounts> video_weeks_;
  std::vector<int32_t> user_category_count_;
  std::vector<int64_t> user_category_last_;
  std::vector<float> user_category_weight_;
};

FeatureAggregates::FeatureAggregates(const data::Dataset& ds) : FeatureAggregates(Builder(ds).Freeze()) {}

FeatureAggregates FeatureAggregates::FromRows(const data::Dataset& ds,
                                              std::span<const data::Interaction> rows, int64_t as_of) {
  Builder builder(ds);
  for (const data::Interaction& x : rows) {
    if (x.timestamp < as_of) builder.Observe(x);
  }
  return std::move(builder).Freeze();
}

std::span<const FeatureAggregates::Week> FeatureAggregates::UserWeeks(uint32_t user) const {
  return user_weeks_.span().subspan(user_week_ptr_[user], user_week_ptr_[user + 1] - user_week_ptr_[user]);
}

std::span<const FeatureAggregates::Week> FeatureAggregates::VideoWeeks(uint32_t video) const {
  return video_weeks_.span().subspan(video_week_ptr_[video],
                                     video_week_ptr_[video + 1] - video_week_ptr_[video]);
}

std::span<const FeatureAggregates::Recent> FeatureAggregates::UserRecent(uint32_t user) const {
  return user_recent_.span().subspan(user_recent_ptr_[user],
                                     user_recent_ptr_[user + 1] - user_recent_ptr_[user]);
}

void FeatureAggregates::Assemble(uint32_t user, const RequestContext& request,
                                 std::span<const uint32_t> videos, std::span<const CandidateSignals> signals,
                                 std::vector<float>& out, const OnlineState& online) const {
  // Wrong sizes here would read past the signals and write past ease_rank below.
  VREC_CHECK(signals.empty() || signals.size() == videos.size(), signals.size(), " signals for ",
             videos.size(), " videos");
  // The catalog as it is now (uploads and updates after the aggregates included), and what the
  // aggregates know: videos and users beyond them are new, with no events yet.
  const data::CatalogView catalog = online.catalog != nullptr ? *online.catalog : data::CatalogView(*ds_);
  const data::User* du = user < catalog.num_users() ? &catalog.user(user) : nullptr;
  const bool has_stats = user < users_.size();
  const UserStats none_user;
  const UserStats& u = has_stats ? users_[user] : none_user;
  const std::span<const Week> user_weeks = has_stats ? UserWeeks(user) : std::span<const Week>();
  // The user's newest positives, newest first.
  const std::span<const Recent> recent = has_stats ? UserRecent(user) : std::span<const Recent>();
  const VideoStats none_video;
  const auto stats_of = [&](uint32_t vi) -> const VideoStats& {
    return vi < videos_.size() ? videos_[vi] : none_video;
  };
  const size_t base = static_cast<size_t>(user) * num_categories_;
  const data::Context ctx = data::ContextOf(data::Interaction{.timestamp = request.time});
  // Counts per million positives rather than raw: a model trained on aggregates of part of the log
  // then reads aggregates of the whole log on the same scale.
  const double per_million = total_positives_ > 0 ? 1e6 / static_cast<double>(total_positives_) : 0.0;
  const float user_log_positives = Log1p(u.positives * per_million);
  int32_t most_positives = 0;
  for (uint32_t vi : videos) {
    VREC_CHECK(vi < catalog.num_videos(), "video ", vi, " of ", catalog.num_videos());
    most_positives = std::max(most_positives, stats_of(vi).positives);
  }
  const size_t n_newest = std::min(recent.size(), kRecentPositives);
  const size_t n_category = std::min(n_newest, kRecentForCategories);
  double recent_log_popularity = 0;
  for (size_t r = 0; r < n_newest; ++r) {
    recent_log_popularity += Log1p(stats_of(recent[r].video).positives * per_million);
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
  week_totals.reserve(user_weeks.size());
  int32_t user_week_positives = 0;
  for (const Week& w : user_weeks) {
    week_totals.push_back(static_cast<double>(WeekSum(total_weeks_.span(), w.week - 1, w.week + 1)));
    user_week_positives += w.count;
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
    const data::Video& dv = catalog.video(vi);
    const VideoStats& v = stats_of(vi);
    const std::span<const Week> video_weeks = vi < videos_.size() ? VideoWeeks(vi) : std::span<const Week>();
    // Cross features over the video's categories: share of the user's positives, mean weight,
    // most recent positive.
    int32_t cat_count = 0;
    float cat_weight = 0;
    int64_t cat_last = kNever;
    if (has_stats) {
      for (uint16_t c : dv.categories) {
        if (c >= num_categories_) continue;  // a category named after the aggregates were built
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
      for (size_t w = 0; w < user_weeks.size(); ++w) {
        if (week_totals[w] <= 0) continue;
        const int32_t week = user_weeks[w].week;
        share += user_weeks[w].count * static_cast<double>(WeekSum(video_weeks, week - 1, week + 1)) /
                 week_totals[w];
      }
      popularity_in_user_weeks = Log1p(1e6 * share / user_week_positives);
    }
    int32_t recent_same_category = 0;
    for (size_t r = 0; r < n_category; ++r) {
      if (ShareCategory(dv, catalog.video(recent[r].video))) ++recent_same_category;
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
            static_cast<float>(user_weeks.size()),
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

namespace {

template <typename T>
StatusOr<FlatArray<T>> MappedColumn(const std::shared_ptr<const MappedArtifact>& in, std::string_view prefix,
                                    std::string_view name, std::optional<size_t> expected) {
  VREC_ASSIGN_OR_RETURN(std::span<const T> span, in->Get<T>(StrCat(prefix, ".", name)));
  if (expected && span.size() != *expected) {
    return DataLossError(StrCat(in->path(), ": ranking aggregates section '", prefix, ".", name, "' has ",
                                span.size(), " entries, expected ", *expected));
  }
  return FlatArray<T>(span, in);
}

// CSR offsets: n + 1 entries from 0 to `total`, non-decreasing.
Status CheckPtr(const MappedArtifact& in, std::string_view name, const FlatArray<uint64_t>& ptr,
                size_t total) {
  bool ok = !ptr.empty() && ptr[0] == 0 && ptr[ptr.size() - 1] == total;
  for (size_t i = 1; ok && i < ptr.size(); ++i) ok = ptr[i] >= ptr[i - 1];
  if (ok) return OkStatus();
  return DataLossError(StrCat(in.path(), ": ranking aggregates offsets '", name, "' are inconsistent"));
}

}  // namespace

Status FeatureAggregates::Save(ArtifactWriter& out, std::string_view prefix) const {
  const int64_t meta[] = {static_cast<int64_t>(users_.size()), static_cast<int64_t>(videos_.size()),
                          static_cast<int64_t>(num_categories_), total_positives_};
  VREC_RETURN_IF_ERROR(out.Add<int64_t>(StrCat(prefix, ".meta"), meta));
  VREC_RETURN_IF_ERROR(out.Add<Week>(StrCat(prefix, ".total_weeks"), total_weeks_.span()));
  VREC_RETURN_IF_ERROR(out.Add<UserStats>(StrCat(prefix, ".users"), users_.span()));
  VREC_RETURN_IF_ERROR(out.Add<uint64_t>(StrCat(prefix, ".user_week_ptr"), user_week_ptr_.span()));
  VREC_RETURN_IF_ERROR(out.Add<Week>(StrCat(prefix, ".user_weeks"), user_weeks_.span()));
  VREC_RETURN_IF_ERROR(out.Add<uint64_t>(StrCat(prefix, ".user_recent_ptr"), user_recent_ptr_.span()));
  VREC_RETURN_IF_ERROR(out.Add<Recent>(StrCat(prefix, ".user_recent"), user_recent_.span()));
  VREC_RETURN_IF_ERROR(out.Add<VideoStats>(StrCat(prefix, ".videos"), videos_.span()));
  VREC_RETURN_IF_ERROR(out.Add<uint64_t>(StrCat(prefix, ".video_week_ptr"), video_week_ptr_.span()));
  VREC_RETURN_IF_ERROR(out.Add<Week>(StrCat(prefix, ".video_weeks"), video_weeks_.span()));
  VREC_RETURN_IF_ERROR(out.Add<int32_t>(StrCat(prefix, ".user_category_count"), user_category_count_.span()));
  VREC_RETURN_IF_ERROR(out.Add<int64_t>(StrCat(prefix, ".user_category_last"), user_category_last_.span()));
  return out.Add<float>(StrCat(prefix, ".user_category_weight"), user_category_weight_.span());
}

StatusOr<std::shared_ptr<const FeatureAggregates>> FeatureAggregates::Load(
    const std::shared_ptr<const MappedArtifact>& in, std::string_view prefix, const data::Dataset& ds) {
  VREC_ASSIGN_OR_RETURN(std::span<const int64_t> meta, in->Get<int64_t>(StrCat(prefix, ".meta")));
  const size_t nu = ds.users.size(), nv = ds.videos.size(), nc = std::max<size_t>(1, ds.categories.size());
  if (meta.size() != 4 || meta[0] != static_cast<int64_t>(nu) || meta[1] != static_cast<int64_t>(nv) ||
      meta[2] != static_cast<int64_t>(nc)) {
    return DataLossError(StrCat(in->path(), ": ranking aggregates '", prefix, "' are not for this catalog"));
  }
  std::shared_ptr<FeatureAggregates> a(new FeatureAggregates());
  a->ds_ = &ds;
  a->num_categories_ = nc;
  a->total_positives_ = meta[3];
  VREC_ASSIGN_OR_RETURN(a->total_weeks_, MappedColumn<Week>(in, prefix, "total_weeks", std::nullopt));
  VREC_ASSIGN_OR_RETURN(a->users_, MappedColumn<UserStats>(in, prefix, "users", nu));
  VREC_ASSIGN_OR_RETURN(a->user_week_ptr_, MappedColumn<uint64_t>(in, prefix, "user_week_ptr", nu + 1));
  VREC_ASSIGN_OR_RETURN(a->user_weeks_, MappedColumn<Week>(in, prefix, "user_weeks", std::nullopt));
  VREC_ASSIGN_OR_RETURN(a->user_recent_ptr_, MappedColumn<uint64_t>(in, prefix, "user_recent_ptr", nu + 1));
  VREC_ASSIGN_OR_RETURN(a->user_recent_, MappedColumn<Recent>(in, prefix, "user_recent", std::nullopt));
  VREC_ASSIGN_OR_RETURN(a->videos_, MappedColumn<VideoStats>(in, prefix, "videos", nv));
  VREC_ASSIGN_OR_RETURN(a->video_week_ptr_, MappedColumn<uint64_t>(in, prefix, "video_week_ptr", nv + 1));
  VREC_ASSIGN_OR_RETURN(a->video_weeks_, MappedColumn<Week>(in, prefix, "video_weeks", std::nullopt));
  VREC_ASSIGN_OR_RETURN(a->user_category_count_,
                        MappedColumn<int32_t>(in, prefix, "user_category_count", nu * nc));
  VREC_ASSIGN_OR_RETURN(a->user_category_last_,
                        MappedColumn<int64_t>(in, prefix, "user_category_last", nu * nc));
  VREC_ASSIGN_OR_RETURN(a->user_category_weight_,
                        MappedColumn<float>(in, prefix, "user_category_weight", nu * nc));
  VREC_RETURN_IF_ERROR(CheckPtr(*in, "user_week_ptr", a->user_week_ptr_, a->user_weeks_.size()));
  VREC_RETURN_IF_ERROR(CheckPtr(*in, "user_recent_ptr", a->user_recent_ptr_, a->user_recent_.size()));
  VREC_RETURN_IF_ERROR(CheckPtr(*in, "video_week_ptr", a->video_week_ptr_, a->video_weeks_.size()));
  // Recent positives index videos: bounded here (50 a user at most) rather than on every request.
  for (const Recent& r : a->user_recent_) {
    if (r.video >= nv) return DataLossError(StrCat(in->path(), ": ranking aggregates name an unknown video"));
  }
  return std::shared_ptr<const FeatureAggregates>(std::move(a));
}

uint64_t FeatureAggregates::bytes() const {
  return total_weeks_.size() * sizeof(Week) + users_.size() * sizeof(UserStats) +
         (user_week_ptr_.size() + user_recent_ptr_.size() + video_week_ptr_.size()) * 8 +
         (user_weeks_.size() + video_weeks_.size()) * sizeof(Week) + user_recent_.size() * sizeof(Recent) +
         videos_.size() * sizeof(VideoStats) + user_category_count_.size() * 4 +
         user_category_last_.size() * 8 + user_category_weight_.size() * 4;
}

}  // namespace vrec::ranking
