// explore_sim: does exploration (ordering.explore_share) bring new videos to their audience faster,
// and what does it cost? A simulated platform whose users answer by the synthetic platform's ground
// truth (data::SyntheticWorld), the same exploration code `vrec serve` runs (FreshCandidates ->
// ExplorePool -> EngagementOf over features::EngagementCounters -> Explore), and a baseline that
// ranks without exploring, in paired runs (the same users arriving at the same times, the same
// uploads, common random numbers for every response).
//
// The platform: the synthetic catalog minus --new-videos videos, which are uploaded one by one at
// random times over the first --upload-days. Users arrive at random, --requests visits evenly over
// --days simulated days, each getting --count videos; every item is answered by
// SyntheticWorld::Respond (play, skip, or nothing), and plays and skips go to the live counters
// (bucketed in time exactly as serving's) and to the user's history (the watched filter: a video
// played or skipped is not shown to that user again).
//
// The ranker (both arms): predicted play probability. Established videos: the truth plus a fixed
// per-video error N(0, --model-noise) (a model trained on plenty of history). New videos: what
// content tells (their true play probability at average quality: taste and category, not quality)
// plus the same kind of error, corrected online by a per-video bias learnt from the plays it got
// against that estimate, shrunk with --shrinkage pseudo-impressions: a greedy learner that shows a
// new video once its estimate is among the user's best, and learns only from what it shows.
// Retrieval (both arms) scores every video by that content estimate plus the error (the video
// tower: category and taste, not quality) and keeps the best --retrieve of the whole catalog: a new
// video reaches the ranker, or exploration, only for the users it is retrieved for. Exploration's
// candidates are the fresh ones among them (uploaded within --fresh-hours, not watched), nearest
// first, as in serving.
//
// Figures (name=value, the median over --seeds seeds): per arm the play rate and the expected
// watch ratio of the lists (exact expectations of the shown pairs, no sampling noise), impressions
// and plays of new videos, those by their audience (users whose PlayProbability of the video is at
// least --audience), per day; per arm the requests and hours from a new video's upload until its
// audience has played it --target-plays times (median over the good new videos, quality >= --good,
// and over all), and the share that got there.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "bench/bench_util.h"
#include "vrec/common/hash.h"
#include "vrec/common/strings.h"
#include "vrec/data/synth.h"
#include "vrec/features/counters.h"
#include "vrec/ordering/exploration.h"
#include "vrec/ordering/ordering.h"

namespace {

using vrec::data::Dataset;
using vrec::data::SyntheticWorld;
namespace ordering = vrec::ordering;
namespace features = vrec::features;

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Settings {
  int64_t users = 5000;
  int64_t videos = 8000;
  int new_videos = 400;
  int64_t requests = 150'000;
  double days = 7;
  double upload_days = 5;
  int count = 10;
  std::vector<double> shares = {0.1, 0.2};
  ordering::ExploreOptions explore;  // share set per arm
  int established_depth = 300;       // the best established videos kept per user (the ranker's candidates)
  int retrieve = 300;                // retrieval's depth over the whole catalog (retrieval.candidates)
  double model_noise = 0.02;
  double shrinkage = 20;
  double audience = 0.8;
  double good = 1.0;
  int target_plays = 20;
  int seeds = 5;
  uint64_t first_seed = 1;
};

// The synthetic platform's play probability from a user's taste, a video's categories and a
// quality: synth.h's response model, written out so the ranker can evaluate it at a quality it
// believes. Checked against SyntheticWorld::PlayProbability at the true quality at start.
class TasteModel {
 public:
  TasteModel(const SyntheticWorld& world, const Dataset& ds) : ds_(ds) {
    affinity_.resize(world.num_users());
    for (uint32_t u = 0; u < world.num_users(); ++u) {
      float top = 0;
      for (const auto& t : world.Taste(u)) top = std::max(top, t.weight);
      for (const auto& t : world.Taste(u)) affinity_[u].push_back({t.category, t.weight / top});
    }
  }
  double Affinity(uint32_t user, uint32_t video) const {
    const std::vector<uint16_t>& cats = ds_.videos[video].categories;
    double a = cats.empty() ? 0 : Of(user, cats[0]);
    if (cats.size() > 1) a = std::max(a, 0.7 * Of(user, cats[1]));
    return a;
  }
  static double PlayProbability(double affinity, double quality) {
    const double skip = std::clamp(0.04 + 0.5 * (1 - affinity) * (1 - affinity) - 0.05 * quality, 0.01, 0.9);
    return 0.98 * (1 - skip);
  }

