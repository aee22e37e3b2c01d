// The service as an attacker and an operator see it, over the committed tiny model
// (tests/testdata/serving_model_v1): routing, keys and scopes, rate limits, request bounds, error
// bodies, idempotent events, store failures, and models that do not load.
#include "vrec/serving/service.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "vrec/common/hash.h"
#include "vrec/common/strings.h"
#include "vrec/data/test_util.h"
#include "vrec/experiments/ledger.h"
#include "vrec/features/fault_injection_kv_store.h"
#include "vrec/features/memory_kv_store.h"
#include "vrec/serving/tiny_model_testing.h"

namespace vrec::serving {
namespace {

namespace fs = std::filesystem;
using data::testing::TempDir;

constexpr char kTinyModel[] = "tests/testdata/serving_model_v1";
constexpr int64_t kNow = 1'800'000'000;

struct Reply {
  int status = 0;
  std::string body;
  nlohmann::json json;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string Header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n == name) return v;
    }
    return "";
  }
};

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::is_directory(kTinyModel)) << "run from the source root";
    auto reg = registry::ModelRegistry::Open((dir_.path() / "registry").string());
    ASSERT_TRUE(reg.ok());
    registry_ = std::make_unique<registry::ModelRegistry>(*reg);
  }

  // Commits a copy of the tiny model, changed by `mutate` (given the staging folder).
  std::string AddVersion(const std::function<void(const fs::path&)>& mutate = {}) {
    auto staging = registry_->BeginVersion();
    EXPECT_TRUE(staging.ok());
    fs::copy(kTinyModel, *staging, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    if (mutate) mutate(*staging);
    auto version = registry_->CommitVersion(*staging);
    EXPECT_TRUE(version.ok()) << version.status().ToString();
    return version.ok() ? *version : "";
  }

  ServeConfig Config() const {
    ServeConfig c;
    c.registry = registry_->root();
    c.feature_store = "memory://";
    c.cache_ttl = std::chrono::milliseconds(0);
    c.poll_interval = std::chrono::milliseconds(50);
    return c;
  }

  void Start(ServeConfig c, std::unique_ptr<features::KeyValueStore> kv = nullptr) {
    auto s = Service::Create(
        std::move(c), [] { return kNow; }, std::move(kv));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    service_ = std::move(s).value();
  }

  Reply Call(const std::string& method, const std::string& target, const std::string& body = "",
             const std::string& key = "", const std::string& remote = "10.1.2.3:4567",
             const std::string& request_id = "") {
    HttpRequest q;
    q.method = method;
    q.target = target;
    const size_t mark = target.find('?');
    q.path = target.substr(0, mark);
    if (mark != std::string::npos) {
      EXPECT_TRUE(ParseQueryString(target.substr(mark + 1), q.query).ok());
    }
    if (!key.empty()) q.headers.emplace_back("X-Api-Key", key);
    if (!request_id.empty()) q.headers.emplace_back("X-Request-Id", request_id);
    q.body = body;
    q.remote = remote;
    HttpResponse r;
    service_->Handle(q, r);
    Reply out{r.status, r.body, nlohmann::json::parse(r.body, nullptr, false), r.headers};
    if (r.content_type == "application/json") {
      EXPECT_FALSE(out.json.is_discarded()) << "not JSON: " << r.body;
    }
    if (r.status >= 400) {
      EXPECT_TRUE(out.json.contains("error")) << r.body;
      EXPECT_TRUE(out.json["error"]["status"].is_string()) << r.body;
      EXPECT_EQ(r.body.find("/var/"), std::string::npos) << "server path leaked: " << r.body;
      EXPECT_EQ(r.body.find(registry_->root()), std::string::npos) << "server path leaked: " << r.body;
    }
    return out;
  }

  std::string Metrics() { return Call("GET", "/metrics").body; }

  TempDir dir_;
  std::unique_ptr<registry::ModelRegistry> registry_;
  std::unique_ptr<Service> service_;
};

ServeConfig WithKeys(ServeConfig c) {
  c.api_keys = {"user-key-0123456789"};
  c.admin_keys = {"admin-key-0123456789"};
  return c;
}

TEST_F(ServiceTest, UnknownPathsAre404AndWrongMethods405WithAllow) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  Start(Config());
  EXPECT_EQ(Call("GET", "/v1/nothing").status, 404);
  EXPECT_EQ(Call("GET", "/v1/users//recommendations").status, 404);
  const Reply r = Call("DELETE", "/v1/users/1/recommendations");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.Header("Allow"), "GET");
  EXPECT_EQ(r.json["error"]["status"], "METHOD_NOT_ALLOWED");
  EXPECT_EQ(Call("GET", "/v1/events").Header("Allow"), "POST");
  EXPECT_EQ(Call("GET", "/v1/users/1/recommendations").status, 200);
}

// Found: with admin_keys empty every API key was an admin key, a user key on an admin route got
// 401, and keys were compared with ==.
TEST_F(ServiceTest, KeysAreScoped) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  Start(WithKeys(Config()));
  const std::string recs = "/v1/users/3/recommendations";
  EXPECT_EQ(Call("GET", recs).status, 401);
  EXPECT_EQ(Call("GET", recs).json["error"]["status"], "UNAUTHENTICATED");
  EXPECT_EQ(Call("GET", recs, "", "user-key-012345678").status, 401) << "a prefix of a key is no key";
  EXPECT_EQ(Call("GET", recs, "", "user-key-0123456789").status, 200);
  EXPECT_EQ(Call("GET", recs, "", "admin-key-0123456789").status, 200) << "admin keys reach user routes";
  const Reply denied = Call("GET", "/v1/admin/model", "", "user-key-0123456789");
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.json["error"]["status"], "PERMISSION_DENIED");
  EXPECT_EQ(Call("GET", "/v1/admin/model", "", "admin-key-0123456789").status, 200);
  EXPECT_EQ(Call("GET", "/v1/admin/model").status, 401);
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  EXPECT_EQ(Call("GET", "/readyz").status, 200);
}

TEST_F(ServiceTest, ApiKeysWithoutAdminKeysCloseTheAdminRoutes) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  ServeConfig c = Config();
  c.api_keys = {"only-user-keys"};
  Start(c);
  EXPECT_EQ(Call("POST", "/v1/admin/videos/1", R"({"available":false})", "only-user-keys").status, 403);
  EXPECT_EQ(Call("GET", "/v1/users/1/history", "", "only-user-keys").status, 200);
}

TEST_F(ServiceTest, WithoutKeysOnlyLoopbackMayListen) {
  ServeConfig c = Config();
  c.address = "0.0.0.0";
  Status s = FinishServeConfig(c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("refusing to listen beyond loopback without API keys"), std::string::npos)
      << s.message();
  c = WithKeys(c);
  EXPECT_TRUE(FinishServeConfig(c).ok());
  for (const char* loopback : {"127.0.0.1", "127.1.2.3", "::1", "localhost"}) {
    ServeConfig open = Config();
    open.address = loopback;
    EXPECT_TRUE(FinishServeConfig(open).ok()) << loopback;
  }
  EXPECT_FALSE(IsLoopbackAddress("127.0.0.1.evil.example"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.1"));
  ServeConfig bad = Config();
  bad.api_keys = {"has space"};
  EXPECT_EQ(FinishServeConfig(bad).code(), StatusCode::kInvalidArgument);
}

TEST_F(ServiceTest, KeysAndAddressesAreRateLimitedWith429AndRetryAfter) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  ServeConfig c = WithKeys(Config());
  c.key_rate = 0.5;
  c.key_burst = 3;
  c.ip_rate = 0.2;
  c.ip_burst = 2;
  Start(c);
  const std::string history = "/v1/users/1/history";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Call("GET", history, "", "user-key-0123456789").status, 200) << i;
  const Reply limited = Call("GET", history, "", "user-key-0123456789");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.json["error"]["status"], "RESOURCE_EXHAUSTED");
  EXPECT_EQ(limited.Header("Retry-After"), "2");
  EXPECT_EQ(Call("GET", history, "", "admin-key-0123456789").status, 200) << "another key has its own bucket";
  // Requests without a valid key are limited per address: probes and key guessing alike.
  EXPECT_EQ(Call("GET", "/healthz", "", "", "10.9.9.9:1").status, 200);
  EXPECT_EQ(Call("GET", history, "", "guess-1", "10.9.9.9:2").status, 401);
  const Reply guessing = Call("GET", history, "", "guess-2", "10.9.9.9:3");
  EXPECT_EQ(guessing.status, 429);
  EXPECT_EQ(guessing.Header("Retry-After"), "5");
  EXPECT_EQ(Call("GET", "/healthz", "", "", "10.8.8.8:1").status, 200) << "another address";
  EXPECT_NE(Metrics().find("vrec_rate_limited_total{by=\"key\"} 1"), std::string::npos);
}

