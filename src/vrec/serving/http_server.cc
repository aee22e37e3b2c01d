#include "vrec/serving/http_server.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>

// Boost 1.74's Asio uses std::exchange etc. without including <utility>, which GCC 12 in C++20 mode
// no longer pulls in transitively (docs/dependencies.md): the standard headers above come first.
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "vrec/common/strings.h"

namespace vrec::serving {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// Larger headers get 431: a recommendation request has a short target and a few fields; Beast's own
// default (8 KiB) is tight for long cookies behind a proxy.
constexpr uint32_t kMaxHeaderBytes = 16 * 1024;
// After an error response the connection is closed "lingeringly": our side is shut down and what the
// client is still sending (e.g. the rest of an oversized body) is read and discarded for a while, so
// that closing with unread data does not make the kernel send a RST that destroys the error
// response before the client reads it.
constexpr size_t kMaxLingerBytes = 4 << 20;
constexpr auto kLingerTimeout = std::chrono::seconds(2);
// Pause before accepting again after an accept error (e.g. out of file descriptors), so that a
// persistent error does not spin a core.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(50);

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view View(beast::string_view s) { return std::string_view(s.data(), s.size()); }

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

std::string EndpointString(const tcp::endpoint& e) {
  const std::string ip = e.address().to_string();
  return e.address().is_v6() ? StrCat("[", ip, "]:", e.port()) : StrCat(ip, ":", e.port());
}

// State shared by the server and its sessions. Sessions hold it by shared_ptr, so it outlives the
// last of them whatever the destruction order.
struct ServerState {
  HttpServerOptions options;
  HttpHandler handler;

  std::mutex mu;
  bool stopping = false;                                          // guarded by mu
  std::unordered_map<const void*, std::weak_ptr<void>> sessions;  // guarded by mu
  std::unordered_map<std::string, int> per_client;                // guarded by mu: open per peer IP
  std::atomic<size_t> open{0};

  void Log(std::string_view message) const {
    if (options.error_log) {
      options.error_log(message);
    } else {
      std::fprintf(stderr, "vrec http: %.*s\n", static_cast<int>(message.size()), message.data());
    }
  }
};

// One connection. Every member function runs on the connection's strand (the executor of its
// socket), so there is no locking inside a session; Close() is the only entry point from other
// threads and posts to the strand. The session keeps itself alive by passing shared_from_this() to
// each pending operation: it is destroyed when the last operation completes without starting another.
class Session : public std::enable_shared_from_this<Session> {
 public:
  // `client` is the peer's IP address (the per-client connection count key), `remote` ip:port.
  Session(tcp::socket&& socket, std::shared_ptr<ServerState> state, std::string client, std::string remote)
      : stream_(std::move(socket)),
        state_(std::move(state)),
        client_(std::move(client)),
        remote_(std::move(remote)) {}

  ~Session() {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->sessions.erase(this);
    state_->open.fetch_sub(1, std::memory_order_relaxed);
    if (auto it = state_->per_client.find(client_); it != state_->per_client.end() && --it->second <= 0) {
      state_->per_client.erase(it);
    }
  }

  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
  }

