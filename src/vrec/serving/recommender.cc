#include "vrec/serving/recommender.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "vrec/common/strings.h"

namespace vrec::serving {
namespace {

using Clock = std::chrono::steady_clock;

double MicrosSince(Clock::time_point t) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t).count();
}

float Weight(const HistoryItem& h) {
  data::Interaction x;
  x.type = h.type;
  x.watch_ratio = h.watch_ratio;
  x.rating = h.rating;
  return data::PreferenceWeight(x);
}

// Cold start: popular in the user's locale interleaved with fresh uploads, two popular videos
// then one fresh one (a video already taken is skipped), so the newest uploads of the language
// are seen from the third slot on however popular the rest of the catalog is. Scores fall with
// the slot: 1 / (60 + slot), as reciprocal rank fusion would score a single list.
std::vector<filtering::Candidate> ColdStartCandidates(
    const ServingModel& model, const RecommendRequest& r, const LiveCatalog::Reader* live,
    std::unordered_map<uint32_t, std::string_view>& reason_of) {
  constexpr double kK = 60.0;
  const auto popular = model.Popular(r.country, r.language);
  // Fresh: uploads since the snapshot first (newest first), then the snapshot's fresh list.
  const auto snapshot_fresh = model.Fresh(r.language);
  std::vector<uint32_t> fresh;
  if (live != nullptr) fresh = live->FreshUploads(r.language, snapshot_fresh.size() + 1);
  fresh.insert(fresh.end(), snapshot_fresh.begin(), snapshot_fresh.end());

  std::vector<filtering::Candidate> out;
  out.reserve(popular.size() + fresh.size());
  size_t p = 0, f = 0;
  while (p < popular.size() || f < fresh.size()) {
    const bool fresh_slot = (out.size() % 3 == 2 && f < fresh.size()) || p >= popular.size();
    const uint32_t v = fresh_slot ? fresh[f++] : popular[p++];
    if (!reason_of.try_emplace(v, fresh_slot ? "fresh" : "popular").second) continue;  // taken already
    out.push_back({v, static_cast<float>(1.0 / (kK + static_cast<double>(out.size())))});
  }
  return out;
}