// Found: country/language had no length cap and were part of the cache key.
TEST_F(ServiceTest, EveryQueryFieldIsBounded) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  Start(Config());
  const std::string base = "/v1/users/1/recommendations?";
  EXPECT_EQ(Call("GET", base + "country=US&language=en&surface=home&count=5&device=ios").status, 200);
  const std::string long_value(10'000, 'a');
  for (const std::string& query :
       {"country=" + long_value, "language=" + long_value, "surface=" + long_value,
        std::string("country=U%20S"), std::string("language=en%0Aus"), std::string("country="),
        std::string("count=0"), std::string("count=1001"), std::string("count=99999999999999999999"),
        std::string("device=toaster"), std::string("extra=1"), "x" + long_value + "=1",
        std::string("exclude=1,x"), std::string("exclude=1,,2"), std::string("explain=yes"),
        std::string("explain=") + long_value, std::string("exclude=") + std::string(30, '9'), [] {
          std::string many = "exclude=1";  // 501 ids
          for (int i = 2; i <= 501; ++i) many += StrCat(",", i);
          return many;
        }()}) {
    const Reply r = Call("GET", base + query);
    EXPECT_EQ(r.status, 400) << query.substr(0, 40);
    EXPECT_EQ(r.json["error"]["status"], "INVALID_ARGUMENT");
    EXPECT_LT(r.body.size(), 400u) << "messages quote at most a prefix of what was sent";
  }
  EXPECT_EQ(Call("GET", "/v1/users/" + std::string(30, '9') + "/recommendations").status, 400);
  EXPECT_EQ(Call("GET", "/v1/users/1/history?x=1").status, 400);
}

TEST_F(ServiceTest, ErrorMessagesAreValidUtf8) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  Start(Config());
  // The invalid bytes arrive percent-encoded in a parameter name and are echoed in the message.
  const Reply r = Call("GET", "/v1/users/1/recommendations?%FF%C3=1");
  EXPECT_EQ(r.status, 400);
  EXPECT_FALSE(r.json.is_discarded()) << "nlohmann rejects invalid UTF-8: " << r.body;
}

// Found: a deeply nested body crashed the server; now it is a 400 like any bad body.
TEST_F(ServiceTest, DeeplyNestedBodiesGet400) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  Start(Config());
  EXPECT_EQ(Call("POST", "/v1/events", std::string(300'000, '[')).status, 400);
  EXPECT_EQ(Call("POST", "/v1/admin/videos/1", std::string(300'000, '{')).status, 400);
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
}

TEST_F(ServiceTest, RetriedEventsAreStoredOnceAndTheAnswerSaysSo) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  Start(Config());
  const std::string batch = R"({"events":[{"user_id":7,"video_id":1,"type":"play","event_id":"a"},)"
                            R"({"user_id":7,"video_id":2,"type":"like","event_id":"b"}]})";
  Reply r = Call("POST", "/v1/events", batch);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json, nlohmann::json::parse(R"({"accepted":2,"stored":2,"duplicates":0})"));
  r = Call("POST", "/v1/events", batch);
  EXPECT_EQ(r.json, nlohmann::json::parse(R"({"accepted":2,"stored":0,"duplicates":2})"));
  EXPECT_EQ(Call("GET", "/v1/users/7/history").json["events"].size(), 2u);
  EXPECT_NE(Metrics().find("vrec_events_duplicate_total 2"), std::string::npos);
}

TEST_F(ServiceTest, EventsFromTheFutureAreRejected) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  ServeConfig c = Config();
  c.max_future_skew = std::chrono::seconds(60);
  Start(c);
  const Reply r = Call("POST", "/v1/events",
                       StrCat(R"({"user_id":7,"video_id":1,"type":"play","timestamp":)", kNow + 61, "}"));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("in the future"), std::string::npos) << r.body;
  EXPECT_EQ(Call("POST", "/v1/events",
                 StrCat(R"({"user_id":7,"video_id":1,"type":"play","timestamp":)", kNow + 60, "}"))
                .status,
            200);
}

// Found: store errors (with server paths) reached the client, as 500.
TEST_F(ServiceTest, AFailedWriteAcknowledgesNothingAndAnswers503AndReadsDegrade) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  auto memory = features::OpenKeyValueStore("memory://");
  ASSERT_TRUE(memory.ok());
  auto faulty = std::make_unique<features::FaultInjectionKeyValueStore>(std::move(memory).value());
  features::FaultInjectionKeyValueStore* store = faulty.get();
  Start(Config(), std::move(faulty));
  ASSERT_EQ(Call("POST", "/v1/events", R"({"user_id":9,"video_id":1,"type":"play"})").status, 200);

  store->set_fail_writes(true);
  Reply r =
      Call("POST", "/v1/events", R"({"events":[{"user_id":9,"video_id":2,"type":"play","event_id":"x"}]})");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.json["error"]["status"], "UNAVAILABLE");
  EXPECT_EQ(r.Header("Retry-After"), "1");
  r = Call("POST", "/v1/admin/videos/5", R"({"available":false})");
  EXPECT_EQ(r.status, 503);
  store->set_fail_writes(false);
  EXPECT_EQ(Call("GET", "/v1/users/9/history").json["events"].size(), 1u) << "the failed batch left nothing";
  EXPECT_EQ(Call("GET", "/v1/admin/model").status, 200);
  // The retry of the failed batch is stored (its id was not recorded either).
  r = Call("POST", "/v1/events", R"({"events":[{"user_id":9,"video_id":2,"type":"play","event_id":"x"}]})");
  EXPECT_EQ(r.json["stored"], 1);
  // An unreadable store (Redis down): recommendations still come, from the model alone, marked
  // degraded and not cached; /readyz and /metrics say so until a read succeeds again.
  store->set_fail_reads(true);
  r = Call("GET", "/v1/users/9/recommendations");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["degraded"], true) << r.body;
  EXPECT_FALSE(r.json["items"].empty());
  EXPECT_EQ(Call("GET", "/readyz").json["feature_store"], "unreadable");
  EXPECT_NE(Call("GET", "/metrics").body.find("vrec_feature_store_degraded 1"), std::string::npos);
  store->set_fail_reads(false);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));  // past the probe interval
  r = Call("GET", "/v1/users/9/recommendations");
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.json.contains("degraded")) << r.body;
  EXPECT_EQ(Call("GET", "/readyz").json["feature_store"], "ok");
  const std::string metrics = Call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("vrec_feature_store_degraded 0"), std::string::npos);
  EXPECT_NE(metrics.find("vrec_feature_store_read_failures_total 1"), std::string::npos);
}

TEST_F(ServiceTest, ConcurrentAdminUpdatesOfOneVideoLoseNoFlag) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  Start(Config());
  for (int round = 0; round < 50; ++round) {
    const std::string path = StrCat("/v1/admin/videos/", 1000 + round);
    std::thread a([&] { EXPECT_EQ(Call("POST", path, R"({"available":false})").status, 200); });
    std::thread b([&] { EXPECT_EQ(Call("POST", path, R"({"age_restricted":true})").status, 200); });
    a.join();
    b.join();
    // Both updates stick whatever their interleaving: an empty update body is refused, so read
    // the flags back through a no-op update of one flag to its current value.
    const Reply r = Call("POST", path, R"({"available":false})");
    ASSERT_EQ(r.json["age_restricted"], true) << round;
    ASSERT_EQ(r.json["available"], false) << round;
  }
}

