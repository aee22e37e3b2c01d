// End to end through real HTTP: a pipeline run on a small synthetic platform registers and promotes
// a model; the service serves it on a loopback port; the tests talk to it with a plain socket
// client, as any user of the API would.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "vrec/common/strings.h"
#include "vrec/data/synth.h"
#include "vrec/offline/pipeline.h"
#include "vrec/registry/registry.h"
#include "vrec/serving/http_server.h"
#include "vrec/serving/service.h"

namespace vrec {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Reply {
  int status = 0;
  json body;
};

// One request on a fresh connection (Connection: close), read to EOF.
Reply Call(int port, const std::string& method, const std::string& target, const std::string& body = "") {
  Reply r;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return r;
  }
  const std::string req = StrCat(method, " ", target, " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n",
                                 body.empty() ? "" : "Content-Type: application/json\r\n",
                                 "Content-Length: ", body.size(), "\r\n\r\n", body);
  for (size_t sent = 0; sent < req.size();) {
    const ssize_t n = send(fd, req.data() + sent, req.size() - sent, 0);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buf[65536];
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, static_cast<size_t>(n));
  close(fd);
  if (raw.size() < 12) return r;
  r.status = std::stoi(raw.substr(9, 3));
  const size_t head_end = raw.find("\r\n\r\n");
  if (head_end != std::string::npos) r.body = json::parse(raw.substr(head_end + 4), nullptr, false);
  return r;
}

std::vector<uint64_t> Videos(const Reply& r) {
  std::vector<uint64_t> out;
  for (const auto& item : r.body["items"]) out.push_back(std::stoull(item["video_id"].get<std::string>()));
  return out;
}

class ServeE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(fs::temp_directory_path() / StrCat("vrec_e2e_", getpid()));
    fs::remove_all(*root_);
    data::SynthConfig sc;
    sc.num_users = 600;
    sc.num_videos = 800;
    sc.num_interactions = 60'000;
    sc.end_time = Now() - Now() % 86400;
    sc.quiet = true;
    auto ds = data::GenerateSynthetic(sc);
    ASSERT_TRUE(ds.ok()) << ds.status().ToString();
    catalog_ = new data::Dataset(std::move(ds).value());
    // Fixed characters: a minor, an adult and a restricted video.
    catalog_->users[0].age = 15;
    catalog_->users[1].age = 35;
    catalog_->videos[5].age_restricted = true;
    catalog_->videos[5].available = true;
    // Nobody has seen the two promoted videos, so the watched filter never hides them.
    std::erase_if(catalog_->interactions,
                  [](const data::Interaction& x) { return x.video == 5 || x.video == 7; });

    offline::PipelineOptions o;
    o.registry = (*root_ / "registry").string();
    o.source = "e2e test";
    o.model.two_tower.max_epochs = 3;
    o.model.two_tower.threads = 2;
    o.model.label_folds = 1;
    o.model.ranker.num_rounds = 30;
    o.model.verbose = false;
    o.gates = {.min_retrieval_recall_at_100 = 0,
               .min_retrieval_ndcg_at_10 = 0,
               .min_ranker_auc = 0,
               .min_ranker_ndcg = 0,
               .max_regression = 1};
    auto rec = offline::RunPipeline(*catalog_, o);
    ASSERT_TRUE(rec.ok()) << rec.status().ToString();
    ASSERT_TRUE(rec->promoted);

    serving::ServeConfig c;
    c.registry = o.registry;
    c.feature_store = StrCat("rocksdb://", (*root_ / "state").string());
    c.cache_ttl = std::chrono::milliseconds(60'000);  // long: invalidation must do the work
    c.recommend.ordering.promos = {{catalog_->videos[5].id, 1}, {catalog_->videos[7].id, 3}};
    c.experiment.name = "e2e";
    c.experiment.variants = {
        {.name = "control", .weight = 1, .overrides = {}},
        {.name = "diverse",
         .weight = 1,
         .overrides = {{"ordering.max_per_category", "1"}, {"ordering.diversity_window", "10"}}}};
    auto service = serving::Service::Create(c);
    ASSERT_TRUE(service.ok()) << service.status().ToString();
    service_ = std::move(service).value().release();
    serving::HttpServerOptions http;
    http.port = 0;
    auto server = serving::HttpServer::Start(
        http, [](const serving::HttpRequest& q, serving::HttpResponse& r) { service_->Handle(q, r); });
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value().release();
  }

  static void TearDownTestSuite() {
    delete server_;
    delete service_;
    delete catalog_;
    if (root_ != nullptr) fs::remove_all(*root_);
    delete root_;
  }

  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  static int port() { return server_->port(); }
  static uint64_t UserId(uint32_t u) { return catalog_->users[u].id.value; }
  static Reply Recommend(uint64_t user, const std::string& extra = "") {
    return Call(port(), "GET", StrCat("/v1/users/", user, "/recommendations?count=10", extra));
  }

  static fs::path* root_;
  static data::Dataset* catalog_;
  static serving::Service* service_;
  static serving::HttpServer* server_;
};

