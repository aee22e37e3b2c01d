#include "vrec/ordering/ordering.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <unordered_set>
#include <utility>

#include "vrec/common/strings.h"

namespace vrec::ordering {

Status Validate(const OrderingOptions& options) {
  std::vector<std::string> problems;
  if (options.max_per_category < 0) {
    problems.push_back(StrCat("max_per_category must be >= 0 (0 = off), got ", options.max_per_category));
  }
  if (options.diversity_window < 0) {
    problems.push_back(StrCat("diversity_window must be >= 0 (0 = off), got ", options.diversity_window));
  }
  // Negated comparisons so that NaN fails too.
  if (!(options.freshness_boost >= 0) || std::isinf(options.freshness_boost)) {
    problems.push_back(StrCat("freshness_boost must be finite and >= 0, got ", options.freshness_boost));
  }
  if (!(options.freshness_half_life_hours > 0) || std::isinf(options.freshness_half_life_hours)) {
    problems.push_back(
        StrCat("freshness_half_life_hours must be finite and > 0, got ", options.freshness_half_life_hours));
  }
  std::set<int> positions;
  std::set<uint64_t> videos;
  for (const PromoSlot& p : options.promos) {
    if (p.position < 1) {
      problems.push_back(StrCat("promo ", p.video.value, ": position must be >= 1, got ", p.position));
    } else if (!positions.insert(p.position).second) {
      problems.push_back(StrCat("promo ", p.video.value, ": position ", p.position, " is taken twice"));
    }
    if (!videos.insert(p.video.value).second) {
      problems.push_back(StrCat("promo ", p.video.value, " is listed twice"));
    }
  }
  const ExploreOptions& e = options.explore;
  if (!(e.share >= 0 && e.share <= 1)) {
    problems.push_back(StrCat("explore_share must be in [0, 1] (0 = off), got ", e.share));
  }
  if (!(e.fresh_hours > 0) || std::isinf(e.fresh_hours)) {
    problems.push_back(StrCat("explore_fresh_hours must be finite and > 0, got ", e.fresh_hours));
  }
  if (e.candidates < 1 || e.candidates > 1000) {
    problems.push_back(StrCat("explore_candidates must be in [1, 1000], got ", e.candidates));
  }
  std::set<int> explore_positions;
  for (int p : e.positions) {
    if (p < 1 || p > 1000) {
      problems.push_back(StrCat("explore_positions: ", p, " is outside [1, 1000]"));
    } else if (!explore_positions.insert(p).second) {
      problems.push_back(StrCat("explore_positions: ", p, " is listed twice"));
    }
  }
  for (const auto& [name, value] :
       {std::pair{"explore_prior_plays", e.prior_plays}, std::pair{"explore_prior_skips", e.prior_skips}}) {
    if (!(value > 0) || std::isinf(value)) {
      problems.push_back(StrCat(name, " must be finite and > 0, got ", value));
    }
  }
  if (problems.empty()) return OkStatus();
  return InvalidArgumentError(StrCat("invalid ordering options: ", StrJoin(problems, "; ")));
}

namespace {

// Steps 1 and 2: drops videos outside the catalog, boosts, sorts best first, drops duplicates.
void BoostAndSort(std::vector<Candidate>& ranked, const data::CatalogView& catalog, int64_t now,
                  const OrderingOptions& options, OrderTrace* trace) {
  const bool boost = options.freshness_boost > 0;
  size_t out = 0;
  for (Candidate c : ranked) {
    if (c.video >= catalog.num_videos()) continue;
    double score = std::isnan(c.score) ? -std::numeric_limits<double>::infinity() : c.score;
    const int64_t upload = catalog.video(c.video).upload_time;
    if (boost && upload != data::kUnknownTime) {
      // In double: now - upload cannot overflow for any plausible time, and a future upload
      // (age < 0) gets the full boost rather than more than it.
      const double age_hours =
          std::max(0.0, (static_cast<double>(now) - static_cast<double>(upload)) / 3600.0);
      const double added =
          options.freshness_boost * std::exp2(-age_hours / options.freshness_half_life_hours);
      score += added;
      if (trace != nullptr) trace->items[c.video].boost = static_cast<float>(added);
    }
    ranked[out++] = {c.video, static_cast<float>(score)};
  }
  ranked.resize(out);
  // NaN became -inf above, so this comparison is a strict weak order.
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });

  // Duplicates are rare (one source per candidate upstream): check cheaply first.
  std::vector<uint32_t> ids(ranked.size());
  for (size_t i = 0; i < ranked.size(); ++i) ids[i] = ranked[i].video;
  std::sort(ids.begin(), ids.end());
  if (std::adjacent_find(ids.begin(), ids.end()) == ids.end()) return;
  std::unordered_set<uint32_t> seen;
  std::erase_if(ranked, [&seen](const Candidate& c) { return !seen.insert(c.video).second; });
}

