// ingest_bench: event ingestion throughput with the durability promise of POST /v1/events (an
// acknowledged batch is fsynced), from N concurrent clients in closed loop (each sends its next
// batch when the last one is acknowledged). Every batch holds --batch events with unique event ids
// and random users.
//
//   ingest_bench [--modes store,service] [--clients 1,4,16,64] [--batch 100] [--duration 5]
//                [--dir DIR] [--port P] [--redis HOST:PORT]
//   store    FeatureStore::AppendEvents over RocksDB (synced writes), the store's write path alone;
//            with --redis, over that redis-server (loopback TCP, AOF fsync per its settings).
//   service  Service::Handle of POST /v1/events in process (JSON parsing, ingestor, cache
//            invalidation, metrics) over RocksDB, on the committed tiny model; no sockets.
//   http     POST /v1/events to a running `vrec serve` on 127.0.0.1:--port, one keep-alive
//            connection per client (its store is whatever that server was started with). Each
//            request holds one of the server's io threads (server.threads, default 2) through its
//            fsync, so only that many batches can share a write: start it with --threads >= the
//            clients to see the group commit over HTTP.
// Each (mode, client count) runs on a fresh store under --dir (default: a new folder in the temp
// directory, removed at the end), which must be on a disk: fsync on tmpfs costs nothing.
//
// Prints name=value lines. Baseline: sync_write_per_s, one synced 1-key write at a time (the
// disk's fsync rate: what ingestion without group commit could acknowledge in batches per second).
// Per mode and client count N, prefix <mode>_cN_: events_per_s, batches_per_s, p50_ms, p99_ms,
// errors; for store and service also synced_writes_per_s (each one a WAL fsync), batches_per_write
// (how many batches a group commit merged on average) and write_ms_mean (time in one synced write,
// fsync included: the rest of 1 / synced_writes_per_s is the group's reads and encoding) and
// cpu_us_per_event (CPU time of the whole process, clients included, per event stored: unlike the
// rates it hardly moves when other work shares the cores).
#include <sys/resource.h>
#include <sys/vfs.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <utility>  // before Asio: GCC 12 + C++20 needs it (see docs/dependencies.md "HTTP")
#include <vector>

#include "bench/bench_util.h"
#include "vrec/common/strings.h"
#include "vrec/features/feature_store.h"
#include "vrec/features/kv_store.h"
#include "vrec/serving/service.h"
#include "vrec/serving/tiny_model_testing.h"

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using vrec::StrCat;

struct Flags {
  std::vector<std::string> modes = {"store", "service"};
  std::vector<int> clients = {1, 4, 16, 64};
  int batch = 100;
  double duration = 5;
  std::string dir;
  int port = 0;
  uint64_t users = 100'000;
  uint64_t videos = 150;
};

struct WriteStats {
  uint64_t writes = 0;
  uint64_t ns = 0;
  WriteStats operator-(const WriteStats& o) const { return {writes - o.writes, ns - o.ns}; }
};

// Counts the writes that reach the store, synced ones apart (each one a WAL fsync in RocksDB).
class CountingStore : public vrec::features::KeyValueStore {
 public:
  explicit CountingStore(std::unique_ptr<KeyValueStore> base) : base_(std::move(base)) {}
  vrec::StatusOr<std::optional<std::string>> Get(std::string_view key) override { return base_->Get(key); }
  vrec::StatusOr<std::vector<std::optional<std::string>>> MultiGet(
      std::span<const std::string> keys) override {
    return base_->MultiGet(keys);
  }
  vrec::Status Write(const vrec::features::WriteBatch& batch,
                     const vrec::features::WriteOptions& options) override {
    if (!options.sync) return base_->Write(batch, options);
    const auto start = std::chrono::steady_clock::now();
    vrec::Status s = base_->Write(batch, options);
    synced_write_ns_ +=
        static_cast<uint64_t>(std::chrono::nanoseconds(std::chrono::steady_clock::now() - start).count());
    ++synced_writes_;
    return s;
  }
  vrec::StatusOr<std::vector<vrec::features::KeyValue>> Scan(std::string_view prefix,
                                                             std::string_view start_after,
                                                             size_t limit) override {
    return base_->Scan(prefix, start_after, limit);
  }
  vrec::StatusOr<std::optional<vrec::features::KeyValue>> Last(std::string_view prefix) override {
    return base_->Last(prefix);
  }
  bool durable() const override { return base_->durable(); }
  const std::string& uri() const override { return base_->uri(); }
  // Synced writes so far, and the time spent in them.
  WriteStats stats() const { return {synced_writes_, synced_write_ns_}; }

