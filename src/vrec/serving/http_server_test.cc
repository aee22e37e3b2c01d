#include "vrec/serving/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "vrec/common/strings.h"

namespace vrec::serving {
namespace {

// The test client is plain POSIX sockets with a receive timeout, independent of the server's Beast
// code, so that a server that fails to answer makes a test fail instead of hang.
class RawConnection {
 public:
  struct Response {
    int status = 0;
    std::string head;  // status line and header fields
    std::string body;
    std::string Header(std::string_view name) const {
      const std::string lower_head = AsciiStrToLower(head);
      const std::string needle = "\r\n" + AsciiStrToLower(name) + ":";
      const size_t at = lower_head.find(needle);
      if (at == std::string::npos) return "";
      const size_t start = at + needle.size();
      const size_t end = head.find("\r\n", start);
      return std::string(StripAsciiWhitespace(std::string_view(head).substr(start, end - start)));
    }
  };

  explicit RawConnection(int port, int timeout_ms = 10000) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      throw std::runtime_error(StrCat("connect failed: ", std::strerror(errno)));
    }
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // False when the peer has closed the connection.
  bool Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response (the server always sends Content-Length); nullopt on EOF, error or timeout.
  std::optional<Response> ReadResponse() {
    size_t header_end;
    while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    Response r;
    r.head = buf_.substr(0, header_end);
    if (r.head.size() < 12) return std::nullopt;
    r.status = std::stoi(r.head.substr(9, 3));
    const std::string length = r.Header("content-length");
    const size_t body_size = length.empty() ? 0 : std::stoul(length);
    while (buf_.size() < header_end + 4 + body_size) {
      if (!Fill()) return std::nullopt;
    }
    r.body = buf_.substr(header_end + 4, body_size);
    buf_.erase(0, header_end + 4 + body_size);
    return r;
  }

  // Sends a request and reads its response.
  std::optional<Response> Roundtrip(std::string_view request) {
    if (!Send(request)) return std::nullopt;
    return ReadResponse();
  }

  // True when the server closes the connection (EOF or reset) before the timeout, with no more data.
  bool ClosedByPeer() {
    char c;
    const ssize_t n = ::recv(fd_, &c, 1, 0);
    if (n == 0) return true;
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK;
  }