 private:
  double Of(uint32_t user, uint16_t category) const {
    for (const auto& [c, a] : affinity_[user]) {
      if (c == category) return a;
    }
    return 0;
  }
  const Dataset& ds_;
  std::vector<std::vector<std::pair<uint16_t, double>>> affinity_;
};

// What one arm measured.
struct Figures {
  double impressions = 0, plays = 0, expected_play = 0, expected_watch = 0;
  double new_impressions = 0, new_explored = 0, new_plays = 0, new_audience_impressions = 0,
         new_audience_plays = 0;
  std::vector<double> audience_plays_by_day;  // cumulative, at the end of each day
  std::vector<double> requests_to_target;     // per new video (kInf: never)
  std::vector<double> hours_to_target;
  std::vector<char> good;  // per new video: quality >= --good
  // Per new video: distinct users of its audience retrieval found it for (watched or not), the
  // most any arm can reach.
  std::vector<double> audience_retrieved;
};

// The world of one seed, shared by its arms.
struct Scenario {
  const SyntheticWorld* world;
  const Dataset* ds;
  const TasteModel* taste;
  std::vector<uint32_t> established;       // catalog videos present from the start
  std::vector<uint32_t> uploads;           // new videos, in upload order
  std::vector<int64_t> upload_time;        // per catalog video (new ones: their upload)
  std::vector<int> new_index;              // per catalog video: its index in `uploads`, or -1
  std::vector<double> error;               // per catalog video: the ranker's fixed error
  std::vector<std::vector<uint32_t>> top;  // per user: best established videos by the ranker
  // Per user: the retrieval scores (content estimate + error) of the best --retrieve established
  // videos, descending: a new video is retrieved when fewer than --retrieve videos score above it.
  std::vector<std::vector<float>> retrieval_top;
  // Per user: the new videos that score above the --retrieve-th established video (only those can
  // ever be retrieved for the user) with their retrieval scores, best first.
  std::vector<std::vector<vrec::filtering::Candidate>> retrievable_uploads;
  std::vector<uint32_t> arrivals;  // the user of each request
  int64_t start = 0;
  double step_s = 0;  // seconds between requests
  uint64_t seed = 0;
};

Scenario MakeScenario(const SyntheticWorld& world, const Dataset& ds, const TasteModel& taste,
                      const Settings& s, uint64_t seed) {
  Scenario sc{&world, &ds, &taste};
  sc.seed = seed;
  std::mt19937_64 rng(seed);
  const auto n_videos = static_cast<uint32_t>(ds.videos.size());
  // Only videos every user may be shown (no age restriction, not taken down): the policy is not
  // what this bench is about.
  std::vector<uint32_t> showable;
  for (uint32_t v = 0; v < n_videos; ++v) {
    if (ds.videos[v].available && !ds.videos[v].age_restricted) showable.push_back(v);
  }
  std::shuffle(showable.begin(), showable.end(), rng);
  const size_t n_new = std::min<size_t>(static_cast<size_t>(s.new_videos), showable.size() / 2);
  sc.uploads.assign(showable.begin(), showable.begin() + static_cast<std::ptrdiff_t>(n_new));
  sc.established.assign(showable.begin() + static_cast<std::ptrdiff_t>(n_new), showable.end());
  sc.start = ds.videos.empty() ? 0 : 1'767'225'600;
  sc.step_s = s.days * 86400.0 / static_cast<double>(s.requests);
  std::uniform_real_distribution<double> when(0, s.upload_days * 86400.0);
  std::vector<int64_t> times(n_new);
  for (int64_t& t : times) t = sc.start + static_cast<int64_t>(when(rng));
  std::sort(times.begin(), times.end());
  sc.upload_time.assign(n_videos, sc.start - 90 * 86400);
  sc.new_index.assign(n_videos, -1);
  for (size_t i = 0; i < n_new; ++i) {
    sc.upload_time[sc.uploads[i]] = times[i];
    sc.new_index[sc.uploads[i]] = static_cast<int>(i);
  }
  std::normal_distribution<double> noise(0, s.model_noise);
  sc.error.resize(n_videos);
  for (double& e : sc.error) e = noise(rng);
  // The ranker's best established videos per user (its scores for them never change).
  sc.top.resize(world.num_users());
  std::vector<std::pair<double, uint32_t>> scored(sc.established.size());
  const auto depth =
      static_cast<size_t>(std::min<int64_t>(s.established_depth, static_cast<int64_t>(scored.size())));
  for (uint32_t u = 0; u < world.num_users(); ++u) {
    for (size_t i = 0; i < sc.established.size(); ++i) {
      const uint32_t v = sc.established[i];
      scored[i] = {world.PlayProbability(u, v) + sc.error[v], v};
    }
    std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(depth), scored.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t i = 0; i < depth; ++i) sc.top[u].push_back(scored[i].second);
  }
  sc.retrieval_top.resize(world.num_users());
  std::vector<float> content(sc.established.size());
  const auto retrieve =
      static_cast<size_t>(std::min<int64_t>(s.retrieve, static_cast<int64_t>(sc.established.size())));
  for (uint32_t u = 0; u < world.num_users(); ++u) {
    for (size_t i = 0; i < sc.established.size(); ++i) {
      const uint32_t v = sc.established[i];
      content[i] = static_cast<float>(TasteModel::PlayProbability(taste.Affinity(u, v), 0) + sc.error[v]);
    }
    std::partial_sort(content.begin(), content.begin() + static_cast<std::ptrdiff_t>(retrieve), content.end(),
                      std::greater<>());
    sc.retrieval_top[u].assign(content.begin(), content.begin() + static_cast<std::ptrdiff_t>(retrieve));
  }
  sc.retrievable_uploads.resize(world.num_users());
  for (uint32_t u = 0; u < world.num_users(); ++u) {
    const std::vector<float>& top = sc.retrieval_top[u];
    const bool full = top.size() >= static_cast<size_t>(s.retrieve);
    for (const uint32_t v : sc.uploads) {
      const auto score =
          static_cast<float>(TasteModel::PlayProbability(taste.Affinity(u, v), 0) + sc.error[v]);
      if (!full || score > top.back()) sc.retrievable_uploads[u].push_back({v, score});
    }
    std::stable_sort(sc.retrievable_uploads[u].begin(), sc.retrievable_uploads[u].end(),
                     [](const auto& a, const auto& b) { return a.score > b.score; });
  }
  std::uniform_int_distribution<uint32_t> pick(0, static_cast<uint32_t>(world.num_users() - 1));
  sc.arrivals.resize(static_cast<size_t>(s.requests));
  for (uint32_t& u : sc.arrivals) u = pick(rng);
  return sc;
}

