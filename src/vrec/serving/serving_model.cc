#include "vrec/serving/serving_model.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <numeric>

#include "vrec/common/check.h"
#include "vrec/common/csv.h"
#include "vrec/common/hash.h"
#include "vrec/common/strings.h"
#include "vrec/common/sys.h"
#include "vrec/data/generic_csv.h"
#include "vrec/registry/model_layout.h"

namespace vrec::serving {
namespace {

namespace fs = std::filesystem;

// Format 1 directories have no serving.vart: the snapshot is computed from catalog/ as the
// pipeline of that time would have (its manifest's SAR and EASE settings; SAR rows kept whole,
// EASE over the manifest's K).
StatusOr<std::shared_ptr<const snapshot::ServingSnapshot>> BuildFormatOneSnapshot(
    const std::string& dir, const registry::Manifest& manifest, const ServingModelOptions& options) {
  const auto param = [&](const char* key, double& value) -> Status {
    auto it = manifest.params.find(key);
    if (it != manifest.params.end() && !ParseDouble(it->second, value)) {
      return DataLossError(StrCat(dir, ": manifest param ", key, "='", it->second, "' is not a number"));
    }
    return OkStatus();
  };
  snapshot::SnapshotOptions o;
  o.cold_start_list = options.cold_start_list;
  o.max_history_per_user = std::numeric_limits<int>::max();  // format 1 served whole histories
  o.sar.threads = options.sar_threads;
  o.sar.max_neighbours = 0;
  VREC_RETURN_IF_ERROR(param("sar.half_life_days", o.sar.half_life_days));
  double ease_videos = 4096, ease_history = o.ease.max_history;
  VREC_RETURN_IF_ERROR(param("ease.lambda", o.ease.lambda));
  VREC_RETURN_IF_ERROR(param("ease.max_videos", ease_videos));
  VREC_RETURN_IF_ERROR(param("ease.max_history", ease_history));
  if (!(ease_videos >= 1 && ease_videos <= 1e6) || !(ease_history >= 0 && ease_history <= 1e6)) {
    return DataLossError(StrCat(dir, ": manifest params ease.max_videos=", ease_videos,
                                " / ease.max_history=", ease_history, " are out of range"));
  }
  o.ease.max_videos = static_cast<int>(ease_videos);
  o.ease.max_history = static_cast<int>(ease_history);
  VREC_ASSIGN_OR_RETURN(data::Dataset catalog,
                        data::LoadGenericCsv((fs::path(dir) / registry::kCatalogDir).string()));
  std::vector<data::Interaction> rows = std::move(catalog.interactions);
  if (rows.empty()) return FailedPreconditionError(StrCat(dir, ": the catalog snapshot has no interactions"));
  return snapshot::ServingSnapshot::Build(std::move(catalog), rows, o);
}

}  // namespace

StatusOr<std::shared_ptr<const ServingModel>> ServingModel::Load(const std::string& dir,
                                                                 const std::string& version,
                                                                 const ServingModelOptions& options) {
  Stopwatch clock;
  std::shared_ptr<ServingModel> m(new ServingModel());
  m->version_ = version;
  VREC_ASSIGN_OR_RETURN(m->manifest_, registry::ReadManifest(dir));
  if (m->manifest_.model_kind != registry::kModelKind) {
    return FailedPreconditionError(StrCat(dir, ": not a vrec model (kind '", m->manifest_.model_kind, "')"));
  }
  VREC_RETURN_IF_ERROR(registry::CheckCompatible(m->manifest_, registry::kModelKind,
                                                 HashHex(ranking::RankingFeatureSchema())));
  // Candidate counts the ranker was trained with; "ease_candidates" is absent before the second
  // source (0).
  for (auto [key, out, least] : {std::tuple{"candidates", &m->ranker_candidates_, int64_t{1}},
                                 std::tuple{"ease_candidates", &m->ease_candidates_, int64_t{0}}}) {
    auto it = m->manifest_.params.find(key);
    if (it == m->manifest_.params.end()) continue;
    int64_t n = 0;
    if (!ParseInt64(it->second, n) || n < least || n > 10'000) {
      return DataLossError(StrCat(dir, ": manifest param ", key, "='", it->second, "' is not a count in [",
                                  least, ", 10000]"));
    }
    *out = static_cast<int>(n);
  }
  if (m->manifest_.format_version >= 2) {
    VREC_ASSIGN_OR_RETURN(m->snapshot_, snapshot::ServingSnapshot::Load(
                                            (fs::path(dir) / registry::kServingSnapshotFile).string()));
  } else {
    VREC_ASSIGN_OR_RETURN(m->snapshot_, BuildFormatOneSnapshot(dir, m->manifest_, options));
  }
  VREC_ASSIGN_OR_RETURN(
      m->bundle_,
      retrieval::RetrievalBundle::Load((fs::path(dir) / registry::kRetrievalDir).string(),
                                       {.scan_lists_in_background = options.index_scan_lists_in_background}));
  if (options.ivf_nprobe > 0 || options.hnsw_ef_search > 0) {
    VREC_RETURN_IF_ERROR(m->bundle_.index->SetSearchParameters(std::max(options.ivf_nprobe, 0),
                                                               std::max(options.hnsw_ef_search, 0)));
  }
  VREC_ASSIGN_OR_RETURN(m->ranker_, ranking::LoadRanker((fs::path(dir) / registry::kRankerDir).string()));
  if (m->ranker_->feature_names() != ranking::RankingFeatureNames()) {
    return FailedPreconditionError(StrCat(dir, ": the ranker's features differ from this build's"));
  }
  if (auto it = m->manifest_.files.find("heads");
      m->manifest_.format_version >= 3 && it != m->manifest_.files.end()) {
    if (it->second != registry::kHeadsDir) {
      return DataLossError(
          StrCat(dir, ": manifest lists heads as '", it->second, "', expected ", registry::kHeadsDir));
    }
    VREC_ASSIGN_OR_RETURN(m->heads_,
                          ranking::ObjectiveHeads::Load((fs::path(dir) / registry::kHeadsDir).string()));
    for (ranking::Objective o : ranking::kObjectives) {
      const ranking::Ranker* h = m->heads_.get(o);
      if (h != nullptr && h->feature_names() != ranking::RankingFeatureNames()) {
        return FailedPreconditionError(
            StrCat(dir, ": the ", ranking::Name(o), " head's features differ from this build's"));
      }
    }
  }
  m->load_seconds_ = clock.Seconds();
  return std::shared_ptr<const ServingModel>(std::move(m));
}

std::map<std::string, uint64_t> ServingModel::ComponentBytes() const {
  std::map<std::string, uint64_t> out = snapshot_->ComponentBytes();
  out["index"] = bundle_.index->MemoryBytes();
  out["two_tower"] = bundle_.model.MemoryBytes();
  return out;
}

}  // namespace vrec::serving