 private:
  std::unique_ptr<KeyValueStore> base_;
  std::atomic<uint64_t> synced_writes_{0};
  std::atomic<uint64_t> synced_write_ns_{0};  // time spent in them
};

struct ClientResult {
  std::vector<double> latencies_ms;
  uint64_t events = 0;
  uint64_t errors = 0;
  std::string first_error;
};

void Fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  std::exit(1);
}

// The event id of event i of batch n of a client, unique across runs on one store.
std::string EventId(const std::string& run, int client, uint64_t n, int i) {
  return StrCat(run, "-", client, "-", n, "-", i);
}

// One batch's JSON body.
std::string BatchJson(const Flags& f, const std::string& run, int client, uint64_t n, std::mt19937_64& rng) {
  std::string body = "{\"events\":[";
  for (int i = 0; i < f.batch; ++i) {
    if (i > 0) body.push_back(',');
    body +=
        StrCat("{\"user_id\":", rng() % f.users + 1, ",\"video_id\":", rng() % f.videos + 1,
               ",\"type\":\"play\",\"watch_ratio\":0.5,\"event_id\":\"", EventId(run, client, n, i), "\"}");
  }
  body += "]}";
  return body;
}

// Runs `send(client, n, rng, error)` in closed loop from each client until `end`; it returns
// whether the batch was acknowledged (and sets `error` when not).
template <typename Send>
std::vector<ClientResult> RunClients(const Flags& f, int clients, Clock::time_point end, Send send) {
  std::vector<ClientResult> results(static_cast<size_t>(clients));
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      ClientResult& out = results[static_cast<size_t>(c)];
      std::mt19937_64 rng(static_cast<uint64_t>(c) * 7919 + 1);
      std::string error;
      for (uint64_t n = 0; Clock::now() < end; ++n) {
        const auto start = Clock::now();
        const bool ok = send(c, n, rng, error);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        if (!ok) {
          if (out.errors++ == 0) out.first_error = error;
          if (error.starts_with("connection")) return;
          continue;
        }
        out.latencies_ms.push_back(ms);
        out.events += static_cast<uint64_t>(f.batch);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return results;
}

// User + system CPU seconds of this process so far.
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto sec = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

// Prints the figures of one run; returns its events per second.
double Report(const std::string& prefix, const std::vector<ClientResult>& results, double seconds,
              std::optional<WriteStats> synced, std::optional<double> cpu_seconds) {
  std::vector<double> latencies;
  uint64_t events = 0, errors = 0;
  for (const ClientResult& r : results) {
    latencies.insert(latencies.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    events += r.events;
    errors += r.errors;
    if (!r.first_error.empty()) std::fprintf(stderr, "%s: %s\n", prefix.c_str(), r.first_error.c_str());
  }
  const double events_per_s = static_cast<double>(events) / seconds;
  std::printf("%s_events_per_s=%.0f\n%s_batches_per_s=%.1f\n", prefix.c_str(), events_per_s, prefix.c_str(),
              static_cast<double>(latencies.size()) / seconds);
  if (synced) {
    const auto writes = static_cast<double>(synced->writes);
    std::printf("%s_synced_writes_per_s=%.1f\n%s_batches_per_write=%.2f\n%s_write_ms_mean=%.2f\n",
                prefix.c_str(), writes / seconds, prefix.c_str(),
                writes > 0 ? static_cast<double>(latencies.size()) / writes : 0.0, prefix.c_str(),
                writes > 0 ? static_cast<double>(synced->ns) / 1e6 / writes : 0.0);
  }
  if (cpu_seconds && events > 0) {
    std::printf("%s_cpu_us_per_event=%.1f\n", prefix.c_str(),
                *cpu_seconds * 1e6 / static_cast<double>(events));
  }
  if (!latencies.empty()) {
    std::printf("%s_p50_ms=%.2f\n%s_p99_ms=%.2f\n", prefix.c_str(), vrec::bench::Percentile(latencies, 0.5),
                prefix.c_str(), vrec::bench::Percentile(latencies, 0.99));
  }
  std::printf("%s_errors=%llu\n", prefix.c_str(), static_cast<unsigned long long>(errors));
  std::fflush(stdout);
  return events_per_s;
}

// --redis HOST:PORT: every store is a fresh namespace of that server instead of a RocksDB folder.
std::string g_redis;
std::string g_run;

std::unique_ptr<CountingStore> OpenCounting(const fs::path& path) {
  const std::string uri = g_redis.empty()
                              ? "rocksdb://" + path.string()
                              : StrCat("redis://", g_redis, "/0?prefix=ingest-", g_run, "-", path.filename().string());
  auto kv = vrec::features::OpenKeyValueStore(uri);
  if (!kv.ok()) Fail(kv.status().ToString());
  return std::make_unique<CountingStore>(std::move(kv).value());
}

Clock::time_point EndAfter(const Flags& f) {
  return Clock::now() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(f.duration));
}

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One synced single-key write at a time, from one thread, for about a second.
void SyncWriteBaseline(const fs::path& path) {
  auto kv = OpenCounting(path);
  std::vector<double> latencies;
  const auto start = Clock::now();
  for (uint64_t i = 0; Seconds(start) < 1.0; ++i) {
    vrec::features::WriteBatch batch;
    batch.Put(StrCat("k", i), std::string(100, 'x'));
    const auto t = Clock::now();
    if (vrec::Status s = kv->Write(batch, vrec::features::WriteOptions{.sync = true}); !s.ok())
      Fail(s.ToString());
    latencies.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
  }
  std::printf("sync_write_per_s=%.0f\nsync_write_p50_ms=%.3f\n",
              static_cast<double>(latencies.size()) / Seconds(start),
              vrec::bench::Percentile(latencies, 0.5));
}

double RunStore(const Flags& f, const fs::path& path, const std::string& run, int clients) {
  auto counting = OpenCounting(path);
  CountingStore* counts = counting.get();
  auto opened = vrec::features::FeatureStore::Open(std::move(counting));
  if (!opened.ok()) Fail(opened.status().ToString());
  vrec::features::FeatureStore& store = **opened;
  const WriteStats before = counts->stats();
  const double cpu_before = CpuSeconds();
  const auto start = Clock::now();
  auto results =
      RunClients(f, clients, EndAfter(f), [&](int c, uint64_t n, std::mt19937_64& rng, std::string& error) {
        std::vector<vrec::features::Event> batch(static_cast<size_t>(f.batch));
        for (int i = 0; i < f.batch; ++i) {
          vrec::features::Event& e = batch[static_cast<size_t>(i)];
          e.user = vrec::UserId{rng() % f.users + 1};
          e.video = vrec::VideoId{rng() % f.videos + 1};
          e.time = 1'700'000'000 + static_cast<int64_t>(n);
          e.watch_ratio = 0.5f;
          e.event_id = EventId(run, c, n, i);
        }
        const vrec::Status s = store.AppendEvents(batch);
        if (!s.ok()) error = s.ToString();
        return s.ok();
      });
  const double seconds = Seconds(start);
  return Report(StrCat("store_c", clients), results, seconds, counts->stats() - before,
                CpuSeconds() - cpu_before);
}

vrec::serving::HttpRequest PostEvents(std::string body) {
  vrec::serving::HttpRequest request;
  request.method = "POST";
  request.target = request.path = "/v1/events";
  request.headers.emplace_back("Content-Type", "application/json");
  request.body = std::move(body);
  request.remote = "127.0.0.1:40000";
  return request;
}

double RunService(const Flags& f, const fs::path& path, const std::string& registry, const std::string& run,
                  int clients) {
  vrec::serving::ServeConfig config;
  config.registry = registry;
  // Defaults otherwise: no keys (open access, hence no rate limits), the response cache on.
  auto counting = OpenCounting(path);
  CountingStore* counts = counting.get();
  auto service = vrec::serving::Service::Create(config, {}, std::move(counting));
  if (!service.ok()) Fail(service.status().ToString());
  const WriteStats before = counts->stats();
  const double cpu_before = CpuSeconds();
  const auto start = Clock::now();
  auto results =
      RunClients(f, clients, EndAfter(f), [&](int c, uint64_t n, std::mt19937_64& rng, std::string& error) {
        const vrec::serving::HttpRequest request = PostEvents(BatchJson(f, run, c, n, rng));
        vrec::serving::HttpResponse response;
        (*service)->Handle(request, response);
        if (response.status != 200) error = StrCat(response.status, " ", response.body);
        return response.status == 200;
      });
  const double seconds = Seconds(start);
  return Report(StrCat("service_c", clients), results, seconds, counts->stats() - before,
                CpuSeconds() - cpu_before);
}

double RunHttp(const Flags& f, const std::string& run, int clients) {
  const auto start = Clock::now();
  struct Connection {
    asio::io_context io;
    tcp::socket socket{io};
    boost::beast::flat_buffer buffer;
    bool open = false;
  };
  std::vector<Connection> connections(static_cast<size_t>(clients));
  auto results =
      RunClients(f, clients, EndAfter(f), [&](int c, uint64_t n, std::mt19937_64& rng, std::string& error) {
        Connection& conn = connections[static_cast<size_t>(c)];
        boost::system::error_code ec;
        if (!conn.open) {
          conn.socket.connect(
              tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(f.port)), ec);
          if (ec) {
            error = StrCat("connection: ", ec.message());
            return false;
          }
          conn.socket.set_option(tcp::no_delay(true));
          conn.open = true;
        }
        http::request<http::string_body> req{http::verb::post, "/v1/events", 11};
        req.set(http::field::host, "127.0.0.1");
        req.set(http::field::content_type, "application/json");
        req.body() = BatchJson(f, run, c, n, rng);
        req.prepare_payload();
        http::write(conn.socket, req, ec);
        http::response<http::string_body> res;
        if (!ec) http::read(conn.socket, conn.buffer, res, ec);
        if (ec) {
          error = StrCat("connection: ", ec.message());
          return false;
        }
        if (res.result_int() != 200) error = StrCat(res.result_int(), " ", res.body());
        return res.result_int() == 200;
      });
  return Report(StrCat("http_c", clients), results, Seconds(start), std::nullopt, std::nullopt);
}