// Step 3: the greedy category cap over the first `window` slots.
void Diversify(std::vector<Candidate>& ranked, const data::CatalogView& catalog, int max_per_category,
               size_t window) {
  const size_t n = ranked.size();
  window = std::min(window, n);
  // Few distinct categories fit in a window of tens of slots: a flat list beats a map.
  std::vector<std::pair<uint16_t, int>> used;
  std::vector<Candidate> out;
  out.reserve(n);
  std::vector<char> taken(n, 0);
  size_t first_open = 0;  // every candidate before it is taken
  while (out.size() < window) {
    while (first_open < n && taken[first_open]) ++first_open;
    bool placed = false;
    for (size_t i = first_open; i < n; ++i) {
      if (taken[i]) continue;
      const std::vector<uint16_t>& cats = catalog.video(ranked[i].video).categories;
      if (!cats.empty()) {
        auto it = std::find_if(used.begin(), used.end(), [&](const auto& u) { return u.first == cats[0]; });
        if (it == used.end()) {
          used.emplace_back(cats[0], 1);
        } else if (it->second >= max_per_category) {
          continue;
        } else {
          ++it->second;
        }
      }
      taken[i] = 1;
      out.push_back(ranked[i]);
      placed = true;
      break;
    }
    // Every remaining candidate is in a full category: the window cannot be filled under the cap.
    if (!placed) break;
  }
  for (size_t i = 0; i < n; ++i) {
    if (!taken[i]) out.push_back(ranked[i]);
  }
  ranked = std::move(out);
}

}  // namespace

std::vector<OrderedItem> Order(std::vector<Candidate> ranked, int count, const data::CatalogView& catalog,
                               int64_t now, const OrderingOptions& options, const PromoAllowed& promo_allowed,
                               OrderTrace* trace) {
  if (count <= 0) return {};
  BoostAndSort(ranked, catalog, now, options, trace);
  if (trace != nullptr) {
    for (size_t i = 0; i < ranked.size(); ++i)
      trace->items[ranked[i].video].position_by_score = static_cast<int>(i + 1);
  }
  if (options.max_per_category > 0 && options.diversity_window > 0) {
    Diversify(ranked, catalog, options.max_per_category, static_cast<size_t>(options.diversity_window));
  }
  if (trace != nullptr) {
    for (size_t i = 0; i < ranked.size(); ++i)
      trace->items[ranked[i].video].position_after_diversity = static_cast<int>(i + 1);
  }

  // Step 4: promos that will be shown, lowest position first, so that inserting them in turn puts
  // each exactly at its position. A promo beyond `count` would be cut anyway; ignoring it entirely
  // also keeps its video at its ranked place instead of moving it off the page.
  struct Promo {
    uint32_t video;
    int position;
    float score;
  };
  std::vector<Promo> promos;
  for (const PromoSlot& slot : options.promos) {
    if (slot.position < 1 || slot.position > count) continue;
    const std::optional<uint32_t> video = catalog.FindVideo(slot.video);
    if (!video) continue;
    if (std::any_of(promos.begin(), promos.end(), [&](const Promo& p) { return p.video == *video; }))
      continue;
    if (promo_allowed && !promo_allowed(*video)) continue;
    promos.push_back({*video, slot.position, 0.0f});
  }
  std::sort(promos.begin(), promos.end(),
            [](const Promo& a, const Promo& b) { return a.position < b.position; });
  for (Promo& p : promos) {
    auto it =
        std::find_if(ranked.begin(), ranked.end(), [&](const Candidate& c) { return c.video == p.video; });
    if (it != ranked.end()) {
      p.score = it->score;
      ranked.erase(it);
    }
  }

  // Step 5, merged with the insertion.
  std::vector<OrderedItem> result;
  const size_t limit = static_cast<size_t>(count);
  result.reserve(std::min(limit, ranked.size() + promos.size()));
  for (size_t i = 0; i < std::min(limit, ranked.size()); ++i) {
    result.push_back({ranked[i].video, ranked[i].score, OrderedItem::kRanked});
  }
  for (const Promo& p : promos) {
    const size_t at = std::min(static_cast<size_t>(p.position - 1), result.size());
    result.insert(result.begin() + static_cast<std::ptrdiff_t>(at),
                  {p.video, p.score, OrderedItem::kPromoted});
  }
  if (result.size() > limit) result.resize(limit);
  return result;
}

}  // namespace vrec::ordering
