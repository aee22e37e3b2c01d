// loadgen: an open-loop HTTP/1.1 load generator for `vrec serve` (any keep-alive HTTP server).
//
// Request i is due at t0 + i/R whatever happened to earlier requests, and its latency is measured
// from that due time, not from when it was written to a socket: when every connection is busy the
// request waits in the generator's FIFO and that wait counts. A closed-loop client (send, wait,
// send) slows down with the server and so reports the service time of the few requests it managed
// to send ("coordinated omission"); this one reports what users arriving at rate R would see.
//
// Modes:
//   loadgen --port P --rate R --duration S      one run; prints name=value lines
//   loadgen --port P --find-saturation          steps the rate up by --step-factor until p99 >
//                                               --slo-ms, achieved < 95% of target or > 1% fail
//   loadgen --serve --port P --serve-delay-ms D a stub keep-alive server whose threads each block
//                                               D ms per request (a server of known capacity, for
//                                               testing the generator itself)
//
// One thread, one io_context: the generator shares 2 cores with the server it measures, so it
// does little per request (one prebuilt request string, Beast's response parser) and reports its
// own CPU time and how late its timer fired (gen_lag_*), which tell whether it kept up.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <bit>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>  // before Asio: GCC 12 + C++20 needs it (see docs/dependencies.md "HTTP")
#include <vector>

#include "vrec/common/status.h"
#include "vrec/common/strings.h"

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// A run stops waiting for a server-closed connection to come back after this long and retries.
constexpr auto kConnectRetryDelay = std::chrono::milliseconds(100);
// Pause between --find-saturation steps, so requests the previous step gave up on (which a slow
// server may still be working through) do not load the next step.
constexpr auto kStepCooldown = std::chrono::seconds(1);

int64_t Micros(Clock::duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); }

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

std::string Ms(double micros) { return Fixed(micros / 1000.0, 3); }

// Latency counts in log-linear buckets (the HdrHistogram layout): values below 512 us are kept
// exactly, larger ones fall in buckets 1/256 of their magnitude wide, and a quantile reports its
// bucket's middle, so it is within 0.2% of the exact sample. Memory is fixed (~115 KiB) whatever the
// run length, which is why it is used instead of keeping every sample. Not thread-safe.
class LatencyHistogram {
 public:
  LatencyHistogram() : counts_(kBuckets, 0) {}

  // Counts one sample; negative values count as 0.
  void Record(int64_t micros) {
    const uint64_t v = micros < 0 ? 0 : static_cast<uint64_t>(micros);
    ++counts_[Index(v)];
    ++count_;
    sum_ += static_cast<double>(v);
    max_ = std::max(max_, v);
  }

  uint64_t count() const { return count_; }
  double MeanMicros() const { return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_); }
  uint64_t MaxMicros() const { return max_; }

  // The nearest-rank q-quantile (0 < q <= 1): the sample with rank ceil(q * count); 0 when empty.
  uint64_t QuantileMicros(double q) const {
    if (count_ == 0) return 0;
    const auto rank =
        std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(Middle(i), max_);
    }
    return max_;
  }

 private:
  static constexpr int kSubBits = 8;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;  // buckets per power of two
  static constexpr uint64_t kExact = 2 * kSub;               // values below it have their own bucket
  static constexpr size_t kBuckets = kExact + (64 - kSubBits - 1) * kSub;

  static size_t Index(uint64_t v) {
    if (v < kExact) return v;
    const int shift = std::bit_width(v) - (kSubBits + 1);  // >= 1, and v >> shift is in [kSub, kExact)
    return kExact + static_cast<size_t>(shift - 1) * kSub + ((v >> shift) - kSub);
  }

  static uint64_t Middle(size_t i) {
    if (i < kExact) return i;
    const uint64_t shift = (i - kExact) / kSub + 1;
    const uint64_t sub = (i - kExact) % kSub + kSub;
    return (sub << shift) + (uint64_t{1} << (shift - 1));
  }

  std::vector<uint64_t> counts_;  // size kBuckets
  uint64_t count_ = 0;
  double sum_ = 0;
  uint64_t max_ = 0;
};

// Percent-encodes everything but RFC 3986 unreserved characters, so an id read from a file is
// safe as one path segment.
std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// Draws user ids uniformly at random, from an inclusive numeric range or from a list of ids.
// Owns the list. Not thread-safe (Next reuses an internal buffer).
class UserSource {
 public:
  // From "A-B" (unsigned integers, A <= B). InvalidArgument on anything else.
  static vrec::StatusOr<UserSource> FromRange(std::string_view spec) {
    const size_t dash = spec.find('-');
    uint64_t lo = 0, hi = 0;
    if (dash == std::string_view::npos || !ParseU64(spec.substr(0, dash), lo) ||
        !ParseU64(spec.substr(dash + 1), hi) || lo > hi) {
      return vrec::InvalidArgumentError(vrec::StrCat("--users: expected A-B with A <= B, got '", spec, "'"));
    }
    UserSource s;
    s.range_ = std::uniform_int_distribution<uint64_t>(lo, hi);
    return s;
  }