// One arm: the baseline (share 0) or exploration at `share`.
Figures RunArm(const Scenario& sc, const Settings& s, double share) {
  const SyntheticWorld& world = *sc.world;
  const Dataset& ds = *sc.ds;
  const TasteModel& taste = *sc.taste;
  // The catalog as serving sees it: upload times of this scenario.
  Dataset catalog = ds;
  for (uint32_t v = 0; v < catalog.videos.size(); ++v) catalog.videos[v].upload_time = sc.upload_time[v];
  const vrec::data::CatalogView view(catalog);
  ordering::ExploreOptions explore = s.explore;
  explore.share = share;

  features::EngagementCounters counters;
  std::vector<std::unordered_set<uint32_t>> watched(world.num_users());
  // The ranker's online bias per new video: impressions, plays, and plays expected from content.
  struct Learnt {
    double shown = 0, plays = 0, expected = 0;
  };
  std::vector<Learnt> learnt(sc.uploads.size());
  const auto content = [&](uint32_t u, uint32_t v) {
    return TasteModel::PlayProbability(taste.Affinity(u, v), 0);
  };
  const auto estimate = [&](uint32_t u, uint32_t v) {
    const Learnt& l = learnt[static_cast<size_t>(sc.new_index[v])];
    return content(u, v) + sc.error[v] + (l.plays - l.expected) / (l.shown + s.shrinkage);
  };

  Figures f;
  const int days = static_cast<int>(std::ceil(s.days));
  f.audience_plays_by_day.assign(static_cast<size_t>(days), 0);
  f.requests_to_target.assign(sc.uploads.size(), kInf);
  f.hours_to_target.assign(sc.uploads.size(), kInf);
  std::vector<int> audience_plays(sc.uploads.size(), 0);
  std::vector<int64_t> upload_request(sc.uploads.size(), -1);  // the first request at or after the upload
  std::vector<std::vector<bool>> retrieved_for(sc.uploads.size(),
                                               std::vector<bool>(world.num_users(), false));
  f.audience_retrieved.assign(sc.uploads.size(), 0);
  for (size_t i = 0; i < sc.uploads.size(); ++i) f.good.push_back(world.Quality(sc.uploads[i]) >= s.good);

  size_t next_upload = 0;  // uploads before it are live
  std::vector<vrec::filtering::Candidate> candidates, fresh_candidates;
  for (int64_t r = 0; r < s.requests; ++r) {
    const int64_t now = sc.start + static_cast<int64_t>(static_cast<double>(r) * sc.step_s);
    while (next_upload < sc.uploads.size() && sc.upload_time[sc.uploads[next_upload]] <= now) {
      upload_request[next_upload++] = r;
    }
    const uint32_t u = sc.arrivals[static_cast<size_t>(r)];
    const std::unordered_set<uint32_t>& seen = watched[u];

    // The ranker's candidates: the user's best unwatched established videos, and the new videos
    // retrieval finds for the user (by content: the video tower knows category and taste, not
    // quality) that the user has not watched.
    candidates.clear();
    for (const uint32_t v : sc.top[u]) {
      if (candidates.size() >= static_cast<size_t>(s.count)) break;
      if (!seen.contains(v)) {
        candidates.push_back({v, static_cast<float>(world.PlayProbability(u, v) + sc.error[v])});
      }
    }
    fresh_candidates.clear();
    const std::vector<float>& top_scores = sc.retrieval_top[u];
    size_t above = 0;  // uploads so far that score above the current one
    for (const vrec::filtering::Candidate& c : sc.retrievable_uploads[u]) {
      const uint32_t v = c.video;
      const auto n = static_cast<size_t>(sc.new_index[v]);
      if (n >= next_upload) continue;  // not uploaded yet
      // Retrieved when fewer than --retrieve videos (established, then uploads) score above it.
      const auto established_above = static_cast<size_t>(
          std::upper_bound(top_scores.begin(), top_scores.end(), c.score, std::greater<>()) -
          top_scores.begin());
      if (established_above + above++ >= static_cast<size_t>(s.retrieve)) break;
      if (!retrieved_for[n][u]) {
        retrieved_for[n][u] = true;
        f.audience_retrieved[n] += world.PlayProbability(u, v) >= s.audience;
      }
      if (seen.contains(v)) continue;  // the watched filter
      candidates.push_back({v, static_cast<float>(estimate(u, v))});
      if (ordering::IsFresh(sc.upload_time[v], now, explore.fresh_hours)) fresh_candidates.push_back(c);
    }
    std::vector<ordering::OrderedItem> list =
        ordering::Order(candidates, s.count, view, now, ordering::OrderingOptions(), nullptr);
    if (share > 0 && !fresh_candidates.empty()) {
      // The serving path (serving/recommender.cc): fresh candidates, the pool, its live engagement.
      const std::vector<uint32_t> fresh =
          ordering::FreshCandidates(fresh_candidates, view, now, explore, s.count);
      std::vector<ordering::FreshCandidate> pool;
      for (const uint32_t v : ordering::ExplorePool(fresh, list, explore)) {
        pool.push_back({v, ordering::EngagementOf(counters.Video(ds.videos[v].id, now))});
      }
      ordering::ExploreRng rng(vrec::Fmix64(sc.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(r)));
      ordering::Explore(list, s.count, pool, explore, rng);
    }

    // The user answers each item; the same (request, video) draws the same answer in every arm.
    for (const ordering::OrderedItem& item : list) {
      const uint32_t v = item.video;
      uint64_t state = vrec::Fmix64(sc.seed ^ (static_cast<uint64_t>(r) << 20) ^ v);
      const SyntheticWorld::Response answer = world.Respond(u, v, state);
      const double p = world.PlayProbability(u, v);
      ++f.impressions;
      f.plays += answer.played;
      f.expected_play += p;
      f.expected_watch += world.ExpectedWatchRatio(u, v);
      if (answer.played || answer.skipped) {
        watched[u].insert(v);
        counters.Apply({.user = vrec::UserId{ds.users[u].id.value},
                        .video = ds.videos[v].id,
                        .time = now,
                        .type = answer.played ? vrec::data::EventType::kPlay : vrec::data::EventType::kSkip,
                        .watch_ratio = answer.watch_ratio,
                        .duration_s = ds.videos[v].duration_s});
      }
      const int n = sc.new_index[v];
      if (n < 0) continue;
      Learnt& l = learnt[static_cast<size_t>(n)];
      ++l.shown;
      l.plays += answer.played;
      l.expected += content(u, v);
      ++f.new_impressions;
      f.new_explored += item.reason == ordering::OrderedItem::kExplored;
      f.new_plays += answer.played;
      if (p < s.audience) continue;
      ++f.new_audience_impressions;
      if (!answer.played) continue;
      ++f.new_audience_plays;
      const auto day = static_cast<size_t>(static_cast<double>(now - sc.start) / 86400.0);
      for (size_t d = day; d < f.audience_plays_by_day.size(); ++d) ++f.audience_plays_by_day[d];
      if (++audience_plays[static_cast<size_t>(n)] == s.target_plays) {
        f.requests_to_target[static_cast<size_t>(n)] =
            static_cast<double>(r - upload_request[static_cast<size_t>(n)]);
        f.hours_to_target[static_cast<size_t>(n)] = static_cast<double>(now - sc.upload_time[v]) / 3600.0;
      }
    }
    if (r % 20000 == 19999) counters.Compact(now);
  }
  return f;
}