// Found: a server restarted on a corrupt production version did not start.
TEST_F(ServiceTest, StartsOnTheRollbackStackWhenProductionDoesNotLoad) {
  const std::string good = AddVersion();
  const std::string broken = AddVersion([](const fs::path& dir) {
    for (const auto& e : fs::directory_iterator(dir / "retrieval")) {  // the weights, whatever their format
      if (e.path().stem() == "two_tower") std::ofstream(e.path(), std::ios::trunc) << "not a model";
    }
  });
  ASSERT_TRUE(registry_->Promote(good, "").ok());
  ASSERT_TRUE(registry_->Promote(broken, "").ok());  // no validator: as an old CLI would have done
  Start(Config());
  EXPECT_EQ(service_->model_version(), good);
  const Reply ready = Call("GET", "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.json["model_version"], good);
  EXPECT_EQ(ready.json["production_version"], broken);
  EXPECT_EQ(ready.json["fallback"], true);
  EXPECT_NE(Metrics().find("vrec_model_fallback 1"), std::string::npos);
  const Reply model = Call("GET", "/v1/admin/model");
  EXPECT_EQ(model.json["failed_versions"], nlohmann::json::array({broken}));
  EXPECT_EQ(model.json["last_error"].get<std::string>().find(registry_->root()), std::string::npos);

  // The failed version is not tried again while the pointer stays.
  const std::string metrics_before = Metrics();
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(service_->ReloadIfChanged().ok());
  const auto failures = [&](const std::string& m) {
    const std::string needle = "vrec_model_reloads_total{result=\"error\"} ";
    return m.substr(m.find(needle) + needle.size(), 1);
  };
  EXPECT_EQ(failures(Metrics()), failures(metrics_before));
  // A new production version is loaded, and the fallback ends.
  const std::string fixed = AddVersion();
  ASSERT_TRUE(registry_->Promote(fixed, "").ok());
  EXPECT_TRUE(service_->ReloadIfChanged().ok());
  EXPECT_EQ(service_->model_version(), fixed);
  EXPECT_EQ(Call("GET", "/readyz").json["fallback"], false);
  EXPECT_NE(Metrics().find("vrec_model_fallback 0"), std::string::npos);
}

TEST_F(ServiceTest, ASwapInProgressIsLoadingNotAFallback) {
  using State = Service::ModelState;
  EXPECT_EQ(Service::StateOf("v1", "v1", ""), State::kProduction);
  EXPECT_EQ(Service::StateOf("v1", "", ""), State::kProduction);
  EXPECT_EQ(Service::StateOf("v1", "v2", "v2"), State::kLoading);
  EXPECT_EQ(Service::StateOf("v1", "v2", ""), State::kFallback);
  EXPECT_EQ(Service::StateOf("v1", "v3", "v2"), State::kFallback);

  const std::string first = AddVersion();
  ASSERT_TRUE(registry_->Promote(first, "").ok());
  Start(Config());
  const std::string second = AddVersion();
  ASSERT_TRUE(registry_->Promote(second, "").ok());
  // /readyz read over and over while the new production version loads: never a fallback.
  std::atomic<bool> done{false};
  int fallbacks = 0, loading = 0, reads = 0;
  std::thread reader([&] {
    while (!done.load()) {
      const Reply r = Call("GET", "/readyz");
      ++reads;
      if (r.json.value("fallback", false)) ++fallbacks;
      if (r.json.value("loading", "") == second) ++loading;
    }
  });
  const Status reloaded = service_->ReloadIfChanged();
  done = true;
  reader.join();
  EXPECT_TRUE(reloaded.ok()) << reloaded.ToString();
  EXPECT_EQ(service_->model_version(), second);
  EXPECT_EQ(fallbacks, 0) << "of " << reads << " reads";
  EXPECT_GT(loading, 0) << "of " << reads << " reads";
  const Reply after = Call("GET", "/readyz");
  EXPECT_EQ(after.json["fallback"], false);
  EXPECT_FALSE(after.json.contains("loading"));
  EXPECT_NE(Metrics().find("vrec_model_fallback 0"), std::string::npos);
}

TEST_F(ServiceTest, ASchemaMismatchIsRefusedAndTheServerKeepsItsModel) {
  const std::string good = AddVersion();
  ASSERT_TRUE(registry_->Promote(good, "").ok());
  Start(Config());
  // A model trained with another ranking feature list (a consistent manifest, hash and all).
  const std::string other_schema = AddVersion([](const fs::path& dir) {
    std::ifstream in(dir / "manifest.json");
    nlohmann::json manifest = nlohmann::json::parse(in);
    in.close();
    const std::string schema = "ranking-features v0: user_age";
    manifest["feature_schema"] = schema;
    manifest["feature_schema_hash"] = HashHex(schema);
    std::ofstream(dir / "manifest.json", std::ios::trunc) << manifest.dump(2);
  });
  ASSERT_TRUE(registry_->Promote(other_schema, "").ok());
  const Status s = service_->ReloadIfChanged();
  EXPECT_NE(s.message().find("feature schema mismatch"), std::string::npos) << s.message();
  EXPECT_EQ(service_->model_version(), good);
  EXPECT_EQ(Call("GET", "/readyz").json["fallback"], true);
}

TEST_F(ServiceTest, NoLoadableVersionMeansNoStart) {
  const std::string broken =
      AddVersion([](const fs::path& dir) { fs::remove(dir / "ranker" / "ranker.ubj"); });
  ASSERT_TRUE(registry_->Promote(broken, "").ok());
  auto s = Service::Create(Config());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(s.status().message().find("no version of the production stack loads"), std::string::npos);
}

// Found: POST /v1/admin/reload ran a multi-second load on an I/O thread.
TEST_F(ServiceTest, ReloadAnswers202AndLoadsInTheBackground) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  ServeConfig c = Config();
  c.poll_interval = std::chrono::hours(1);  // only the request can wake the poller
  Start(c);
  service_->StartPolling();
  const std::string next = AddVersion();
  ASSERT_TRUE(registry_->Promote(next, "").ok());
  const auto start = std::chrono::steady_clock::now();
  const Reply r = Call("POST", "/v1/admin/reload");
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.status, 202);
  EXPECT_LT(took, 0.05) << "the handler does not load";
  // The load runs at the poller's lower priority: under ASan, beside other busy processes on the
  // 2 cores, this 150-video model once took 11.5 s. The test is about where it loads, not how fast.
  bool loaded = false;
  for (int i = 0; i < 6000 && !loaded; ++i) {
    loaded = service_->model_version() == next;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(loaded);
  EXPECT_EQ(Call("GET", "/v1/admin/model").json["loading"], nullptr);
  service_->StopPolling();
}

// ---- The catalog API: uploads, updates, takedowns and users, live and durable.

std::vector<std::string> RecommendedIds(const Reply& r) {
  std::vector<std::string> ids;
  for (const auto& item : r.json["items"]) ids.push_back(item["video_id"].get<std::string>());
  return ids;
}

bool Contains(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

constexpr char kUpload[] = R"({"title":"A brand new upload","categories":["Film","Brand New Category"],)"
                           R"("tags":["premiere"],"language":"xx","duration_s":95.5})";

TEST_F(ServiceTest, EveryResponseHasARequestIdAndEveryRequestOneLogLine) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  ServeConfig config = Config();
  config.cache_ttl = std::chrono::seconds(60);  // the second request is a cache hit
  Start(config);
  ::testing::internal::CaptureStderr();
  const Reply given =
      Call("GET", "/v1/users/3/recommendations?count=4", "", "", "10.1.2.3:4567", "req-42.a_b");
  const Reply cached = Call("GET", "/v1/users/3/recommendations?count=4");
  const Reply bad =
      Call("GET", "/v1/users/3/recommendations?count=0", "", "", "10.1.2.3:4567", "bad id with spaces");
  const std::string log = ::testing::internal::GetCapturedStderr();
  // The client's id is kept and echoed; a malformed one is replaced by a new one.
  EXPECT_EQ(given.Header("X-Request-Id"), "req-42.a_b");
  EXPECT_EQ(given.json["request_id"], "req-42.a_b") << given.body;
  const std::string fresh = cached.Header("X-Request-Id");
  EXPECT_EQ(fresh.size(), 32u) << fresh;
  EXPECT_EQ(cached.json["request_id"], fresh) << "a cached body gets this request's id";
  EXPECT_NE(bad.Header("X-Request-Id"), "bad id with spaces");
  // Items carry their position; the cached answer is the same list.
  ASSERT_EQ(given.json["items"].size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(given.json["items"][i]["position"], i + 1);
  EXPECT_EQ(given.json["items"], cached.json["items"]);
  // One JSON line per request, in order, with what an operator looks for.
  std::vector<nlohmann::json> lines;
  for (size_t start = 0, end; (end = log.find('\n', start)) != std::string::npos; start = end + 1) {
    auto j = nlohmann::json::parse(log.substr(start, end - start), nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << log.substr(start, end - start);
    if (j.value("msg", "") == "request") lines.push_back(std::move(j));
  }
  ASSERT_EQ(lines.size(), 3u) << log;
  EXPECT_EQ(lines[0]["request_id"], "req-42.a_b");
  EXPECT_EQ(lines[0]["route"], "/v1/users/{user_id}/recommendations");
  EXPECT_EQ(lines[0]["id"], "3");
  EXPECT_EQ(lines[0]["status"], 200);
  EXPECT_EQ(lines[0]["level"], "info");
  EXPECT_EQ(lines[0]["detail"]["cache"], "miss");
  EXPECT_TRUE(lines[0]["detail"]["stages_us"].contains("rank")) << lines[0].dump();
  EXPECT_GE(lines[0]["latency_ms"].get<double>(), 0.0);
  EXPECT_EQ(lines[1]["detail"]["cache"], "hit");
  EXPECT_EQ(lines[2]["status"], 400);
  EXPECT_TRUE(lines[2]["ts"].get<std::string>().ends_with("Z"));
}

TEST_F(ServiceTest, ExcludedVideosAreNeverRecommendedAndCountedAsOnScreen) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  Start(Config());
  const std::vector<std::string> first = RecommendedIds(Call("GET", "/v1/users/3/recommendations?count=5"));
  ASSERT_EQ(first.size(), 5u);
  const std::string on_screen = StrCat(first[0], ",", first[2], ",424242");  // an unknown id is ignored
  const Reply r = Call("GET", "/v1/users/3/recommendations?count=5&exclude=" + on_screen);
  ASSERT_EQ(r.status, 200) << r.body;
  const std::vector<std::string> next = RecommendedIds(r);
  EXPECT_EQ(next.size(), 5u);
  EXPECT_FALSE(Contains(next, first[0]));
  EXPECT_FALSE(Contains(next, first[2]));
  EXPECT_TRUE(Contains(next, first[1]));  // the rest keeps its order
  EXPECT_GE(r.json["filtered"]["on_screen"].get<int>(), 2) << r.body;
  // Not cached: the same user without exclude gets the first list again.
  EXPECT_EQ(RecommendedIds(Call("GET", "/v1/users/3/recommendations?count=5")), first);
}

TEST_F(ServiceTest, ExplainedRecommendationsAreTheSameListWithTheirReasons) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  Start(Config());
  const Reply plain = Call("GET", "/v1/users/3/recommendations?count=8");
  ASSERT_EQ(plain.status, 200) << plain.body;
  const Reply r = Call("GET", "/v1/users/3/recommendations?count=8&explain=true");  // after a cached answer
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(RecommendedIds(r), RecommendedIds(plain));
  ASSERT_EQ(r.json["items"].size(), 8u);
  for (const auto& item : r.json["items"]) {
    const auto& e = item["explanation"];
    EXPECT_EQ(e["source"], "retrieval") << e.dump();
    EXPECT_GE(e["retrieval"]["rank"].get<int>(), 1);
    EXPECT_EQ(e["filters_passed"].size(), static_cast<size_t>(filtering::kNumFilters));
    ASSERT_TRUE(e.contains("ranker")) << e.dump();
    double sum = e["ranker"]["bias"].get<double>() + e["ranker"]["other_contributions"].get<double>();
    for (const auto& c : e["ranker"]["contributions"]) {
      EXPECT_TRUE(c["feature"].is_string());
      EXPECT_TRUE(c["value"].is_number() || c["value"].is_null());
      sum += c["contribution"].get<double>();
    }
    EXPECT_NEAR(sum, e["ranker"]["score"].get<double>(), 1e-3) << e.dump();
    EXPECT_GE(e["ordering"]["position_by_score"].get<int>(), 1);
  }
  for (const auto& [name, dropped] : r.json["filtered"].items()) {
    ASSERT_TRUE(dropped.is_object()) << name;
    EXPECT_LE(dropped["videos"].size(), std::min<size_t>(20, dropped["count"].get<size_t>())) << name;
  }
  EXPECT_FALSE(Call("GET", "/v1/users/3/recommendations?count=8").json["items"][0].contains("explanation"))
      << "an explained answer is not cached";
  EXPECT_FALSE(Call("GET", "/v1/users/3/recommendations?count=8&explain=false")
                   .json["items"][0]
                   .contains("explanation"));
}