  // Thread-safe: closes the socket, which cancels the pending operation.
  void Close() {
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->CloseNow(); });
  }

 private:
  std::chrono::seconds Idle() const { return std::chrono::seconds(state_->options.idle_timeout_s); }
  std::chrono::seconds HeaderDeadline() const {
    return std::chrono::seconds(state_->options.header_timeout_s);
  }
  std::chrono::seconds BodyDeadline() const { return std::chrono::seconds(state_->options.body_timeout_s); }
  std::chrono::seconds WriteDeadline() const { return std::chrono::seconds(state_->options.write_timeout_s); }

  void CloseNow() {
    closed_ = true;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  // Waits up to the idle deadline for the first byte of the next request (unless a pipelined one
  // is buffered already), then gives the whole header the (shorter) header deadline: a client
  // that trickles a header byte by byte cannot hold the connection longer than that.
  void ReadHeader() {
    if (closed_) return;
    if (buffer_.size() > 0) return ReadHeaderBytes();
    stream_.expires_after(Idle());
    stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec == net::error::eof) return self->CloseNow();  // clean close
                              if (ec) return self->OnReadError(ec);
                              self->buffer_.commit(n);
                              self->ReadHeaderBytes();
                            });
  }

  void ReadHeaderBytes() {
    if (closed_) return;
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(state_->options.max_body_bytes);
    stream_.expires_after(HeaderDeadline());
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    const auto& req = parser_->get();
    if (!parser_->is_done() && req.version() >= 11 &&
        EqualsIgnoreCase(View(req[http::field::expect]), "100-continue")) {
      continue_.emplace(http::status::continue_, req.version());
      stream_.expires_after(WriteDeadline());
      http::async_write(stream_, *continue_, [self = shared_from_this()](beast::error_code wec, size_t) {
        if (wec) return self->CloseNow();
        self->ReadBody();
      });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    if (parser_->is_done()) return OnRequest();  // no body: skip a round through the io_context
    stream_.expires_after(BodyDeadline());
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->OnReadError(ec);
      self->OnRequest();
    });
  }

  void OnReadError(beast::error_code ec) {
    // Closed by Stop, idle timeout (the stream is closed already), client gone, or a clean close
    // between requests: nothing to answer.
    if (closed_ || ec == net::error::operation_aborted || ec == beast::error::timeout ||
        ec == http::error::end_of_stream || ec == http::error::partial_message) {
      return CloseNow();
    }
    if (ec == http::error::body_limit) {
      return SendErrorAndClose(
          413, StrCat("request body is larger than the limit of ", state_->options.max_body_bytes, " bytes"));
    }
    if (ec == http::error::header_limit) {
      return SendErrorAndClose(
          431, StrCat("request header is larger than the limit of ", kMaxHeaderBytes, " bytes"));
    }
    if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
      return SendErrorAndClose(400, StrCat("malformed HTTP request: ", ec.message()));
    }
    CloseNow();  // socket errors (reset by peer, ...)
  }

  void OnRequest() {
    http::request<http::string_body> req = parser_->release();
    parser_.reset();
    const bool keep_alive = req.keep_alive();

    HttpResponse response;
    HttpRequest request;
    request.method = std::string(View(req.method_string()));
    request.target = std::string(View(req.target()));
    request.headers.reserve(8);
    for (const auto& field : req) {
      request.headers.emplace_back(View(field.name_string()), View(field.value()));
    }
    request.body = std::move(req.body());
    request.remote = remote_;
    if (Status s = ParseRequestTarget(request); !s.ok()) {
      response = JsonErrorResponse(s);
    } else {
      try {
        state_->handler(request, response);
      } catch (const std::exception& e) {
        state_->Log(StrCat("handler threw on ", request.method, " ", request.path, ": ", e.what()));
        response = JsonErrorResponse(500, "internal error");
      } catch (...) {
        state_->Log(StrCat("handler threw a non-std exception on ", request.method, " ", request.path));
        response = JsonErrorResponse(500, "internal error");
      }
    }
    Write(std::move(response), req.version(), keep_alive);
  }

  void Write(HttpResponse response, unsigned version, bool keep_alive) {
    int status = response.status;
    if (status < 200 || status > 599) {
      state_->Log(StrCat("handler returned invalid HTTP status ", status));
      response = JsonErrorResponse(500, "internal error");
      status = 500;
    }
    res_.emplace();
    res_->version(version);
    res_->result(static_cast<unsigned>(status));
    res_->set(http::field::server, "vrec");
    res_->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) {
      // A CR or LF would let a value inject header lines or split the response.
      if (name.empty() || HasLineBreak(name) || HasLineBreak(value)) {
        state_->Log(StrCat("dropped response header \"", name, "\" containing a line break"));
        continue;
      }
      res_->insert(name, value);
    }
    res_->body() = std::move(response.body);
    res_->keep_alive(keep_alive);
    res_->prepare_payload();
    stream_.expires_after(WriteDeadline());
    http::async_write(stream_, *res_, [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
      self->res_.reset();
      if (ec) return self->CloseNow();
      if (!keep_alive) {
        // Half-close so that the client reads the whole response, then let the socket go.
        beast::error_code sec;
        self->stream_.socket().shutdown(tcp::socket::shutdown_send, sec);
        return;
      }
      self->ReadHeader();
    });
  }

  void SendErrorAndClose(int status, std::string_view message) {
    HttpResponse response = JsonErrorResponse(status, message);
    res_.emplace();
    res_->version(11);
    res_->result(static_cast<unsigned>(status));
    res_->set(http::field::server, "vrec");
    res_->set(http::field::content_type, response.content_type);
    res_->body() = std::move(response.body);
    res_->keep_alive(false);
    res_->prepare_payload();
    parser_.reset();
    stream_.expires_after(WriteDeadline());
    http::async_write(stream_, *res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->res_.reset();
      if (ec) return self->CloseNow();
      beast::error_code sec;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, sec);
      self->lingered_ = 0;
      self->linger_buffer_ = std::make_unique<char[]>(kLingerChunk);
      self->stream_.expires_after(kLingerTimeout);
      self->Linger();
    });
  }

  void Linger() {
    if (closed_) return;
    stream_.async_read_some(net::buffer(linger_buffer_.get(), kLingerChunk),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->lingered_ += n;
                              if (ec || self->lingered_ > kMaxLingerBytes) return self->CloseNow();
                              self->Linger();
                            });
  }

  static constexpr size_t kLingerChunk = 16 * 1024;
  // What the first read of a request asks for: a whole small request in one read.
  static constexpr size_t kFirstReadBytes = 4096;

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::shared_ptr<ServerState> state_;
  const std::string client_;
  const std::string remote_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  std::optional<http::response<http::string_body>> res_;
  std::unique_ptr<char[]> linger_buffer_;
  size_t lingered_ = 0;
  bool closed_ = false;
};

}  // namespace

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, HttpHandler handler)
      : state_(std::make_shared<ServerState>()),
        ioc_(options.threads),
        acceptor_(net::make_strand(ioc_)),
        retry_timer_(acceptor_.get_executor()) {
    state_->options = std::move(options);
    state_->handler = std::move(handler);
  }

  ~Impl() { Stop(); }

  Status Listen() {
    const HttpServerOptions& o = state_->options;
    beast::error_code ec;
    const net::ip::address address = net::ip::make_address(o.address, ec);
    if (ec)
      return InvalidArgumentError(StrCat("HTTP listen address \"", o.address, "\" is not an IP address"));
    const tcp::endpoint endpoint(address, static_cast<unsigned short>(o.port));
    const std::string where = EndpointString(endpoint);
    acceptor_.open(endpoint.protocol(), ec);
    if (ec) return UnavailableError(StrCat("cannot open a socket for ", where, ": ", ec.message()));
    // Lets a restarted server bind while connections of the previous one are in TIME_WAIT; on Linux
    // it does not allow two listeners on one port, so "in use" is still detected.
    acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    acceptor_.bind(endpoint, ec);
    if (ec == net::error::address_in_use) {
      return UnavailableError(StrCat("cannot listen on ", where, ": the port is in use by another process"));
    }
    if (ec == boost::system::errc::address_not_available) {
      return UnavailableError(StrCat("cannot listen on ", where, ": not an address of this machine"));
    }
    if (ec == net::error::access_denied) {
      return UnavailableError(
          StrCat("cannot listen on ", where, ": permission denied (ports below 1024 need privileges)"));
    }
    if (ec) return UnavailableError(StrCat("cannot bind ", where, ": ", ec.message()));
    acceptor_.listen(o.backlog, ec);
    if (ec) return UnavailableError(StrCat("cannot listen on ", where, ": ", ec.message()));
    port_ = acceptor_.local_endpoint(ec).port();
    if (ec) return UnavailableError(StrCat("cannot read the bound port of ", where, ": ", ec.message()));
    return OkStatus();
  }

  Status Run() {
    DoAccept();
    try {
      for (int i = 0; i < state_->options.threads; ++i) threads_.emplace_back([this] { RunThread(); });
    } catch (const std::system_error& e) {
      Stop();
      return UnavailableError(StrCat("cannot start HTTP io threads: ", e.what()));
    }
    return OkStatus();
  }

  void Stop() {
    std::lock_guard<std::mutex> stop_lock(stop_mu_);
    std::vector<std::shared_ptr<Session>> sessions;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->stopping = true;
      for (auto& [key, weak] : state_->sessions) {
        if (auto s = weak.lock()) sessions.push_back(std::static_pointer_cast<Session>(s));
      }
    }
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
      retry_timer_.cancel();
    });
    for (auto& s : sessions) s->Close();
    sessions.clear();  // drop our references so that closed sessions can be destroyed
    // The threads return from run() once the acceptor and every session have no pending work.
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
  }

  int port() const { return port_; }
  size_t open_connections() const { return state_->open.load(std::memory_order_relaxed); }

 private:
  void RunThread() {
    for (;;) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception& e) {
        // Nothing in the sessions throws (errors are error_codes, handler exceptions are caught);
        // should something still escape, log it and keep serving rather than terminate.
        state_->Log(StrCat("io thread caught: ", e.what()));
      }
    }
  }

  void DoAccept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
      OnAccept(ec, std::move(socket));
    });
  }

  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      state_->Log(StrCat("accept failed: ", ec.message()));
      retry_timer_.expires_after(kAcceptRetryDelay);
      retry_timer_.async_wait([this](beast::error_code wec) {
        if (!wec && acceptor_.is_open()) DoAccept();
      });
      return;
    }
    beast::error_code opt_ec;
    socket.set_option(tcp::no_delay(true), opt_ec);  // no 40 ms Nagle/delayed-ACK stalls
    const tcp::endpoint peer = socket.remote_endpoint(opt_ec);
    std::shared_ptr<Session> session;
    {
      const std::string client = opt_ec ? "unknown" : peer.address().to_string();
      std::lock_guard<std::mutex> lock(state_->mu);
      const bool full = state_->open.load(std::memory_order_relaxed) >=
                        static_cast<size_t>(state_->options.max_connections);
      int& from_client = state_->per_client[client];
      const bool client_full = from_client >= state_->options.max_connections_per_client;
      if (!state_->stopping && !full && !client_full) {
        session = std::make_shared<Session>(std::move(socket), state_, client,
                                            opt_ec ? "unknown" : EndpointString(peer));
        state_->sessions.emplace(session.get(), session);
        state_->open.fetch_add(1, std::memory_order_relaxed);
        ++from_client;
      } else if (from_client == 0) {
        state_->per_client.erase(client);
      }
      if (client_full && !rejected_client_logged_) {
        rejected_client_logged_ = true;  // once: a flood must not flood the log too
        state_->Log(StrCat("refusing connections from ", client, " beyond max_connections_per_client=",
                           state_->options.max_connections_per_client));
      }
    }
    if (session) {
      session->Start();
    } else {
      beast::error_code close_ec;
      socket.close(close_ec);
    }
    DoAccept();
  }

  std::shared_ptr<ServerState> state_;
  net::io_context ioc_;  // declared before everything that uses it, so destroyed after them
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;
  std::vector<std::thread> threads_;
  std::mutex stop_mu_;
  int port_ = 0;
  bool rejected_client_logged_ = false;  // guarded by state_->mu
};

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options, HttpHandler handler) {
  if (!handler) return InvalidArgumentError("HTTP server: the handler is empty");
  if (options.port < 0 || options.port > 65535) {
    return InvalidArgumentError(StrCat("HTTP server: port ", options.port, " is not in [0, 65535]"));
  }
  if (options.threads < 1)
    return InvalidArgumentError(StrCat("HTTP server: threads must be >= 1, got ", options.threads));
  for (const auto& [name, value] : {std::pair<const char*, int>{"idle_timeout_s", options.idle_timeout_s},
                                    {"header_timeout_s", options.header_timeout_s},
                                    {"body_timeout_s", options.body_timeout_s},
                                    {"write_timeout_s", options.write_timeout_s},
                                    {"max_connections_per_client", options.max_connections_per_client}}) {
    if (value < 1) return InvalidArgumentError(StrCat("HTTP server: ", name, " must be >= 1, got ", value));
  }
  if (options.backlog < 1)
    return InvalidArgumentError(StrCat("HTTP server: backlog must be >= 1, got ", options.backlog));
  if (options.max_connections < 1) {
    return InvalidArgumentError(
        StrCat("HTTP server: max_connections must be >= 1, got ", options.max_connections));
  }
  if (options.max_body_bytes == 0) return InvalidArgumentError("HTTP server: max_body_bytes must be > 0");
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler));
  VREC_RETURN_IF_ERROR(impl->Listen());
  VREC_RETURN_IF_ERROR(impl->Run());
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { Stop(); }
int HttpServer::port() const { return impl_->port(); }
void HttpServer::Stop() { impl_->Stop(); }
size_t HttpServer::open_connections() const { return impl_->open_connections(); }

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (EqualsIgnoreCase(n, name)) return v;
  }
  return {};
}