double Median(std::vector<double> v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  // The lower middle for an even count, so that a median of "never" reads as such.
  return v[(n - 1) / 2];
}

std::string Show(double x) {
  if (std::isinf(x)) return "never";
  if (std::isnan(x)) return "nan";
  return vrec::StrCat(std::round(x * 10000) / 10000);
}

// Per-seed values of named figures, for the medians.
using Table = std::map<std::string, std::vector<double>>;

void Summarise(const std::string& arm, const Figures& f, const Settings& s, Table& out) {
  out[arm + ".play_rate"].push_back(f.plays / f.impressions);
  out[arm + ".expected_play_rate"].push_back(f.expected_play / f.impressions);
  out[arm + ".expected_watch_ratio"].push_back(f.expected_watch / f.impressions);
  out[arm + ".new_video_impression_share"].push_back(f.new_impressions / f.impressions);
  out[arm + ".new_video_impressions"].push_back(f.new_impressions);
  out[arm + ".new_video_explored_impressions"].push_back(f.new_explored);
  out[arm + ".new_video_plays"].push_back(f.new_plays);
  out[arm + ".new_video_audience_impressions"].push_back(f.new_audience_impressions);
  out[arm + ".new_video_audience_plays"].push_back(f.new_audience_plays);
  out[arm + ".new_video_audience_share_of_impressions"].push_back(
      f.new_impressions > 0 ? f.new_audience_impressions / f.new_impressions : 0);
  for (size_t d = 0; d < f.audience_plays_by_day.size(); ++d) {
    out[vrec::StrCat(arm, ".new_video_audience_plays_day", d + 1)].push_back(f.audience_plays_by_day[d]);
  }
  for (const bool good_only : {true, false}) {
    std::vector<double> requests, hours;
    double reached = 0, reachable = 0;
    for (size_t i = 0; i < f.good.size(); ++i) {
      if (good_only && !f.good[i]) continue;
      requests.push_back(f.requests_to_target[i]);
      hours.push_back(f.hours_to_target[i]);
      reached += !std::isinf(f.requests_to_target[i]);
      reachable += f.audience_retrieved[i] >= s.target_plays;
    }
    const std::string which = good_only ? "good" : "all";
    out[vrec::StrCat(arm, ".", which, "_new_videos")].push_back(static_cast<double>(requests.size()));
    out[vrec::StrCat(arm, ".", which, "_requests_to_", s.target_plays, "_audience_plays")].push_back(
        Median(requests));
    out[vrec::StrCat(arm, ".", which, "_hours_to_", s.target_plays, "_audience_plays")].push_back(
        Median(hours));
    out[vrec::StrCat(arm, ".", which, "_share_reaching_", s.target_plays, "_audience_plays")].push_back(
        requests.empty() ? 0 : reached / static_cast<double>(requests.size()));
    out[vrec::StrCat(arm, ".", which, "_share_retrieved_for_", s.target_plays, "_audience_users")].push_back(
        requests.empty() ? 0 : reachable / static_cast<double>(requests.size()));
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"exploration for new videos on the synthetic platform: time to their audience and its cost"};
  Settings s;
  std::string shares = "0.1,0.2";
  app.add_option("--users", s.users, "synthetic platform: users");
  app.add_option("--videos", s.videos, "synthetic platform: videos (new ones included)");
  app.add_option("--new-videos", s.new_videos, "videos uploaded during the run");
  app.add_option("--requests", s.requests, "visits, evenly over the run");
  app.add_option("--days", s.days, "simulated days");
  app.add_option("--upload-days", s.upload_days, "uploads fall at random within the first this many days");
  app.add_option("--count", s.count, "videos per list");
  app.add_option("--retrieve", s.retrieve, "retrieval's depth over the whole catalog (retrieval.candidates)");
  app.add_option("--shares", shares, "exploration shares to compare with the baseline (comma-separated)");
  app.add_option("--fresh-hours", s.explore.fresh_hours, "ordering.explore_fresh_hours");
  app.add_option("--candidates", s.explore.candidates, "ordering.explore_candidates");
  app.add_option("--prior-plays", s.explore.prior_plays, "ordering.explore_prior_plays");
  app.add_option("--prior-skips", s.explore.prior_skips, "ordering.explore_prior_skips");
  app.add_option("--model-noise", s.model_noise, "the ranker's per-video error (sd, in play probability)");
  app.add_option("--shrinkage", s.shrinkage, "pseudo-impressions of the ranker's online bias for new videos");
  app.add_option("--audience", s.audience,
                 "a video's audience: users whose play probability is at least this");
  app.add_option("--good", s.good, "a good new video: quality (standard normal) at least this");
  app.add_option("--target-plays", s.target_plays, "audience plays a new video should reach");
  app.add_option("--seeds", s.seeds, "runs; figures are medians over them");
  app.add_option("--first-seed", s.first_seed, "the first run's seed (platform and simulation)");
  CLI11_PARSE(app, argc, argv);
  s.shares.clear();
  for (const std::string_view part : vrec::SplitNonEmpty(shares, ','))
    s.shares.push_back(std::stod(std::string(part)));
  for (const double share : s.shares) {
    ordering::OrderingOptions o;
    o.explore = s.explore;
    o.explore.share = share;
    if (vrec::Status st = ordering::Validate(o); !st.ok() || share <= 0) {
      std::fprintf(stderr, "explore_sim: share %g: %s\n", share,
                   st.ok() ? "must be > 0" : st.ToString().c_str());
      return 1;
    }
  }
  if (s.requests <= 0 || s.days <= 0 || s.count <= 0 || s.seeds <= 0) {
    std::fprintf(stderr, "explore_sim: --requests, --days, --count and --seeds must be positive\n");
    return 1;
  }

  const auto started = std::chrono::steady_clock::now();
  Table table;
  double max_model_error = 0;
  for (int k = 0; k < s.seeds; ++k) {
    const uint64_t seed = s.first_seed + static_cast<uint64_t>(k);
    vrec::data::SynthConfig config;
    config.seed = seed;
    config.num_users = s.users;
    config.num_videos = s.videos;
    config.num_interactions = 1000;  // the catalog is what is needed; the log is not used
    config.quiet = true;
    auto ds = vrec::data::GenerateSynthetic(config);
    auto world = SyntheticWorld::Build(config);
    if (!ds.ok() || !world.ok()) {
      std::fprintf(stderr, "explore_sim: %s\n", (!ds.ok() ? ds.status() : world.status()).ToString().c_str());
      return 1;
    }
    const TasteModel taste(*world, *ds);
    // The ranker's formula must be the simulator's: check it at the true quality.
    for (uint32_t u = 0; u < world->num_users(); u += 97) {
      for (uint32_t v = 0; v < world->num_videos(); v += 13) {
        if (!ds->videos[v].available || ds->videos[v].age_restricted) continue;
        const double mine = TasteModel::PlayProbability(taste.Affinity(u, v), world->Quality(v));
        max_model_error = std::max(max_model_error, std::abs(mine - world->PlayProbability(u, v)));
      }
    }
    const Scenario sc = MakeScenario(*world, *ds, taste, s, seed);
    const Figures base = RunArm(sc, s, 0);
    Summarise("baseline", base, s, table);
    for (const double share : s.shares) {
      const std::string arm = vrec::StrCat("explore_", share);
      const Figures f = RunArm(sc, s, share);
      Summarise(arm, f, s, table);
      table[arm + ".play_rate_change"].push_back(f.plays / f.impressions / (base.plays / base.impressions) -
                                                 1);
      table[arm + ".expected_play_rate_change"].push_back(
          f.expected_play / f.impressions / (base.expected_play / base.impressions) - 1);
      table[arm + ".expected_watch_ratio_change"].push_back(
          f.expected_watch / f.impressions / (base.expected_watch / base.impressions) - 1);
      table[arm + ".new_video_audience_plays_ratio"].push_back(f.new_audience_plays /
                                                               std::max(1.0, base.new_audience_plays));
    }
  }
  std::printf("seeds=%d\nusers=%lld\nvideos=%lld\nnew_videos=%d\nrequests=%lld\ndays=%g\ncount=%d\n", s.seeds,
              static_cast<long long>(s.users), static_cast<long long>(s.videos), s.new_videos,
              static_cast<long long>(s.requests), s.days, s.count);
  std::printf("fresh_hours=%g\ncandidates=%d\nprior=%g,%g\naudience_play_probability=%g\ngood_quality=%g\n",
              s.explore.fresh_hours, s.explore.candidates, s.explore.prior_plays, s.explore.prior_skips,
              s.audience, s.good);
  std::printf("check.ranker_formula_max_error=%.2g\n", max_model_error);
  for (const auto& [name, values] : table) std::printf("%s=%s\n", name.c_str(), Show(Median(values)).c_str());
  std::printf("seconds=%.1f\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return 0;
}
