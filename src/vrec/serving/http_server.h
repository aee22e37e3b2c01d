// The HTTP/1.1 server of `vrec serve`: asynchronous Boost.Beast sessions over one io_context run by
// a few threads (docs/dependencies.md: 82.6k hello-JSON req/s on 2 cores, against 32.6k for
// cpp-httplib with TCP_NODELAY, whose thread-per-connection model also cannot hold hundreds of
// keep-alive connections). Beast and Asio stay inside http_server.cc; users see the plain structs
// below and one handler function that does the routing.
//
// Behaviour on the wire:
//   - keep-alive by default (HTTP/1.1) with no limit on requests per connection; pipelined
//     requests are answered in order; TCP_NODELAY is set on every connection.
//   - "Expect: 100-continue" is answered before the body is read (curl sends it for bodies > 1 KiB
//     and otherwise waits a second).
//   - errors are JSON {"error":{"code":N,"status":"REASON","message":"..."}} (valid UTF-8): a
//     malformed request gets 400, a body larger than max_body_bytes 413, headers over 16 KiB 431,
//     and the connection is closed after the error; an exception escaping the handler gets 500
//     and the connection stays usable.
//   - deadlines (each closes the connection when it passes): idle_timeout_s for the first byte of
//     the next request, header_timeout_s for the whole header once it started (slowloris),
//     body_timeout_s for the body, write_timeout_s for writing a response.
//   - at most max_connections connections in all and max_connections_per_client per peer address;
//     one more is accepted and closed at once.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vrec/common/status.h"

namespace vrec::serving {

// One parsed request, valid for the duration of the handler call.
struct HttpRequest {
  std::string method;  // "GET", "POST", ... as sent
  std::string target;  // the request target as sent: "/recommend?user=42&k=10"
  std::string path;    // the target before '?', NOT percent-decoded (so "%2F" stays distinct from
                       // "/"); decode path segments with PercentDecode
  // Query parameters, names and values percent-decoded ('+' is a space). A name without '=' maps to
  // "". A repeated name keeps its last value.
  std::map<std::string, std::string> query;
  // Header fields in the order received, names as sent (HTTP names are case-insensitive: use
  // Header()).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote;  // peer "ip:port"

  // The value of the first header field called `name` (case-insensitive), or "" when absent.
  std::string_view Header(std::string_view name) const;
  // The query parameter `name`, or nullptr when absent.
  const std::string* Query(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;  // 200..599; anything else is answered as 500 (and logged)
  std::string content_type = "application/json";
  std::string body;
  // Extra header fields (Content-Type, Content-Length and Connection are set by the server).
  std::vector<std::pair<std::string, std::string>> headers;
};

// Called once per request, concurrently from the io threads: it must be thread-safe. It runs on an
// io thread, so a slow handler delays the other connections that thread serves. An exception that
// escapes it is answered with 500 (and reported to HttpServerOptions::error_log).
using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&)>;

struct HttpServerOptions {
  // Address to listen on (IPv4 or IPv6 literal; "0.0.0.0" for every interface). Default: loopback.
  std::string address = "127.0.0.1";
  // TCP port; 0 picks a free port (read it back with HttpServer::port()).
  int port = 8080;
  // io threads running the sessions and the handler; >= 1. On a 2-core machine, 2.
  int threads = 2;
  // Largest accepted request body; larger bodies get 413 (before the body is read when the client
  // sends Content-Length).
  size_t max_body_bytes = 1 << 20;
  // Seconds a kept-alive connection may wait for the first byte of its next request; >= 1.
  int idle_timeout_s = 60;
  // Seconds a client may take to send a request's header once its first byte arrived; >= 1.
  int header_timeout_s = 10;
  // Seconds a client may take to send a request's body after its header; >= 1.
  int body_timeout_s = 30;
  // Seconds a response may take to be written (a client that does not read); >= 1.
  int write_timeout_s = 30;
  // listen(2) backlog: connections the kernel queues before we accept them (capped by
  // net.core.somaxconn).
  int backlog = 1024;
  // Connections served at once; one more is accepted and closed at once, so that clients fail
  // fast instead of waiting in the backlog. >= 1. Keep it below the process's open-file limit.
  int max_connections = 4096;
  // Connections served at once from one peer IP address (IPv4, or IPv6 as a whole address); >= 1.
  // Behind a reverse proxy every client shares the proxy's address: raise it there.
  int max_connections_per_client = 256;
  // Receives one line per handler exception or accept failure. Called from io threads,
  // concurrently. Default (empty): write the line to stderr.
  std::function<void(std::string_view)> error_log;
};

// A running HTTP server. Owns its io threads and every connection. Thread-safe: port() and
// open_connections() may be called from any thread; Stop() from any thread except the handler's.
class HttpServer {
 public:
  // Binds, listens and starts the io threads: the server accepts connections when this returns.
  // Errors: InvalidArgument for an unparsable address or an option out of range; Unavailable when
  // the port is in use, the address is not local or the bind is not permitted (the message names
  // the address and port).
  static StatusOr<std::unique_ptr<HttpServer>> Start(HttpServerOptions options, HttpHandler handler);