fs::path* ServeE2E::root_ = nullptr;
data::Dataset* ServeE2E::catalog_ = nullptr;
serving::Service* ServeE2E::service_ = nullptr;
serving::HttpServer* ServeE2E::server_ = nullptr;

TEST_F(ServeE2E, KnownUserGetsTenRankedItemsWithModelAndVariant) {
  const Reply r = Recommend(UserId(10));
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(Videos(r).size(), 10u);
  EXPECT_EQ(r.body["model_version"], "v000001");
  EXPECT_TRUE(r.body["variant"] == "control" || r.body["variant"] == "diverse");
  EXPECT_FALSE(r.body["cold_start"].get<bool>());
  int ranked = 0;
  for (const auto& item : r.body["items"]) ranked += item["reason"] == "ranked";
  EXPECT_GE(ranked, 7);  // all but the promoted slots
}

// The platform's plays carry watch time and completions: the pipeline trains those heads, saves
// them with the ranker (model format 3) and the server loads them and explains each one.
TEST_F(ServeE2E, ThePipelinesObjectiveHeadsAreSavedServedAndExplained) {
  const fs::path dir = *root_ / "registry" / "versions" / "v000001";
  std::ifstream in(dir / "manifest.json");
  const json manifest = json::parse(in, nullptr, false);
  ASSERT_TRUE(manifest.is_object());
  EXPECT_EQ(manifest["format_version"], 3);
  EXPECT_EQ(manifest["files"]["heads"], "heads");
  EXPECT_TRUE(fs::is_regular_file(dir / "heads" / "watch" / "ranker.ubj"));
  EXPECT_TRUE(fs::is_regular_file(dir / "heads" / "complete" / "ranker.ubj"));
  const Reply r = Recommend(UserId(10), "&explain=true");
  ASSERT_EQ(r.status, 200) << r.body.dump();
  int explained = 0;
  for (const auto& item : r.body["items"]) {
    if (item["reason"] != "ranked") continue;
    const json& o = item["explanation"]["objectives"];
    EXPECT_TRUE(o["heads"]["watch"].is_number()) << item.dump();
    EXPECT_TRUE(o["heads"]["complete"].is_number()) << item.dump();
    EXPECT_EQ(o["score"], item["explanation"]["ranker"]["score"]) << "no head weighted by default";
    ++explained;
  }
  EXPECT_GE(explained, 7);
}

TEST_F(ServeE2E, WatchedVideosNeverComeBack) {
  const uint32_t u = 20;
  // The snapshot's history is never recommended.
  std::set<uint64_t> seen;
  for (const data::Interaction& x : catalog_->interactions) {
    if (x.user == u && x.type != data::EventType::kImpression)
      seen.insert(catalog_->videos[x.video].id.value);
  }
  const Reply first = Recommend(UserId(u));
  ASSERT_EQ(first.status, 200);
  for (uint64_t v : Videos(first)) EXPECT_FALSE(seen.count(v)) << v;
  // Watch everything recommended: none of it may come back on the next request.
  json events = json::array();
  for (uint64_t v : Videos(first)) {
    events.push_back({{"user_id", UserId(u)}, {"video_id", v}, {"type", "play"}, {"watch_ratio", 1.0}});
  }
  const Reply ack = Call(port(), "POST", "/v1/events", json{{"events", events}}.dump());
  ASSERT_EQ(ack.status, 200) << ack.body.dump();
  EXPECT_EQ(ack.body["accepted"], events.size());
  const Reply second = Recommend(UserId(u));
  ASSERT_EQ(second.status, 200);
  for (uint64_t v : Videos(second)) {
    EXPECT_FALSE(seen.count(v)) << v;
    for (uint64_t w : Videos(first)) EXPECT_NE(v, w);
  }
  EXPECT_GE(second.body["filtered"]["watched"].get<int>(), 1);
  const Reply history = Call(port(), "GET", StrCat("/v1/users/", UserId(u), "/history"));
  EXPECT_EQ(history.body["events"].size(), events.size());
}

