// Regressions found by the serving fuzz harnesses (fuzz/service_fuzz over the committed tiny model,
// fuzz/config_fuzz): each test is an input found and the answer it must get. (The fuzz corpus
// replay runs the same inputs through the harnesses' generic checks; these tests state the answer.)
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "vrec/config/binder.h"
#include "vrec/config/source.h"
#include "vrec/serving/http_server.h"
#include "vrec/serving/service.h"
#include "vrec/serving/tiny_model_testing.h"

namespace vrec::serving {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class ServiceFuzzRegression : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string tmpl = (fs::temp_directory_path() / "vrec_service_regression_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = new std::string(tmpl);
    const std::string registry = (fs::path(*root_) / "registry").string();
    ASSERT_TRUE(MakeTinyModelRegistry(registry, 1).ok());
    ServeConfig config;
    config.registry = registry;
    config.feature_store = "memory://";
    auto service = Service::Create(config, [] { return int64_t{1'800'000'000}; });
    ASSERT_TRUE(service.ok()) << service.status().ToString();
    service_ = service->release();
  }
  static void TearDownTestSuite() {
    delete service_;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(*root_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
    fs::remove_all(*root_, ec);
    delete root_;
  }

  static HttpResponse Call(std::string method, std::string target) {
    HttpRequest request;
    request.method = std::move(method);
    request.target = std::move(target);
    HttpResponse response;
    if (Status s = ParseRequestTarget(request); !s.ok()) return JsonErrorResponse(s);
    service_->Handle(request, response);
    return response;
  }

  static std::string* root_;
  static Service* service_;
};

std::string* ServiceFuzzRegression::root_ = nullptr;
Service* ServiceFuzzRegression::service_ = nullptr;

TEST_F(ServiceFuzzRegression, WrongMethodErrorBodyCarriesTheSameCodeAsTheStatus) {
  for (const auto& [method, target] :
       {std::pair{"POST", "/v1/users/17/recommendations"}, std::pair{"PUT", "/v1/users/17/history"},
        std::pair{"GET", "/v1/events"}}) {
    const HttpResponse r = Call(method, target);
    EXPECT_EQ(r.status, 405) << method << " " << target;
    const json j = json::parse(r.body);
    EXPECT_EQ(j["error"]["code"], 405) << r.body;
  }
}

TEST_F(ServiceFuzzRegression, ErrorQuotingABadByteIsStillValidJson) {
  const HttpResponse r = Call("GET", "/v1/users/17/recommendations?count=%FF");
  EXPECT_EQ(r.status, 400);
  const json j = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(j.is_discarded()) << r.body;
  EXPECT_EQ(j["error"]["message"], "count '\xEF\xBF\xBD' must be an integer in [1, 1000]");
}

// Found by fuzz/config_fuzz (its check that a variant's override takes effect as written).
TEST(ServeConfigFuzzRegression, VariantOverrideTooLargeForIntIsRefusedNotWrapped) {
  for (const char* key : {"retrieval.candidates", "ranking.candidates"}) {
    RecommendOptions options;
    const Status s = ApplyOverride(key, "4294967396", options);  // 2^32 + 100
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << key << ": " << s.ToString();
    EXPECT_EQ(ApplyOverride(key, "-4294967296", options).code(), StatusCode::kInvalidArgument) << key;
  }
  config::Source src;
  src.LoadString(
      "registry.path = \"/r\"\n[experiment]\nname = \"e\"\n[experiment.variant.b]\nretrieval.candidates = "
      "4294967396\n",
      "test.toml");
  ASSERT_TRUE(src.problems().empty())
      << src.problems()[0].ToString();  // refused by the binder, not the parser
  config::Binder b(src);
  ServeConfig config;
  BindServeConfig(b, config);
  const Status bound = b.Finish();
  EXPECT_FALSE(bound.ok() && FinishServeConfig(config).ok()) << "a wrapped override was accepted";
}

}  // namespace
}  // namespace vrec::serving