  // One id per line (surrounding whitespace and empty lines ignored). NotFound if the file cannot be
  // read, InvalidArgument if it holds no id.
  static vrec::StatusOr<UserSource> FromFile(const std::string& path) {
    std::ifstream in(path);
    if (!in) return vrec::NotFoundError(vrec::StrCat("--users-file: cannot open ", path));
    UserSource s;
    std::string line;
    while (std::getline(in, line)) {
      const std::string_view id = vrec::StripAsciiWhitespace(line);
      if (!id.empty()) s.ids_.push_back(PercentEncode(id));
    }
    if (s.ids_.empty()) return vrec::InvalidArgumentError(vrec::StrCat("--users-file: no ids in ", path));
    s.pick_ = std::uniform_int_distribution<size_t>(0, s.ids_.size() - 1);
    return s;
  }

  // The next id, URL-safe; valid until the next call.
  std::string_view Next(std::mt19937_64& rng) {
    if (!ids_.empty()) return ids_[pick_(rng)];
    char* end = std::to_chars(buf_, buf_ + sizeof(buf_), range_(rng)).ptr;
    return {buf_, static_cast<size_t>(end - buf_)};
  }

 private:
  static bool ParseU64(std::string_view s, uint64_t& out) {
    s = vrec::StripAsciiWhitespace(s);
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc() && p == s.data() + s.size();
  }

  std::vector<std::string> ids_;
  std::uniform_int_distribution<size_t> pick_;
  std::uniform_int_distribution<uint64_t> range_;
  char buf_[24] = {};
};

// The bytes of one GET request with a user id filled in. Built once from the flags; Build only
// concatenates. Immutable after construction, so thread-compatible.
class RequestBuilder {
 public:
  // path_template must start with '/'; every "{user}" in it is replaced by the id. headers are
  // "Name: value" lines. InvalidArgument on a bad template or header.
  static vrec::StatusOr<RequestBuilder> Create(std::string_view path_template, std::string_view host_header,
                                               const std::vector<std::string>& headers) {
    if (path_template.empty() || path_template[0] != '/' ||
        path_template.find_first_of(" \r\n") != std::string_view::npos) {
      return vrec::InvalidArgumentError(
          vrec::StrCat("--path-template: must start with '/' and hold no spaces, got '", path_template, "'"));
    }
    RequestBuilder b;
    constexpr std::string_view kUser = "{user}";
    std::string_view rest = path_template;
    for (size_t at; (at = rest.find(kUser)) != std::string_view::npos;
         rest.remove_prefix(at + kUser.size())) {
      b.pieces_.emplace_back(rest.substr(0, at));
    }
    b.pieces_.emplace_back(rest);
    b.pieces_.front().insert(0, "GET ");
    b.pieces_.back().append(
        vrec::StrCat(" HTTP/1.1\r\nHost: ", host_header, "\r\nUser-Agent: vrec-loadgen\r\n"));
    for (const std::string& h : headers) {
      const size_t colon = h.find(':');
      if (colon == 0 || colon == std::string::npos || h.find_first_of("\r\n") != std::string::npos) {
        return vrec::InvalidArgumentError(vrec::StrCat("--header: expected 'Name: value', got '", h, "'"));
      }
      b.pieces_.back().append(vrec::StrCat(h, "\r\n"));
    }
    b.pieces_.back().append("\r\n");
    return b;
  }

  // Writes the request for `user` into `out` (reusing its capacity).
  void Build(std::string_view user, std::string& out) const {
    out.assign(pieces_.front());
    for (size_t i = 1; i < pieces_.size(); ++i) {
      out.append(user);
      out.append(pieces_[i]);
    }
  }

 private:
  std::vector<std::string> pieces_;  // request text split at the user id; never empty
};

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  double rate = 0;
  double duration_s = 10;
  double warmup_s = 2;
  int connections = 256;
  std::string path_template = "/v1/users/{user}/recommendations?count=10";
  std::string users = "1-1000";
  std::string users_file;
  std::vector<std::string> headers;
  int timeout_ms = 2000;
  uint64_t seed = 1;
  std::string latency_log;

  bool find_saturation = false;
  double slo_ms = 20;
  double step_s = 5;
  double step_warmup_s = 1;
  double step_factor = 1.25;
  double max_rate = 1e6;
  int refine_steps = 2;

  bool serve = false;
  double serve_delay_ms = 0;
  int serve_threads = 1;
  uint64_t serve_error_every = 0;
  uint64_t serve_close_every = 0;

  // Reports the first bad flag combination.
  vrec::Status Validate() const {
    using vrec::InvalidArgumentError;
    if (port < 0 || port > 65535) return InvalidArgumentError("--port: must be in 0..65535");
    if (serve) {
      if (serve_delay_ms < 0) return InvalidArgumentError("--serve-delay-ms: must be >= 0");
      if (serve_threads < 1) return InvalidArgumentError("--serve-threads: must be >= 1");
      return vrec::OkStatus();
    }
    if (port == 0) return InvalidArgumentError("--port: required (the server's port)");
    if (!find_saturation && !(rate > 0)) return InvalidArgumentError("--rate: must be > 0");
    if (find_saturation && rate < 0) return InvalidArgumentError("--rate: must be > 0");
    if (!(duration_s > 0)) return InvalidArgumentError("--duration: must be > 0");
    if (warmup_s < 0) return InvalidArgumentError("--warmup: must be >= 0");
    if (connections < 1 || connections > 60000)
      return InvalidArgumentError("--connections: must be in 1..60000");
    if (timeout_ms < 1) return InvalidArgumentError("--timeout-ms: must be >= 1");
    if (find_saturation) {
      if (!latency_log.empty())
        return InvalidArgumentError("--latency-log: not available with --find-saturation");
      if (!(step_s > 0) || step_warmup_s < 0) return InvalidArgumentError("--step-seconds: must be > 0");
      if (!(step_factor > 1)) return InvalidArgumentError("--step-factor: must be > 1");
      if (!(slo_ms > 0)) return InvalidArgumentError("--slo-ms: must be > 0");
      if (refine_steps < 0) return InvalidArgumentError("--refine-steps: must be >= 0");
    }
    return vrec::OkStatus();
  }
};

