// XGBoost backend of the ranking stage: the only file that includes XGBoost.
#include "vrec/ranking/xgboost_ranker.h"

#include <xgboost/c_api.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "vrec/common/hash.h"
#include "vrec/common/strings.h"
#include "vrec/common/sys.h"

namespace vrec::ranking {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Turns a non-zero XGBoost return code into an Internal status carrying XGBGetLastError().
#define VREC_XGB_CALL(call)                                                                     \
  do {                                                                                          \
    if ((call) != 0) return InternalError(StrCat("xgboost: ", #call, ": ", XGBGetLastError())); \
  } while (false)

constexpr int kFormatVersion = 1;
constexpr char kModelFile[] = "ranker.ubj";
constexpr char kMetaFile[] = "ranker.json";

struct DMatrixFree {
  void operator()(void* h) const { XGDMatrixFree(h); }
};
struct BoosterFree {
  void operator()(void* h) const { XGBoosterFree(h); }
};
using DMatrixPtr = std::unique_ptr<void, DMatrixFree>;
using BoosterPtr = std::unique_ptr<void, BoosterFree>;

StatusOr<DMatrixPtr> MakeDMatrix(std::span<const float> features, size_t rows, size_t cols) {
  DMatrixHandle h = nullptr;
  VREC_XGB_CALL(
      XGDMatrixCreateFromMat(features.data(), rows, cols, std::numeric_limits<float>::quiet_NaN(), &h));
  return DMatrixPtr(h);
}

StatusOr<DMatrixPtr> MakeTrainingDMatrix(const RankingData& data) {
  VREC_ASSIGN_OR_RETURN(DMatrixPtr m, MakeDMatrix(data.features, data.rows(), data.num_features()));
  VREC_XGB_CALL(XGDMatrixSetFloatInfo(m.get(), "label", data.labels.data(), data.labels.size()));
  VREC_XGB_CALL(XGDMatrixSetUIntInfo(m.get(), "group", data.group_sizes.data(), data.group_sizes.size()));
  return m;
}

bool IsRankingObjective(const RankerOptions& o) { return o.objective.starts_with("rank:"); }

// What early stopping watches: NDCG@eval_at for ranking objectives (higher is better), RMSE or
// log loss for the pointwise heads (lower is better).
std::string EvalMetric(const RankerOptions& o) {
  if (IsRankingObjective(o)) return StrCat("ndcg@", o.eval_at);
  return o.objective == "binary:logistic" ? "logloss" : "rmse";
}

Status SetParams(BoosterHandle h, const RankerOptions& o) {
  const std::pair<const char*, std::string> params[] = {
      {"objective", o.objective},
      {"eta", StrCat(o.learning_rate)},
      {"max_depth", StrCat(o.max_depth)},
      {"min_child_weight", StrCat(o.min_child_weight)},
      {"subsample", StrCat(o.subsample)},
      {"colsample_bytree", StrCat(o.colsample_bytree)},
      {"lambda", StrCat(o.lambda)},
      {"nthread", StrCat(o.threads)},
      {"seed", StrCat(o.seed)},
      {"eval_metric", EvalMetric(o)},
      {"tree_method", "hist"},
  };
  for (const auto& [name, value] : params) VREC_XGB_CALL(XGBoosterSetParam(h, name, value.c_str()));
  return OkStatus();
}

// "[12]\tvalid-ndcg@10:0.8125" -> 0.8125.
StatusOr<double> ParseEvalResult(const char* text) {
  const std::string_view s(text);
  const size_t colon = s.rfind(':');
  if (colon == std::string_view::npos)
    return InternalError(StrCat("xgboost: unexpected eval output '", s, "'"));
  const std::string value(s.substr(colon + 1));
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  if (end == value.c_str()) return InternalError(StrCat("xgboost: unexpected eval output '", s, "'"));
  return v;
}

json OptionsToJson(const RankerOptions& o) {
  return json{{"objective", o.objective},
              {"num_rounds", o.num_rounds},
              {"early_stopping_rounds", o.early_stopping_rounds},
              {"eval_at", o.eval_at},
              {"max_depth", o.max_depth},
              {"learning_rate", o.learning_rate},
              {"min_child_weight", o.min_child_weight},
              {"subsample", o.subsample},
              {"colsample_bytree", o.colsample_bytree},
              {"lambda", o.lambda},
              {"threads", o.threads},
              {"seed", o.seed}};
}

RankerOptions OptionsFromJson(const json& j) {  // throws on missing or mistyped fields
  RankerOptions o;
  o.objective = j.at("objective").get<std::string>();
  o.num_rounds = j.at("num_rounds").get<int>();
  o.early_stopping_rounds = j.at("early_stopping_rounds").get<int>();
  o.eval_at = j.at("eval_at").get<int>();
  o.max_depth = j.at("max_depth").get<int>();
  o.learning_rate = j.at("learning_rate").get<float>();
  o.min_child_weight = j.at("min_child_weight").get<float>();
  o.subsample = j.at("subsample").get<float>();
  o.colsample_bytree = j.at("colsample_bytree").get<float>();
  o.lambda = j.at("lambda").get<float>();
  o.threads = j.at("threads").get<int>();
  o.seed = j.at("seed").get<uint64_t>();
  return o;
}

// FNV-1a 64: detects a corrupt or swapped model file before XGBoost parses it.
std::string Fingerprint(std::string_view bytes) { return HashHex(bytes); }

// NotFound when the file does not exist; Internal on other I/O errors.
StatusOr<std::string> ReadFile(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return NotFoundError(StrCat("ranker: no file ", path.string()));
  std::ifstream in(path, std::ios::binary);
  if (!in) return InternalError(StrCat("ranker: cannot open ", path.string(), ": ", std::strerror(errno)));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return InternalError(StrCat("ranker: cannot read ", path.string()));
  return bytes;
}

// Writes to a temporary name then renames, so a reader never sees half a file.
Status WriteFileAtomic(const fs::path& path, std::string_view bytes) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      return InternalError(StrCat("ranker: cannot create ", tmp.string(), ": ", std::strerror(errno)));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) return InternalError(StrCat("ranker: cannot write ", tmp.string()));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return InternalError(StrCat("ranker: cannot rename ", tmp.string(), ": ", ec.message()));
  return OkStatus();
}

StatusOr<std::string> SaveToBuffer(BoosterHandle h, const char* format) {
  const std::string config = StrCat(R"({"format": ")", format, R"("})");
  bst_ulong len = 0;
  const char* data = nullptr;
  VREC_XGB_CALL(XGBoosterSaveModelToBuffer(h, config.c_str(), &len, &data));
  return std::string(data, len);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// XGBoostRanker

XGBoostRanker::XGBoostRanker(void* booster, std::vector<std::string> feature_names,
                             const RankerOptions& options, int best_iteration)
    : booster_(booster),
      feature_names_(std::move(feature_names)),
      options_(options),
      best_iteration_(best_iteration) {}

XGBoostRanker::~XGBoostRanker() { XGBoosterFree(booster_); }

StatusOr<std::unique_ptr<XGBoostRanker>> XGBoostRanker::Create(void* booster,
                                                               std::vector<std::string> feature_names,
                                                               const RankerOptions& options,
                                                               int best_iteration) {
  std::unique_ptr<XGBoostRanker> r(
      new XGBoostRanker(booster, std::move(feature_names), options, best_iteration));
  // Scoring uses the calling thread only.
  VREC_XGB_CALL(XGBoosterSetParam(r->booster_, "nthread", "1"));
  // The JSON model holds every threshold and leaf value at full float precision (the text dump
  // of XGBoosterDumpModelEx rounds them) plus base_score.
  VREC_ASSIGN_OR_RETURN(const std::string model, SaveToBuffer(r->booster_, "json"));
  VREC_ASSIGN_OR_RETURN(r->ensemble_, TreeEnsemble::FromXGBoostJson(model, r->feature_names_.size()));
  if (r->ensemble_.num_trees() != static_cast<size_t>(best_iteration)) {
    return DataLossError(
        StrCat("ranker: the model has ", r->ensemble_.num_trees(), " trees, expected ", best_iteration));
  }
  return r;
}

Status XGBoostRanker::CheckShapes(std::span<const float> features, size_t rows, size_t out_size) const {
  const size_t f = feature_names_.size();
  if (features.size() != rows * f) {
    return InvalidArgumentError(
        StrCat("ranker: ", features.size(), " feature values for ", rows, " rows x ", f, " features"));
  }
  if (out_size != rows)
    return InvalidArgumentError(StrCat("ranker: output has ", out_size, " slots for ", rows, " rows"));
  return OkStatus();
}

Status XGBoostRanker::Score(std::span<const float> features, size_t rows, std::span<float> out) const {
  VREC_RETURN_IF_ERROR(CheckShapes(features, rows, out.size()));
  ensemble_.Predict(features.data(), rows, out.data());
  return OkStatus();
}

Status XGBoostRanker::ScoreWithXGBoost(std::span<const float> features, size_t rows,
                                       std::span<float> out) const {
  VREC_RETURN_IF_ERROR(CheckShapes(features, rows, out.size()));
  if (rows == 0) return OkStatus();
  // __array_interface__ of the caller's buffer: XGBoost reads it in place, no copy.
  const std::string array =
      StrCat(R"({"data": [)", reinterpret_cast<uintptr_t>(features.data()), R"(, true], "shape": [)", rows,
             ", ", feature_names_.size(), R"(], "typestr": "<f4", "version": 3})");
  static constexpr char kConfig[] =
      R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false, )"
      R"("cache_id": 0, "missing": NaN})";
  std::lock_guard<std::mutex> lock(mu_);
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  VREC_XGB_CALL(XGBoosterPredictFromDense(booster_, array.c_str(), kConfig, nullptr, &shape, &dim, &result));
  bst_ulong n = 1;
  for (bst_ulong i = 0; i < dim; ++i) n *= shape[i];
  if (n != rows) return InternalError(StrCat("xgboost: predicted ", n, " values for ", rows, " rows"));
  std::copy(result, result + rows, out.begin());
  return OkStatus();
}

Status XGBoostRanker::Contributions(std::span<const float> features, size_t rows,
                                    std::vector<float>& out) const {
  VREC_RETURN_IF_ERROR(CheckShapes(features, rows, rows));
  const size_t width = feature_names_.size() + 1;
  out.assign(rows * width, 0.0f);
  if (rows == 0) return OkStatus();
  VREC_ASSIGN_OR_RETURN(DMatrixPtr m, MakeDMatrix(features, rows, feature_names_.size()));
  // type 2: exact TreeSHAP contributions, the last column the bias (base_score included).
  static constexpr char kConfig[] =
      R"({"type": 2, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false})";
  std::lock_guard<std::mutex> lock(mu_);
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  VREC_XGB_CALL(XGBoosterPredictFromDMatrix(booster_, m.get(), kConfig, &shape, &dim, &result));
  bst_ulong n = 1;
  for (bst_ulong i = 0; i < dim; ++i) n *= shape[i];
  if (n != rows * width) {
    return InternalError(StrCat("xgboost: ", n, " contributions for ", rows, " rows x ", width, " columns"));
  }
  std::copy(result, result + n, out.begin());
  return OkStatus();
}

Status XGBoostRanker::Save(const std::string& dir) const {
  std::string model;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The same bytes XGBoosterSaveModel writes for a .ubj path, taken from memory so that the
    // file can be written atomically and fingerprinted in one pass.
    VREC_ASSIGN_OR_RETURN(model, SaveToBuffer(booster_, "ubj"));
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return InternalError(StrCat("ranker: cannot create ", dir, ": ", ec.message()));
  int major = 0, minor = 0, patch = 0;
  XGBoostVersion(&major, &minor, &patch);
  json meta = json::object();
  meta["format_version"] = kFormatVersion;
  meta["backend"] = "xgboost";
  meta["xgboost_version"] = StrCat(major, ".", minor, ".", patch);
  meta["model_file"] = kModelFile;
  meta["model_bytes"] = model.size();
  meta["model_fnv1a64"] = Fingerprint(model);
  meta["feature_names"] = feature_names_;
  meta["best_iteration"] = best_iteration_;
  meta["options"] = OptionsToJson(options_);
  VREC_RETURN_IF_ERROR(WriteFileAtomic(fs::path(dir) / kModelFile, model));
  return WriteFileAtomic(fs::path(dir) / kMetaFile, meta.dump(2) + "\n");
}

// ---------------------------------------------------------------------------------------------
// Training and loading

StatusOr<std::unique_ptr<Ranker>> TrainXGBoostRanker(const RankingData& train, const RankingData& valid,
                                                     const RankerOptions& options,
                                                     RankerTrainReport* report) {
  Stopwatch watch;
  VREC_RETURN_IF_ERROR(ranking_internal::ValidateOptions(options));
  if (Status s = train.Validate(); !s.ok()) return InvalidArgumentError(StrCat("train: ", s.message()));
  if (Status s = valid.Validate(); !s.ok()) return InvalidArgumentError(StrCat("valid: ", s.message()));
  if (train.rows() == 0 || valid.rows() == 0)
    return InvalidArgumentError("ranker: train and valid need rows");
  if (train.feature_names != valid.feature_names) {
    return InvalidArgumentError(StrCat("ranker: train features [", StrJoin(train.feature_names, ","),
                                       "] differ from valid features [", StrJoin(valid.feature_names, ","),
                                       "]"));
  }

  VREC_ASSIGN_OR_RETURN(DMatrixPtr dtrain, MakeTrainingDMatrix(train));
  VREC_ASSIGN_OR_RETURN(DMatrixPtr dvalid, MakeTrainingDMatrix(valid));
  DMatrixHandle cached[] = {dtrain.get(), dvalid.get()};
  BoosterHandle raw = nullptr;
  VREC_XGB_CALL(XGBoosterCreate(cached, 2, &raw));
  BoosterPtr booster(raw);
  VREC_RETURN_IF_ERROR(SetParams(booster.get(), options));

  DMatrixHandle evals[] = {dvalid.get()};
  const char* eval_names[] = {"valid"};
  // Early stopping on the validation metric, as a score that grows when the model improves.
  const double sign = IsRankingObjective(options) ? 1.0 : -1.0;
  double best = -std::numeric_limits<double>::infinity();
  int best_round = 0;  // index of the best round
  int rounds = 0;
  for (int iter = 0; iter < options.num_rounds; ++iter) {
    VREC_XGB_CALL(XGBoosterUpdateOneIter(booster.get(), iter, dtrain.get()));
    rounds = iter + 1;
    if (options.early_stopping_rounds == 0) continue;
    const char* result = nullptr;
    VREC_XGB_CALL(XGBoosterEvalOneIter(booster.get(), iter, evals, eval_names, 1, &result));
    VREC_ASSIGN_OR_RETURN(const double metric, ParseEvalResult(result));
    if (sign * metric > best) {
      best = sign * metric;
      best_round = iter;
    } else if (iter - best_round >= options.early_stopping_rounds) {
      break;
    }
  }
  const int kept = options.early_stopping_rounds == 0 ? rounds : best_round + 1;
  if (kept < rounds) {
    BoosterHandle sliced = nullptr;
    VREC_XGB_CALL(XGBoosterSlice(booster.get(), 0, kept, 1, &sliced));
    booster.reset(sliced);
  }
  int boosted = 0;
  VREC_XGB_CALL(XGBoosterBoostedRounds(booster.get(), &boosted));
  if (boosted != kept) return InternalError(StrCat("xgboost: kept ", boosted, " rounds, expected ", kept));

  VREC_ASSIGN_OR_RETURN(std::unique_ptr<XGBoostRanker> ranker,
                        XGBoostRanker::Create(booster.release(), train.feature_names, options, kept));
  if (report != nullptr) {
    std::vector<float> scores(valid.rows());
    VREC_RETURN_IF_ERROR(ranker->Score(valid.features, valid.rows(), scores));
    report->best_iteration = kept;
    // NDCG's gain 2^label - 1 suits graded relevance, not a head's watch seconds.
    if (IsRankingObjective(options))
      report->valid_ndcg = MeanNdcgAtK(scores, valid.labels, valid.group_sizes, options.eval_at);
    report->valid_metric = options.early_stopping_rounds == 0 ? std::nan("") : sign * best;
    report->metric = EvalMetric(options);
    report->valid_auc = MeanGroupAuc(scores, valid.labels, valid.group_sizes);
    report->train_seconds = watch.Seconds();
  }
  return std::unique_ptr<Ranker>(std::move(ranker));
}

StatusOr<std::unique_ptr<Ranker>> LoadRanker(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return NotFoundError(StrCat("ranker: no folder ", dir));
  VREC_ASSIGN_OR_RETURN(const std::string meta_text, ReadFile(fs::path(dir) / kMetaFile));
  const json meta = json::parse(meta_text, nullptr, /*allow_exceptions=*/false);
  if (meta.is_discarded() || !meta.is_object())
    return DataLossError(StrCat("ranker: ", dir, "/", kMetaFile, " is not JSON"));

  std::vector<std::string> names;
  RankerOptions options;
  int best_iteration = 0;
  std::string model_file, fingerprint;
  size_t model_bytes = 0;
  try {
    const int version = meta.at("format_version").get<int>();
    if (version != kFormatVersion) {
      return DataLossError(
          StrCat("ranker: format_version ", version, " is not supported (", kFormatVersion, ")"));
    }
    if (meta.at("backend").get<std::string>() != "xgboost") {
      return DataLossError(StrCat("ranker: backend ", meta.at("backend").dump(), " is not xgboost"));
    }
    names = meta.at("feature_names").get<std::vector<std::string>>();
    options = OptionsFromJson(meta.at("options"));
    best_iteration = meta.at("best_iteration").get<int>();
    model_file = meta.at("model_file").get<std::string>();
    model_bytes = meta.at("model_bytes").get<size_t>();
    fingerprint = meta.at("model_fnv1a64").get<std::string>();
  } catch (const std::exception& e) {
    return DataLossError(StrCat("ranker: ", dir, "/", kMetaFile, ": ", e.what()));
  }
  if (names.empty() || best_iteration < 1 || model_file != kModelFile) {
    return DataLossError(StrCat("ranker: ", dir, "/", kMetaFile, " is inconsistent"));
  }

  VREC_ASSIGN_OR_RETURN(const std::string model, ReadFile(fs::path(dir) / kModelFile));
  if (model.size() != model_bytes || Fingerprint(model) != fingerprint) {
    return DataLossError(StrCat("ranker: ", dir, "/", kModelFile, " is corrupt (", model.size(),
                                " bytes, fnv1a64 ", Fingerprint(model), "; expected ", model_bytes,
                                " bytes, ", fingerprint, ")"));
  }
  BoosterHandle raw = nullptr;
  VREC_XGB_CALL(XGBoosterCreate(nullptr, 0, &raw));
  BoosterPtr booster(raw);
  if (XGBoosterLoadModelFromBuffer(booster.get(), model.data(), model.size()) != 0) {
    return DataLossError(StrCat("ranker: ", dir, "/", kModelFile, ": ", XGBGetLastError()));
  }
  bst_ulong num_features = 0;
  int rounds = 0;
  VREC_XGB_CALL(XGBoosterGetNumFeature(booster.get(), &num_features));
  VREC_XGB_CALL(XGBoosterBoostedRounds(booster.get(), &rounds));
  if (num_features != names.size() || rounds != best_iteration) {
    return DataLossError(StrCat("ranker: ", dir, " model has ", num_features, " features and ", rounds,
                                " rounds; ranker.json says ", names.size(), " and ", best_iteration));
  }
  StatusOr<std::unique_ptr<XGBoostRanker>> ranker =
      XGBoostRanker::Create(booster.release(), std::move(names), options, best_iteration);
  if (!ranker.ok()) {
    const Status& s = ranker.status();
    return s.code() == StatusCode::kInternal ? s : DataLossError(StrCat("ranker: ", dir, ": ", s.message()));
  }
  return std::unique_ptr<Ranker>(std::move(ranker).value());
}

}  // namespace vrec::ranking