const std::string* HttpRequest::Query(std::string_view name) const {
  auto it = query.find(std::string(name));
  return it == query.end() ? nullptr : &it->second;
}

StatusOr<std::string> PercentDecode(std::string_view s, bool plus_as_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      const int h = i + 2 < s.size() ? HexValue(s[i + 1]) : -1;
      const int l = i + 2 < s.size() ? HexValue(s[i + 2]) : -1;
      if (h < 0 || l < 0) {
        return InvalidArgumentError(StrCat("bad percent-encoding at offset ", i, " of \"", s, "\""));
      }
      out += static_cast<char>(h * 16 + l);
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

Status ParseQueryString(std::string_view s, std::map<std::string, std::string>& out) {
  while (!s.empty()) {
    const size_t amp = s.find('&');
    const std::string_view piece = s.substr(0, amp);
    s = amp == std::string_view::npos ? std::string_view() : s.substr(amp + 1);
    if (piece.empty()) continue;  // "a=1&&b=2"
    const size_t eq = piece.find('=');
    VREC_ASSIGN_OR_RETURN(std::string name, PercentDecode(piece.substr(0, eq), /*plus_as_space=*/true));
    std::string value;
    if (eq != std::string_view::npos) {
      VREC_ASSIGN_OR_RETURN(value, PercentDecode(piece.substr(eq + 1), /*plus_as_space=*/true));
    }
    out.insert_or_assign(std::move(name), std::move(value));
  }
  return OkStatus();
}

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
      return 409;
    case StatusCode::kFailedPrecondition:
      return 412;
    case StatusCode::kAborted:  // retries of a conditional write exhausted: the client retries
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDataLoss:
    case StatusCode::kInternal:
      return 500;
  }
  return 500;
}