// Everything a run needs to know about the target and its requests. rng and users advance as
// requests are made, so consecutive runs draw different users.
struct Workload {
  tcp::resolver::results_type endpoints;
  std::string address;  // host:port, for messages
  RequestBuilder requests;
  UserSource users;
  std::mt19937_64 rng;
};

// The outcome of one run. Counters cover the measured requests: those due in [warmup, warmup +
// duration) after t0; every one ends as exactly one of ok, errors_http, errors_conn, timeouts.
struct RunResult {
  double target_rate = 0;
  double duration_s = 0;
  int connections = 0;
  uint64_t scheduled = 0;    // measured requests that came due
  uint64_t sent = 0;         // ... and were written to a connection (the rest timed out queued)
  uint64_t ok = 0;           // 2xx responses
  uint64_t errors_http = 0;  // other statuses
  uint64_t errors_conn = 0;  // the connection failed before a response (after one retry if stale)
  uint64_t timeouts = 0;     // no response within --timeout-ms of the due time
  // Seconds from the start of the window to the last 2xx response to a measured request.
  double ok_span_s = 0;
  // Whole run, warmup included:
  uint64_t connect_failures = 0;
  uint64_t reconnects = 0;
  // Latency from due time to completion of measured 2xx responses and timeouts (the latter at the
  // moment they were given up, so a tail of timeouts shows as p99 >= timeout instead of vanishing).
  LatencyHistogram latency;
  // How late the generator noticed each measured request was due: its own scheduling delay.
  LatencyHistogram gen_lag;
  double cpu_s = 0;   // the generator's CPU time (user + system) over the whole run
  double wall_s = 0;  // the whole run: connecting, warmup, window and drain

  // 2xx responses to measured requests per second, over the window or, when the server fell
  // behind, until the last of them came back: so it never exceeds the target (a backlog left by
  // the warmup does not inflate it) and drops to the server's capacity when overloaded.
  double AchievedRate() const { return static_cast<double>(ok) / std::max(duration_s, ok_span_s); }
  uint64_t Failures() const { return errors_http + errors_conn + timeouts; }
};

// One open-loop run against a server: opens `connections` keep-alive connections, then makes
// request i due at t0 + i/rate for warmup + duration seconds, and waits until every request has
// completed or timed out. Owns its io_context and connections; single-threaded (Run drives the
// io_context on the calling thread). Not reusable: one object per run.
class OpenLoopRun {
 public:
  OpenLoopRun(const Options& options, Workload& workload, double rate, double warmup_s, double duration_s,
              std::FILE* latency_log)
      : options_(options),
        workload_(workload),
        latency_log_(latency_log),
        timeout_(std::chrono::milliseconds(options.timeout_ms)),
        period_ns_(1e9 / rate),
        window_begin_ns_(std::llround(warmup_s * 1e9)),
        window_end_ns_(std::llround((warmup_s + duration_s) * 1e9)),
        arrival_timer_(io_),
        sweep_timer_(io_) {
    result_.target_rate = rate;
    result_.duration_s = duration_s;
    result_.connections = options.connections;
    total_ = static_cast<uint64_t>(std::ceil(static_cast<double>(window_end_ns_) / period_ns_));
    while (total_ > 0 && OffsetNs(total_ - 1) >= window_end_ns_) --total_;
    while (OffsetNs(total_) < window_end_ns_) ++total_;
    sweep_interval_ = std::clamp<Clock::duration>(timeout_ / 8, std::chrono::milliseconds(1),
                                                  std::chrono::milliseconds(10));
  }

  OpenLoopRun(const OpenLoopRun&) = delete;
  OpenLoopRun& operator=(const OpenLoopRun&) = delete;

  // Runs to completion. Unavailable if no connection could be opened within --timeout-ms.
  vrec::StatusOr<RunResult> Run() {
    const Clock::time_point start = Clock::now();
    rusage usage_before{};
    getrusage(RUSAGE_SELF, &usage_before);
    for (int i = 0; i < options_.connections; ++i) conns_.push_back(std::make_unique<Connection>(io_));
    setup_pending_ = conns_.size();
    for (auto& c : conns_) Connect(c.get());
    const Clock::time_point setup_deadline = Clock::now() + timeout_;
    while (setup_pending_ > 0 && Clock::now() < setup_deadline) io_.run_one_until(setup_deadline);
    if (idle_.empty()) {
      return vrec::UnavailableError(
          vrec::StrCat("cannot connect to ", workload_.address, ": ", last_connect_error_));
    }
    setup_pending_ = 0;
    io_.restart();

    t0_ = Clock::now();
    t0_unix_us_ = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    ScheduleArrival();
    ScheduleSweep();
    io_.run();

    rusage usage_after{};
    getrusage(RUSAGE_SELF, &usage_after);
    auto seconds = [](const timeval& tv) {
      return static_cast<double>(tv.tv_sec) + 1e-6 * static_cast<double>(tv.tv_usec);
    };
    result_.cpu_s = seconds(usage_after.ru_utime) + seconds(usage_after.ru_stime) -
                    seconds(usage_before.ru_utime) - seconds(usage_before.ru_stime);
    result_.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
    return std::move(result_);
  }