TEST_F(ServiceTest, ExplanationsShowTheObjectiveHeadsAndTheSurfacesWeights) {
  ASSERT_TRUE(registry_
                  ->Promote(AddVersion([](const fs::path& dir) {
                              const Status s = AddTinyHeads(dir.string());
                              ASSERT_TRUE(s.ok()) << s.ToString();
                            }),
                            "")
                  .ok());
  ServeConfig c = Config();
  c.recommend.blend.surfaces["shorts"] = ranking::BlendWeights{.ranker = 1, .like = 2};
  Start(c);
  for (const std::string surface : {"home", "shorts"}) {
    const Reply r = Call("GET", "/v1/users/3/recommendations?count=8&explain=true&surface=" + surface);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(r.json["items"].size(), 8u);
    for (const auto& item : r.json["items"]) {
      const auto& o = item["explanation"]["objectives"];
      ASSERT_TRUE(o.is_object()) << item.dump();
      EXPECT_GT(o["heads"]["like"].get<double>(), 0.0);
      EXPECT_LT(o["heads"]["like"].get<double>(), 1.0);
      EXPECT_TRUE(o["heads"]["watch"].is_number());
      EXPECT_TRUE(o["heads"]["complete"].is_null()) << "the model has no completion head";
      EXPECT_EQ(o["weights"]["like"].get<double>(), surface == "shorts" ? 2.0 : 0.0);
      EXPECT_EQ(o["weights"]["ranker"].get<double>(), 1.0);
      EXPECT_EQ(o["score"], item["score"]) << "the listed score is the blend's";
      if (surface == "home") {
        EXPECT_EQ(o["score"], item["explanation"]["ranker"]["score"]);
      }
    }
  }
}

TEST_F(ServiceTest, TheConsoleIsServedAndItsDataNeedsAnAdminKey) {
  const std::string first = AddVersion(), second = AddVersion();
  ASSERT_TRUE(registry_->Promote(first, "first").ok());
  ASSERT_TRUE(registry_->Promote(second, "pipeline run r2: all gates passed").ok());
  const std::string run_path = registry_->RunRecordPath("2026-01-02T00-00-00Z-abcd");
  fs::create_directories(fs::path(run_path).parent_path());
  std::ofstream(run_path)
      << R"({"run_id":"2026-01-02T00-00-00Z-abcd","gates_passed":false,"record_path":"/secret","report":"/secret.html"})";
  std::ofstream(fs::path(run_path).parent_path() / "torn.json") << R"({"run_id":)";
  ServeConfig c = WithKeys(Config());
  c.experiment.name = "exp";
  c.experiment.variants = {{"control", 3, {}}, {"diverse", 1, {{"ordering.max_per_category", "1"}}}};
  Start(c);
  const std::string admin = "admin-key-0123456789", user = "user-key-0123456789";

  // The page and its assets are public (they hold no data), under a policy that loads nothing
  // from elsewhere; the data routes are admin-only.
  const Reply page = Call("GET", "/console");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<title>vrec console</title>"), std::string::npos);
  const auto header = [](const Reply& r, std::string_view name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return std::string();
  };
  EXPECT_TRUE(header(page, "Content-Security-Policy").starts_with("default-src 'self'"));
  for (const char* asset : {"console.js", "console.css", "chart.min.js"}) {
    const Reply a = Call("GET", StrCat("/console/", asset));
    EXPECT_EQ(a.status, 200) << asset;
    EXPECT_GT(a.body.size(), 1000u) << asset;
  }
  EXPECT_EQ(Call("GET", "/console/../manifest.json").status, 404);
  EXPECT_EQ(Call("GET", "/console/index.htm").status, 404);
  for (const char* route : {"/v1/admin/models", "/v1/admin/runs", "/v1/admin/experiments"}) {
    EXPECT_EQ(Call("GET", route).status, 401) << route;
    EXPECT_EQ(Call("GET", route, "", user).status, 403) << route;
  }

  const Reply models = Call("GET", "/v1/admin/models", "", admin);
  ASSERT_EQ(models.status, 200) << models.body;
  EXPECT_EQ(models.json["served_version"], second);
  EXPECT_EQ(models.json["production_stack"], nlohmann::json::array({second, first}));
  ASSERT_EQ(models.json["versions"].size(), 2u);
  EXPECT_FALSE(models.json["versions"][0].contains("path")) << "no server paths";
  EXPECT_EQ(models.json["versions"][1]["production"], true);
  ASSERT_EQ(models.json["history"].size(), 2u);
  EXPECT_EQ(models.json["history"][0]["reason"], "pipeline run r2: all gates passed") << "newest first";

  const Reply runs = Call("GET", "/v1/admin/runs?limit=5", "", admin);
  ASSERT_EQ(runs.status, 200) << runs.body;
  ASSERT_EQ(runs.json["runs"].size(), 1u) << "the torn record is skipped";
  EXPECT_EQ(runs.json["runs"][0]["run_id"], "2026-01-02T00-00-00Z-abcd");
  EXPECT_FALSE(runs.json["runs"][0].contains("record_path"));
  EXPECT_FALSE(runs.json["runs"][0].contains("report"));
  for (const char* bad : {"0", "101", "x", "99999999999"}) {
    EXPECT_EQ(Call("GET", StrCat("/v1/admin/runs?limit=", bad), "", admin).status, 400) << bad;
  }

  // Trying a variant: an admin may pick one, a user key may not.
  const Reply tried = Call("GET", "/v1/users/3/recommendations?count=5&variant=diverse", "", admin);
  ASSERT_EQ(tried.status, 200) << tried.body;
  EXPECT_EQ(tried.json["variant"], "diverse");
  EXPECT_EQ(Call("GET", "/v1/users/3/recommendations?variant=diverse", "", user).status, 403);
  EXPECT_EQ(Call("GET", "/v1/users/3/recommendations?variant=nope", "", admin).status, 400);
  const Reply experiments = Call("GET", "/v1/admin/experiments", "", admin);
  ASSERT_EQ(experiments.status, 200) << experiments.body;
  EXPECT_EQ(experiments.json["experiment"], "exp");
  ASSERT_EQ(experiments.json["variants"].size(), 2u);
  EXPECT_DOUBLE_EQ(experiments.json["variants"][0]["share"].get<double>(), 0.75);
  EXPECT_EQ(experiments.json["variants"][1]["overrides"]["ordering.max_per_category"], "1");
  EXPECT_EQ(experiments.json["variants"][1]["served"]["personalised"].get<int>() +
                experiments.json["variants"][1]["served"]["cold_start"].get<int>(),
            1);
}