// The exclude list as the filters take it: dense indices, sorted; unknown ids dropped.
std::vector<uint32_t> OnScreen(const data::CatalogView& catalog, std::span<const VideoId> exclude) {
  std::vector<uint32_t> out;
  for (const VideoId id : exclude) {
    if (auto v = catalog.FindVideo(id)) out.push_back(*v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The ranker's explanation of one candidate: its score, its kMaxContributions largest feature
// contributions and the sum of the rest. `row` is its feature row, `contribs` its contributions
// (one per feature, then the bias).
constexpr size_t kMaxContributions = 5;
ItemExplanation RankerExplanation(float score, std::span<const float> row, std::span<const float> contribs,
                                  const std::vector<std::string>& names) {
  ItemExplanation e;
  e.ranked = true;
  e.ranker_score = score;
  e.bias = contribs[names.size()];
  std::vector<size_t> order(names.size());
  std::iota(order.begin(), order.end(), size_t{0});
  const size_t top = std::min(kMaxContributions, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(top), order.end(),
                    [&](size_t a, size_t b) {
                      const float x = std::abs(contribs[a]), y = std::abs(contribs[b]);
                      return x != y ? x > y : a < b;
                    });
  for (size_t i = 0; i < order.size(); ++i) {
    const size_t f = order[i];
    if (i < top) {
      e.contributions.push_back({names[f], row[f], contribs[f]});
    } else {
      e.other_contributions += contribs[f];
    }
  }
  return e;
}

}  // namespace

Status Validate(const RecommendOptions& o) {
  std::vector<std::string> errors;
  if (o.retrieve < 1 || o.retrieve > 2000)
    errors.push_back(StrCat("retrieve=", o.retrieve, " must be in [1, 2000]"));
  if (o.rank_candidates < 0 || o.rank_candidates > 2000) {
    errors.push_back(StrCat("rank_candidates=", o.rank_candidates, " must be in [0, 2000]"));
  }
  if (o.max_history < 0) errors.push_back(StrCat("max_history=", o.max_history, " must be >= 0"));
  if (Status s = filtering::Validate(o.filter); !s.ok()) errors.push_back(s.message());
  if (Status s = ordering::Validate(o.ordering); !s.ok()) errors.push_back(s.message());
  if (Status s = ranking::Validate(o.blend); !s.ok()) errors.push_back(s.message());
  if (errors.empty()) return OkStatus();
  return InvalidArgumentError(StrJoin(errors, "; "));
}

StatusOr<RecommendResult> Recommend(const ServingModel& model, const RecommendRequest& request,
                                    std::span<const features::HistoryEntry> online,
                                    std::span<const uint8_t> flags, const RecommendOptions& options,
                                    const LiveCatalog::Reader* live, const LiveCounters* counters) {
  if (request.count < 1 || request.count > 1000) {
    return InvalidArgumentError(StrCat("count=", request.count, " must be in [1, 1000]"));
  }
  // The catalog as it is now: the snapshot plus uploads and updates.
  const data::CatalogView catalog = live != nullptr ? live->catalog() : data::CatalogView(model.catalog());
  RecommendResult result;
  auto t = Clock::now();

  // User state: the snapshot's history, then the online events (videos unknown to this model,
  // e.g. uploaded after it was trained, cannot be filtered or embedded and are skipped).
  const std::optional<uint32_t> user = catalog.FindUser(request.user);
  std::vector<HistoryItem> history;
  if (user) {
    const auto base = model.BaseHistory(*user);
    history.assign(base.begin(), base.end());
  }
  for (const features::HistoryEntry& e : online) {
    if (auto v = catalog.FindVideo(e.video)) {
      history.push_back({.video = *v, .type = e.type, .time = e.time, .watch_ratio = e.watch_ratio});
    }
  }
  std::vector<filtering::HistoryItem> filter_history;
  filter_history.reserve(history.size());
  for (const HistoryItem& h : history) filter_history.push_back({h.video, h.type, h.watch_ratio});
  const data::User* profile = user ? &catalog.user(*user) : nullptr;
  const std::vector<uint32_t> on_screen = OnScreen(catalog, request.exclude);
  const filtering::FilterRequest filter_request{
      .user = {.age = profile ? profile->age : -1, .history = filter_history},
      .overrides = {.flags = flags},
      .surface = request.surface,
      .now = request.now,
      .on_screen = on_screen};

  // The most recent positives, strongest event per video: the tower's and similarity's input.
  std::unordered_map<uint32_t, float> recent;  // video -> weight
  int64_t latest = model.data_end_time();
  {
    int taken = 0;
    for (auto it = history.rbegin(); it != history.rend() && taken < options.max_history; ++it) {
      const float w = Weight(*it);
      if (w <= 0) continue;
      auto [slot, inserted] = recent.try_emplace(it->video, w);
      if (!inserted) slot->second = std::max(slot->second, w);
      ++taken;
      latest = std::max(latest, it->time);
    }
  }

  // Stage 1: candidates.
  std::vector<filtering::Candidate> candidates;
  std::unordered_map<uint32_t, std::string_view> reason_of;  // cold start: "popular" or "fresh"
  result.cold_start = !user && recent.empty();
  if (result.cold_start) {
    candidates = ColdStartCandidates(model, request, live, reason_of);
  } else {
    retrieval::UserInput in;
    if (profile) {
      in.id = profile->id;
      in.age = profile->age;
      in.gender = profile->gender;
      in.country = profile->country;
      in.language = profile->language;
    } else {
      in.id = request.user;  // unseen in training: the tower uses its UNK row
      in.country = request.country;
      in.language = request.language;
    }
    for (const auto& [v, w] : recent) in.history.emplace_back(catalog.video(v).id, w);
    VREC_ASSIGN_OR_RETURN(std::vector<retrieval::Candidate> retrieved,
                          retrieval::Retriever(model.two_tower(), model.index(),
                                               live != nullptr ? live->fresh_index() : nullptr)
                              .Retrieve(in, options.retrieve));
    candidates.reserve(retrieved.size());
    for (const retrieval::Candidate& c : retrieved) {
      if (auto v = catalog.FindVideo(c.video)) candidates.push_back({*v, c.score});
    }
  }
  result.retrieved = static_cast<int>(candidates.size());
  result.timings.retrieve_us = MicrosSince(t);
  // Explanations, by dense video index: what retrieval and the ranker said of each candidate.
  std::unordered_map<uint32_t, ItemExplanation> explained;
  if (request.explain) {
    for (size_t i = 0; i < candidates.size(); ++i) {
      auto reason = reason_of.find(candidates[i].video);
      explained.try_emplace(
          candidates[i].video,
          ItemExplanation{.source = reason != reason_of.end() ? reason->second : "retrieval",
                          .retrieval_score = candidates[i].score,
                          .retrieval_rank = static_cast<int>(i)});
    }
  }

  // Stage 2: filters.
  t = Clock::now();
  // Filters `list` in place, counting into result.filter; with explain, lists what each dropped.
  const auto filter = [&](std::vector<filtering::Candidate>& list) {
    std::vector<filtering::Candidate> before;
    if (request.explain) before = list;
    const filtering::FilterReport report = filtering::Apply(list, catalog, filter_request, options.filter);
    if (result.filter.input == 0) {
      result.filter = report;
    } else {
      for (size_t f = 0; f < report.counts.size(); ++f)
        result.filter.counts[f].removed += report.counts[f].removed;
      result.filter.input += report.input;
      result.filter.kept += report.kept;
    }
    if (!request.explain) return;
    std::unordered_set<uint32_t> kept;
    for (const filtering::Candidate& c : list) kept.insert(c.video);
    for (const filtering::Candidate& c : before) {
      if (kept.contains(c.video)) continue;
      const std::optional<filtering::Filter> by =
          filtering::RejectedBy(c.video, catalog, filter_request, options.filter);
      if (!by) continue;
      std::vector<VideoId>& dropped = result.explanation.dropped[static_cast<size_t>(*by)];
      if (dropped.size() < RequestExplanation::kMaxDroppedListed)
        dropped.push_back(catalog.video(c.video).id);
    }
  };
  filter(candidates);
  result.timings.filter_us = MicrosSince(t);
  // Exploration's fresh candidates: filtered like the list, nearest first, taken before the
  // ranker's cut so that a fresh video the ranker would not even score can still be explored.
  const ordering::ExploreOptions& explore = options.ordering.explore;
  std::vector<uint32_t> fresh;
  if (explore.share > 0) {
    fresh = ordering::FreshCandidates(candidates, catalog, request.now, explore, request.count);
  }

  // Stage 3: the ranker, for users it has features for.
  t = Clock::now();
  // The ranker learnt on users with snapshot aggregates; users added since are served in
  // retrieval order until the next model knows them.
  if (options.rank && user && *user < model.catalog().users.size() && !candidates.empty()) {
    const size_t depth = static_cast<size_t>(options.rank_candidates > 0 ? options.rank_candidates
                                                                         : model.ranker_candidates());
    candidates.resize(std::min(candidates.size(), depth));
    const size_t from_retrieval = candidates.size();
    // EASE over the most recent distinct positives, as its fit scored the training users.
    const retrieval::EaseScorer& ease = model.ease();
    std::vector<uint32_t> distinct;
    {
      const auto cap = static_cast<size_t>(ease.options().max_history);
      for (auto it = history.rbegin(); it != history.rend() && (cap == 0 || distinct.size() < cap); ++it) {
        if (Weight(*it) > 0 && std::find(distinct.begin(), distinct.end(), it->video) == distinct.end()) {
          distinct.push_back(it->video);
        }
      }
    }
    // The second source, as in training: EASE's best videos for the history that the user has not
    // seen, through the same filters, after the retrieved ones (without repeating them).
    if (model.ease_candidates() > 0) {
      std::vector<uint32_t> seen;
      seen.reserve(history.size());
      for (const HistoryItem& h : history) seen.push_back(h.video);
      std::sort(seen.begin(), seen.end());
      seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
      std::vector<uint32_t> top;
      std::vector<double> top_scores;
      ease.Top(distinct, static_cast<size_t>(model.ease_candidates()), seen, top, &top_scores);
      std::unordered_set<uint32_t> have;
      for (const filtering::Candidate& c : candidates) have.insert(c.video);
      std::vector<filtering::Candidate> more;
      for (size_t i = 0; i < top.size(); ++i) {
        if (!have.contains(top[i])) more.push_back({top[i], static_cast<float>(top_scores[i])});
      }
      filter(more);
      for (const filtering::Candidate& c : more) {
        candidates.push_back(c);
        // Retrieved beyond the ranker's depth maybe, but ranked as EASE's.
        if (request.explain)
          explained[c.video] = ItemExplanation{.source = "ease", .retrieval_score = c.score};
      }
    }
    const size_t n = candidates.size();
    std::vector<uint32_t> videos(n);
    for (size_t i = 0; i < n; ++i) videos[i] = candidates[i].video;
    // Item-item similarity to the history, decayed as the model's fit decays affinity. Only the
    // max_history most recent positives count (one entry per video), which bounds the cost for
    // heavy users; older events weigh little after the decay anyway.
    std::unordered_map<uint32_t, double> decayed;
    const double half_life_s = model.sar().half_life_days() * 86400.0;
    int taken = 0;
    for (auto it = history.rbegin(); it != history.rend() && taken < options.max_history; ++it) {
      const float w = Weight(*it);
      if (w <= 0) continue;
      const double decay =
          half_life_s > 0 ? std::pow(0.5, static_cast<double>(latest - it->time) / half_life_s) : 1.0;
      decayed[it->video] += w * decay;
      ++taken;
    }
    const std::vector<std::pair<uint32_t, double>> affinity(decayed.begin(), decayed.end());
    std::vector<double> sim(n);
    model.sar().ScoreVideos(affinity, videos, sim);
    std::vector<uint32_t> by_sim(n);
    std::iota(by_sim.begin(), by_sim.end(), 0u);
    std::sort(by_sim.begin(), by_sim.end(),
              [&](uint32_t a, uint32_t b) { return sim[a] != sim[b] ? sim[a] > sim[b] : a < b; });
    std::vector<ranking::CandidateSignals> signals(n);
    for (size_t i = 0; i < n; ++i) {
      if (i < from_retrieval) {  // the second source's candidates have no retrieval score or rank
        signals[i].retrieval_score = candidates[i].score;
        signals[i].retrieval_rank = static_cast<int>(i);
      }
      signals[i].similarity_score = static_cast<float>(sim[i]);
    }
    for (size_t r = 0; r < n; ++r) signals[by_sim[r]].similarity_rank = static_cast<int>(r);
    {
      std::vector<double> ease_scores(n);
      ease.ScoreVideos(distinct, videos, ease_scores);
      for (size_t i = 0; i < n; ++i) signals[i].ease_score = static_cast<float>(ease_scores[i]);
    }
    // As in training: the request's "now", without time of day (the ranker never saw it).
    const ranking::RequestContext context{
        .time = request.now, .device = request.device, .known_time_of_day = false};
    std::vector<float> features;
    model.aggregates().Assemble(*user, context, videos, signals, features,
                                ranking::OnlineState{.catalog = &catalog});
    std::vector<float> scores(n);
    VREC_RETURN_IF_ERROR(model.ranker().Score(features, n, scores));
    // The heads, when the surface weights one (or to explain them), blended with the ranker.
    const ranking::BlendWeights& weights = options.blend.For(request.surface);
    std::array<std::vector<float>, ranking::kNumObjectives> head_scores;
    if (!model.heads().empty() && (!weights.RankerOnly() || request.explain)) {
      VREC_RETURN_IF_ERROR(model.heads().Score(features, n, head_scores));
    }
    std::vector<float> final_scores = scores;
    ranking::Blend(weights, scores, head_scores, final_scores);  // the ranker's when no head is weighted
    for (size_t i = 0; i < n; ++i) candidates[i].score = final_scores[i];
    std::stable_sort(
        candidates.begin(), candidates.end(),
        [](const filtering::Candidate& a, const filtering::Candidate& b) { return a.score > b.score; });
    result.ranked = true;
    if (request.explain) {
      std::vector<float> contribs;
      VREC_RETURN_IF_ERROR(model.ranker().Contributions(features, n, contribs));
      const std::vector<std::string>& names = model.ranker().feature_names();
      const size_t width = names.size();
      for (size_t i = 0; i < n; ++i) {
        ItemExplanation& e = explained[videos[i]];
        ItemExplanation r =
            RankerExplanation(scores[i], std::span<const float>(features).subspan(i * width, width),
                              std::span<const float>(contribs).subspan(i * (width + 1), width + 1), names);
        r.source = e.source;
        r.retrieval_score = e.retrieval_score;
        r.retrieval_rank = e.retrieval_rank;
        if (!model.heads().empty()) {
          r.has_heads = true;
          for (size_t h = 0; h < ranking::kNumObjectives; ++h) {
            r.head_scores[h] =
                head_scores[h].empty() ? std::numeric_limits<float>::quiet_NaN() : head_scores[h][i];
          }
          r.blend = weights;
          r.blended_score = final_scores[i];
        }
        e = std::move(r);
      }
      for (size_t i = 0; i < n; ++i) explained[candidates[i].video].ranker_rank = static_cast<int>(i);
    }
  }
  result.timings.rank_us = MicrosSince(t);

  // Stage 4: final ordering; promotional videos must pass the same filters.
  t = Clock::now();
  const auto allowed = [&](uint32_t v) {
    return filtering::Allowed(v, catalog, filter_request, options.filter);
  };
  ordering::OrderTrace trace;
  std::vector<ordering::OrderedItem> ordered =
      ordering::Order(std::move(candidates), request.count, catalog, request.now, options.ordering, allowed,
                      request.explain ? &trace : nullptr);
  ordering::ExploreTrace explore_trace;
  if (!fresh.empty()) {
    // Counters are read for the pool only (tens of videos), not for every fresh candidate.
    std::vector<ordering::FreshCandidate> pool;
    for (const uint32_t v : ordering::ExplorePool(fresh, ordered, explore)) {
      pool.push_back({v, counters != nullptr
                             ? ordering::EngagementOf(counters->Video(catalog.video(v).id, request.now))
                             : ordering::Engagement{}});
    }
    ordering::ExploreRng rng(request.explore_seed);
    ordering::Explore(ordered, request.count, pool, explore, rng, request.explain ? &explore_trace : nullptr);
  }
  result.items.reserve(ordered.size());
  for (const ordering::OrderedItem& o : ordered) {
    std::string_view reason = result.ranked ? "ranked" : "retrieved";
    if (o.reason == ordering::OrderedItem::Reason::kPromoted) {
      reason = "promoted";
    } else if (o.reason == ordering::OrderedItem::Reason::kExplored) {
      reason = "explore";
      ++result.explored;
    } else if (auto it = reason_of.find(o.video); it != reason_of.end()) {
      reason = it->second;
    }
    result.items.push_back({catalog.video(o.video).id, o.score, reason});
    if (request.explain) {
      auto it = explained.find(o.video);
      ItemExplanation e = it != explained.end() ? it->second : ItemExplanation{.source = "promoted"};
      e.promoted = o.reason == ordering::OrderedItem::Reason::kPromoted;
      if (auto tr = trace.items.find(o.video); tr != trace.items.end()) {
        e.freshness_boost = tr->second.boost;
        e.position_by_score = tr->second.position_by_score;
        e.position_after_diversity = tr->second.position_after_diversity;
      }
      if (auto ex = explore_trace.items.find(o.video);
          o.reason == ordering::OrderedItem::Reason::kExplored && ex != explore_trace.items.end()) {
        e.source = "explore";
        e.explored = true;
        e.explore_plays = ex->second.engagement.successes;
        e.explore_skips = ex->second.engagement.failures;
        e.explore_sample = ex->second.sample;
      }
      result.explanations.push_back(std::move(e));
    }
  }
  result.timings.order_us = MicrosSince(t);
  return result;
}

StatusOr<SimilarResult> Similar(const ServingModel& model, const SimilarRequest& request,
                                std::span<const features::HistoryEntry> online,
                                std::span<const uint8_t> flags, const RecommendOptions& options,
                                const LiveCatalog::Reader* live) {
  if (request.count < 1 || request.count > 1000) {
    return InvalidArgumentError(StrCat("count=", request.count, " must be in [1, 1000]"));
  }
  const data::CatalogView catalog = live != nullptr ? live->catalog() : data::CatalogView(model.catalog());
  const std::optional<uint32_t> anchor = catalog.FindVideo(request.video);
  if (!anchor) return NotFoundError(StrCat("video ", request.video.value, " is not in the catalog"));
  const size_t want = static_cast<size_t>(request.count) * 3;

  // Candidates: co-watched first, then the nearest embeddings.
  std::vector<filtering::Candidate> candidates;
  std::unordered_map<uint32_t, std::string_view> reason_of;
  const auto add = [&](uint32_t v, double score, std::string_view reason) {
    if (v != *anchor && reason_of.try_emplace(v, reason).second)
      candidates.push_back({v, static_cast<float>(score)});
  };
  if (*anchor < model.catalog().videos.size()) {
    for (const auto& [v, sim] : model.sar().TopSimilar(*anchor, want)) add(v, sim, "co_watched");
  }
  {
    const retrieval::TwoTowerModel& tower = model.two_tower();
    const data::Video& video = catalog.video(*anchor);
    retrieval::VideoInput in;
    in.id = video.id;
    for (uint16_t c : video.categories) in.categories.push_back(catalog.category(c));
    in.language = video.language;
    in.duration_s = video.duration_s;
    in.upload_time = video.upload_time;
    // Snapshot videos keep their titles and tags in the mapped snapshot (as the index embedded
    // them); uploads and updates carry theirs.
    const bool from_snapshot =
        *anchor < catalog.num_base_videos() && &video == &catalog.base().videos[*anchor];
    if (from_snapshot) {
      in.title = std::string(model.snapshot().Title(*anchor));
      for (std::string_view t : model.snapshot().Tags(*anchor)) in.tags.emplace_back(t);
    } else {
      in.title = video.title;
      in.tags = video.tags;
    }
    in.positives = *anchor < catalog.num_base_videos() ? model.Positives(*anchor) : 0;
    std::vector<float> query(static_cast<size_t>(tower.dimension()));
    tower.EmbedVideo(in, query);
    VREC_ASSIGN_OR_RETURN(
        std::vector<retrieval::Candidate> near,
        retrieval::Retriever(tower, model.index(), live != nullptr ? live->fresh_index() : nullptr)
            .Nearest(query, static_cast<int>(want) + 1));
    for (const retrieval::Candidate& c : near) {
      if (auto v = catalog.FindVideo(c.video)) add(*v, c.score, "similar_content");
    }
  }
  SimilarResult result;
  result.candidates = static_cast<int>(candidates.size());

  // The filters, for this viewer (or for an unknown one: policy as for an unknown age).
  std::vector<filtering::HistoryItem> history;
  std::optional<uint32_t> user;
  if (request.user) user = catalog.FindUser(*request.user);
  if (user && *user < model.catalog().users.size()) {
    for (const HistoryItem& h : model.BaseHistory(*user)) history.push_back({h.video, h.type, h.watch_ratio});
  }
  for (const features::HistoryEntry& e : online) {
    if (auto v = catalog.FindVideo(e.video)) history.push_back({*v, e.type, e.watch_ratio});
  }
  const std::vector<uint32_t> on_screen = OnScreen(catalog, request.exclude);
  const filtering::FilterRequest filter_request{
      .user = {.age = user ? catalog.user(*user).age : -1, .history = history},
      .overrides = {.flags = flags},
      .surface = request.surface,
      .now = request.now,
      .on_screen = on_screen};
  result.filter = filtering::Apply(candidates, catalog, filter_request, options.filter);
  if (candidates.size() > static_cast<size_t>(request.count))
    candidates.resize(static_cast<size_t>(request.count));
  for (const filtering::Candidate& c : candidates) {
    result.items.push_back({catalog.video(c.video).id, c.score, reason_of.at(c.video)});
  }
  return result;
}

}  // namespace vrec::serving
