#include "vrec/registry/manifest.h"

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "vrec/common/csv.h"
#include "vrec/common/strings.h"

namespace vrec::registry {

StatusOr<uint64_t> ThroughSeqOf(const Manifest& manifest) {
  const auto it = manifest.params.find(kThroughSeqParam);
  if (it == manifest.params.end()) return uint64_t{0};
  uint64_t seq = 0;
  if (!ParseUint64(it->second, seq)) {
    return DataLossError(StrCat("manifest param ", kThroughSeqParam, " is not a sequence number: '",
                                it->second.substr(0, 40), "'"));
  }
  return seq;
}

std::string NowUtcIso8601() { return UtcIso8601(std::time(nullptr)); }

std::string UtcIso8601(int64_t unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Status WriteManifest(const std::string& dir, const Manifest& m) {
  nlohmann::json j = {
      {"format_version", m.format_version},
      {"model_kind", m.model_kind},
      {"created_at", m.created_at},
      {"feature_schema", m.feature_schema},
      {"feature_schema_hash", m.feature_schema_hash},
      {"training_data_hash", m.training_data_hash},
      {"metrics", m.metrics},
      {"files", m.files},
      {"params", m.params},
  };
  const std::filesystem::path path = std::filesystem::path(dir) / "manifest.json";
  const std::filesystem::path tmp = std::filesystem::path(dir) / "manifest.json.tmp";
  {
    std::ofstream out(tmp);
    out << j.dump(2) << "\n";
    if (!out.good()) return InternalError(StrCat(tmp.string(), ": write failed"));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return InternalError(StrCat("cannot rename ", tmp.string(), ": ", ec.message()));
  return OkStatus();
}

StatusOr<Manifest> ReadManifest(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "manifest.json").string();
  std::ifstream in(path);
  if (!in.is_open()) return NotFoundError(StrCat(path, ": no manifest (not a model directory?)"));
  Manifest m;
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    // An integer >= 1, compared before narrowing: get<int>() of 14e85 is undefined behaviour and
    // of 4294967297 or 1.5 a silent 1.
    const nlohmann::json& version = j.at("format_version");
    if (!version.is_number_integer() ||
        (version.is_number_unsigned() ? version.get<uint64_t>() < 1 : version.get<int64_t>() < 1)) {
      return DataLossError(StrCat(path, ": format_version ", version.dump(), " is not a positive integer"));
    }
    if (version.is_number_unsigned() ? version.get<uint64_t>() > static_cast<uint64_t>(kModelFormatVersion)
                                     : version.get<int64_t>() > kModelFormatVersion) {
      return FailedPreconditionError(StrCat(path, ": model format version ", version.dump(),
                                            " is newer than this build understands (", kModelFormatVersion,
                                            "); upgrade vrec"));
    }
    m.format_version = version.get<int>();
    m.model_kind = j.at("model_kind").get<std::string>();
    m.created_at = j.value("created_at", "");
    m.feature_schema = j.at("feature_schema").get<std::string>();
    m.feature_schema_hash = j.at("feature_schema_hash").get<std::string>();
    m.training_data_hash = j.value("training_data_hash", "");
    m.metrics = j.value("metrics", std::map<std::string, double>{});
    m.files = j.value("files", std::map<std::string, std::string>{});
    m.params = j.value("params", std::map<std::string, std::string>{});
  } catch (const nlohmann::json::exception& e) {
    return DataLossError(StrCat(path, ": not a valid manifest: ", e.what()));
  }
  if (HashHex(m.feature_schema) != m.feature_schema_hash) {
    return DataLossError(
        StrCat(path, ": feature_schema_hash does not match feature_schema (edited by hand?)"));
  }
  return m;
}

Status CheckCompatible(const Manifest& m, std::string_view kind, std::string_view expected_schema_hash) {
  if (m.model_kind != kind) {
    return FailedPreconditionError(
        StrCat("model directory holds a '", m.model_kind, "' model, expected '", kind, "'"));
  }
  if (m.feature_schema_hash != expected_schema_hash) {
    return FailedPreconditionError(StrCat(
        "feature schema mismatch: the model was trained with schema ", m.feature_schema_hash,
        ", this build expects ", expected_schema_hash, "; retrain the model or use a matching vrec version"));
  }
  return OkStatus();
}

}  // namespace vrec::registry
