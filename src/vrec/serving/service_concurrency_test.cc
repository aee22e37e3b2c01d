// Service::Handle from many threads at once, over the committed tiny model: recommendations while
// the production model is swapped back and forth, while events are posted for shared and separate
// users, and while admin flags of one video are flipped. Built for the ThreadSanitizer run
// (scripts/test.sh), where a data race fails the test; the release and asan builds run it too.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "vrec/common/strings.h"
#include "vrec/registry/registry.h"
#include "vrec/serving/http_server.h"
#include "vrec/serving/service.h"
#include "vrec/serving/tiny_model_testing.h"

namespace vrec::serving {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int64_t kNow = 1'800'000'000;
constexpr int kReaders = 3;

class ServiceConcurrency : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vrec_concurrency_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    registry_path_ = (fs::path(root_) / "registry").string();
    auto versions = MakeTinyModelRegistry(registry_path_, 2);
    ASSERT_TRUE(versions.ok()) << versions.status().ToString();
    versions_ = *versions;
    ASSERT_EQ(versions_.size(), 2u);
    ServeConfig config;
    config.registry = registry_path_;
    config.feature_store = "memory://";
    config.poll_interval = std::chrono::milliseconds(5);
    auto service = Service::Create(config, [] { return kNow; });
    ASSERT_TRUE(service.ok()) << service.status().ToString();
    service_ = std::move(*service);
    ASSERT_EQ(service_->model_version(), versions_[0]);
  }

  void TearDown() override {
    service_.reset();
    std::error_code ec;
    // Committed versions are read-only: make them writable so that a non-root user can remove them.
    for (auto it = fs::recursive_directory_iterator(root_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
    fs::remove_all(root_, ec);
  }

  HttpResponse Call(std::string method, std::string target, std::string body = "") {
    HttpRequest request;
    request.method = std::move(method);
    request.target = std::move(target);
    request.body = std::move(body);
    request.remote = "127.0.0.1:1";
    HttpResponse response;
    if (Status s = ParseRequestTarget(request); !s.ok()) return JsonErrorResponse(s);
    service_->Handle(request, response);
    return response;
  }

  // GET recommendations; fails the test unless 200. Returns the parsed body.
  json Recommend(uint64_t user) {
    HttpResponse r = Call("GET", StrCat("/v1/users/", user, "/recommendations?count=10"));
    EXPECT_EQ(r.status, 200) << r.body;
    json j = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(j.is_object()) << r.body;
    return j;
  }

  std::string root_;
  std::string registry_path_;
  std::vector<std::string> versions_;
  std::unique_ptr<Service> service_;
};

TEST_F(ServiceConcurrency, ModelSwapUnderLoadServesEveryRequestFromOneOfTheVersions) {
  std::atomic<bool> swapping{true};
  std::mutex seen_mutex;
  std::set<std::string> seen;
  std::atomic<int> requests{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < kReaders; ++t) {
    readers.emplace_back([&, t] {
      // Each reader runs until the swaps are over, and at least a few requests.
      for (int i = 0; swapping.load() || i < 5; ++i) {
        // A short pause between requests: the readers overlap every swap, but leave the CPU the
        // polling thread needs. It runs at a lower priority by design (service.cc), so readers that
        // saturate both cores would defer its swap for as long as they run (under TSan past the
        // wait below), which is what a saturated server should do and not what this test checks.
        if (i > 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
        const json j = Recommend(static_cast<uint64_t>(1 + (t * 37 + i) % 90));  // known and unknown users
        const std::string version = j.value("model_version", "");
        EXPECT_TRUE(version == versions_[0] || version == versions_[1]) << j.dump();
        {
          std::lock_guard lock(seen_mutex);
          seen.insert(version);
        }
        ++requests;
      }
    });
  }
  // Promotions alternate; half are picked up by an explicit reload, the other half by the poller.
  const auto reg = registry::ModelRegistry::Open(registry_path_);
  ASSERT_TRUE(reg.ok());
  service_->StartPolling();
  constexpr int kSwaps = 4;
  for (int i = 1; i <= kSwaps; ++i) {
    const std::string& next = versions_[i % 2];
    ASSERT_TRUE(reg->Promote(next, "swap under load").ok());
    if (i % 2 == 1) {
      EXPECT_TRUE(service_->ReloadIfChanged().ok());
    } else {
      for (int w = 0; w < 60000 && service_->model_version() != next; ++w) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    EXPECT_EQ(service_->model_version(), next);
    const HttpResponse model = Call("GET", "/v1/admin/model");
    EXPECT_EQ(model.status, 200) << model.body;
  }
  swapping = false;
  for (auto& t : readers) t.join();
  service_->StopPolling();
  EXPECT_EQ(service_->model_version(), versions_[kSwaps % 2]);
  EXPECT_EQ(seen, (std::set<std::string>{versions_[0], versions_[1]})) << requests.load() << " requests";
}

TEST_F(ServiceConcurrency, ConcurrentEventsAreAllInTheHistoryAfterwards) {
  constexpr int kWriters = 4;
  constexpr int kBatches = 15;
  constexpr uint64_t kSharedUser = 7;           // a catalog user, written by every writer
  constexpr uint64_t kOwnUserBase = 5'000'000;  // unknown users, one per writer
  struct Acked {
    uint64_t user, video;
    int64_t time;
  };
  std::mutex acked_mutex;
  std::vector<Acked> acked;
  std::atomic<bool> writing{true};

  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int b = 0; b < kBatches; ++b) {
        // One event for the shared user and one for the writer's own, in one batch; distinct
        // (video, time) per event so that each can be found in the history.
        const uint64_t own = kOwnUserBase + static_cast<uint64_t>(w);
        const uint64_t video = static_cast<uint64_t>(1 + (w * kBatches + b) % 150);
        const int64_t time = kNow - 100'000 + w * 1000 + b;
        const std::string body =
            StrCat(R"({"events":[{"user_id":)", kSharedUser, R"(,"video_id":)", video,
                   R"(,"type":"play","timestamp":)", time, R"(,"watch_ratio":0.5},{"user_id":")", own,
                   R"(","video_id":)", video, R"(,"type":"like","timestamp":)", time, "}]}");
        const HttpResponse r = Call("POST", "/v1/events", body);
        ASSERT_EQ(r.status, 200) << r.body;
        ASSERT_EQ(json::parse(r.body).value("accepted", 0), 2) << r.body;
        std::lock_guard lock(acked_mutex);
        acked.push_back({kSharedUser, video, time});
        acked.push_back({own, video, time});
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; writing.load() || i < 5; ++i) {
        Recommend(t == 0 ? kSharedUser : kOwnUserBase + static_cast<uint64_t>(i % kWriters));
        const HttpResponse h = Call("GET", StrCat("/v1/users/", kSharedUser, "/history"));
        EXPECT_EQ(h.status, 200) << h.body;
      }
    });
  }
  for (int w = 0; w < kWriters; ++w) threads[static_cast<size_t>(w)].join();
  writing = false;
  for (size_t t = kWriters; t < threads.size(); ++t) threads[t].join();

  ASSERT_EQ(acked.size(), static_cast<size_t>(2 * kWriters * kBatches));
  std::map<uint64_t, std::set<std::pair<uint64_t, int64_t>>> history;
  for (uint64_t user : {kSharedUser, kOwnUserBase, kOwnUserBase + 1, kOwnUserBase + 2, kOwnUserBase + 3}) {
    const HttpResponse h = Call("GET", StrCat("/v1/users/", user, "/history"));
    ASSERT_EQ(h.status, 200) << h.body;
    const json body = json::parse(h.body);  // named: a temporary would die before the loop body
    for (const json& e : body["events"]) {
      history[user].emplace(std::stoull(e["video_id"].get<std::string>()), e["timestamp"].get<int64_t>());
    }
  }
  for (const Acked& a : acked) {
    EXPECT_TRUE(history[a.user].contains({a.video, a.time}))
        << "user " << a.user << " video " << a.video << " time " << a.time
        << " acknowledged but not in the history";
  }
  EXPECT_EQ(history[kSharedUser].size(), static_cast<size_t>(kWriters * kBatches));
}

