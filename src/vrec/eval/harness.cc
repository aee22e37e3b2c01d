#include "vrec/eval/harness.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <limits>
#include <random>
#include <thread>

#include "vrec/common/progress.h"
#include "vrec/common/top_k.h"
#include "vrec/eval/metrics.h"

namespace vrec::eval {

double EvalReport::RecallAt(int depth) const {
  for (auto [d, r] : recall_at) {
    if (d == depth) return r;
  }
  return 0.0;
}

namespace {

struct UserResult {
  bool evaluated = false;
  double map = 0, ndcg = 0, precision = 0, recall = 0, auc = 0, diversity = 0;
  std::vector<double> recall_at;
  std::vector<double> recall_curve;  // at the curve's depths
  std::vector<uint32_t> top_k;
};

// Users scored together (ItemScorer::ScoreUsers): enough to reuse cached tiles of the catalog, few
// enough that the score rows (batch x catalog doubles, 128 MB per thread at 1M videos) stay small.
constexpr size_t kUserBatch = 16;

// Distinct sorted videos per user of `rows`.
std::vector<std::vector<uint32_t>> ItemsByUser(size_t num_users, std::span<const data::Interaction> rows) {
  std::vector<std::vector<uint32_t>> items(num_users);
  for (const data::Interaction& x : rows) items[x.user].push_back(x.video);
  for (auto& l : items) {
    std::sort(l.begin(), l.end());
    l.erase(std::unique(l.begin(), l.end()), l.end());
  }
  return items;
}

std::vector<uint32_t> SampleUsers(std::vector<uint32_t> users, const EvalOptions& options) {
  if (options.max_users > 0 && users.size() > static_cast<size_t>(options.max_users)) {
    std::mt19937_64 rng(options.sample_seed);
    std::shuffle(users.begin(), users.end(), rng);
    users.resize(static_cast<size_t>(options.max_users));
    std::sort(users.begin(), users.end());
  }
  return users;
}

std::vector<uint32_t> UsersWithTrainAndTest(size_t num_users, const data::Split& split) {
  std::vector<uint8_t> has(num_users, 0);
  for (const data::Interaction& x : split.train) has[x.user] |= 1;
  for (const data::Interaction& x : split.test) has[x.user] |= 2;
  std::vector<uint32_t> users;
  for (uint32_t u = 0; u < num_users; ++u) {
    if (has[u] == 3) users.push_back(u);
  }
  return users;
}

// The recall curve's depths: options' depths up to the catalog's size, ascending, and the catalog's
// size itself when a depth went beyond it.
std::vector<int> CurveDepths(std::vector<int> depths, size_t catalog_size) {
  const int cap = static_cast<int>(std::min<size_t>(catalog_size, std::numeric_limits<int>::max()));
  for (int& d : depths) d = std::min(d, cap);
  std::erase_if(depths, [](int d) { return d <= 0; });
  std::sort(depths.begin(), depths.end());
  depths.erase(std::unique(depths.begin(), depths.end()), depths.end());
  return depths;
}

// Gini coefficient of `counts` (sorted in place): sum_i (2i - n - 1) x_i / (n sum x), i = 1..n
// ascending; 0 for no counts or a zero sum.
double Gini(std::vector<int64_t>& counts) {
  std::sort(counts.begin(), counts.end());
  const auto n = static_cast<double>(counts.size());
  double weighted = 0, total = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const auto x = static_cast<double>(counts[i]);
    weighted += (2.0 * static_cast<double>(i + 1) - n - 1.0) * x;
    total += x;
  }
  return total > 0 ? weighted / (n * total) : 0.0;
}

// PopularityBias's figures from the training rows and the kept lists of the evaluated users.
PopularityBias MeasurePopularityBias(const data::Split& split, const std::vector<bool>& in_catalog,
                                     const std::vector<std::vector<uint32_t>>& train_items,
                                     const std::vector<std::vector<uint32_t>>& test_items,
                                     const std::vector<uint32_t>& users,
                                     const std::vector<UserResult>& results) {
  const size_t num_videos = in_catalog.size();
  std::vector<int64_t> popularity(num_videos, 0);
  for (const data::Interaction& x : split.train) ++popularity[x.video];
  std::vector<uint32_t> catalog;
  for (uint32_t v = 0; v < num_videos; ++v) {
    if (in_catalog[v]) catalog.push_back(v);
  }
  PopularityBias bias;
  if (catalog.empty()) return bias;
  // Most popular first, ties by the lower index: the head is a prefix; equal popularities are runs.
  std::sort(catalog.begin(), catalog.end(), [&](uint32_t a, uint32_t b) {
    return popularity[a] != popularity[b] ? popularity[a] > popularity[b] : a < b;
  });
  const size_t n = catalog.size();
  const size_t head_size = (n + 9) / 10;
  std::vector<double> percentile(num_videos, 0.0);
  std::vector<bool> head(num_videos, false);
  for (size_t begin = 0; begin < n;) {
    size_t end = begin;
    while (end < n && popularity[catalog[end]] == popularity[catalog[begin]]) ++end;
    // Less popular: the n - end videos after the run; the run's other members count one half.
    const double p = 100.0 * (static_cast<double>(n - end) + 0.5 * static_cast<double>(end - begin)) /
                     static_cast<double>(n);
    for (size_t i = begin; i < end; ++i) percentile[catalog[i]] = p;
    begin = end;
  }
  for (size_t i = 0; i < head_size; ++i) head[catalog[i]] = true;

  std::vector<int64_t> times_recommended(num_videos, 0);
  double rec_sum = 0, test_sum = 0;
  int64_t rec_slots = 0, rec_head = 0, test_pairs = 0, test_head = 0;
  for (size_t i = 0; i < users.size(); ++i) {
    if (!results[i].evaluated) continue;
    for (uint32_t v : results[i].top_k) {
      rec_sum += percentile[v];
      rec_head += head[v];
      ++rec_slots;
      ++times_recommended[v];
    }
    const auto& train = train_items[users[i]];
    for (uint32_t v : test_items[users[i]]) {
      if (!in_catalog[v] || std::binary_search(train.begin(), train.end(), v)) continue;
      test_sum += percentile[v];
      test_head += head[v];
      ++test_pairs;
    }
  }
  if (rec_slots > 0) {
    bias.recommended_percentile = rec_sum / static_cast<double>(rec_slots);
    bias.recommended_head_share = static_cast<double>(rec_head) / static_cast<double>(rec_slots);
  }
  if (test_pairs > 0) {
    bias.test_percentile = test_sum / static_cast<double>(test_pairs);
    bias.test_head_share = static_cast<double>(test_head) / static_cast<double>(test_pairs);
  }
  std::vector<int64_t> counts;
  counts.reserve(n);
  for (uint32_t v : catalog) counts.push_back(times_recommended[v]);
  bias.gini = Gini(counts);
  return bias;
}

}  // namespace