 private:
  enum class State { kConnecting, kRetryWait, kIdle, kBusy };

  // One keep-alive connection and the request it carries, if any. Handlers capture the raw
  // pointer: connections live as long as the run, and a handler whose generation is stale (the
  // socket was closed since) ignores its completion.
  struct Connection {
    explicit Connection(asio::io_context& io) : socket(io), retry_timer(io) {}
    tcp::socket socket;
    asio::steady_timer retry_timer;
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> response;
    std::string request;  // bytes of the current request, kept for a retry
    uint64_t generation = 0;
    State state = State::kConnecting;
    bool setup_done = false;  // its first connect attempt has finished
    Clock::time_point connect_deadline;
    bool has_request = false;
    uint64_t index = 0;    // of the request it carries
    bool retried = false;  // the request was already retried once on a fresh connection
    // The current socket sat idle before its request, so the server may have closed it meanwhile
    // (an idle timeout). False only for a socket opened to carry the request it failed with.
    bool waited_idle = false;
  };

  int64_t OffsetNs(uint64_t index) const { return std::llround(static_cast<double>(index) * period_ns_); }
  Clock::time_point Due(uint64_t index) const { return t0_ + std::chrono::nanoseconds(OffsetNs(index)); }
  bool Measured(uint64_t index) const { return OffsetNs(index) >= window_begin_ns_; }
  double SecondsIntoWindow(Clock::time_point t) const {
    return 1e-9 * static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(t - t0_).count() -
                                      window_begin_ns_);
  }

  void ScheduleArrival() {
    if (next_index_ >= total_) {
      generating_done_ = true;
      MaybeFinish();
      return;
    }
    arrival_timer_.expires_at(Due(next_index_));
    arrival_timer_.async_wait([this](const error_code& ec) {
      if (ec) return;
      const Clock::time_point now = Clock::now();
      while (next_index_ < total_ && Due(next_index_) <= now) {
        const uint64_t index = next_index_++;
        if (Measured(index)) {
          ++result_.scheduled;
          result_.gen_lag.Record(Micros(now - Due(index)));
        }
      }
      Dispatch(now);
      ScheduleArrival();
    });
  }

  // Enforces the timeouts of queued and in-flight requests and of connection attempts. A periodic
  // sweep rather than a timer per request: one wakeup every few ms costs less than re-arming a
  // timer on every request, and timeouts need not be precise to the millisecond.
  void ScheduleSweep() {
    sweep_timer_.expires_after(sweep_interval_);
    sweep_timer_.async_wait([this](const error_code& ec) {
      if (ec) return;
      const Clock::time_point now = Clock::now();
      while (backlog_begin_ < next_index_ && Due(backlog_begin_) + timeout_ <= now)
        ExpireQueued(backlog_begin_++, now);
      for (auto& owned : conns_) {
        Connection* c = owned.get();
        if (c->has_request && Due(c->index) + timeout_ <= now) TimeOut(c, now);
        if (c->state == State::kConnecting && now >= c->connect_deadline) {
          OnConnectFailed(c, asio::error::make_error_code(asio::error::timed_out));
        }
      }
      if (!MaybeFinish()) ScheduleSweep();
    });
  }

  // Sends queued requests, oldest first, on idle connections.
  void Dispatch(Clock::time_point now) {
    while (backlog_begin_ < next_index_ && !idle_.empty()) {
      const uint64_t index = backlog_begin_++;
      if (Due(index) + timeout_ <= now) {
        ExpireQueued(index, now);
        continue;
      }
      // FIFO over idle connections so all of them stay in use: a connection left idle for long
      // may be closed by the server's idle timeout.
      Connection* c = idle_.front();
      idle_.erase(idle_.begin());
      Assign(c, index);
    }
  }

  void Assign(Connection* c, uint64_t index) {
    c->has_request = true;
    c->index = index;
    c->retried = false;
    ++in_flight_;
    if (Measured(index)) ++result_.sent;
    workload_.requests.Build(workload_.users.Next(workload_.rng), c->request);
    Write(c);
  }

  void Write(Connection* c) {
    c->state = State::kBusy;
    const uint64_t gen = c->generation;
    asio::async_write(c->socket, asio::buffer(c->request), [this, c, gen](const error_code& ec, size_t) {
      if (gen != c->generation) return;
      if (ec) {
        OnRequestFailed(c, ec);
        return;
      }
      c->response = {};
      http::async_read(c->socket, c->buffer, c->response, [this, c, gen](const error_code& read_ec, size_t) {
        if (gen != c->generation) return;
        if (read_ec) {
          OnRequestFailed(c, read_ec);
          return;
        }
        OnResponse(c);
      });
    });
  }

  void OnResponse(Connection* c) {
    const Clock::time_point now = Clock::now();
    const unsigned status = c->response.result_int();
    const bool ok = status >= 200 && status < 300;
    if (Measured(c->index)) {
      if (ok) {
        ++result_.ok;
        result_.ok_span_s = std::max(result_.ok_span_s, SecondsIntoWindow(now));
        RecordLatency(c->index, now - Due(c->index));
      } else {
        ++result_.errors_http;
      }
    }
    Release(c);
    if (c->response.keep_alive()) {
      MakeIdle(c, now);
    } else {
      Reconnect(c);
    }
    MaybeFinish();
  }

  void OnRequestFailed(Connection* c, const error_code& ec) {
    // A server may close a keep-alive connection while it sits idle; the next request on it then
    // fails before any byte of a response. Like browsers, retry such an (idempotent) GET once on a
    // fresh connection rather than blame the server; its latency still counts from the due time.
    // A connection never used yet counts too: the server's idle timeout runs from the accept, so a
    // connection opened ahead of its first request can be closed before it.
    const bool stale = c->waited_idle && !c->retried &&
                       (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                        ec == asio::error::broken_pipe || ec == asio::error::eof);
    if (stale) {
      c->retried = true;
      Reconnect(c);
      return;
    }
    if (Measured(c->index)) ++result_.errors_conn;
    Release(c);
    Reconnect(c);
    MaybeFinish();
  }

  void TimeOut(Connection* c, Clock::time_point now) {
    if (Measured(c->index)) {
      ++result_.timeouts;
      RecordLatency(c->index, now - Due(c->index));
    }
    Release(c);
    // The server still owes a response on this socket; only a new connection is usable.
    if (c->state == State::kBusy) Reconnect(c);
  }

  void ExpireQueued(uint64_t index, Clock::time_point now) {
    // Draw the user it would have had, so the users of later requests do not depend on timing.
    workload_.users.Next(workload_.rng);
    if (Measured(index)) {
      ++result_.timeouts;
      RecordLatency(index, now - Due(index));
    }
  }

  void RecordLatency(uint64_t index, Clock::duration latency) {
    const int64_t us = Micros(latency);
    result_.latency.Record(us);
    if (latency_log_ != nullptr) {
      // The request's due time (wall clock, ms since the epoch), so that latencies can be lined up
      // with events outside the generator (a model swap), and its latency.
      const double due_ms = static_cast<double>(t0_unix_us_ + OffsetNs(index) / 1000) / 1e3;
      std::fprintf(latency_log_, "%.3f %lld\n", due_ms, static_cast<long long>(us));
    }
  }

  void Release(Connection* c) {
    c->has_request = false;
    --in_flight_;
  }

  void MakeIdle(Connection* c, Clock::time_point now) {
    c->state = State::kIdle;
    c->waited_idle = true;
    idle_.push_back(c);
    Dispatch(now);
  }

  void Close(Connection* c) {
    ++c->generation;
    error_code ignored;
    c->socket.close(ignored);
    c->retry_timer.cancel();
    c->buffer.clear();
    c->waited_idle = false;
    if (c->state == State::kIdle) idle_.erase(std::find(idle_.begin(), idle_.end(), c));
  }

  void Reconnect(Connection* c) {
    ++result_.reconnects;
    Close(c);
    Connect(c);
  }

  void Connect(Connection* c) {
    c->state = State::kConnecting;
    c->connect_deadline = Clock::now() + timeout_;
    const uint64_t gen = c->generation;
    asio::async_connect(c->socket, workload_.endpoints,
                        [this, c, gen](const error_code& ec, const tcp::endpoint&) {
                          if (gen != c->generation) return;
                          if (ec) {
                            OnConnectFailed(c, ec);
                            return;
                          }
                          error_code ignored;
                          c->socket.set_option(tcp::no_delay(true), ignored);
                          FinishSetup(c);
                          if (c->has_request) {
                            Write(c);  // the retry of a request that met a stale connection
                          } else {
                            MakeIdle(c, Clock::now());
                          }
                        });
  }

  void OnConnectFailed(Connection* c, const error_code& ec) {
    ++result_.connect_failures;
    last_connect_error_ = ec.message();
    FinishSetup(c);
    Close(c);
    if (c->has_request) {
      if (Measured(c->index)) ++result_.errors_conn;
      Release(c);
    }
    c->state = State::kRetryWait;
    c->retry_timer.expires_after(kConnectRetryDelay);
    const uint64_t gen = c->generation;
    c->retry_timer.async_wait([this, c, gen](const error_code& timer_ec) {
      if (!timer_ec && gen == c->generation) Connect(c);
    });
    MaybeFinish();
  }

  void FinishSetup(Connection* c) {
    if (c->setup_done) return;
    c->setup_done = true;
    if (setup_pending_ > 0) --setup_pending_;
  }

  // Stops the run once every request has come due and has an outcome. Returns whether it did.
  bool MaybeFinish() {
    if (!generating_done_ || backlog_begin_ < next_index_ || in_flight_ > 0) return false;
    io_.stop();
    return true;
  }

  const Options& options_;
  Workload& workload_;
  std::FILE* const latency_log_;  // not owned; may be null
  const Clock::duration timeout_;
  const double period_ns_;
  const int64_t window_begin_ns_, window_end_ns_;  // measured window, relative to t0
  int64_t t0_unix_us_ = 0;                         // t0 on the wall clock
  Clock::duration sweep_interval_;

  // Declared before the sockets and timers so it is destroyed after them.
  asio::io_context io_;
  asio::steady_timer arrival_timer_;
  asio::steady_timer sweep_timer_;
  std::vector<std::unique_ptr<Connection>> conns_;
  std::vector<Connection*> idle_;  // idle connections, least recently used first

  Clock::time_point t0_;
  uint64_t total_ = 0;       // requests due before the end of the window
  uint64_t next_index_ = 0;  // the next request to come due
  // Requests [backlog_begin_, next_index_) are due but wait for a connection. A range, not a
  // queue, because due times follow from indices: the backlog costs no memory however long it
  // grows, and requests in it that reach their timeout are counted as timeouts.
  uint64_t backlog_begin_ = 0;
  uint64_t in_flight_ = 0;  // requests assigned to a connection and not finished
  bool generating_done_ = false;
  size_t setup_pending_ = 0;
  std::string last_connect_error_ = "no attempt finished";
  RunResult result_;
};