TEST_F(ServiceConcurrency, ConcurrentAdminFlagsOnOneVideoLeaveTheLastWriteInForce) {
  // A video the model recommends, so that its flag matters to the readers.
  const json first = Recommend(1);
  ASSERT_FALSE(first["items"].empty()) << first.dump();
  const std::string video = first["items"][0]["video_id"].get<std::string>();

  std::atomic<bool> flipping{true};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < 25; ++i) {
        const bool available = (i + w) % 2 == 0;
        const HttpResponse r = Call("POST", StrCat("/v1/admin/videos/", video),
                                    StrCat(R"({"available":)", available ? "true" : "false",
                                           R"(,"age_restricted":)", i % 3 == 0 ? "true" : "false", "}"));
        ASSERT_EQ(r.status, 200) << r.body;
        const json j = json::parse(r.body);
        EXPECT_EQ(j.value("available", !available), available) << r.body;
      }
    });
  }
  for (int t = 0; t < kReaders; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; flipping.load() || i < 5; ++i) Recommend(static_cast<uint64_t>(1 + (t + i) % 80));
    });
  }
  threads[0].join();
  threads[1].join();
  flipping = false;
  for (size_t t = 2; t < threads.size(); ++t) threads[t].join();

  // The last write wins for everyone: taken down, the video is recommended to no one.
  const HttpResponse down =
      Call("POST", StrCat("/v1/admin/videos/", video), R"({"available":false,"age_restricted":false})");
  ASSERT_EQ(down.status, 200) << down.body;
  for (uint64_t user = 1; user <= 80; ++user) {
    const json body = Recommend(user);
    for (const json& item : body["items"]) {
      ASSERT_NE(item["video_id"].get<std::string>(), video)
          << "user " << user << " was recommended a taken-down video";
    }
  }
}

}  // namespace
}  // namespace vrec::serving