TEST_F(ServiceTest, ACanaryTrialServesItsShareAndEndsByWhatItsUsersDid) {
  const std::string a = AddVersion(), b = AddVersion(), c = AddVersion();
  ASSERT_TRUE(registry_->Promote(a, "").ok());
  ASSERT_TRUE(registry_->StartCanary({.version = b, .share = 0.5, .reason = "test"}).ok());
  const int64_t started = (*registry_->Canary())->started_unix;
  std::atomic<int64_t> now{started};
  ServeConfig config = Config();
  config.canary = {.window_s = 60, .min_impressions = 200};
  auto created = Service::Create(config, [&] { return now.load(); });
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  service_ = std::move(created).value();
  ASSERT_TRUE(service_->ReloadCanaryIfChanged().ok());

  // Users of the canary's share get its version; production users click 4 of their 10 items, the
  // trial's users `trial_clicks`.
  const auto serve_and_click = [&](const std::string& trial, int trial_clicks, int rounds) {
    std::map<std::string, int> served;
    for (int round = 0; round < rounds; ++round) {
      for (uint64_t u = 1; u <= 80; ++u) {
        const Reply r = Call("GET", StrCat("/v1/users/", u, "/recommendations?count=10"));
        EXPECT_EQ(r.status, 200) << r.body;
        if (r.status != 200) continue;
        const std::string version = r.json["model_version"];
        ++served[version];
        EXPECT_EQ(version == trial, experiments::InCanary(u, trial, 0.5)) << u;
        EXPECT_TRUE(version == trial || version == a) << version;
        const int clicks = version == trial ? trial_clicks : 4;
        for (int i = 0; i < clicks && i < static_cast<int>(r.json["items"].size()); ++i) {
          const Reply e = Call("POST", "/v1/events",
                               StrCat(R"({"user_id":)", u, R"(,"video_id":)",
                                      r.json["items"][i]["video_id"].get<std::string>(),
                                      R"(,"type":"play","watch_ratio":0.5,"request_id":)",
                                      JsonQuote(r.json["request_id"].get<std::string>()), R"(,"position":)",
                                      i + 1, R"(,"timestamp":)", now.load(), "}"));
          EXPECT_EQ(e.status, 200) << e.body;
        }
      }
    }
    return served;
  };
  std::map<std::string, int> served = serve_and_click(b, 1, 3);
  EXPECT_GT(served[a], 60);
  EXPECT_GT(served[b], 60);
  ASSERT_TRUE(service_->FlushLedger().ok());

  // Before the window: the report shows the drop, the trial waits.
  Reply report = Call("GET", "/v1/admin/experiments");
  ASSERT_EQ(report.status, 200) << report.body;
  const auto& versions = report.json["report"]["versions"];
  ASSERT_EQ(versions["arms"].size(), 2u) << report.body;
  EXPECT_EQ(versions["control"], a);
  EXPECT_NEAR(versions["arms"][0]["metrics"]["ctr"]["value"].get<double>(), 0.4, 0.02);
  EXPECT_NEAR(versions["arms"][1]["metrics"]["ctr"]["value"].get<double>(), 0.1, 0.02);
  EXPECT_EQ(versions["arms"][1]["vs_control"]["ctr"]["significant"], true);
  EXPECT_EQ(report.json["canary"]["verdict"], "wait");
  service_->DecideCanaryIfDue();
  EXPECT_TRUE(registry_->Canary()->has_value());

  // After it: rolled back, with the figures in the registry's history; everybody gets production.
  now += 120;
  service_->DecideCanaryIfDue();
  EXPECT_FALSE(registry_->Canary()->has_value());
  auto history = registry_->History();
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->back().action, "canary_rollback");
  EXPECT_NE(history->back().reason.find("canary failed: ctr -"), std::string::npos) << history->back().reason;
  ASSERT_TRUE(service_->ReloadCanaryIfChanged().ok());
  for (uint64_t u = 1; u <= 80; ++u) {  // explained: an operator's look, not counted in the ledger
    EXPECT_EQ(Call("GET", StrCat("/v1/users/", u, "/recommendations?explain=true")).json["model_version"], a);
  }

  // A trial as good as production is promoted when its window ends.
  ASSERT_TRUE(registry_->StartCanary({.version = c, .share = 0.5}).ok());
  now = (*registry_->Canary())->started_unix;
  ASSERT_TRUE(service_->ReloadCanaryIfChanged().ok());
  served = serve_and_click(c, 4, 3);  // as good as production
  EXPECT_GT(served[c], 60);
  now += 120;
  service_->DecideCanaryIfDue();
  EXPECT_EQ(*registry_->ProductionVersion(), c);
  EXPECT_EQ(registry_->History()->back().action, "promote");
  EXPECT_NE(registry_->History()->back().reason.find("canary passed"), std::string::npos);
  ASSERT_TRUE(service_->ReloadIfChanged().ok());
  ASSERT_TRUE(service_->ReloadCanaryIfChanged().ok());
  EXPECT_EQ(service_->model_version(), c);
}

TEST_F(ServiceTest, OnlyEventsAnsweringARecommendationCountAndClientsMayCountImpressions) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  ServeConfig c = Config();
  c.impressions = ServeConfig::Impressions::kClient;
  Start(c);
  const Reply r = Call("GET", "/v1/users/3/recommendations?count=5");
  ASSERT_EQ(r.status, 200);
  const std::string rid = r.json["request_id"], video = r.json["items"][0]["video_id"];
  const auto event = [&](const std::string& type, bool attributed) {
    return StrCat(R"({"user_id":3,"video_id":)", video, R"(,"type":")", type, R"(","timestamp":)", kNow,
                  attributed ? StrCat(R"(,"request_id":)", JsonQuote(rid), R"(,"position":1)") : "", "}");
  };
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Call("POST", "/v1/events", event("impression", true)).status, 200);
  ASSERT_EQ(Call("POST", "/v1/events", event("play", true)).status, 200);
  ASSERT_EQ(Call("POST", "/v1/events", event("like", true)).status, 200);
  ASSERT_EQ(Call("POST", "/v1/events", event("play", false)).status, 200);  // organic: not counted
  const Reply report = Call("GET", "/v1/admin/experiments");
  ASSERT_EQ(report.status, 200) << report.body;
  EXPECT_EQ(report.json["report"]["epoch"], "exp-default");
  const auto& arm = report.json["report"]["versions"]["arms"][0];
  EXPECT_EQ(arm["totals"]["impressions"], 3) << "the response's 5 items are not counted in client mode";
  EXPECT_EQ(arm["totals"]["plays"], 1);
  EXPECT_EQ(arm["totals"]["likes"], 1);
  EXPECT_EQ(arm["guardrails"]["requests"], 1);
  EXPECT_NEAR(arm["metrics"]["ctr"]["value"].get<double>(), 1.0 / 3, 1e-9);
}

TEST_F(ServiceTest, AShadowTrialScoresRequestsWithoutServingThem) {
  const std::string a = AddVersion(), b = AddVersion();
  ASSERT_TRUE(registry_->Promote(a, "").ok());
  ASSERT_TRUE(registry_->StartCanary({.version = b, .share = 1.0, .shadow = true}).ok());
  Start(Config());
  ASSERT_TRUE(service_->ReloadCanaryIfChanged().ok());
  for (uint64_t u = 1; u <= 20; ++u) {
    EXPECT_EQ(Call("GET", StrCat("/v1/users/", u, "/recommendations?count=5")).json["model_version"], a);
  }
  const std::string metrics = Metrics();
  EXPECT_NE(metrics.find("vrec_shadow_requests_total 20"), std::string::npos) << metrics.substr(0, 2000);
  // Two copies of one model agree on every item.
  EXPECT_NE(metrics.find("vrec_shadow_overlap_items_total 100"), std::string::npos);
  const Reply report = Call("GET", "/v1/admin/experiments");
  ASSERT_EQ(report.status, 200);
  EXPECT_EQ(report.json["canary"]["shadow"], true);
  EXPECT_EQ(report.json["canary"]["shadow_requests"], 20);
}

TEST_F(ServiceTest, SimilarVideosAreCoWatchedThenNearestAndFilteredForTheViewer) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  Start(Config());
  EXPECT_EQ(Call("GET", "/v1/videos/987654321/similar").status, 404);
  for (const std::string q : {"count=0", "user_id=x", "surface=a%20b", "exclude=1,,2", "other=1"}) {
    EXPECT_EQ(Call("GET", "/v1/videos/1/similar?" + q).status, 400) << q;
  }
  EXPECT_EQ(Call("POST", "/v1/videos/1/similar").status, 405);
  const std::string anchor = RecommendedIds(Call("GET", "/v1/users/3/recommendations?count=1")).at(0);
  Reply r = Call("GET", "/v1/videos/" + anchor + "/similar?count=8");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::vector<std::string> ids = RecommendedIds(r);
  ASSERT_EQ(ids.size(), 8u) << r.body;
  EXPECT_FALSE(Contains(ids, anchor));
  bool content_seen = false;
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto& item = r.json["items"][i];
    EXPECT_EQ(item["position"], i + 1);
    const std::string reason = item["reason"];
    ASSERT_TRUE(reason == "co_watched" || reason == "similar_content") << reason;
    if (reason == "similar_content") content_seen = true;
    EXPECT_FALSE(content_seen && reason == "co_watched") << "co-watched videos come first: " << r.body;
  }
  EXPECT_EQ(r.json["items"][0]["reason"], "co_watched") << "a trained video has a co-watch row: " << r.body;
  // The viewer's watched videos and the screen are left out.
  ASSERT_EQ(Call("POST", "/v1/events", StrCat(R"({"user_id":4242,"video_id":)", ids[0], R"(,"type":"play"})"))
                .status,
            200);
  r = Call("GET", StrCat("/v1/videos/", anchor, "/similar?count=8&user_id=4242&exclude=", ids[1]));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::vector<std::string> for_viewer = RecommendedIds(r);
  EXPECT_FALSE(Contains(for_viewer, ids[0]));
  EXPECT_FALSE(Contains(for_viewer, ids[1]));
  EXPECT_EQ(for_viewer.at(0), ids[2]);
  EXPECT_EQ(r.json["filtered"]["watched"], 1) << r.body;
  EXPECT_EQ(r.json["filtered"]["on_screen"], 1) << r.body;
  // An upload has no co-watch row yet: its neighbours come from its embedding.
  ASSERT_EQ(Call("PUT", "/v1/videos/900001", kUpload).status, 200);
  r = Call("GET", "/v1/videos/900001/similar?count=5");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(r.json["items"].size(), 5u) << r.body;
  for (const auto& item : r.json["items"]) EXPECT_EQ(item["reason"], "similar_content") << r.body;
}