std::string JsonQuote(std::string_view text) { return QuoteString(text); }

std::string_view ErrorReason(int http_status) {
  switch (http_status) {
    case 400:
      return StatusCodeName(StatusCode::kInvalidArgument);
    case 401:
      return StatusCodeName(StatusCode::kUnauthenticated);
    case 403:
      return StatusCodeName(StatusCode::kPermissionDenied);
    case 404:
      return StatusCodeName(StatusCode::kNotFound);
    case 405:
      return "METHOD_NOT_ALLOWED";
    case 409:
      return StatusCodeName(StatusCode::kAlreadyExists);
    case 412:
      return StatusCodeName(StatusCode::kFailedPrecondition);
    case 413:
      return "PAYLOAD_TOO_LARGE";
    case 429:
      return StatusCodeName(StatusCode::kResourceExhausted);
    case 431:
      return "HEADER_TOO_LARGE";
    case 503:
      return StatusCodeName(StatusCode::kUnavailable);
    default:
      return http_status >= 500 ? StatusCodeName(StatusCode::kInternal) : "BAD_REQUEST";
  }
}

HttpResponse JsonErrorResponse(int status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = StrCat("{\"error\":{\"code\":", status, ",\"status\":\"", ErrorReason(status),
                  "\",\"message\":", JsonQuote(message), "}}");
  return r;
}

