#include "vrec/offline/gates.h"

#include <algorithm>
#include <limits>

#include "vrec/common/strings.h"

namespace vrec::offline {

std::vector<GateVerdict> CheckGates(const Gates& g, const std::map<std::string, double>& candidate,
                                    const std::map<std::string, double>* production) {
  struct Rule {
    const char* metric;
    double threshold;
  };
  const Rule rules[] = {{"retrieval_recall@100", g.min_retrieval_recall_at_100},
                        {"retrieval_ndcg@10", g.min_retrieval_ndcg_at_10},
                        {"ranker_heldout_auc", g.min_ranker_auc},
                        {"two_stage_ndcg@10", g.min_ranker_ndcg}};
  constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();
  const auto value_of = [&](const char* metric) {
    auto it = candidate.find(metric);
    return it == candidate.end() ? kMissing : it->second;
  };
  std::vector<GateVerdict> out;
  for (const Rule& r : rules) {
    const double v = value_of(r.metric);
    // NaN compares false: a missing figure fails.
    const bool passed = v >= r.threshold;
    std::string name = StrCat(r.metric, " >= ", r.threshold);
    if (!candidate.contains(r.metric)) name += " (missing)";
    out.push_back({std::move(name), v, r.threshold, passed});
  }
  if (production != nullptr) {
    for (const Rule& r : rules) {
      auto it = production->find(r.metric);
      if (it == production->end()) continue;
      const double floor = it->second - g.max_regression;
      const double v = value_of(r.metric);
      out.push_back(
          {StrCat(r.metric, " >= production ", it->second, " - ", g.max_regression), v, floor, v >= floor});
    }
  }
  return out;
}

bool AllGatesPassed(const std::vector<GateVerdict>& verdicts) {
  return std::all_of(verdicts.begin(), verdicts.end(), [](const GateVerdict& v) { return v.passed; });
}

}  // namespace vrec::offline
