// catalog_bench: upload -> recommendable. Each round uploads a new video through
// `PUT /v1/videos/{id}` (Service::Handle over RocksDB: the durable, synced write, the video tower
// embedding it, the fresh index) and then asks for recommendations: as a cold-start user of its
// language (the fresh slots: it must be there), then as known user 1, 100 deep (retrieval over
// FAISS + the fresh index, ranked: whether it is there depends on its score). Prints, in ms:
//
//   catalog_put_ms_p50=... catalog_put_ms_p99=...
//   upload_to_recommendable_cold_ms_p50=... _p99=...     (PUT start -> first response holding it)
//   upload_to_recommendable_known_ms_p50=... _p99=... upload_recommended_known_share=...
//
//   catalog_bench --registry DIR [--rounds 200] [--dir DIR]
// --registry: a model registry with a production version (the main job's vrec-home/registry);
// without it the committed tiny model is used. The store is a fresh RocksDB under --dir.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "vrec/common/strings.h"
#include "vrec/serving/service.h"
#include "vrec/serving/tiny_model_testing.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

double MillisSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"upload -> recommendable latency through the catalog API"};
  std::string registry, dir;
  int rounds = 200;
  app.add_option("--registry", registry, "model registry (default: the committed tiny model)");
  app.add_option("--rounds", rounds, "uploads")->check(CLI::Range(1, 100000));
  app.add_option("--dir", dir, "work folder (default: a new temporary folder)");
  CLI11_PARSE(app, argc, argv);

  const fs::path work =
      dir.empty() ? fs::temp_directory_path() / vrec::StrCat("catalog_bench.", ::getpid()) : fs::path(dir);
  fs::remove_all(work / "store");
  fs::create_directories(work);
  if (registry.empty()) {
    registry = (work / "registry").string();
    if (!fs::exists(registry)) {
      auto versions = vrec::serving::MakeTinyModelRegistry(registry, 1);
      if (!versions.ok()) {
        std::fprintf(stderr, "error: %s\n", versions.status().ToString().c_str());
        return 1;
      }
    }
  }
  vrec::serving::ServeConfig config;
  config.registry = registry;
  config.feature_store = "rocksdb://" + fs::absolute(work / "store").string();
  config.cache_ttl = std::chrono::milliseconds(1000);  // as served: the PUT must invalidate it
  auto service = vrec::serving::Service::Create(config);
  if (!service.ok()) {
    std::fprintf(stderr, "error: %s\n", service.status().ToString().c_str());
    return 1;
  }
  const auto call = [&](const std::string& method, const std::string& target, const std::string& body) {
    vrec::serving::HttpRequest q;
    q.method = method;
    q.target = target;
    const size_t mark = target.find('?');
    q.path = target.substr(0, mark);
    if (mark != std::string::npos) (void)vrec::serving::ParseQueryString(target.substr(mark + 1), q.query);
    q.body = body;
    q.remote = "127.0.0.1:1";
    vrec::serving::HttpResponse r;
    (*service)->Handle(q, r);
    return r;
  };
  const auto holds = [](const vrec::serving::HttpResponse& r, const std::string& id) {
    const auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.contains("items")) return false;
    for (const auto& item : j["items"]) {
      if (item["video_id"] == id) return true;
    }
    return false;
  };

  // Uploads in the category and language of user 1's first recommendation.
  const nlohmann::json first =
      nlohmann::json::parse(call("GET", "/v1/users/1/recommendations?count=1", "").body);
  const std::string seed = first["items"][0]["video_id"];
  const nlohmann::json seed_video = nlohmann::json::parse(call("GET", "/v1/videos/" + seed, "").body);
  const std::string category = seed_video["categories"].empty() ? "bench" : seed_video["categories"][0];
  const std::string language = seed_video["language"];

  std::vector<double> put_ms, cold_ms, known_ms;
  int known_hits = 0;
  for (int i = 0; i < rounds; ++i) {
    const std::string id = std::to_string(4'000'000'000ULL + static_cast<uint64_t>(i));
    const std::string body = vrec::StrCat(R"({"title":"bench upload )", i, R"(","categories":[)",
                                          vrec::serving::JsonQuote(category), R"(],"language":)",
                                          vrec::serving::JsonQuote(language), R"(,"duration_s":60})");
    const auto start = Clock::now();
    const auto put = call("PUT", "/v1/videos/" + id, body);
    put_ms.push_back(MillisSince(start));
    if (put.status != 200) {
      std::fprintf(stderr, "error: PUT answered %d: %s\n", put.status, put.body.c_str());
      return 1;
    }
    // A user never seen, of the upload's language: the newest upload takes the first fresh slot.
    const auto cold = call("GET",
                           vrec::StrCat("/v1/users/", 3'000'000'000ULL + static_cast<uint64_t>(i),
                                        "/recommendations?count=10&language=", language),
                           "");
    if (!holds(cold, id)) {
      std::fprintf(stderr, "error: upload %s not in the cold-start response: %s\n", id.c_str(),
                   cold.body.c_str());
      return 1;
    }
    cold_ms.push_back(MillisSince(start));
    // The known user, 100 candidates deep (whether it is recommended depends on its score).
    const auto start_known = Clock::now();
    const bool hit = holds(call("GET", "/v1/users/1/recommendations?count=100", ""), id);
    known_hits += hit;
    if (hit) known_ms.push_back(put_ms.back() + MillisSince(start_known));
  }
  std::printf("catalog_rounds=%d\n", rounds);
  std::printf("catalog_put_ms_p50=%.3f\ncatalog_put_ms_p99=%.3f\n", Percentile(put_ms, 0.5),
              Percentile(put_ms, 0.99));
  std::printf("upload_to_recommendable_cold_ms_p50=%.3f\nupload_to_recommendable_cold_ms_p99=%.3f\n",
              Percentile(cold_ms, 0.5), Percentile(cold_ms, 0.99));
  std::printf("upload_recommended_known_share=%.3f\n", static_cast<double>(known_hits) / rounds);
  if (!known_ms.empty()) {
    std::printf("upload_to_recommendable_known_ms_p50=%.3f\nupload_to_recommendable_known_ms_p99=%.3f\n",
                Percentile(known_ms, 0.5), Percentile(known_ms, 0.99));
  }
  if (dir.empty()) fs::remove_all(work);
  return 0;
}