 private:
  bool Fill() {
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buf_;
};

std::string Get(std::string_view target, std::string_view extra_headers = "") {
  return StrCat("GET ", target, " HTTP/1.1\r\nHost: localhost\r\n", extra_headers, "\r\n");
}

std::string Post(std::string_view target, std::string_view body) {
  return StrCat("POST ", target,
                " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ",
                body.size(), "\r\n\r\n", body);
}

// Echoes the parsed request as "key=value" lines; "/throw" throws; "/status/N" answers N.
void EchoHandler(const HttpRequest& req, HttpResponse& res) {
  if (req.path == "/throw") throw std::runtime_error("boom");
  if (req.path.starts_with("/status/")) {
    res.status = std::stoi(req.path.substr(8));
    return;
  }
  res.content_type = "text/plain";
  res.headers.emplace_back("X-Echo", "yes");
  std::string out = StrCat("method=", req.method, "\npath=", req.path, "\n");
  for (const auto& [k, v] : req.query) out += StrCat("query:", k, "=", v, "\n");
  out += StrCat("user-agent=", req.Header("USER-AGENT"), "\nbody=", req.body, "\n");
  res.body = std::move(out);
}

std::unique_ptr<HttpServer> StartServer(HttpServerOptions options = {}, HttpHandler handler = EchoHandler) {
  options.port = 0;
  if (!options.error_log) options.error_log = [](std::string_view) {};  // keep the test output clean
  auto server = HttpServer::Start(std::move(options), std::move(handler));
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(server).value() : nullptr;
}

// Polls `cond` for up to 5 s (the server counts connections asynchronously).
template <typename F>
bool Eventually(F cond) {
  for (int i = 0; i < 500; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

TEST(HttpServer, GetWithDecodedQueryAndHeaders) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  EXPECT_GT(server->port(), 0);
  RawConnection c(server->port());
  auto r = c.Roundtrip(Get("/recommend?user=u%2042&k=10&name=a+b&flag", "User-Agent: test/1\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("content-type"), "text/plain");
  EXPECT_EQ(r->Header("x-echo"), "yes");
  EXPECT_EQ(r->body,
            "method=GET\npath=/recommend\nquery:flag=\nquery:k=10\nquery:name=a b\nquery:user=u 42\n"
            "user-agent=test/1\nbody=\n");
}

TEST(HttpServer, PostBodyReachesTheHandler) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  RawConnection c(server->port());
  const std::string body = R"({"user":"u1","video":"v9","type":"watch"})";
  auto r = c.Roundtrip(Post("/events", body));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, StrCat("method=POST\npath=/events\nuser-agent=\nbody=", body, "\n"));
}

TEST(HttpServer, AbsoluteFormTargetIsAccepted) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  RawConnection c(server->port());
  auto r = c.Roundtrip(Get("http://localhost:8080/health?x=1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("path=/health\nquery:x=1\n"), std::string::npos) << r->body;
}

TEST(HttpServer, BadPercentEncodingGets400AndTheConnectionStaysUsable) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  RawConnection c(server->port());
  auto r = c.Roundtrip(Get("/recommend?user=%zz"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->Header("content-type"), "application/json");
  EXPECT_TRUE(r->body.starts_with(
      R"({"error":{"code":400,"status":"INVALID_ARGUMENT","message":"bad percent-encoding)"))
      << r->body;
  auto next = c.Roundtrip(Get("/ok"));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST(HttpServer, KeepAliveServesAThousandRequestsOnOneConnection) {
  std::mutex mu;
  std::set<std::string> remotes;
  auto server = StartServer({}, [&](const HttpRequest& req, HttpResponse& res) {
    {
      std::lock_guard<std::mutex> lock(mu);
      remotes.insert(req.remote);
    }
    res.body = StrCat("{\"n\":", req.Query("n") ? *req.Query("n") : "", "}");
  });
  ASSERT_NE(server, nullptr);
  RawConnection c(server->port());
  for (int i = 0; i < 1000; ++i) {
    auto r = c.Roundtrip(Get(StrCat("/x?n=", i)));
    ASSERT_TRUE(r) << "request " << i;
    ASSERT_EQ(r->status, 200);
    ASSERT_EQ(r->body, StrCat("{\"n\":", i, "}"));
    ASSERT_NE(r->Header("connection"), "close");
  }
  EXPECT_EQ(server->open_connections(), 1u);
  ASSERT_EQ(remotes.size(), 1u);
  EXPECT_TRUE(remotes.begin()->starts_with("127.0.0.1:")) << *remotes.begin();
}

TEST(HttpServer, HoldsThreeHundredSimultaneousKeepAliveConnections) {
  HttpServerOptions options;
  options.max_connections_per_client = 1000;  // every test connection comes from 127.0.0.1
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  constexpr int kConnections = 300;
  std::vector<std::unique_ptr<RawConnection>> conns;
  for (int i = 0; i < kConnections; ++i) conns.push_back(std::make_unique<RawConnection>(server->port()));
  // Every connection sends before any reads, so all requests are in flight at once.
  for (int i = 0; i < kConnections; ++i) ASSERT_TRUE(conns[i]->Send(Get(StrCat("/c?i=", i))));
  for (int i = 0; i < kConnections; ++i) {
    auto r = conns[i]->ReadResponse();
    ASSERT_TRUE(r) << "connection " << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->body.find(StrCat("query:i=", i, "\n")), std::string::npos);
  }
  EXPECT_TRUE(Eventually([&] { return server->open_connections() == kConnections; }))
      << server->open_connections();
  // All still open: a second round on the same connections.
  for (int i = 0; i < kConnections; ++i) {
    auto r = conns[i]->Roundtrip(Get("/again"));
    ASSERT_TRUE(r) << "connection " << i;
    EXPECT_EQ(r->status, 200);
  }
  conns.clear();
  EXPECT_TRUE(Eventually([&] { return server->open_connections() == 0; })) << server->open_connections();
}

TEST(HttpServer, PipelinedRequestsAreAnsweredInOrder) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  RawConnection c(server->port());
  ASSERT_TRUE(c.Send(Get("/a") + Post("/b", "xyz") + Get("/c")));
  for (const char* path : {"/a", "/b", "/c"}) {
    auto r = c.ReadResponse();
    ASSERT_TRUE(r);
    EXPECT_NE(r->body.find(StrCat("path=", path, "\n")), std::string::npos) << r->body;
  }
}

TEST(HttpServer, OversizedBodyGets413) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  {
    RawConnection c(server->port());
    auto ok = c.Roundtrip(Post("/events", std::string(1024, 'a')));
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
  }
  {
    RawConnection c(server->port());
    auto r = c.Roundtrip(Post("/events", std::string(200000, 'a')));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_EQ(
        r->body,
        R"({"error":{"code":413,"status":"PAYLOAD_TOO_LARGE","message":"request body is larger than the limit of 1024 bytes"}})");
    EXPECT_EQ(r->Header("connection"), "close");
    EXPECT_TRUE(c.ClosedByPeer());
  }
  {
    // Chunked: the size is only known while reading.
    RawConnection c(server->port());
    std::string req = "POST /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 3; ++i) req += "200\r\n" + std::string(512, 'b') + "\r\n";
    req += "0\r\n\r\n";
    auto r = c.Roundtrip(req);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
  }
}

TEST(HttpServer, GarbageGets400AndTheServerKeepsServing) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  {
    RawConnection c(server->port());
    auto r = c.Roundtrip("\x01\x02 this is not HTTP\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_TRUE(r->body.starts_with(
        R"({"error":{"code":400,"status":"INVALID_ARGUMENT","message":"malformed HTTP request: )"))
        << r->body;
    EXPECT_TRUE(c.ClosedByPeer());
  }
  {
    RawConnection c(server->port());
    auto r = c.Roundtrip("GET /x HTTP/1.1\r\nContent-Length: nope\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
  }
  RawConnection next(server->port());
  auto r = next.Roundtrip(Get("/fine"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(HttpServer, OversizedHeaderGets431) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  RawConnection c(server->port());
  auto r = c.Roundtrip(Get("/x", StrCat("Cookie: ", std::string(20000, 'c'), "\r\n")));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
}

TEST(HttpServer, HandlerExceptionGets500AndTheConnectionStaysUsable) {
  std::vector<std::string> log;
  std::mutex mu;
  HttpServerOptions options;
  options.error_log = [&](std::string_view line) {
    std::lock_guard<std::mutex> lock(mu);
    log.emplace_back(line);
  };
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  RawConnection c(server->port());
  auto r = c.Roundtrip(Get("/throw"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, R"({"error":{"code":500,"status":"INTERNAL","message":"internal error"}})");
  auto next = c.Roundtrip(Get("/after"));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("boom"), std::string::npos) << log[0];
}

TEST(HttpServer, InvalidHandlerStatusBecomes500) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  RawConnection c(server->port());
  auto r = c.Roundtrip(Get("/status/42"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  auto not_found = c.Roundtrip(Get("/status/404"));
  ASSERT_TRUE(not_found);
  EXPECT_EQ(not_found->status, 404);
}

TEST(HttpServer, ExpectContinueIsAnsweredBeforeTheBody) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  RawConnection c(server->port(), /*timeout_ms=*/3000);
  const std::string body(5000, 'z');
  ASSERT_TRUE(c.Send(StrCat("POST /events HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: ",
                            body.size(), "\r\n\r\n")));
  auto interim = c.ReadResponse();
  ASSERT_TRUE(interim) << "no 100 Continue";
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.Send(body));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find(body), std::string::npos);
}

TEST(HttpServer, ConnectionCloseAndHttp10CloseAfterTheResponse) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  {
    RawConnection c(server->port());
    auto r = c.Roundtrip(Get("/x", "Connection: close\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->Header("connection"), "close");
    EXPECT_TRUE(c.ClosedByPeer());
  }
  {
    RawConnection c(server->port());
    auto r = c.Roundtrip("GET /x HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->head.starts_with("HTTP/1.0 200"));
    EXPECT_TRUE(c.ClosedByPeer());
  }
}

TEST(HttpServer, IdleConnectionsAreClosed) {
  HttpServerOptions options;
  options.idle_timeout_s = 1;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  RawConnection c(server->port(), /*timeout_ms=*/5000);
  ASSERT_TRUE(c.Roundtrip(Get("/x")));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.ClosedByPeer());
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(waited, 0.5);
  EXPECT_LT(waited, 3.0);
  EXPECT_TRUE(Eventually([&] { return server->open_connections() == 0; }));
}

TEST(HttpServer, ConnectionsBeyondTheLimitAreClosedAtOnce) {
  HttpServerOptions options;
  options.max_connections = 2;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  RawConnection a(server->port()), b(server->port());
  ASSERT_TRUE(a.Roundtrip(Get("/a")));
  ASSERT_TRUE(b.Roundtrip(Get("/b")));
  RawConnection c(server->port(), /*timeout_ms=*/3000);
  c.Send(Get("/c"));
  EXPECT_FALSE(c.ReadResponse());
  ASSERT_TRUE(a.Roundtrip(Get("/a2"))) << "existing connections are unaffected";
}

TEST(HttpServer, ConnectionsOfOneClientBeyondItsCapAreClosedAtOnce) {
  HttpServerOptions options;
  options.max_connections_per_client = 2;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  RawConnection a(server->port()), b(server->port());
  ASSERT_TRUE(a.Roundtrip(Get("/a")));
  ASSERT_TRUE(b.Roundtrip(Get("/b")));
  {
    RawConnection c(server->port(), /*timeout_ms=*/3000);
    c.Send(Get("/c"));
    EXPECT_FALSE(c.ReadResponse()) << "a third connection from the same address is refused";
  }
  ASSERT_TRUE(a.Roundtrip(Get("/a2"))) << "existing connections are unaffected";
  // A slot frees up when a connection closes.
  b.Send("GET /bye HTTP/1.1\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(b.ReadResponse());
  ASSERT_TRUE(Eventually([&] { return server->open_connections() == 1; }));
  RawConnection d(server->port());
  EXPECT_TRUE(d.Roundtrip(Get("/d")));
}

// Slowloris: a client that trickles its header is cut off at the header deadline, however long
// the idle deadline is.
TEST(HttpServer, HeaderTricklingIsCutOffAtTheHeaderDeadline) {
  HttpServerOptions options;
  options.idle_timeout_s = 30;
  options.header_timeout_s = 1;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  RawConnection c(server->port(), /*timeout_ms=*/5000);
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) {
    closed = !c.Send("X");  // one header byte every 100 ms
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    closed = closed || server->open_connections() == 0;
  }
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(closed);
  EXPECT_LT(waited, 3.0);
  EXPECT_TRUE(Eventually([&] { return server->open_connections() == 0; }));
}

TEST(HttpServer, SlowBodyIsCutOffAtTheBodyDeadline) {
  HttpServerOptions options;
  options.body_timeout_s = 1;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  RawConnection c(server->port(), /*timeout_ms=*/5000);
  ASSERT_TRUE(c.Send("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc"));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.ClosedByPeer());
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(waited, 3.0);
}

TEST(HttpServer, RejectsBadDeadlinesAndCaps) {
  for (auto set : {+[](HttpServerOptions& o) { o.header_timeout_s = 0; },
                   +[](HttpServerOptions& o) { o.body_timeout_s = 0; },
                   +[](HttpServerOptions& o) { o.write_timeout_s = 0; },
                   +[](HttpServerOptions& o) { o.max_connections_per_client = 0; }}) {
    HttpServerOptions o;
    o.port = 0;
    set(o);
    auto server = HttpServer::Start(o, EchoHandler);
    EXPECT_EQ(server.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(HttpServer, StopWithOpenConnectionsReturnsPromptly) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  std::vector<std::unique_ptr<RawConnection>> conns;
  for (int i = 0; i < 20; ++i) {
    conns.push_back(std::make_unique<RawConnection>(server->port(), /*timeout_ms=*/3000));
    ASSERT_TRUE(conns.back()->Roundtrip(Get("/x")));
  }
  // One more connected but silent, one with a half-sent request.
  conns.push_back(std::make_unique<RawConnection>(server->port(), 3000));
  conns.push_back(std::make_unique<RawConnection>(server->port(), 3000));
  conns.back()->Send("GET /partial HTTP/1.1\r\nHost:");
  ASSERT_TRUE(Eventually([&] { return server->open_connections() == 22; })) << server->open_connections();

  const auto start = std::chrono::steady_clock::now();
  server->Stop();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(took, 1.0);
  EXPECT_EQ(server->open_connections(), 0u);
  for (auto& c : conns) EXPECT_TRUE(c->ClosedByPeer());
  server->Stop();  // idempotent
  EXPECT_THROW(RawConnection(server->port(), 1000), std::runtime_error) << "no longer listening";
}

TEST(HttpServer, StopWaitsForARunningHandler) {
  std::atomic<bool> entered{false}, finished{false};
  auto server = StartServer({}, [&](const HttpRequest&, HttpResponse&) {
    entered = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    finished = true;
  });
  ASSERT_NE(server, nullptr);
  RawConnection c(server->port(), 3000);
  c.Send(Get("/slow"));
  ASSERT_TRUE(Eventually([&] { return entered.load(); }));
  server->Stop();
  EXPECT_TRUE(finished.load());
}

TEST(HttpServer, StartReportsBadOptionsAndBusyPorts) {
  auto first = StartServer();
  ASSERT_NE(first, nullptr);
  HttpServerOptions busy;
  busy.port = first->port();
  auto s = HttpServer::Start(busy, EchoHandler);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(s.status().message().find(StrCat("127.0.0.1:", first->port())), std::string::npos)
      << s.status().message();
  EXPECT_NE(s.status().message().find("in use"), std::string::npos) << s.status().message();

  HttpServerOptions bad_address;
  bad_address.address = "localhost:80";
  EXPECT_EQ(HttpServer::Start(bad_address, EchoHandler).status().code(), StatusCode::kInvalidArgument);
  HttpServerOptions not_local;
  not_local.address = "192.0.2.1";  // TEST-NET-1: never an address of this machine
  not_local.port = 0;
  EXPECT_EQ(HttpServer::Start(not_local, EchoHandler).status().code(), StatusCode::kUnavailable);
  HttpServerOptions bad_port;
  bad_port.port = 70000;
  EXPECT_EQ(HttpServer::Start(bad_port, EchoHandler).status().code(), StatusCode::kInvalidArgument);
  HttpServerOptions no_threads;
  no_threads.port = 0;
  no_threads.threads = 0;
  EXPECT_EQ(HttpServer::Start(no_threads, EchoHandler).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(HttpServer::Start({}, nullptr).status().code(), StatusCode::kInvalidArgument);
}

TEST(PercentDecode, DecodesAndRejectsBadEscapes) {
  EXPECT_EQ(PercentDecode("a%20b%2Fc%2f", false).value(), "a b/c/");
  EXPECT_EQ(PercentDecode("a+b", false).value(), "a+b");
  EXPECT_EQ(PercentDecode("a+b", true).value(), "a b");
  EXPECT_EQ(PercentDecode("%e2%82%AC", false).value(), "\xe2\x82\xac");
  for (const char* bad : {"%", "%2", "a%g0", "%0x", "abc%"}) {
    EXPECT_EQ(PercentDecode(bad, true).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ParseQueryString, SplitsDecodesAndKeepsTheLastRepeat) {
  std::map<std::string, std::string> q;
  ASSERT_TRUE(ParseQueryString("a=1&&b=x%3Dy&c&a=2&d=&e%20f=g+h", q).ok());
  const std::map<std::string, std::string> expected = {
      {"a", "2"}, {"b", "x=y"}, {"c", ""}, {"d", ""}, {"e f", "g h"}};
  EXPECT_EQ(q, expected);
  std::map<std::string, std::string> bad;
  EXPECT_FALSE(ParseQueryString("a=%", bad).ok());
}

TEST(HttpRequest, HeaderLookupIsCaseInsensitive) {
  HttpRequest r;
  r.headers = {{"Content-Type", "application/json"}, {"X-Api-Key", "k1"}, {"x-api-key", "k2"}};
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.Header("X-API-KEY"), "k1");
  EXPECT_EQ(r.Header("missing"), "");
}

TEST(JsonErrorResponse, ServerErrorsNeverCarryTheirMessage) {
  // A RocksDB error names the server's paths: the client gets the reason, not the message.
  HttpResponse r = JsonErrorResponse(InternalError("IO error: /var/lib/vrec/state/000123.log: No space"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, R"({"error":{"code":500,"status":"INTERNAL","message":"internal error"}})");
  r = JsonErrorResponse(DataLossError("/srv/registry/versions/v1/x: bad"));
  EXPECT_EQ(r.body, R"({"error":{"code":500,"status":"DATA_LOSS","message":"internal error"}})");
  r = JsonErrorResponse(UnavailableError("rocksdb:///srv/state is busy"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body.find("/srv"), std::string::npos) << r.body;
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Retry-After");
}

TEST(JsonErrorResponse, ScopesAndLimitsHaveTheirOwnStatus) {
  EXPECT_EQ(HttpStatusFor(StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(StatusCode::kResourceExhausted), 429);
  HttpResponse r = JsonErrorResponse(ResourceExhaustedError("rate limit"));
  EXPECT_EQ(r.body, R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"rate limit"}})");
  EXPECT_EQ(r.headers.at(0).first, "Retry-After");
}

TEST(JsonErrorResponse, MessagesAreValidUtf8) {
  HttpResponse r = JsonErrorResponse(InvalidArgumentError("unknown parameter 'a\xff\xc3'"));
  EXPECT_EQ(r.body,
            "{\"error\":{\"code\":400,\"status\":\"INVALID_ARGUMENT\",\"message\":"
            "\"unknown parameter 'a\xEF\xBF\xBD\xEF\xBF\xBD'\"}}");
}

TEST(JsonErrorResponse, MapsStatusCodesAndEscapesMessages) {
  HttpResponse r = JsonErrorResponse(NotFoundError("no user \"u1\"\n"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, R"({"error":{"code":404,"status":"NOT_FOUND","message":"no user \"u1\"\n"}})");
  EXPECT_EQ(JsonQuote(std::string("a\x01\\b\t")), R"("a\u0001\\b\t")");
  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(StatusCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::kFailedPrecondition), 412);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(StatusCode::kDataLoss), 500);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInternal), 500);
}

// Found by fuzz/service_fuzz: GET ...?count=%FF quoted the decoded byte 0xFF into the error message
// and the body was not valid JSON.
TEST(JsonQuote, ReplacesBytesThatAreNotUtf8) {
  const std::string fffd = "\xEF\xBF\xBD";  // U+FFFD, as UTF-8
  EXPECT_EQ(JsonQuote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xac"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xac\"");
  EXPECT_EQ(JsonQuote("count '\xff'"), "\"count '" + fffd + "'\"");
  EXPECT_EQ(JsonQuote("\xc3"), "\"" + fffd + "\"");                                   // truncated sequence
  EXPECT_EQ(JsonQuote("\xc0\xaf"), "\"" + fffd + fffd + "\"");                        // overlong '/'
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"), "\"" + fffd + fffd + fffd + "\"");             // a surrogate
  EXPECT_EQ(JsonQuote("\xf4\x90\x80\x80"), "\"" + fffd + fffd + fffd + fffd + "\"");  // above U+10FFFF
  EXPECT_EQ(JsonErrorResponse(400, "x\x80").body,
            R"({"error":{"code":400,"status":"INVALID_ARGUMENT","message":"x)" + fffd + R"("}})");
}

}  // namespace
}  // namespace vrec::serving
