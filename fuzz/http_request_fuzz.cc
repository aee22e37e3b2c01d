// Fuzzes what `vrec serve` does with the bytes of a connection before routing: Beast's request
// parser configured as the server configures it (header and body limits), then the split of the
// target into path and percent-decoded query (vrec::serving::ParseRawHttpRequest, a seam in
// http_server.h over the server's own code). The input is the byte stream of one connection;
// pipelined requests are parsed one after another, as a keep-alive connection does.
//
// Invariants: a parsed request has a method, a path starting with '/', header fields without line
// breaks and a body within the limit, and it consumed part of the input; a rejected one gets the
// JSON error body with 400, 413 or 431; a smaller body limit gives the same request or 413.
#include <string>

#include "fuzz/fuzz_util.h"
#include "vrec/serving/http_server.h"

namespace {

using vrec::serving::HttpRequest;
using vrec::serving::RawRequestParse;

constexpr size_t kSmallBodyLimit = 64;
constexpr int kMaxPipelined = 16;

bool SameRequest(const HttpRequest& a, const HttpRequest& b) {
  return a.method == b.method && a.target == b.target && a.path == b.path && a.query == b.query &&
         a.headers == b.headers && a.body == b.body;
}

void CheckRequest(const HttpRequest& r, size_t body_limit) {
  FUZZ_CHECK(!r.method.empty(), "empty method");
  FUZZ_CHECK(!r.target.empty(), "empty target");
  FUZZ_CHECK(!r.path.empty() && r.path[0] == '/', "path '", r.path, "' of target '", r.target, "'");
  FUZZ_CHECK(r.path.find('?') == std::string::npos, "path '", r.path, "' holds the query");
  FUZZ_CHECK(r.body.size() <= body_limit, "body of ", r.body.size(), " bytes over the limit ", body_limit);
  for (const auto& [name, value] : r.headers) {
    FUZZ_CHECK(!name.empty(), "empty header name");
    FUZZ_CHECK(name.find_first_of("\r\n:") == std::string::npos, "header name '", name, "'");
    FUZZ_CHECK(value.find_first_of("\r\n") == std::string::npos, "header value '", value, "'");
  }
  // Header() finds the first field of a name in any letter case.
  if (!r.headers.empty()) {
    const std::string& name = r.headers.front().first;
    FUZZ_CHECK(r.Header(vrec::AsciiStrToUpper(name)) == r.headers.front().second, "Header(", name, ")");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  const size_t body_limit = vrec::serving::HttpServerOptions().max_body_bytes;
  for (int i = 0; i < kMaxPipelined && !rest.empty(); ++i) {
    RawRequestParse parse = vrec::serving::ParseRawHttpRequest(rest, body_limit);
    RawRequestParse small = vrec::serving::ParseRawHttpRequest(rest, kSmallBodyLimit);
    if (parse.outcome == RawRequestParse::Outcome::kIncomplete) {
      FUZZ_CHECK(small.outcome != RawRequestParse::Outcome::kRequest,
                 "a smaller body limit completed a request");
      return 0;
    }
    if (parse.outcome == RawRequestParse::Outcome::kError) {
      const int status = parse.error.status;
      FUZZ_CHECK(status == 400 || status == 413 || status == 431, "status ", status);
      vrec::fuzz::CheckJsonResponse(status, parse.error.content_type, parse.error.body, "parse error");
      return 0;  // the server closes the connection after an error
    }
    CheckRequest(parse.request, body_limit);
    FUZZ_CHECK(parse.consumed > 0 && parse.consumed <= rest.size(), "consumed ", parse.consumed, " of ",
               rest.size());
    if (parse.request.body.size() <= kSmallBodyLimit) {
      FUZZ_CHECK(small.outcome == RawRequestParse::Outcome::kRequest &&
                     SameRequest(small.request, parse.request) && small.consumed == parse.consumed,
                 "a body of ", parse.request.body.size(), " bytes parsed differently under a limit of ",
                 kSmallBodyLimit);
    } else {
      FUZZ_CHECK(small.outcome != RawRequestParse::Outcome::kRequest, "a body of ", parse.request.body.size(),
                 " bytes accepted under a limit of ", kSmallBodyLimit);
    }
    rest.remove_prefix(parse.consumed);
  }
  return 0;
}