TEST_F(ServiceTest, AnUploadIsRecommendableOnTheNextRequest) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  Start(Config());
  EXPECT_EQ(Call("GET", "/v1/videos/900001").status, 404);
  // A cold-start user of the upload's language: nothing of "xx" in the snapshot.
  EXPECT_FALSE(Contains(RecommendedIds(Call("GET", "/v1/users/555555/recommendations?language=xx&count=20")),
                        "900001"));
  // A known user: retrieval asks for more candidates (300) than the tiny catalog holds.
  EXPECT_EQ(Call("GET", "/v1/users/3/recommendations?count=200").json["retrieved"], 150);

  Reply r = Call("PUT", "/v1/videos/900001", kUpload);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["recommendable"], true);

  r = Call("GET", "/v1/users/555555/recommendations?language=xx&count=20");
  ASSERT_EQ(r.status, 200) << r.body;
  bool fresh = false;
  for (const auto& item : r.json["items"]) fresh |= item["video_id"] == "900001" && item["reason"] == "fresh";
  EXPECT_TRUE(fresh) << "the newest upload of the language heads the cold-start fresh list: " << r.body;
  // Retrieval searches the fresh index beside the model's: one candidate more than the snapshot has.
  const Reply before = Call("GET", "/v1/users/3/recommendations?count=200");
  EXPECT_EQ(before.json["retrieved"], 151) << before.body;
  // ... and the upload reaches the users it matches through the ranked list.
  int reached = 0;
  for (int u = 1; u <= 80; ++u) {
    reached +=
        Contains(RecommendedIds(Call("GET", StrCat("/v1/users/", u, "/recommendations?count=50"))), "900001");
  }
  EXPECT_GT(reached, 0);

  r = Call("GET", "/v1/videos/900001");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["title"], "A brand new upload");
  EXPECT_EQ(r.json["categories"], nlohmann::json::parse(R"(["Film","Brand New Category"])"));
  EXPECT_EQ(r.json["tags"], nlohmann::json::parse(R"(["premiere"])"));
  EXPECT_EQ(r.json["language"], "xx");
  EXPECT_EQ(r.json["upload_time"], kNow);
  EXPECT_EQ(r.json["source"], "upload");
  EXPECT_NE(Metrics().find(R"(vrec_catalog_updates_total{kind="video"} 1)"), std::string::npos);
}

TEST_F(ServiceTest, ExplorationSlotsShowFreshUploadsWithTheirEvidence) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  const auto upload_three = [&] {
    for (const char* id : {"900001", "900002", "900003"}) {
      ASSERT_EQ(Call("PUT", StrCat("/v1/videos/", id), kUpload).status, 200);
    }
  };
  const auto explored = [](const Reply& r) {
    std::vector<std::string> out;
    for (const auto& item : r.json["items"]) {
      if (item["reason"] == "explore") out.push_back(item["video_id"]);
    }
    return out;
  };
  // Off by default: uploads are not put in exploration slots.
  Start(Config());
  upload_three();
  for (int u = 1; u <= 20; ++u) {
    EXPECT_TRUE(explored(Call("GET", StrCat("/v1/users/", u, "/recommendations?count=10"))).empty());
  }

  ServeConfig c = Config();
  c.recommend.ordering.explore.share = 0.2;
  Start(c);
  upload_three();
  // Ten minutes ago (the counters read complete five-minute buckets): 900001 played 20 times.
  std::string events = R"({"events":[)";
  for (int u = 100; u < 120; ++u) {
    events += StrCat(u > 100 ? "," : "", R"({"user_id":)", u,
                     R"(,"video_id":900001,"type":"play","watch_ratio":0.8,"timestamp":)", kNow - 600, "}");
  }
  events += StrCat(R"(,{"user_id":100,"video_id":900002,"type":"skip","timestamp":)", kNow - 600, "}]}");
  ASSERT_EQ(Call("POST", "/v1/events", events).status, 200);

  int lists = 0;
  for (int u = 1; u <= 20; ++u) {
    const Reply r = Call("GET", StrCat("/v1/users/", u, "/recommendations?count=10"));
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(r.json["items"].size(), 10u) << r.body;
    const std::vector<std::string> ids = explored(r);
    EXPECT_EQ(ids.size(), 2u) << "0.2 of 10 slots: " << r.body;
    for (const std::string& id : ids) EXPECT_TRUE(id == "900001" || id == "900002" || id == "900003") << id;
    lists += !ids.empty();
  }
  EXPECT_EQ(lists, 20);
  EXPECT_NE(Metrics().find("vrec_explored_items_total 40"), std::string::npos) << Metrics();

  // explain=true: the source and the evidence the draw used.
  const Reply r = Call("GET", "/v1/users/3/recommendations?count=10&explain=true");
  ASSERT_EQ(r.status, 200) << r.body;
  int shown = 0;
  for (const auto& item : r.json["items"]) {
    const auto& e = item["explanation"];
    EXPECT_EQ(e["ordering"]["explored"], item["reason"] == "explore") << item;
    if (item["reason"] != "explore") {
      EXPECT_FALSE(e.contains("exploration")) << item;
      continue;
    }
    ++shown;
    EXPECT_EQ(e["source"], "explore") << item;
    EXPECT_EQ(e["exploration"]["plays"], item["video_id"] == "900001" ? 20 : 0) << item;
    EXPECT_EQ(e["exploration"]["skips"], item["video_id"] == "900002" ? 1 : 0) << item;
    EXPECT_EQ(e["exploration"]["sample"], item["score"]) << item;
  }
  EXPECT_EQ(shown, 2) << r.body;
}

TEST_F(ServiceTest, TakedownsAndUpdatesTakeEffectAtOnce) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  Start(Config());
  ASSERT_EQ(Call("PUT", "/v1/videos/900001", kUpload).status, 200);
  // Takedown of the upload: no longer recommended, still readable.
  std::string down = kUpload;
  down.insert(down.size() - 1, R"(,"available":false)");
  Reply r = Call("PUT", "/v1/videos/900001", down);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["recommendable"], false);
  EXPECT_FALSE(Contains(RecommendedIds(Call("GET", "/v1/users/555555/recommendations?language=xx&count=20")),
                        "900001"));
  EXPECT_FALSE(Contains(RecommendedIds(Call("GET", "/v1/users/3/recommendations?count=200")), "900001"));
  EXPECT_EQ(Call("GET", "/v1/videos/900001").json["available"], false);

  // Update of a snapshot video: its fields change, its upload time stays, a takedown filters it.
  const int64_t uploaded = Call("GET", "/v1/videos/1").json["upload_time"].get<int64_t>();
  bool recommended = false;
  for (int u = 1; u <= 80 && !recommended; ++u) {
    recommended =
        Contains(RecommendedIds(Call("GET", StrCat("/v1/users/", u, "/recommendations?count=200"))), "1");
  }
  ASSERT_TRUE(recommended) << "video 1 reaches somebody before its takedown";
  r = Call("PUT", "/v1/videos/1",
           R"({"title":"Renamed","categories":["Film"],"language":"ja","available":false})");
  ASSERT_EQ(r.status, 200) << r.body;
  r = Call("GET", "/v1/videos/1");
  EXPECT_EQ(r.json["title"], "Renamed");
  EXPECT_EQ(r.json["source"], "update");
  EXPECT_EQ(r.json["upload_time"], uploaded);
  EXPECT_EQ(r.json["available"], false);
  for (int u = 1; u <= 80; ++u) {
    EXPECT_FALSE(
        Contains(RecommendedIds(Call("GET", StrCat("/v1/users/", u, "/recommendations?count=200"))), "1"))
        << "user " << u;
  }
}

// After a retraining the snapshot holds what the catalog API stored: the record is no update.
TEST_F(ServiceTest, ARecordEqualToTheSnapshotIsNoUpdate) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  Start(Config());
  const std::string video2 =
      R"({"title":"Amazing skincare the short","categories":["Beauty"],"tags":["makeup"],)"
      R"("language":"pt","duration_s":116.61871,"upload_time":1793267382})";
  ASSERT_EQ(
      Call("PUT", "/v1/videos/2", R"({"title":"Changed","categories":["Beauty"],"language":"pt"})").status,
      200);
  EXPECT_EQ(Call("GET", "/v1/videos/2").json["source"], "update");
  ASSERT_EQ(Call("PUT", "/v1/videos/2", video2).status, 200);
  const Reply r = Call("GET", "/v1/videos/2");
  EXPECT_EQ(r.json["source"], "snapshot") << r.body;
  EXPECT_EQ(r.json["title"], "Amazing skincare the short");
  EXPECT_NE(Metrics().find("vrec_catalog_overlay_videos 0"), std::string::npos);
}

