#include "vrec/serving/tiny_model_testing.h"

#include <algorithm>
#include <filesystem>
#include <numeric>

#include "vrec/common/strings.h"
#include "vrec/ranking/objectives.h"
#include "vrec/registry/model_layout.h"
#include "vrec/registry/registry.h"
#include "vrec/serving/serving_model.h"

#ifndef VREC_TESTDATA_DIR
#error "VREC_TESTDATA_DIR must name tests/testdata"
#endif

namespace vrec::serving {

StatusOr<std::vector<std::string>> MakeTinyModelRegistry(const std::string& root, int copies) {
  namespace fs = std::filesystem;
  const fs::path model = fs::path(VREC_TESTDATA_DIR) / "serving_model_v1";
  VREC_ASSIGN_OR_RETURN(registry::ModelRegistry reg, registry::ModelRegistry::Open(root));
  std::vector<std::string> versions;
  for (int i = 0; i < copies; ++i) {
    VREC_ASSIGN_OR_RETURN(std::string staging, reg.BeginVersion());
    std::error_code ec;
    fs::copy(model, staging, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
    if (ec) return InternalError(StrCat("copying ", model.string(), " to ", staging, ": ", ec.message()));
    fs::remove(fs::path(staging) / "README.md", ec);
    VREC_ASSIGN_OR_RETURN(std::string version, reg.CommitVersion(staging));
    versions.push_back(version);
  }
  if (!versions.empty()) VREC_RETURN_IF_ERROR(reg.Promote(versions.front(), "test model"));
  return versions;
}

Status AddTinyHeads(const std::string& dir) {
  namespace fs = std::filesystem;
  VREC_ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> model, ServingModel::Load(dir, "tiny"));
  VREC_RETURN_IF_ERROR(model->snapshot().Save((fs::path(dir) / registry::kServingSnapshotFile).string()));
  const std::vector<std::string>& names = ranking::RankingFeatureNames();
  const size_t width = names.size();
  const size_t duration =
      static_cast<size_t>(std::find(names.begin(), names.end(), "video_log_duration_s") - names.begin());
  ranking::RankingData data;
  data.feature_names = names;
  std::vector<uint32_t> videos(model->catalog().videos.size());
  std::iota(videos.begin(), videos.end(), 0u);
  for (uint32_t u = 0; u < model->catalog().users.size(); ++u) {
    model->aggregates().Assemble(u, {.time = model->data_end_time(), .known_time_of_day = false}, videos, {},
                                 data.features);
    data.group_sizes.push_back(static_cast<uint32_t>(videos.size()));
  }
  std::vector<float> d;
  for (size_t r = 0; r < data.features.size() / width; ++r) d.push_back(data.features[r * width + duration]);
  std::vector<float> sorted = d;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2),
                   sorted.end());
  const float median = sorted[sorted.size() / 2];
  ranking::ObjectiveHeads heads;
  for (ranking::Objective o : {ranking::Objective::kLike, ranking::Objective::kWatch}) {
    data.labels.clear();
    for (float x : d)
      data.labels.push_back(o == ranking::Objective::kLike ? (x < median ? 1.0f : 0.0f) : 10 * x);
    ranking::RankerOptions options;
    options.objective = std::string(ranking::TrainingObjective(o));
    options.num_rounds = 20;
    options.early_stopping_rounds = 0;
    VREC_ASSIGN_OR_RETURN(std::unique_ptr<ranking::Ranker> head,
                          ranking::TrainXGBoostRanker(data, data, options, nullptr));
    heads.Set(o, std::move(head));
  }
  VREC_RETURN_IF_ERROR(heads.Save((fs::path(dir) / registry::kHeadsDir).string()));
  registry::Manifest m = model->manifest();
  m.format_version = 3;
  m.files["heads"] = registry::kHeadsDir;
  m.files["serving"] = registry::kServingSnapshotFile;
  return registry::WriteManifest(dir, m);
}

}  // namespace vrec::serving
