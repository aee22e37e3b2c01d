#include "vrec/retrieval/ann_tuning.h"

#include <algorithm>
#include <cstdio>
#include <unordered_set>

#include "vrec/common/parallel.h"
#include "vrec/common/strings.h"

namespace vrec::retrieval {

namespace {

constexpr float kTieTolerance = 1e-5f;

using Results = std::vector<std::vector<AnnResult>>;

StatusOr<Results> SearchAll(const AnnIndex& index, std::span<const float> queries, int k, int threads) {
  const auto d = static_cast<size_t>(index.dimension());
  const size_t n = queries.size() / d;
  Results out(n);
  std::vector<Status> failed(n, OkStatus());
  ParallelFor(static_cast<int64_t>(n), threads, 4, [&](int64_t begin, int64_t end) {
    for (auto i = static_cast<size_t>(begin); i < static_cast<size_t>(end); ++i) {
      auto r = index.Search(queries.subspan(i * d, d), k);
      if (r.ok()) {
        out[i] = std::move(r).value();
      } else {
        failed[i] = r.status();
      }
    }
  });
  for (const Status& s : failed) VREC_RETURN_IF_ERROR(s);
  return out;
}

std::string Fixed(double x, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

}  // namespace

double IdRecallAtK(const Results& got, const Results& truth, int k) {
  if (truth.empty()) return 1.0;
  double sum = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    std::unordered_set<uint64_t> want;
    for (const AnnResult& r : truth[i]) want.insert(r.id);
    size_t hits = 0;
    for (const AnnResult& r : got[i]) hits += want.count(r.id);
    const double n = std::min<double>(k, static_cast<double>(truth[i].size()));
    sum += n > 0 ? static_cast<double>(hits) / n : 1.0;
  }
  return sum / static_cast<double>(truth.size());
}

double TieAwareRecallAtK(const Results& got, const Results& truth, int k) {
  if (truth.empty()) return 1.0;
  double sum = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    if (truth[i].empty()) {
      sum += 1.0;
      continue;
    }
    const float kth = truth[i].back().score;
    size_t hits = 0;
    for (const AnnResult& r : got[i]) hits += r.score >= kth - kTieTolerance ? 1 : 0;
    const double n = std::min<double>(k, static_cast<double>(truth[i].size()));
    sum += std::min(static_cast<double>(hits), n) / n;
  }
  return sum / static_cast<double>(truth.size());
}

std::string SearchEffort::Summary(double target) const {
  if (parameter.empty()) return "exact search: recall 1, nothing to tune";
  std::string tried_text;
  for (const auto& [setting, r] : tried)
    tried_text += StrCat(tried_text.empty() ? "" : " ", setting, ":", Fixed(r, 3));
  return StrCat(parameter, " ", before, " -> ", chosen, ": recall@", k, " ", Fixed(recall, 3), " (id recall ",
                Fixed(id_recall, 3), ", ", queries, " queries; target ", Fixed(target, 3),
                reached ? "" : " NOT reached at the largest setting tried", "; tried ", tried_text, ")");
}

StatusOr<SearchEffort> TuneSearchEffort(AnnIndex& index, std::span<const float> queries,
                                        const SearchEffortOptions& options) {
  const auto d = static_cast<size_t>(index.dimension());
  if (queries.empty() || queries.size() % d != 0) {
    return InvalidArgumentError(StrCat("tune search effort: ", queries.size(),
                                       " query floats is not a positive multiple of dimension ", d));
  }
  if (options.k <= 0)
    return InvalidArgumentError(StrCat("tune search effort: k must be positive, got ", options.k));
  if (!(options.target_recall > 0 && options.target_recall <= 1)) {
    return InvalidArgumentError(
        StrCat("tune search effort: target recall must be in (0, 1], got ", options.target_recall));
  }
  const AnnIndexOptions o = index.options();
  SearchEffort e;
  e.queries = static_cast<int>(queries.size() / d);
  e.k = options.k;
  int max_setting = 0;
  if (AnnIndexOptions::IsIvf(o.kind)) {
    e.parameter = "ivf_nprobe";
    e.before = o.ivf_nprobe;
    max_setting = std::max(o.ivf_nprobe, o.ivf_nlist / 4);
  } else if (o.kind == AnnIndexOptions::Kind::kHnsw) {
    e.parameter = "hnsw_ef_search";
    e.before = o.hnsw_ef_search;
    max_setting = std::max(o.hnsw_ef_search, options.max_hnsw_ef_search);
  } else {
    return e;
  }

  // The truth: exact search over the very vectors the index holds.
  Results truth;
  {
    std::vector<uint64_t> ids;
    std::vector<float> vectors;
    VREC_RETURN_IF_ERROR(index.Export(ids, vectors));
    AnnIndexOptions exact_options;
    exact_options.kind = AnnIndexOptions::Kind::kExact;
    exact_options.dimension = static_cast<int>(d);
    VREC_ASSIGN_OR_RETURN(std::unique_ptr<AnnIndex> exact, MakeAnnIndex(exact_options));
    VREC_RETURN_IF_ERROR(exact->Add(ids, vectors));
    VREC_ASSIGN_OR_RETURN(truth, SearchAll(*exact, queries, options.k, options.threads));
  }

  const auto set = [&](int setting) {
    return e.parameter == "ivf_nprobe" ? index.SetSearchParameters(setting, 0)
                                       : index.SetSearchParameters(0, setting);
  };
  for (int setting = std::max(1, e.before);; setting = std::min(2 * setting, max_setting)) {
    VREC_RETURN_IF_ERROR(set(setting));
    VREC_ASSIGN_OR_RETURN(Results got, SearchAll(index, queries, options.k, options.threads));
    e.chosen = setting;
    e.recall = TieAwareRecallAtK(got, truth, options.k);
    e.id_recall = IdRecallAtK(got, truth, options.k);
    e.tried.emplace_back(setting, e.recall);
    e.reached = e.recall >= options.target_recall;
    if (e.reached || setting >= max_setting) break;
  }
  return e;
}

}  // namespace vrec::retrieval