void PrintResult(const RunResult& r) {
  const auto line = [](std::string_view name, const std::string& value) {
    std::printf("%.*s=%s\n", static_cast<int>(name.size()), name.data(), value.c_str());
  };
  line("target_rate", Fixed(r.target_rate, 1));
  line("achieved_rate", Fixed(r.AchievedRate(), 1));
  line("duration_s", Fixed(r.duration_s, 3));
  line("connections", vrec::StrCat(r.connections));
  line("scheduled", vrec::StrCat(r.scheduled));
  line("sent", vrec::StrCat(r.sent));
  line("ok", vrec::StrCat(r.ok));
  line("errors_http", vrec::StrCat(r.errors_http));
  line("errors_conn", vrec::StrCat(r.errors_conn));
  line("timeouts", vrec::StrCat(r.timeouts));
  line("connect_failures", vrec::StrCat(r.connect_failures));
  line("reconnects", vrec::StrCat(r.reconnects));
  const LatencyHistogram& h = r.latency;
  line("p50_ms", Ms(static_cast<double>(h.QuantileMicros(0.50))));
  line("p90_ms", Ms(static_cast<double>(h.QuantileMicros(0.90))));
  line("p99_ms", Ms(static_cast<double>(h.QuantileMicros(0.99))));
  line("p999_ms", Ms(static_cast<double>(h.QuantileMicros(0.999))));
  line("max_ms", Ms(static_cast<double>(h.MaxMicros())));
  line("mean_ms", Ms(h.MeanMicros()));
  line("gen_lag_p99_ms", Ms(static_cast<double>(r.gen_lag.QuantileMicros(0.99))));
  line("gen_lag_max_ms", Ms(static_cast<double>(r.gen_lag.MaxMicros())));
  line("loadgen_cpu_pct", Fixed(100.0 * r.cpu_s / r.wall_s, 1));
}

