#include "vrec/eval/harness.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <thread>

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
  std::vector<uint32_t> top_k;
};

}  // namespace

EvalReport Evaluate(const data::Dataset& ds, const data::Split& split, const retrieval::ItemScorer& scorer,
                    const EvalOptions& options) {
  const size_t num_users = ds.users.size();
  const size_t num_videos = ds.videos.size();
  std::vector<std::vector<uint32_t>> train_items(num_users), test_items(num_users);
  std::vector<bool> in_catalog(num_videos, false);
  for (const data::Interaction& x : split.train) {
    train_items[x.user].push_back(x.video);
    in_catalog[x.video] = true;
  }
  for (const data::Interaction& x : split.test) test_items[x.user].push_back(x.video);
  for (auto* lists : {&train_items, &test_items}) {
    for (auto& l : *lists) {
      std::sort(l.begin(), l.end());
      l.erase(std::unique(l.begin(), l.end()), l.end());
    }
  }
  const size_t catalog_size = std::count(in_catalog.begin(), in_catalog.end(), true);
  int depth = options.k;
  for (int d : options.recall_depths) depth = std::max(depth, d);

  std::vector<UserResult> results(num_users);
  std::atomic<size_t> next{0};
  auto work = [&]() {
    std::vector<double> scores(num_videos);
    std::vector<uint32_t> candidates;
    std::vector<double> pos, neg;
    std::vector<std::vector<uint16_t>> cats;
    for (size_t u; (u = next.fetch_add(1)) < num_users;) {
      const auto& test = test_items[u];
      const auto& train = train_items[u];
      if (test.empty() || train.empty()) continue;
      scorer.ScoreAll(static_cast<uint32_t>(u), scores);
      candidates.clear();
      for (uint32_t v = 0; v < num_videos; ++v) {
        if (in_catalog[v] && !std::binary_search(train.begin(), train.end(), v)) candidates.push_back(v);
      }
      auto better = [&](uint32_t a, uint32_t b) {
        return scores[a] != scores[b] ? scores[a] > scores[b] : a < b;
      };
      const size_t d = std::min(candidates.size(), static_cast<size_t>(depth));
      std::partial_sort(candidates.begin(), candidates.begin() + static_cast<ptrdiff_t>(d), candidates.end(),
                        better);
      std::span<const uint32_t> ranked(candidates.data(), d);
      UserResult& r = results[u];
      r.evaluated = true;
      r.map = AveragePrecisionAtK(ranked, test, options.k);
      r.ndcg = NdcgAtK(ranked, test, options.k);
      r.precision = PrecisionAtK(ranked, test, options.k);
      r.recall = RecallAtK(ranked, test, options.k);
      for (int rd : options.recall_depths) r.recall_at.push_back(RecallAtK(ranked, test, rd));
      r.top_k.assign(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(std::min<size_t>(d, options.k)));
      cats.clear();
      for (uint32_t v : r.top_k) {
        cats.push_back(ds.videos[v].categories);
        std::sort(cats.back().begin(), cats.back().end());
      }
      r.diversity = IntraListDiversity(cats);
      if (options.compute_auc) {
        pos.clear();
        neg.clear();
        for (uint32_t v : candidates) {
          (std::binary_search(test.begin(), test.end(), v) ? pos : neg).push_back(scores[v]);
        }
        r.auc = Auc(pos, neg);
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, options.threads); ++t) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();

  EvalReport report;
  report.recall_at.resize(options.recall_depths.size());
  for (size_t i = 0; i < options.recall_depths.size(); ++i)
    report.recall_at[i].first = options.recall_depths[i];
  std::vector<bool> recommended(num_videos, false);
  for (const UserResult& r : results) {
    if (!r.evaluated) continue;
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
  }
  if (catalog_size > 0) {
    report.coverage = static_cast<double>(std::count(recommended.begin(), recommended.end(), true)) /
                      static_cast<double>(catalog_size);
  }
  return report;
}

}  // namespace vrec::eval