std::vector<uint32_t> EvaluatedUsers(const data::Dataset& ds, const data::Split& split,
                                     const EvalOptions& options) {
  return SampleUsers(UsersWithTrainAndTest(ds.users.size(), split), options);
}

EvalReport Evaluate(const data::Dataset& ds, const data::Split& split, const retrieval::ItemScorer& scorer,
                    const EvalOptions& options) {
  const size_t num_users = ds.users.size();
  const size_t num_videos = ds.videos.size();
  const std::vector<std::vector<uint32_t>> train_items = ItemsByUser(num_users, split.train);
  const std::vector<std::vector<uint32_t>> test_items = ItemsByUser(num_users, split.test);
  std::vector<bool> in_catalog(num_videos, false);
  for (const data::Interaction& x : split.train) in_catalog[x.video] = true;
  const size_t catalog_size = std::count(in_catalog.begin(), in_catalog.end(), true);
  const std::vector<int> curve_depths = CurveDepths(options.recall_curve_depths, catalog_size);
  int depth = options.k;
  for (int d : options.recall_depths) depth = std::max(depth, d);
  if (!curve_depths.empty()) depth = std::max(depth, curve_depths.back());

  const std::vector<uint32_t> all_users = UsersWithTrainAndTest(num_users, split);
  const std::vector<uint32_t> users = SampleUsers(all_users, options);
  std::vector<UserResult> results(users.size());
  Progress progress(options.progress_label, static_cast<int64_t>(users.size()),
                    options.progress_label.empty(), 10.0, "users", /*final_line=*/false);

  // One user's metrics from its row of scores.
  auto evaluate_user = [&](uint32_t u, std::span<const double> scores, UserResult& r, TopK& top,
                           std::vector<uint32_t>& ranked, std::vector<double>& pos,
                           std::vector<std::vector<uint16_t>>& cats, std::vector<uint8_t>& is_test) {
    const auto& test = test_items[u];
    const auto& train = train_items[u];
    // Candidates: every training video the user has not trained on, in index order.
    top.Reset(static_cast<size_t>(depth));
    pos.clear();
    if (options.compute_auc) {
      for (uint32_t v : test) {
        if (in_catalog[v] && !std::binary_search(train.begin(), train.end(), v)) pos.push_back(scores[v]);
      }
      std::sort(pos.begin(), pos.end());
    }
    // AUC = P(positive > negative) + P(tie) / 2: per negative, the positives above and equal to it.
    int64_t above = 0, ties = 0, negatives = 0;
    size_t t = 0, s = 0;
    for (uint32_t v = 0; v < num_videos; ++v) {
      if (!in_catalog[v]) continue;
      while (t < train.size() && train[t] < v) ++t;
      if (t < train.size() && train[t] == v) continue;
      const double score = scores[v];
      top.Push(score, v);
      if (!options.compute_auc) continue;
      while (s < test.size() && test[s] < v) ++s;
      if (s < test.size() && test[s] == v) continue;
      ++negatives;
      const auto lo = std::lower_bound(pos.begin(), pos.end(), score);
      const auto hi = std::upper_bound(lo, pos.end(), score);
      above += pos.end() - hi;
      ties += hi - lo;
    }
    top.Finish(ranked);
    r.evaluated = true;
    r.map = AveragePrecisionAtK(ranked, test, options.k);
    r.ndcg = NdcgAtK(ranked, test, options.k);
    r.precision = PrecisionAtK(ranked, test, options.k);
    r.recall = RecallAtK(ranked, test, options.k);
    for (int rd : options.recall_depths) r.recall_at.push_back(RecallAtK(ranked, test, rd));
    // The curve in one pass over the list: RecallAtK at every depth, a lookup per rank (the user's
    // test videos marked in `is_test`, unmarked after).
    for (uint32_t v : test) is_test[v] = 1;
    int64_t hits = 0;
    size_t rank = 0;
    for (int cd : curve_depths) {
      for (; rank < std::min(ranked.size(), static_cast<size_t>(cd)); ++rank) hits += is_test[ranked[rank]];
      r.recall_curve.push_back(test.empty() ? 0.0
                                            : static_cast<double>(hits) / static_cast<double>(test.size()));
    }
    for (uint32_t v : test) is_test[v] = 0;
    r.top_k.assign(ranked.begin(),
                   ranked.begin() + static_cast<ptrdiff_t>(std::min<size_t>(ranked.size(), options.k)));
    cats.clear();
    for (uint32_t v : r.top_k) {
      cats.push_back(ds.videos[v].categories);
      std::sort(cats.back().begin(), cats.back().end());
    }
    r.diversity = IntraListDiversity(cats);
    if (options.compute_auc) {
      r.auc = pos.empty() || negatives == 0
                  ? 0.5
                  : (static_cast<double>(above) + 0.5 * static_cast<double>(ties)) /
                        (static_cast<double>(pos.size()) * static_cast<double>(negatives));
    }
  };

  std::atomic<size_t> next{0};
  auto work = [&]() {
    std::vector<double> scores;
    std::vector<uint32_t> batch, ranked;
    std::vector<double> pos;
    std::vector<std::vector<uint16_t>> cats;
    std::vector<uint8_t> is_test(num_videos, 0);
    TopK top;
    for (size_t begin; (begin = next.fetch_add(kUserBatch)) < users.size();) {
      const size_t end = std::min(users.size(), begin + kUserBatch);
      batch.assign(users.begin() + static_cast<ptrdiff_t>(begin),
                   users.begin() + static_cast<ptrdiff_t>(end));
      scores.resize(batch.size() * num_videos);
      scorer.ScoreUsers(batch, scores);
      for (size_t i = 0; i < batch.size(); ++i) {
        evaluate_user(batch[i], std::span<const double>(scores).subspan(i * num_videos, num_videos),
                      results[begin + i], top, ranked, pos, cats, is_test);
      }
      progress.Add(static_cast<int64_t>(batch.size()));
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, options.threads); ++t) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
  progress.Finish();

  EvalReport report;
  report.k = options.k;
  report.users_total = static_cast<int64_t>(all_users.size());
  report.recall_at.resize(options.recall_depths.size());
  for (size_t i = 0; i < options.recall_depths.size(); ++i)
    report.recall_at[i].first = options.recall_depths[i];
  for (int d : curve_depths) report.recall_curve.emplace_back(d, 0.0);
  // Activity buckets by floor(log2(training rows)): bucket b holds [2^b, 2^(b+1) - 1] rows.
  std::vector<int64_t> train_rows(num_users, 0);
  for (const data::Interaction& x : split.train) ++train_rows[x.user];
  std::vector<ActivityBucket> buckets(64);
  std::vector<bool> recommended(num_videos, false);
  for (size_t u = 0; u < results.size(); ++u) {
    const UserResult& r = results[u];
    if (!r.evaluated) continue;
    ActivityBucket& b =
        buckets[static_cast<size_t>(std::bit_width(static_cast<uint64_t>(train_rows[users[u]]))) - 1];
    ++b.users;
    b.ndcg += r.ndcg;
    b.recall += r.recall;
    for (size_t j = 0; j < r.recall_curve.size(); ++j) report.recall_curve[j].second += r.recall_curve[j];
    ++report.users;
    report.map += r.map;
    report.ndcg += r.ndcg;
    report.precision += r.precision;
    report.recall += r.recall;
    report.auc += r.auc;
    report.diversity += r.diversity;
    for (size_t i = 0; i < r.recall_at.size(); ++i) report.recall_at[i].second += r.recall_at[i];
    for (uint32_t v : r.top_k) recommended[v] = true;
  }
  if (report.users > 0) {
    const auto n = static_cast<double>(report.users);
    for (double* m :
         {&report.map, &report.ndcg, &report.precision, &report.recall, &report.auc, &report.diversity}) {
      *m /= n;
    }
    for (auto& [d, r] : report.recall_at) r /= n;
    for (auto& [d, r] : report.recall_curve) r /= n;
  }
  for (size_t b = 0; b < buckets.size(); ++b) {
    if (buckets[b].users == 0) continue;
    ActivityBucket& a = report.by_activity.emplace_back(buckets[b]);
    a.min_rows = int64_t{1} << b;
    a.max_rows = (int64_t{1} << (b + 1)) - 1;
    a.ndcg /= static_cast<double>(a.users);
    a.recall /= static_cast<double>(a.users);
  }
  report.popularity = MeasurePopularityBias(split, in_catalog, train_items, test_items, users, results);
  if (catalog_size > 0) {
    report.coverage = static_cast<double>(std::count(recommended.begin(), recommended.end(), true)) /
                      static_cast<double>(catalog_size);
  }
  return report;
}

}  // namespace vrec::eval