HttpResponse JsonErrorResponse(const Status& status) {
  const int code = HttpStatusFor(status.code());
  HttpResponse r;
  if (code == 503) {
    r = JsonErrorResponse(code, "temporarily unavailable, retry later");
  } else if (code >= 500) {
    r = JsonErrorResponse(code, "internal error");
  } else {
    r = JsonErrorResponse(code, status.message());
  }
  // The reason names the Status code exactly (e.g. DATA_LOSS behind a 500).
  if (code >= 500 && status.code() != StatusCode::kUnavailable) {
    r.body = StrCat("{\"error\":{\"code\":", code, ",\"status\":\"", StatusCodeName(status.code()),
                    "\",\"message\":\"internal error\"}}");
  }
  if (code == 503 || code == 429) r.headers.emplace_back("Retry-After", "1");
  return r;
}

// Origin form ("/p?q") is what clients send; absolute form ("http://host/p?q") must be accepted too
// (RFC 9112 3.2.2).
Status ParseRequestTarget(HttpRequest& request) {
  std::string_view t = request.target;
  for (std::string_view scheme : {"http://", "https://"}) {
    if (t.size() >= scheme.size() && EqualsIgnoreCase(t.substr(0, scheme.size()), scheme)) {
      t.remove_prefix(scheme.size());
      const size_t slash = t.find_first_of("/?");
      t = slash == std::string_view::npos ? std::string_view("/") : t.substr(slash);
      break;
    }
  }
  if (t.empty() || (t[0] != '/' && t[0] != '?')) {
    return InvalidArgumentError(StrCat("request target \"", request.target, "\" is not a path"));
  }
  const size_t q = t.find('?');
  request.path = std::string(t.substr(0, q));
  if (request.path.empty())
    request.path.assign(1, '/');  // assign, not = "/": GCC 12 -Wrestrict false positive
  if (q == std::string_view::npos) return OkStatus();
  return ParseQueryString(t.substr(q + 1), request.query);
}