vrec::StatusOr<Workload> MakeWorkload(const Options& o) {
  error_code ec;
  asio::io_context io;
  tcp::resolver resolver(io);
  const std::string port = vrec::StrCat(o.port);
  auto endpoints = resolver.resolve(o.host, port, ec);
  if (ec) return vrec::UnavailableError(vrec::StrCat("cannot resolve ", o.host, ": ", ec.message()));
  const std::string address = vrec::StrCat(o.host, ":", port);
  VREC_ASSIGN_OR_RETURN(RequestBuilder requests, RequestBuilder::Create(o.path_template, address, o.headers));
  VREC_ASSIGN_OR_RETURN(UserSource users, o.users_file.empty() ? UserSource::FromRange(o.users)
                                                               : UserSource::FromFile(o.users_file));
  return Workload{std::move(endpoints), address, std::move(requests), std::move(users),
                  std::mt19937_64(o.seed)};
}

vrec::Status RunOnce(const Options& o, Workload& w) {
  std::FILE* log = nullptr;
  if (!o.latency_log.empty()) {
    log = std::fopen(o.latency_log.c_str(), "w");
    if (log == nullptr)
      return vrec::InternalError(vrec::StrCat("--latency-log: cannot write ", o.latency_log));
  }
  OpenLoopRun run(o, w, o.rate, o.warmup_s, o.duration_s, log);
  auto result = run.Run();
  if (log != nullptr && std::fclose(log) != 0) {
    return vrec::InternalError(vrec::StrCat("--latency-log: cannot write ", o.latency_log));
  }
  if (!result.ok()) return result.status();
  PrintResult(*result);
  return vrec::OkStatus();
}

