// Fuzzes everything `vrec serve` routes (vrec::serving::Service::Handle): the recommendation path
// and query, history, events, admin flags, reload, model, probes and metrics, over the committed
// tiny model (tests/testdata/serving_model_v1, copied into a temporary registry and promoted), an
// in-memory feature store, API keys and a fixed clock.
//
// Input: a request in a simple text form (not HTTP framing, which http_request_fuzz covers):
//   METHOD TARGET                  first line; TARGET is split as the server splits it
//   name: value                    header lines, up to an empty line (e.g. x-api-key: fuzz-key)
//   body                           the rest
//
// Invariants: every answer has a status in [200, 599] and, when JSON, valid UTF-8 JSON with the
// error shape for >= 400; no input gets a 5xx (hostile input is a 4xx); nothing under /v1/ is
// answered 2xx without a valid key (admin routes without the admin key); a recommendation answer
// names the served model and holds at most `count` distinct videos.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "fuzz/fuzz_util.h"
#include "vrec/serving/http_server.h"
#include "vrec/serving/service.h"
#include "vrec/serving/tiny_model_testing.h"

namespace {

using vrec::serving::HttpRequest;
using vrec::serving::HttpResponse;
using vrec::serving::Service;

constexpr int64_t kNow = 1'767'000'000;
constexpr const char* kApiKey = "fuzz-key";
constexpr const char* kAdminKey = "fuzz-admin";
// Events posted by earlier inputs accumulate in the in-memory store: a fresh service every so many
// inputs keeps memory bounded over long runs.
constexpr int kInputsPerService = 5000;

struct Fixture {
  std::string registry;
  std::string version;
  std::unique_ptr<Service> service;
  int inputs = 0;
};

Fixture& GetFixture() {
  static Fixture* fixture = [] {
    auto* f = new Fixture();
    f->registry = vrec::fuzz::MakeTempDir("vrec_service_fuzz_") + "/registry";
    auto versions = vrec::serving::MakeTinyModelRegistry(f->registry, 1);
    FUZZ_CHECK(versions.ok(), versions.status().ToString());
    f->version = versions->front();
    return f;
  }();
  if (!fixture->service || fixture->inputs >= kInputsPerService) {
    fixture->service.reset();
    vrec::serving::ServeConfig config;
    config.registry = fixture->registry;
    config.feature_store = "memory://";
    config.api_keys = {kApiKey};
    config.admin_keys = {kAdminKey};
    auto service = Service::Create(config, [] { return kNow; });
    FUZZ_CHECK(service.ok(), service.status().ToString());
    fixture->service = std::move(*service);
    fixture->inputs = 0;
  }
  ++fixture->inputs;
  return *fixture;
}

// Splits the input into a request (see the format above). False when there is no first line.
bool Decode(std::string_view in, HttpRequest& request) {
  const size_t eol = in.find('\n');
  if (eol == std::string_view::npos) return false;
  const std::string_view first = in.substr(0, eol);
  in.remove_prefix(eol + 1);
  const size_t space = first.find(' ');
  if (space == std::string_view::npos) return false;
  request.method = std::string(first.substr(0, space));
  request.target = std::string(first.substr(space + 1));
  while (!in.empty()) {
    const size_t end = in.find('\n');
    const std::string_view line = in.substr(0, end);
    in.remove_prefix(end == std::string_view::npos ? in.size() : end + 1);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    request.headers.emplace_back(line.substr(0, colon), value);
  }
  request.body = std::string(in);
  request.remote = "127.0.0.1:1";
  return true;
}

void CheckRecommendations(const HttpRequest& request, const HttpResponse& response,
                          const std::string& version) {
  const nlohmann::json j = nlohmann::json::parse(response.body);
  FUZZ_CHECK(j.value("model_version", "") == version, "model_version in ", response.body);
  FUZZ_CHECK(j.contains("items") && j["items"].is_array(), "no items in ", response.body);
  size_t count = 10;
  if (const std::string* c = request.Query("count")) count = std::stoul(*c);
  FUZZ_CHECK(j["items"].size() <= count, j["items"].size(), " items for count ", count);
  std::set<std::string> seen;
  for (const auto& item : j["items"]) {
    FUZZ_CHECK(item.contains("video_id") && item["video_id"].is_string(), "item ", item.dump());
    FUZZ_CHECK(seen.insert(item["video_id"].get<std::string>()).second,
               "video recommended twice: ", response.body);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  HttpRequest request;
  if (!Decode(std::string_view(reinterpret_cast<const char*>(data), size), request)) return 0;
  Fixture& f = GetFixture();
  HttpResponse response;
  // What the server does with the target before the handler sees it.
  if (vrec::Status s = vrec::serving::ParseRequestTarget(request); !s.ok()) {
    response = vrec::serving::JsonErrorResponse(s);
    FUZZ_CHECK(response.status == 400, "bad target answered ", response.status);
  } else {
    f.service->Handle(request, response);
  }
  const std::string context = vrec::StrCat(request.method, " ", request.target, " -> ", response.status);
  vrec::fuzz::CheckJsonResponse(response.status, response.content_type, response.body, context);
  FUZZ_CHECK(response.status < 500, context, ": ", response.body);

  const std::string_view key = request.Header("x-api-key");
  if (request.path.starts_with("/v1/") && response.status < 300) {
    FUZZ_CHECK(key == kApiKey || key == kAdminKey, context, " without a valid key");
    if (request.path.starts_with("/v1/admin/"))
      FUZZ_CHECK(key == kAdminKey, context, " without the admin key");
  }
  if (response.status == 200 && request.method == "GET" && request.path.starts_with("/v1/users/") &&
      request.path.ends_with("/recommendations")) {
    CheckRecommendations(request, response, f.version);
  }
  return 0;
}
