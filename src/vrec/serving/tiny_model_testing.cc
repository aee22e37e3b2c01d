#include "vrec/serving/tiny_model_testing.h"

#include <filesystem>

#include "vrec/common/strings.h"
#include "vrec/registry/registry.h"

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

}  // namespace vrec::serving