TEST_F(ServeE2E, AgeRestrictedVideoNeverReachesAMinor) {
  const uint64_t restricted = catalog_->videos[5].id.value;
  const Reply minor = Recommend(UserId(0));
  ASSERT_EQ(minor.status, 200);
  for (uint64_t v : Videos(minor)) EXPECT_NE(v, restricted);
  for (const auto& item : minor.body["items"]) {
    const auto& v =
        catalog_->videos[*catalog_->FindVideo(VideoId{std::stoull(item["video_id"].get<std::string>())})];
    EXPECT_FALSE(v.age_restricted) << item.dump();
  }
  // An unknown user has no known age: treated as a minor too.
  for (uint64_t v : Videos(Recommend(987654321))) EXPECT_NE(v, restricted);
  // The adult gets the promoted restricted video at its slot.
  const Reply adult = Recommend(UserId(1));
  ASSERT_EQ(adult.status, 200);
  ASSERT_FALSE(Videos(adult).empty());
  EXPECT_EQ(Videos(adult)[0], restricted);
}

TEST_F(ServeE2E, PromotedVideoAppearsAtItsSlot) {
  const Reply r = Recommend(UserId(30));
  ASSERT_EQ(r.status, 200);
  ASSERT_GE(Videos(r).size(), 3u);
  EXPECT_EQ(Videos(r)[2], catalog_->videos[7].id.value);
  EXPECT_EQ(r.body["items"][2]["reason"], "promoted");
}

TEST_F(ServeE2E, UnavailableVideoDisappearsImmediately) {
  const uint64_t user = UserId(40);
  const Reply before = Recommend(user);
  ASSERT_EQ(before.status, 200);
  // The top non-promoted item.
  uint64_t target = 0;
  for (const auto& item : before.body["items"]) {
    if (item["reason"] != "promoted") {
      target = std::stoull(item["video_id"].get<std::string>());
      break;
    }
  }
  ASSERT_NE(target, 0u);
  const Reply admin = Call(port(), "POST", StrCat("/v1/admin/videos/", target), R"({"available": false})");
  ASSERT_EQ(admin.status, 200) << admin.body.dump();
  const Reply after = Recommend(user);  // the cache held `before`; the admin change must clear it
  ASSERT_EQ(after.status, 200);
  for (uint64_t v : Videos(after)) EXPECT_NE(v, target);
  EXPECT_GE(after.body["filtered"]["availability"].get<int>(), 1);
  ASSERT_EQ(Call(port(), "POST", StrCat("/v1/admin/videos/", target), R"({"available": true})").status, 200);
}

TEST_F(ServeE2E, EachUserStaysInOneVariantAndBothVariantsServe) {
  std::set<std::string> variants;
  for (uint32_t u = 100; u < 160; ++u) {
    const std::string first = Recommend(UserId(u)).body["variant"];
    for (int i = 0; i < 2; ++i) EXPECT_EQ(Recommend(UserId(u)).body["variant"], first) << u;
    variants.insert(first);
  }
  EXPECT_EQ(variants, (std::set<std::string>{"control", "diverse"}));
}

TEST_F(ServeE2E, UnknownUserGetsAColdStartList) {
  const Reply r = Recommend(555555555, "&country=US&language=en&device=ios");
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_TRUE(r.body["cold_start"].get<bool>());
  EXPECT_EQ(Videos(r).size(), 10u);
  // Its events make it a known user with history on the next request.
  const uint64_t watched = Videos(r)[3];
  ASSERT_EQ(Call(port(), "POST", "/v1/events",
                 json{{"user_id", 555555555}, {"video_id", watched}, {"type", "like"}}.dump())
                .status,
            200);
  const Reply next = Recommend(555555555);
  EXPECT_FALSE(next.body["cold_start"].get<bool>());
  for (uint64_t v : Videos(next)) EXPECT_NE(v, watched);
}