  // Stops (see Stop).
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (the chosen one when options.port was 0).
  int port() const;

  // Stops accepting, closes every connection (requests in the middle of a handler call finish the
  // call; their responses are dropped), and joins the io threads. Idempotent. Must not be called
  // from inside the handler (it would wait for itself).
  void Stop();

  // Connections currently open.
  size_t open_connections() const;

 private:
  class Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Decodes %XX escapes (and '+' as a space when `plus_as_space`). InvalidArgument when a '%' is not
// followed by two hex digits.
StatusOr<std::string> PercentDecode(std::string_view s, bool plus_as_space);

// Parses a query string ("a=1&b=x%20y", without the '?') into `out` as HttpRequest::query
// describes. InvalidArgument on a bad escape.
Status ParseQueryString(std::string_view s, std::map<std::string, std::string>& out);

// The HTTP status for a Status code: the single place that maps them (InvalidArgument 400,
// Unauthenticated 401, PermissionDenied 403, NotFound 404, AlreadyExists 409, FailedPrecondition
// 412, ResourceExhausted 429, Unavailable 503, anything else 500).
int HttpStatusFor(StatusCode code);

// The machine-readable reason of an HTTP error status: the StatusCode name for the statuses a
// StatusCode maps to ("INVALID_ARGUMENT", "NOT_FOUND", ...), else a name of the HTTP status
// ("METHOD_NOT_ALLOWED", "PAYLOAD_TOO_LARGE", ...).
std::string_view ErrorReason(int http_status);

// A JSON error response {"error":{"code":status,"status":ErrorReason(status),"message":message}};
// the message is made valid UTF-8.
HttpResponse JsonErrorResponse(int status, std::string_view message);
// The response for a failed Status. 4xx statuses carry status.message() (messages of bad input,
// written for the client). 5xx statuses carry a fixed message ("internal error", "temporarily
// unavailable, retry later") because their Status messages may hold server paths or library
// internals: callers log status.message() themselves. 503 and 429 come with "Retry-After: 1".
HttpResponse JsonErrorResponse(const Status& status);

// `s` as a JSON string literal, quotes included (QuoteString: control characters as \uXXXX;
// bytes >= 0x80 passed through when they form valid UTF-8, else replaced by U+FFFD).
std::string JsonQuote(std::string_view s);

// Splits request.target into request.path and request.query as HttpRequest describes them: the
// path of an origin-form ("/p?q") or absolute-form ("http://host/p?q") target and its decoded query
// parameters. What a connection does with every request before the handler sees it.
// InvalidArgument when the target is not a path or has a bad percent-escape.
Status ParseRequestTarget(HttpRequest& request);

// What a connection makes of the bytes of one request, without a socket: Beast's request parser
// configured as the server configures it (16 KiB of header, `max_body_bytes` of body), then
// ParseRequestTarget. A seam for the fuzzing harnesses (fuzz/) and tests; the server reads from
// sockets and does not call it.
struct RawRequestParse {
  enum class Outcome {
    kRequest,     // `request` and `consumed` are set
    kIncomplete,  // the bytes end before the request does: a connection would wait for more
    kError,       // `error` is what a connection answers: 400 (malformed request or target), 413
                  // (body over the limit), 431 (header over the limit)
  };
  Outcome outcome = Outcome::kIncomplete;
  HttpRequest request;  // `remote` is empty
  HttpResponse error;
  size_t consumed = 0;  // bytes the request took; the next pipelined request starts there
};
RawRequestParse ParseRawHttpRequest(std::string_view bytes, size_t max_body_bytes);

}  // namespace vrec::serving