// Steps the rate up until a step fails the SLO, then bisects (geometrically) between the last
// passing and the first failing rate. A step passes when p99 <= --slo-ms, the achieved rate is at
// least 95% of the target and at most 1% of requests failed (errors or timeouts).
vrec::Status FindSaturation(const Options& o, Workload& w) {
  const auto passes = [&](const RunResult& r) {
    return static_cast<double>(r.latency.QuantileMicros(0.99)) <= o.slo_ms * 1000.0 &&
           r.AchievedRate() >= 0.95 * r.target_rate &&
           static_cast<double>(r.Failures()) <= 0.01 * static_cast<double>(r.scheduled);
  };
  std::optional<RunResult> best;
  double pass_rate = 0, fail_rate = 0;
  int step = 0;
  const auto run_step = [&](double rate) -> vrec::StatusOr<bool> {
    if (step > 0) std::this_thread::sleep_for(kStepCooldown);
    ++step;
    OpenLoopRun run(o, w, rate, o.step_warmup_s, o.step_s, nullptr);
    VREC_ASSIGN_OR_RETURN(RunResult r, run.Run());
    const bool pass = passes(r);
    std::printf("step=%d target_rate=%s achieved_rate=%s p50_ms=%s p99_ms=%s failures=%llu pass=%d\n", step,
                Fixed(rate, 1).c_str(), Fixed(r.AchievedRate(), 1).c_str(),
                Ms(static_cast<double>(r.latency.QuantileMicros(0.5))).c_str(),
                Ms(static_cast<double>(r.latency.QuantileMicros(0.99))).c_str(),
                static_cast<unsigned long long>(r.Failures()), pass ? 1 : 0);
    std::fflush(stdout);
    if (pass && (!best || rate > best->target_rate)) best = std::move(r);
    return pass;
  };
  for (double rate = o.rate > 0 ? o.rate : 100; rate <= o.max_rate; rate *= o.step_factor) {
    VREC_ASSIGN_OR_RETURN(const bool pass, run_step(rate));
    if (!pass) {
      fail_rate = rate;
      break;
    }
    pass_rate = rate;
  }
  for (int i = 0; i < o.refine_steps && pass_rate > 0 && fail_rate > 0; ++i) {
    const double mid = std::sqrt(pass_rate * fail_rate);
    VREC_ASSIGN_OR_RETURN(const bool pass, run_step(mid));
    (pass ? pass_rate : fail_rate) = mid;
  }
  if (!best) std::fprintf(stderr, "loadgen: the first step already failed; start lower with --rate\n");
  std::printf("slo_p99_ms=%s\n", Fixed(o.slo_ms, 3).c_str());
  std::printf("saturation_rate=%s\n", Fixed(best ? best->target_rate : 0.0, 1).c_str());
  std::printf("saturation_achieved_rate=%s\n", Fixed(best ? best->AchievedRate() : 0.0, 1).c_str());
  std::printf("saturation_p99_ms=%s\n",
              Ms(best ? static_cast<double>(best->latency.QuantileMicros(0.99)) : 0.0).c_str());
  std::printf("saturation_capped=%d\n", fail_rate == 0 ? 1 : 0);  // --max-rate reached, all passed
  return vrec::OkStatus();
}

// A stub HTTP/1.1 keep-alive server of known capacity, to test the generator: every request
// blocks its thread for `delay` (a stand-in for CPU work, so `threads` threads serve at most
// threads/delay requests per second), then gets a small JSON body. Thread-safe: sessions run
// on a pool of `threads` threads; each session's handlers run one at a time.
class StubServer {
 public:
  struct Config {
    std::chrono::microseconds delay{0};
    int threads = 1;
    uint64_t error_every = 0;  // answer 500 to every n-th request (server-wide); 0: never
    uint64_t close_every = 0;  // close a connection after n responses on it; 0: keep it open
  };

  // Binds host:port (0: any free port). Unavailable if the address cannot be bound.
  static vrec::StatusOr<std::unique_ptr<StubServer>> Listen(const std::string& host, uint16_t port,
                                                            const Config& config) {
    auto server = std::unique_ptr<StubServer>(new StubServer(config));
    error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (ec) return vrec::InvalidArgumentError(vrec::StrCat("--host: not an IP address: ", host));
    const tcp::endpoint endpoint(address, port);
    tcp::acceptor& a = server->acceptor_;
    a.open(endpoint.protocol(), ec);
    if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) a.bind(endpoint, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return vrec::UnavailableError(vrec::StrCat("cannot listen on ", host, ":", port, ": ", ec.message()));
    return server;
  }

  uint16_t port() const { return acceptor_.local_endpoint().port(); }

  // Serves until SIGINT or SIGTERM.
  void Run() {
    asio::signal_set signals(io_, SIGINT, SIGTERM);
    signals.async_wait([this](const error_code&, int) { io_.stop(); });
    Accept();
    std::vector<std::thread> threads;
    for (int i = 1; i < config_.threads; ++i) threads.emplace_back([this] { io_.run(); });
    io_.run();
    for (auto& t : threads) t.join();
  }

 private:
  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(tcp::socket socket, StubServer& server) : socket_(std::move(socket)), server_(server) {}

    void Read() {
      request_ = {};
      http::async_read(socket_, buffer_, request_,
                       [self = shared_from_this()](const error_code& ec, size_t) { self->OnRequest(ec); });
    }