TEST_F(ServiceTest, BadCatalogWritesGet400AndChangeNothing) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  Start(WithKeys(Config()));
  const std::string admin = "admin-key-0123456789";
  for (const std::string& body : {
           std::string("[]"),
           std::string(R"({"title": 5})"),
           std::string(R"({"categories": "Film"})"),
           std::string(R"({"categories": [""]})"),
           std::string(R"({"categories": ["a|b"]})"),
           StrCat(R"({"title": ")", std::string(1001, 'x'), R"("})"),
           StrCat(R"({"tags": [)",
                  [] {
                    std::string t;
                    for (int i = 0; i < 65; ++i) t += StrCat(i ? "," : "", "\"t", i, "\"");
                    return t;
                  }(),
                  "]}"),
           std::string(R"({"language": "en us"})"),
           std::string(R"({"duration_s": -1})"),
           std::string(R"({"upload_time": "yesterday"})"),
           std::string(R"({"available": "no"})"),
           std::string(R"({"views": 10})"),
       }) {
    const Reply r = Call("PUT", "/v1/videos/900002", body, admin);
    EXPECT_EQ(r.status, 400) << body << " -> " << r.body;
    EXPECT_EQ(r.json["error"]["status"], "INVALID_ARGUMENT") << body;
  }
  EXPECT_EQ(Call("GET", "/v1/videos/900002", "", admin).status, 404);
  EXPECT_EQ(Call("PUT", "/v1/videos/abc", "{}", admin).status, 400);
  EXPECT_EQ(Call("PUT", "/v1/users/900002", R"({"age": 151})", admin).status, 400);
  EXPECT_EQ(Call("PUT", "/v1/users/900002", R"({"gender": "robot"})", admin).status, 400);
  EXPECT_EQ(Call("GET", "/v1/users/900002", "", admin).status, 404);
  // Writes need the admin scope; reads a user key.
  EXPECT_EQ(Call("PUT", "/v1/videos/900002", "{}", "user-key-0123456789").status, 403);
  EXPECT_EQ(Call("PUT", "/v1/users/900002", "{}", "user-key-0123456789").status, 403);
  EXPECT_EQ(Call("GET", "/v1/videos/1", "", "user-key-0123456789").status, 200);
  EXPECT_EQ(Call("GET", "/v1/videos/1").status, 401);
}

TEST_F(ServiceTest, UsersCreatedByTheApiAreServedWithTheirProfile) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  Start(Config());
  Reply r = Call("PUT", "/v1/users/777777", R"({"country":"br","language":"PT","age":31,"gender":"female"})");
  ASSERT_EQ(r.status, 200) << r.body;
  r = Call("GET", "/v1/users/777777");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["country"], "BR");
  EXPECT_EQ(r.json["language"], "pt");
  EXPECT_EQ(r.json["age"], 31);
  EXPECT_EQ(r.json["gender"], "female");
  EXPECT_EQ(r.json["in_snapshot"], false);
  // A known profile: personalised retrieval from the profile, not the anonymous cold start.
  r = Call("GET", "/v1/users/777777/recommendations?count=10");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["cold_start"], false);
  EXPECT_EQ(r.json["items"].size(), 10u);
  // A snapshot user's profile update.
  ASSERT_EQ(Call("PUT", "/v1/users/3", R"({"country":"DE","language":"de","age":40})").status, 200);
  EXPECT_EQ(Call("GET", "/v1/users/3").json["country"], "DE");
  EXPECT_EQ(Call("GET", "/v1/users/3").json["in_snapshot"], true);
}

TEST_F(ServiceTest, CatalogWritesSurviveARestartAndAModelSwap) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  ServeConfig c = Config();
  c.feature_store = "rocksdb://" + (dir_.path() / "store").string();
  Start(c);
  ASSERT_EQ(Call("PUT", "/v1/videos/900001", kUpload).status, 200);
  ASSERT_EQ(Call("PUT", "/v1/videos/2", R"({"title":"Kept","categories":["Beauty"],"language":"pt"})").status,
            200);
  ASSERT_EQ(Call("PUT", "/v1/users/777777", R"({"country":"BR","language":"xx"})").status, 200);
  service_.reset();

  Start(c);
  EXPECT_EQ(Call("GET", "/v1/videos/900001").json["title"], "A brand new upload");
  EXPECT_EQ(Call("GET", "/v1/videos/2").json["title"], "Kept");
  EXPECT_EQ(Call("GET", "/v1/users/777777").json["country"], "BR");
  EXPECT_TRUE(Contains(RecommendedIds(Call("GET", "/v1/users/555555/recommendations?language=xx&count=20")),
                       "900001"));

  // A new model version: the records since the snapshot are laid over it again.
  const std::string next = AddVersion();
  ASSERT_TRUE(registry_->Promote(next, "").ok());
  ASSERT_EQ(Call("POST", "/v1/admin/reload").status, 202);
  service_->StartPolling();
  for (int i = 0; i < 6000 && service_->model_version() != next; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  service_->StopPolling();
  ASSERT_EQ(service_->model_version(), next);
  EXPECT_EQ(Call("GET", "/v1/videos/900001").json["source"], "upload");
  EXPECT_EQ(Call("GET", "/v1/videos/2").json["title"], "Kept");
  EXPECT_TRUE(Contains(RecommendedIds(Call("GET", "/v1/users/555555/recommendations?language=xx&count=20")),
                       "900001"));
}

TEST_F(ServiceTest, VideoCountersCountEachAcknowledgedEventOnceAcrossRestartsAndSwaps) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  ServeConfig c = Config();
  c.feature_store = "rocksdb://" + (dir_.path() / "store").string();
  Start(c);
  // The snapshot's events are all in the counters' base (all time); none are recent.
  const nlohmann::json base = Call("GET", "/v1/videos/1").json["counters"];
  EXPECT_GT(base["all"]["plays"].get<int64_t>(), 0);
  EXPECT_EQ(base["24h"]["plays"], 0);
  const std::string batch = StrCat(
      R"({"events":[{"user_id":43,"video_id":1,"type":"play","watch_ratio":0.95,"event_id":"c1","timestamp":)",
      kNow - 1000, R"(},{"user_id":43,"video_id":1,"type":"like","event_id":"c2","timestamp":)", kNow - 1000,
      R"(},{"user_id":20,"video_id":1,"type":"skip","event_id":"c3","timestamp":)", kNow - 7200, "}]}");
  ASSERT_EQ(Call("POST", "/v1/events", batch).status, 200);
  ASSERT_EQ(Call("POST", "/v1/events", batch).json["duplicates"], 3);  // a retry counts nothing
  const auto expect_counted = [&] {
    const nlohmann::json now = Call("GET", "/v1/videos/1").json["counters"];
    EXPECT_EQ(now["1h"]["plays"], 1);
    EXPECT_EQ(now["1h"]["likes"], 1);
    EXPECT_EQ(now["1h"]["completions"], 1);
    EXPECT_EQ(now["1h"]["skips"], 0);     // two hours ago
    EXPECT_EQ(now["1h"]["watch_s"], 20);  // 0.95 x 20.78 s
    EXPECT_EQ(now["24h"]["plays"], 1);
    EXPECT_EQ(now["24h"]["skips"], 1);
    // kNow is 2 h into its 6-hour bucket, which holds all three: not complete, so not in 7d yet.
    EXPECT_EQ(now["7d"]["likes"], 0);
    EXPECT_EQ(now["7d"]["skips"], 0);
    EXPECT_EQ(now["all"]["plays"], base["all"]["plays"].get<int64_t>() + 1);
    EXPECT_EQ(now["all"]["skips"], base["all"]["skips"].get<int64_t>() + 1);
    const nlohmann::json user = Call("GET", "/v1/users/43").json["counters"];
    EXPECT_EQ(user["1h"]["plays"], 1);
    EXPECT_EQ(user["1h"]["likes"], 1);
    EXPECT_EQ(user["24h"]["skips"], 0);  // user 20 skipped
  };
  expect_counted();
  // A restart rebuilds them from the snapshot and the durable log.
  service_.reset();
  Start(c);
  expect_counted();
  // So does a new model version.
  const std::string next = AddVersion();
  ASSERT_TRUE(registry_->Promote(next, "").ok());
  ASSERT_TRUE(service_->ReloadIfChanged().ok());
  ASSERT_EQ(service_->model_version(), next);
  expect_counted();
}

