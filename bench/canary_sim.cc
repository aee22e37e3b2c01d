// canary_sim: a simulated population using a running `vrec serve`, for the canary trial bench
// (bench/canary_sim.sh). Each visit: a random user of the synthetic platform asks for 10
// recommendations, looks at every item and responds as the platform's ground truth says
// (data::SyntheticWorld: play or skip, watch ratio, like), and posts what it did with the
// response's request_id and each item's position. The loop runs until the registry's trial ends
// (the canary file is gone) or --max-seconds pass, then prints name=value lines: the verdict and
// its reason from history.jsonl, the seconds it took, and the population's own tally per model
// version (plays per impression and watch seconds per impression as the users experienced them).
#include <CLI/CLI.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <unordered_map>

#include "vrec/data/synth.h"

namespace {

namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

// One keep-alive connection to the server.
class Client {
 public:
  explicit Client(int port) : socket_(io_) {
    tcp::resolver resolver(io_);
    boost::asio::connect(socket_, resolver.resolve("127.0.0.1", std::to_string(port)));
  }
  // The status and body of one request.
  std::pair<int, std::string> Call(http::verb verb, const std::string& target, const std::string& body = "") {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(true);
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
    }
    http::write(socket_, req);
    http::response<http::string_body> res;
    buffer_.clear();
    http::read(socket_, buffer_, res);
    return {static_cast<int>(res.result_int()), res.body()};
  }

 private:
  boost::asio::io_context io_;
  tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

struct Tally {
  double visits = 0, impressions = 0, plays = 0, watch_s = 0, likes = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"simulated users of a vrec serve, responding by the synthetic platform's ground truth"};
  int port = 0;
  std::string registry;
  double max_seconds = 600;
  vrec::data::SynthConfig world_config;
  world_config.quiet = true;
  uint64_t seed = 1;
  app.add_option("--port", port, "the server's port")->required();
  app.add_option("--registry", registry, "the server's registry (its canary file and history are watched)")
      ->required();
  app.add_option("--users", world_config.num_users, "synthetic platform: users")->required();
  app.add_option("--videos", world_config.num_videos, "synthetic platform: videos")->required();
  app.add_option("--interactions", world_config.num_interactions, "synthetic platform: rows")->required();
  app.add_option("--world-seed", world_config.seed, "synthetic platform: seed")->required();
  app.add_option("--seed", seed, "the population's random responses");
  app.add_option("--max-seconds", max_seconds, "give up after this long");
  CLI11_PARSE(app, argc, argv);

  auto dataset = vrec::data::GenerateSynthetic(world_config);
  auto world = vrec::data::SyntheticWorld::Build(world_config);
  if (!dataset.ok() || !world.ok()) {
    std::fprintf(stderr, "canary_sim: %s\n",
                 (!dataset.ok() ? dataset.status() : world.status()).ToString().c_str());
    return 1;
  }
  std::unordered_map<uint64_t, uint32_t> video_index;
  for (uint32_t v = 0; v < dataset->videos.size(); ++v) video_index[dataset->videos[v].id.value] = v;
  const std::filesystem::path canary_file = std::filesystem::path(registry) / "canary";
  if (!std::filesystem::exists(canary_file)) {
    std::fprintf(stderr, "canary_sim: no trial is running in %s\n", registry.c_str());
    return 1;
  }

  Client client(port);
  std::mt19937_64 rng(seed);
  uint64_t respond_state = seed * 0x9E3779B97F4A7C15ULL;
  std::uniform_int_distribution<uint32_t> pick_user(0, static_cast<uint32_t>(dataset->users.size() - 1));
  std::map<std::string, Tally> by_version;
  const auto start = std::chrono::steady_clock::now();
  auto next_check = start;
  double elapsed = 0;
  bool ended = false;
  int64_t errors = 0;
  while (elapsed < max_seconds) {
    const uint32_t u = pick_user(rng);
    const uint64_t user_id = dataset->users[u].id.value;
    const auto [status, body] =
        client.Call(http::verb::get, "/v1/users/" + std::to_string(user_id) + "/recommendations?count=10");
    const auto now = std::chrono::steady_clock::now();
    elapsed = std::chrono::duration<double>(now - start).count();
    if (status != 200) {
      ++errors;
    } else {
      const auto response = nlohmann::json::parse(body);
      const std::string version = response["model_version"];
      const std::string request_id = response["request_id"];
      Tally& t = by_version[version];
      ++t.visits;
      nlohmann::json events = nlohmann::json::array();
      for (const auto& item : response["items"]) {
        const uint64_t vid = std::stoull(item["video_id"].get<std::string>());
        auto it = video_index.find(vid);
        ++t.impressions;
        if (it == video_index.end()) continue;  // not of this world: not watched
        const auto r = world->Respond(u, it->second, respond_state);
        nlohmann::json e = {{"user_id", user_id},
                            {"video_id", vid},
                            {"request_id", request_id},
                            {"position", item["position"]},
                            {"surface", "home"}};
        if (r.played) {
          e["type"] = "play";
          e["watch_ratio"] = std::min(10.0f, r.watch_ratio);
          events.push_back(e);
          ++t.plays;
          t.watch_s += r.watch_time_s;
          if (r.liked) {
            e["type"] = "like";
            e.erase("watch_ratio");
            events.push_back(e);
            ++t.likes;
          }
        } else if (r.skipped) {
          e["type"] = "skip";
          events.push_back(e);
        }
      }
      if (!events.empty()) {
        const auto [s, b] =
            client.Call(http::verb::post, "/v1/events", nlohmann::json{{"events", events}}.dump());
        if (s != 200) {
          ++errors;
          if (errors < 5) std::fprintf(stderr, "canary_sim: events: %d %s\n", s, b.c_str());
        }
      }
    }
    if (now >= next_check) {
      next_check = now + std::chrono::milliseconds(250);
      if (!std::filesystem::exists(canary_file)) {
        ended = true;
        break;
      }
    }
  }
  // The verdict: the last line of the registry's history.
  std::string last;
  {
    std::ifstream in(std::filesystem::path(registry) / "history.jsonl");
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) last = line;
    }
  }
  const auto entry = nlohmann::json::parse(last, nullptr, false);
  std::printf("ended=%s\n", ended ? "true" : "false");
  std::printf("decided_after_s=%.1f\n", elapsed);
  if (ended && entry.is_object()) {
    std::printf("verdict=%s\n", entry.value("action", "").c_str());
    std::printf("reason=%s\n", entry.value("reason", "").c_str());
  }
  std::printf("http_errors=%lld\n", static_cast<long long>(errors));
  for (const auto& [version, t] : by_version) {
    std::printf("population.%s.visits=%.0f\n", version.c_str(), t.visits);
    std::printf("population.%s.plays_per_impression=%.4f\n", version.c_str(), t.plays / t.impressions);
    std::printf("population.%s.watch_s_per_impression=%.2f\n", version.c_str(), t.watch_s / t.impressions);
  }
  return ended ? 0 : 2;
}