TEST_F(ServeE2E, MalformedRequestsGetJsonErrorsAndTheServerStaysUp) {
  struct Case {
    std::string method, target, body;
    int status;
  };
  const std::vector<Case> cases = {
      {"GET", "/v1/users/abc/recommendations", "", 400},
      {"GET", "/v1/users/1/recommendations?count=0", "", 400},
      {"GET", "/v1/users/1/recommendations?count=ten", "", 400},
      {"GET", "/v1/users/1/recommendations?device=toaster", "", 400},
      {"GET", "/v1/users/1/recommendations?colour=red", "", 400},
      {"GET", "/v1/nothing", "", 404},
      {"POST", "/v1/events", "{not json", 400},
      {"POST", "/v1/events", R"({"user_id": 1, "video_id": -3, "type": "play"})", 400},
      {"POST", "/v1/events", R"({"user_id": 1, "video_id": 3, "type": "teleport"})", 400},
      {"POST", "/v1/admin/videos/12", R"({"available": "no"})", 400},
  };
  for (const Case& c : cases) {
    const Reply r = Call(port(), c.method, c.target, c.body);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.target << " " << c.body;
    EXPECT_TRUE(r.body.contains("error")) << r.body.dump();
  }
  // A rejected event batch writes nothing.
  const Reply h = Call(port(), "GET", "/v1/users/1/history");
  EXPECT_TRUE(h.body["events"].empty());
  EXPECT_EQ(Call(port(), "GET", "/healthz").status, 200);
  EXPECT_EQ(Call(port(), "GET", "/readyz").status, 200);
}

TEST_F(ServeE2E, ApiKeysGuardTheApiAndAdminKeysTheAdminRoutes) {
  serving::ServeConfig c;
  c.registry = (*root_ / "registry").string();
  c.feature_store = "memory://";
  c.api_keys = {"user-key"};
  c.admin_keys = {"admin-key"};
  auto service = serving::Service::Create(c);
  ASSERT_TRUE(service.ok()) << service.status().ToString();
  auto call = [&](const std::string& method, const std::string& path, const std::string& key) {
    serving::HttpRequest q;
    q.method = method;
    q.path = path;
    if (!key.empty()) q.headers.emplace_back("X-Api-Key", key);
    serving::HttpResponse r;
    (*service)->Handle(q, r);
    return r.status;
  };
  const std::string recs = StrCat("/v1/users/", UserId(3), "/recommendations");
  EXPECT_EQ(call("GET", recs, ""), 401);
  EXPECT_EQ(call("GET", recs, "wrong"), 401);
  EXPECT_EQ(call("GET", recs, "user-key"), 200);
  EXPECT_EQ(call("GET", "/v1/admin/model", "user-key"), 403);
  EXPECT_EQ(call("GET", "/v1/admin/model", "admin-key"), 200);
  EXPECT_EQ(call("GET", "/healthz", ""), 200);  // probes need no key
}

TEST_F(ServeE2E, MetricsExposeRoutesStagesAndModel) {
  Recommend(UserId(50));
  serving::HttpRequest q;
  q.method = "GET";
  q.path = "/metrics";
  serving::HttpResponse r;
  service_->Handle(q, r);
  ASSERT_EQ(r.status, 200);
  for (const char* needle :
       {"vrec_http_requests_total{route=\"/v1/users/{user_id}/recommendations\",code=\"200\"}",
        "vrec_stage_seconds_bucket{stage=\"retrieve\"", "vrec_stage_seconds_bucket{stage=\"rank\"",
        "vrec_model_info{version=\"v000001\"} 1", "vrec_cache_lookups_total{result=\"hit\"}",
        "vrec_filter_removed_total{filter=\"watched\"}"}) {
    EXPECT_NE(r.body.find(needle), std::string::npos) << needle;
  }
}

}  // namespace
}  // namespace vrec