RawRequestParse ParseRawHttpRequest(std::string_view bytes, size_t max_body_bytes) {
  RawRequestParse out;
  // Configured as Session::ReadHeader configures its parser.
  http::request_parser<http::string_body> parser;
  parser.header_limit(kMaxHeaderBytes);
  parser.body_limit(max_body_bytes);
  parser.eager(true);
  beast::error_code ec;
  size_t used = 0;
  while (!parser.is_done()) {
    const size_t n = parser.put(net::const_buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec == http::error::need_more) ec = {};
    // An error, or nothing taken: the rest of the request has not arrived (in the body, put()
    // takes nothing from an empty buffer without saying need_more).
    if (ec || n == 0) break;
  }
  if (ec == http::error::body_limit) {
    out.outcome = RawRequestParse::Outcome::kError;
    out.error =
        JsonErrorResponse(413, StrCat("request body is larger than the limit of ", max_body_bytes, " bytes"));
    return out;
  }
  if (ec == http::error::header_limit) {
    out.outcome = RawRequestParse::Outcome::kError;
    out.error = JsonErrorResponse(
        431, StrCat("request header is larger than the limit of ", kMaxHeaderBytes, " bytes"));
    return out;
  }
  if (ec) {
    out.outcome = RawRequestParse::Outcome::kError;
    out.error = JsonErrorResponse(400, StrCat("malformed HTTP request: ", ec.message()));
    return out;
  }
  if (!parser.is_done()) return out;  // kIncomplete
  http::request<http::string_body> req = parser.release();
  out.consumed = used;
  HttpRequest& request = out.request;
  request.method = std::string(View(req.method_string()));
  request.target = std::string(View(req.target()));
  for (const auto& field : req) request.headers.emplace_back(View(field.name_string()), View(field.value()));
  request.body = std::move(req.body());
  if (Status s = ParseRequestTarget(request); !s.ok()) {
    out.outcome = RawRequestParse::Outcome::kError;
    out.error = JsonErrorResponse(s);
    return out;
  }
  out.outcome = RawRequestParse::Outcome::kRequest;
  return out;
}

}  // namespace vrec::serving