bool OnTmpfs(const fs::path& dir) {
  struct statfs st {};
  return statfs(dir.c_str(), &st) == 0 && st.f_type == 0x01021994;  // TMPFS_MAGIC
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  CLI::App app{"ingest_bench: POST /v1/events throughput with fsync durability, N concurrent clients"};
  app.add_option("--modes", f.modes, "store, service, http (http needs --port)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--clients", f.clients, "client counts to run")->delimiter(',')->capture_default_str();
  app.add_option("--batch", f.batch, "events per batch")->capture_default_str();
  app.add_option("--duration", f.duration, "seconds per run")->capture_default_str();
  app.add_option("--dir", f.dir, "folder for the stores, on a disk (default: a new temp folder, removed)");
  app.add_option("--port", f.port, "port of a running `vrec serve` (mode http)");
  app.add_option("--redis", g_redis,
                 "HOST:PORT of a redis-server: the stores of modes store and service are namespaces there "
                 "(durable only with appendonly yes, appendfsync always; docs/redis.md)");
  app.add_option("--users", f.users, "distinct users")->capture_default_str();
  app.add_option("--videos", f.videos, "distinct videos")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  for (const std::string& m : f.modes) {
    if (m != "store" && m != "service" && m != "http") Fail(StrCat("unknown mode '", m, "'"));
    if (m == "http" && f.port <= 0) Fail("mode http needs --port");
  }
  if (f.batch < 1 || f.duration <= 0 || f.users < 1 || f.videos < 1)
    Fail("--batch, --duration, --users, --videos > 0");
  for (int c : f.clients) {
    if (c < 1) Fail("--clients must be positive");
  }

  const bool temp = f.dir.empty();
  fs::path dir = f.dir;
  if (temp) {
    std::string tmpl = (fs::temp_directory_path() / "ingest_bench.XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) Fail("mkdtemp failed");
    dir = tmpl;
  } else {
    fs::create_directories(dir);
  }
  if (OnTmpfs(dir)) std::fprintf(stderr, "warning: %s is on tmpfs: fsync costs nothing there\n", dir.c_str());
  // Event ids unique across runs against the same store (a repeated id would be deduplicated).
  const std::string run = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  g_run = run;

  std::printf("batch=%d\nduration_s=%.1f\nusers=%llu\n", f.batch, f.duration,
              static_cast<unsigned long long>(f.users));
  SyncWriteBaseline(dir / "baseline");
  fs::remove_all(dir / "baseline");
  for (const std::string& mode : f.modes) {
    std::string registry;
    if (mode == "service") {
      registry = (dir / "registry").string();
      if (!fs::exists(registry)) {
        auto versions = vrec::serving::MakeTinyModelRegistry(registry, 1);
        if (!versions.ok()) Fail(versions.status().ToString());
      }
    }
    double first = 0;
    for (size_t i = 0; i < f.clients.size(); ++i) {
      const int c = f.clients[i];
      const fs::path path = dir / StrCat(mode, "-c", c);
      fs::remove_all(path);
      double events_per_s = 0;
      if (mode == "store") events_per_s = RunStore(f, path, run, c);
      if (mode == "service") events_per_s = RunService(f, path, registry, run, c);
      if (mode == "http") events_per_s = RunHttp(f, run, c);
      fs::remove_all(path);
      if (i == 0) first = events_per_s;
      if (i > 0 && first > 0) {
        std::printf("%s_c%d_vs_c%d=%.2f\n", mode.c_str(), c, f.clients[0], events_per_s / first);
      }
    }
  }
  if (temp) fs::remove_all(dir);
  return 0;
}