// Two servers sharing one store (as two replicas share one Redis): what one stores, the other
// serves on its next request. No polling threads run here: the next request itself notices (the
// change log's head and the history are read with every recommendation).
TEST_F(ServiceTest, TwoServersOnOneStoreServeEachOthersWritesOnTheNextRequest) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  ServeConfig c = Config();
  c.cache_ttl = std::chrono::seconds(60);  // a stale cached answer would show
  std::shared_ptr<features::KeyValueStore> shared = features::NewMemoryKeyValueStore();
  Start(c, features::ShareKeyValueStore(shared));
  std::unique_ptr<Service> a = std::move(service_);
  Start(c, features::ShareKeyValueStore(shared));
  std::unique_ptr<Service> b = std::move(service_);
  const auto on = [&](std::unique_ptr<Service>& server, const std::string& method, const std::string& target,
                      const std::string& body = "") {
    service_.swap(server);
    Reply r = Call(method, target, body);
    service_.swap(server);
    return r;
  };
  const std::string recs = "/v1/users/3/recommendations?count=20";
  std::vector<std::string> before = RecommendedIds(on(b, "GET", recs));
  ASSERT_GE(before.size(), 3u);
  ASSERT_EQ(RecommendedIds(on(b, "GET", recs)), before);  // cached now

  // A takedown through A: B's next answer leaves the video out.
  ASSERT_EQ(on(a, "POST", StrCat("/v1/admin/videos/", before[0]), R"({"available":false})").status, 200);
  std::vector<std::string> after = RecommendedIds(on(b, "GET", recs));
  EXPECT_FALSE(Contains(after, before[0]));
  EXPECT_EQ(on(b, "GET", StrCat("/v1/videos/", before[0])).json["available"], false);

  // An event through A: B's next answer leaves the watched video out (read after write).
  const std::string watched = after[0];
  const Reply posted =
      on(a, "POST", "/v1/events",
         StrCat(R"({"user_id":3,"video_id":)", watched, R"(,"type":"play","event_id":"x1"})"));
  ASSERT_EQ(posted.status, 200) << posted.body;
  EXPECT_FALSE(Contains(RecommendedIds(on(b, "GET", recs)), watched));
  EXPECT_EQ(on(b, "GET", "/v1/users/3/history").json["events"].size(), 1u);
  // The same event id through B is a duplicate: one dedupe for both servers.
  EXPECT_EQ(on(b, "POST", "/v1/events",
               StrCat(R"({"user_id":3,"video_id":)", watched, R"(,"type":"play","event_id":"x1"})"))
                .json["duplicates"],
            1);

  // Flags set on both servers keep both; an upload through A is served by B.
  ASSERT_EQ(on(b, "POST", StrCat("/v1/admin/videos/", before[0]), R"({"age_restricted":true})").status, 200);
  ASSERT_EQ(on(a, "GET", recs).status, 200);  // A applies B's change on its next recommendation
  EXPECT_EQ(on(a, "GET", StrCat("/v1/videos/", before[0])).json["available"], false);
  EXPECT_EQ(on(a, "GET", StrCat("/v1/videos/", before[0])).json["age_restricted"], true);
  ASSERT_EQ(on(a, "PUT", "/v1/videos/900001", kUpload).status, 200);
  ASSERT_EQ(on(b, "GET", recs).status, 200);
  EXPECT_EQ(on(b, "GET", "/v1/videos/900001").json["title"], "A brand new upload");
  // The counters follow the shared log once B syncs (its sync thread does it every 50 ms).
  ASSERT_TRUE(b->SyncWithStore().ok());
  EXPECT_EQ(on(b, "GET", StrCat("/v1/users/3")).json["counters"]["all"]["plays"].get<int64_t>(),
            on(a, "GET", StrCat("/v1/users/3")).json["counters"]["all"]["plays"].get<int64_t>());
  EXPECT_NE(on(b, "GET", "/metrics").body.find("vrec_store_changes_applied_total"), std::string::npos);
}

// A replica whose position in the change log was pruned away (cut off from the store for longer
// than the log's retention) rereads every flag and record instead of missing the changes.
TEST_F(ServiceTest, AServerBehindAPrunedChangeLogRereadsEverything) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  std::shared_ptr<features::KeyValueStore> shared = features::NewMemoryKeyValueStore();
  Start(Config(), features::ShareKeyValueStore(shared));
  std::unique_ptr<Service> a = std::move(service_);
  Start(Config(), features::ShareKeyValueStore(shared));  // B, the service under test
  const std::string recs = "/v1/users/3/recommendations?count=20";
  const std::vector<std::string> before = RecommendedIds(Call("GET", recs));
  ASSERT_FALSE(before.empty());
  ASSERT_TRUE(a->store().SetVideoFlags(VideoId{std::stoull(before[0])}, {.unavailable = true}).ok());
  features::VideoRecord upload;
  upload.id = VideoId{900002};
  upload.title = "written while B was away";
  upload.categories = {"Film"};
  ASSERT_TRUE(a->store().PutVideo(upload).ok());
  auto pruned = a->store().PruneChanges(std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(pruned.ok());
  ASSERT_EQ(*pruned, 2u);
  EXPECT_FALSE(Contains(RecommendedIds(Call("GET", recs)), before[0]));
  EXPECT_EQ(Call("GET", "/v1/videos/900002").json["title"], "written while B was away");
}

// docs/openapi.json (served at /openapi.json) and the routing table list the same routes, methods,
// path and query parameters; the document holds together (ids unique, references resolve, every
// path parameter declared); and the table is what the server enforces.
TEST_F(ServiceTest, TheOpenApiDocumentAndTheRouterAgree) {
  ASSERT_TRUE(registry_->Promote(AddVersion(), "").ok());
  Start(WithKeys(Config()));
  const Reply r = Call("GET", "/openapi.json");  // public: no key
  ASSERT_EQ(r.status, 200) << r.body;
  const nlohmann::json& doc = r.json;
  EXPECT_EQ(doc["openapi"], "3.1.0");
  ASSERT_TRUE(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

  using Params = std::set<std::string>;
  struct Op {
    Params path, query;
    bool operator==(const Op&) const = default;
  };
  std::map<std::string, Op> documented, routed;  // "GET /v1/..." -> parameters
  std::set<std::string> operation_ids;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, operation] : item.items()) {
      Op op;
      for (const auto& p : operation.value("parameters", nlohmann::json::array())) {
        if (p["in"] == "path") {
          EXPECT_EQ(p["required"], true) << path << " " << p["name"];
          op.path.insert(p["name"].get<std::string>());
        } else {
          EXPECT_EQ(p["in"], "query") << path;
          op.query.insert(p["name"].get<std::string>());
        }
      }
      std::string upper = method;
      std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
      documented[upper + " " + path] = op;
      EXPECT_TRUE(operation_ids.insert(operation.value("operationId", "")).second)
          << "operationId missing or repeated: " << path;
      EXPECT_FALSE(operation["responses"].empty()) << path;
      const bool open = operation.contains("security") && operation["security"].empty();
      if (!open) {
        EXPECT_TRUE(operation["responses"].contains("401")) << method << " " << path;
      }
    }
  }
  for (const Service::RouteInfo& route : Service::Routes()) {
    Op op;
    const std::string pattern = route.pattern;
    for (size_t open = pattern.find('{'); open != std::string::npos; open = pattern.find('{', open + 1)) {
      op.path.insert(pattern.substr(open + 1, pattern.find('}', open) - open - 1));
    }
    for (std::string_view name : SplitNonEmpty(route.query, ',')) op.query.insert(std::string(name));
    routed[StrCat(route.method, " ", route.pattern)] = op;
    // What the table says is what the server does: an unlisted parameter is refused, a listed one
    // is not refused as unknown.
    std::string target = pattern;
    for (const auto& [name, value] :
         {std::pair{"{user_id}", "3"}, std::pair{"{video_id}", "1"}, std::pair{"{asset}", "console.js"}}) {
      if (const size_t at = target.find(name); at != std::string::npos)
        target.replace(at, strlen(name), value);
    }
    const Reply refused = Call(route.method, target + "?zzz=1", "", "admin-key-0123456789");
    EXPECT_EQ(refused.status, 400) << route.method << " " << target << ": " << refused.body;
    for (const std::string& name : op.query) {
      const Reply taken = Call(route.method, StrCat(target, "?", name, "=1"), "", "admin-key-0123456789");
      EXPECT_EQ(taken.body.find("unknown query parameter"), std::string::npos) << target << " " << name;
    }
  }
  EXPECT_EQ(documented.size(), routed.size());
  for (const auto& [route, op] : routed) {
    ASSERT_TRUE(documented.contains(route)) << route << " is served but not documented";
    EXPECT_EQ(documented[route].path, op.path) << route;
    EXPECT_EQ(documented[route].query, op.query) << route;
  }
  // Every $ref resolves inside the document.
  std::function<void(const nlohmann::json&)> check_refs = [&](const nlohmann::json& j) {
    if (j.is_object()) {
      if (auto it = j.find("$ref"); it != j.end()) {
        const nlohmann::json::json_pointer ptr(it->get<std::string>().substr(1));
        EXPECT_TRUE(doc.contains(ptr)) << "unresolved " << *it;
      }
      for (const auto& [k, v] : j.items()) check_refs(v);
    } else if (j.is_array()) {
      for (const auto& v : j) check_refs(v);
    }
  };
  check_refs(doc);
}

}  // namespace
}  // namespace vrec::serving