   private:
    void OnRequest(const error_code& ec) {
      if (ec) return;  // the client closed or sent garbage: drop the connection
      if (server_.config_.delay.count() > 0) std::this_thread::sleep_for(server_.config_.delay);
      const uint64_t n = ++server_.requests_;
      ++served_;
      const bool error = server_.config_.error_every > 0 && n % server_.config_.error_every == 0;
      response_ = {};
      response_.version(request_.version());
      response_.result(error ? http::status::internal_server_error : http::status::ok);
      response_.set(http::field::content_type, "application/json");
      response_.keep_alive(request_.keep_alive() &&
                           !(server_.config_.close_every > 0 && served_ % server_.config_.close_every == 0));
      response_.body() = vrec::StrCat("{\"request\":", n, ",\"items\":[]}");
      response_.prepare_payload();
      http::async_write(socket_, response_, [self = shared_from_this()](const error_code& write_ec, size_t) {
        if (write_ec) return;
        if (!self->response_.keep_alive()) {
          error_code ignored;
          self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
          return;
        }
        self->Read();
      });
    }

    tcp::socket socket_;
    StubServer& server_;
    boost::beast::flat_buffer buffer_;
    http::request<http::string_body> request_;
    http::response<http::string_body> response_;
    uint64_t served_ = 0;
  };

  explicit StubServer(const Config& config) : acceptor_(io_), config_(config) {}

  void Accept() {
    acceptor_.async_accept([this](const error_code& ec, tcp::socket socket) {
      if (!ec) {
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        std::make_shared<Session>(std::move(socket), *this)->Read();
      }
      Accept();
    });
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  const Config config_;
  std::atomic<uint64_t> requests_{0};
};

vrec::Status Serve(const Options& o) {
  StubServer::Config config;
  config.delay = std::chrono::microseconds(std::llround(o.serve_delay_ms * 1000.0));
  config.threads = o.serve_threads;
  config.error_every = o.serve_error_every;
  config.close_every = o.serve_close_every;
  VREC_ASSIGN_OR_RETURN(auto server, StubServer::Listen(o.host, static_cast<uint16_t>(o.port), config));
  std::printf("port=%u\n", static_cast<unsigned>(server->port()));
  std::fflush(stdout);
  server->Run();
  return vrec::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "Open-loop HTTP load generator: requests at a fixed rate, latency from each request's due time."};
  app.add_option("--host", o.host, "Server address (default 127.0.0.1)");
  app.add_option("--port", o.port, "Server port (with --serve: port to listen on, 0 = any)");
  app.add_option("--rate", o.rate,
                 "Requests per second (with --find-saturation: the first step, default 100)");
  app.add_option("--duration", o.duration_s, "Measured seconds (default 10)");
  app.add_option("--warmup", o.warmup_s, "Seconds before measuring, excluded from all figures (default 2)");
  app.add_option("--connections", o.connections, "Keep-alive connections, opened up front (default 256)");
  app.add_option("--path-template", o.path_template, "Request target; {user} becomes a user id");
  app.add_option("--users", o.users, "User ids A-B drawn uniformly (default 1-1000)");
  app.add_option("--users-file", o.users_file, "User ids drawn uniformly from a file, one per line");
  app.add_option("--header", o.headers, "Extra request header 'Name: value' (repeatable)");
  app.add_option("--timeout-ms", o.timeout_ms,
                 "Give a request up this long after its due time, and connection attempts after this long "
                 "(default 2000)");
  app.add_option("--seed", o.seed, "Seed of the user draw (default 1)");
  app.add_option("--latency-log", o.latency_log,
                 "Write each measured request to this file: its due time (wall clock, ms since the epoch) "
                 "and latency (us)");
  app.add_flag("--find-saturation", o.find_saturation,
               "Step the rate up until the SLO breaks; print saturation_rate");
  app.add_option("--slo-ms", o.slo_ms, "p99 bound for --find-saturation (default 20)");
  app.add_option("--step-seconds", o.step_s, "Measured seconds per step (default 5)");
  app.add_option("--step-warmup", o.step_warmup_s, "Warmup seconds per step (default 1)");
  app.add_option("--step-factor", o.step_factor, "Rate multiplier between steps (default 1.25)");
  app.add_option("--max-rate", o.max_rate, "Highest rate --find-saturation tries (default 1e6)");
  app.add_option("--refine-steps", o.refine_steps,
                 "Bisection steps after the first failing step (default 2)");
  app.add_flag("--serve", o.serve, "Run the stub test server instead (prints port=N)");
  app.add_option("--serve-delay-ms", o.serve_delay_ms,
                 "Stub server: ms each request blocks its thread (default 0)");
  app.add_option("--serve-threads", o.serve_threads, "Stub server: threads (default 1)");
  app.add_option("--serve-error-every", o.serve_error_every, "Stub server: answer 500 to every n-th request");
  app.add_option("--serve-close-every", o.serve_close_every,
                 "Stub server: close connections after n responses");
  CLI11_PARSE(app, argc, argv);

  vrec::Status status = o.Validate();
  if (status.ok()) {
    if (o.serve) {
      status = Serve(o);
    } else {
      auto workload = MakeWorkload(o);
      status = !workload.ok()      ? workload.status()
               : o.find_saturation ? FindSaturation(o, *workload)
                                   : RunOnce(o, *workload);
    }
  }
  if (!status.ok()) {
    std::fprintf(stderr, "loadgen: %s\n", status.message().c_str());
    return 1;
  }
  return 0;
}
