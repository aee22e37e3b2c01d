// Fuzzes the model manifest (manifest.json of a registry version and of its retrieval bundle):
// vrec::registry::ReadManifest and CheckCompatible, and the two-tower bundle's loading of its
// manifest (TwoTowerModel::Load, with the committed tiny model's weights beside it). The input is
// the manifest's bytes.
//
// Invariants: ReadManifest fails with DataLoss or FailedPrecondition only; an accepted manifest
// has a format version this build understands, and WriteManifest then ReadManifest gives it back
// unchanged; CheckCompatible accepts exactly a manifest of the kind and schema hash asked for; the
// bundle loads only through a compatible manifest naming a weights file inside its folder.
#include <filesystem>
#include <string>

#include "fuzz/fuzz_util.h"
#include "vrec/common/hash.h"
#include "vrec/ranking/features.h"
#include "vrec/registry/manifest.h"
#include "vrec/registry/model_layout.h"
#include "vrec/retrieval/two_tower_model.h"

namespace {

namespace fs = std::filesystem;
using vrec::registry::Manifest;

struct Dirs {
  std::string read;     // holds the fuzzed manifest.json and a link to the tiny model's weights
  std::string written;  // WriteManifest's output
};

const Dirs& GetDirs() {
  static const Dirs dirs = [] {
    const std::string root = vrec::fuzz::MakeTempDir("vrec_manifest_fuzz_");
    Dirs d{root + "/read", root + "/written"};
    fs::create_directories(d.read);
    fs::create_directories(d.written);
    fs::create_symlink(fs::path(VREC_TESTDATA_DIR) / "serving_model_v1/retrieval/two_tower.bin",
                       fs::path(d.read) / "two_tower.bin");
    return d;
  }();
  return dirs;
}

bool SameManifest(const Manifest& a, const Manifest& b) {
  return a.format_version == b.format_version && a.model_kind == b.model_kind &&
         a.created_at == b.created_at && a.feature_schema == b.feature_schema &&
         a.feature_schema_hash == b.feature_schema_hash && a.training_data_hash == b.training_data_hash &&
         a.metrics == b.metrics && a.files == b.files && a.params == b.params;
}

void CheckKind(const Manifest& m, const char* kind, const std::string& hash) {
  const vrec::Status s = vrec::registry::CheckCompatible(m, kind, hash);
  const bool expected = m.model_kind == kind && m.feature_schema_hash == hash;
  FUZZ_CHECK(s.ok() == expected, "CheckCompatible(", kind, ") = ", s.ToString());
  if (!s.ok()) FUZZ_CHECK(s.code() == vrec::StatusCode::kFailedPrecondition, s.ToString());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Dirs& dirs = GetDirs();
  vrec::fuzz::WriteFile(dirs.read + "/manifest.json",
                        std::string_view(reinterpret_cast<const char*>(data), size));
  auto m = vrec::registry::ReadManifest(dirs.read);
  if (!m.ok()) {
    const vrec::StatusCode code = m.status().code();
    FUZZ_CHECK(code == vrec::StatusCode::kDataLoss || code == vrec::StatusCode::kFailedPrecondition,
               m.status().ToString());
    FUZZ_CHECK(!m.status().message().empty(), "an error without a message");
  } else {
    FUZZ_CHECK(m->format_version <= vrec::registry::kModelFormatVersion, "format_version ",
               m->format_version);
    const vrec::Status written = vrec::registry::WriteManifest(dirs.written, *m);
    FUZZ_CHECK(written.ok(), written.ToString());
    auto again = vrec::registry::ReadManifest(dirs.written);
    FUZZ_CHECK(again.ok(), "a manifest written back does not read: ", again.status().ToString());
    FUZZ_CHECK(SameManifest(*again, *m), "a manifest written back reads differently");

    static const std::string two_tower_hash = vrec::HashHex(vrec::retrieval::TwoTowerModel::FeatureSchema());
    static const std::string model_hash = vrec::HashHex(vrec::ranking::RankingFeatureSchema());
    CheckKind(*m, "two-tower", two_tower_hash);
    CheckKind(*m, vrec::registry::kModelKind, model_hash);
  }

  // The retrieval bundle reads the same file, then its weights entry.
  auto model = vrec::retrieval::TwoTowerModel::Load(dirs.read);
  if (model.ok()) {
    FUZZ_CHECK(m.ok() && m->model_kind == "two-tower",
               "the bundle loaded through a manifest ReadManifest refuses");
    const std::string& weights = m->files.at("weights");
    FUZZ_CHECK(weights.find('/') == std::string::npos && weights != ".." && weights != ".", "weights file '",
               weights, "' outside the bundle's folder");
  }
  return 0;
}
