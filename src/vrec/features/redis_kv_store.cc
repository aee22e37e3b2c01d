// The only file that includes hiredis.
#include "vrec/features/redis_kv_store.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <vector>

#include "vrec/common/csv.h"
#include "vrec/common/strings.h"

namespace vrec::features {

namespace {

constexpr std::string_view kAcceptedForm =
    "redis://[[user]:password@]host[:port][/db][?timeout_ms=N&pool=N&prefix=NAME]";

Status BadUri(std::string_view uri, std::string_view why) {
  return InvalidArgumentError(
      StrCat("feature store URI '", uri, "': ", why, " (accepted form: ", kAcceptedForm, ")"));
}

bool ParseSmallInt(std::string_view s, int64_t max, int64_t& out) {
  return ParseInt64(s, out) && out >= 0 && out <= max;
}

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;

std::string_view ReplyText(const redisReply& r) { return std::string_view(r.str, r.len); }

// A Redis error reply -> status. Replies that mean "try again" are Unavailable (503 upstream); the
// rest are Internal.
Status FromErrorReply(const redisReply& r, std::string_view what) {
  const std::string_view text = ReplyText(r);
  std::string message = StrCat(what, ": ", text);
  if (text.starts_with("ABORTED")) return AbortedError(std::move(message));
  for (std::string_view retry :
       {"LOADING", "READONLY", "MASTERDOWN", "BUSY", "TRYAGAIN", "OOM", "CLUSTERDOWN"}) {
    if (text.starts_with(retry)) return UnavailableError(std::move(message));
  }
  return InternalError(std::move(message));
}

// Scan: keys in [min, max] of the index (ZRANGEBYLEX syntax), at most ARGV[3], with their values,
// flattened key, value, key, value... HMGET in chunks: Lua's unpack takes a few thousand values.
constexpr std::string_view kScanScript = R"lua(
local keys = redis.call('ZRANGEBYLEX', KEYS[2], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
local n = 0
for first = 1, #keys, 1000 do
  local last = math.min(first + 999, #keys)
  local values = redis.call('HMGET', KEYS[1], unpack(keys, first, last))
  for i = first, last do
    local v = values[i - first + 1]
    if v then
      out[n + 1] = keys[i]
      out[n + 2] = v
      n = n + 2
    end
  end
end
return out
)lua";

// Last: the greatest key in [min, max] (ZREVRANGEBYLEX takes max first) and its value.
constexpr std::string_view kLastScript = R"lua(
local keys = redis.call('ZREVRANGEBYLEX', KEYS[2], ARGV[1], ARGV[2], 'LIMIT', 0, 1)
if #keys == 0 then return {} end
local v = redis.call('HGET', KEYS[1], keys[1])
if not v then return {} end
return {keys[1], v}
)lua";

// Write: ARGV[1] the number E of expectations, then E (key, present '1'|'0', value) triples that
// must all hold, then (op, key, value) triples, op 'p' (put) or 'd' (delete), applied in order.
constexpr std::string_view kWriteScript = R"lua(
local e = tonumber(ARGV[1])
for i = 2, 1 + 3 * e, 3 do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  if (ARGV[i + 1] == '1' and v ~= ARGV[i + 2]) or (ARGV[i + 1] == '0' and v) then
    return redis.error_reply('ABORTED a conditional key changed')
  end
end
for i = 2 + 3 * e, #ARGV, 3 do
  if ARGV[i] == 'p' then
    redis.call('HSET', KEYS[1], ARGV[i + 1], ARGV[i + 2])
    redis.call('ZADD', KEYS[2], 0, ARGV[i + 1])
  else
    redis.call('HDEL', KEYS[1], ARGV[i + 1])
    redis.call('ZREM', KEYS[2], ARGV[i + 1])
  end
end
return 1
)lua";

// The SHA1 EVALSHA names a script by, computed by the server at open (SCRIPT LOAD).
struct Script {
  std::string_view text;
  std::string sha;
};

class RedisKeyValueStore final : public KeyValueStore {
 public:
  RedisKeyValueStore(RedisOptions options, std::string uri)
      : options_(std::move(options)),
        uri_(std::move(uri)),
        hash_key_(StrCat("{", options_.prefix, "}:kv")),
        index_key_(StrCat("{", options_.prefix, "}:keys")) {}

  // Connects once: checks the server, reads its persistence settings and loads the scripts.
  Status Init() {
    StatusOr<Context> c = Connect();
    if (!c.ok()) return c.status();
    for (Script* s : {&scan_, &last_, &write_}) {
      const char* argv[] = {"SCRIPT", "LOAD", s->text.data()};
      const size_t lens[] = {6, 4, s->text.size()};
      VREC_ASSIGN_OR_RETURN(Reply r, Command(**c, 3, argv, lens, "SCRIPT LOAD"));
      if (r->type != REDIS_REPLY_STRING) return InternalError(StrCat(uri_, ": SCRIPT LOAD answered no SHA"));
      s->sha.assign(ReplyText(*r));
    }
    durable_ = ConfigIs(**c, "appendonly", "yes") && ConfigIs(**c, "appendfsync", "always");
    {
      std::lock_guard lock(mutex_);
      ++open_;  // the first pooled connection
    }
    Release(std::move(c).value());
    return OkStatus();
  }

  StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    const char* argv[] = {"HGET", hash_key_.data(), key.data()};
    const size_t lens[] = {4, hash_key_.size(), key.size()};
    VREC_ASSIGN_OR_RETURN(Reply r, Run(3, argv, lens, "Get"));
    if (r->type == REDIS_REPLY_NIL) return std::optional<std::string>();
    if (r->type != REDIS_REPLY_STRING) return Unexpected("Get", *r);
    return std::optional<std::string>(std::string(ReplyText(*r)));
  }

  StatusOr<std::vector<std::optional<std::string>>> MultiGet(std::span<const std::string> keys) override {
    std::vector<std::optional<std::string>> out(keys.size());
    if (keys.empty()) return out;
    // One HMGET: a single command reads every key at one point in time.
    std::vector<const char*> argv = {"HMGET", hash_key_.data()};
    std::vector<size_t> lens = {5, hash_key_.size()};
    for (const std::string& k : keys) {
      argv.push_back(k.data());
      lens.push_back(k.size());
    }
    VREC_ASSIGN_OR_RETURN(Reply r, Run(static_cast<int>(argv.size()), argv.data(), lens.data(), "MultiGet"));
    if (r->type != REDIS_REPLY_ARRAY || r->elements != keys.size()) return Unexpected("MultiGet", *r);
    for (size_t i = 0; i < keys.size(); ++i) {
      const redisReply& v = *r->element[i];
      if (v.type == REDIS_REPLY_STRING) {
        out[i] = std::string(ReplyText(v));
      } else if (v.type != REDIS_REPLY_NIL) {
        return Unexpected("MultiGet", v);
      }
    }
    return out;
  }

  Status Write(const WriteBatch& batch, const WriteOptions& /*options*/) override {
    if (batch.empty()) return OkStatus();
    // One script: atomic for readers and for other writers (the expectations are checked in it).
    std::vector<std::string_view> args;
    args.reserve(1 + 3 * (batch.expectations().size() + batch.size()));
    const std::string expectations = std::to_string(batch.expectations().size());
    args.push_back(expectations);
    for (const WriteBatch::Expectation& e : batch.expectations()) {
      args.push_back(e.key);
      args.push_back(e.value ? "1" : "0");
      args.push_back(e.value ? std::string_view(*e.value) : std::string_view());
    }
    for (const WriteBatch::Op& op : batch.ops()) {
      args.push_back(op.type == WriteBatch::OpType::kPut ? "p" : "d");
      args.push_back(op.key);
      args.push_back(op.value);
    }
    VREC_ASSIGN_OR_RETURN(Reply r, Eval(write_, args, "Write"));
    if (r->type != REDIS_REPLY_INTEGER) return Unexpected("Write", *r);
    return OkStatus();
  }

  StatusOr<std::vector<KeyValue>> Scan(std::string_view prefix, std::string_view start_after,
                                       size_t limit) override {
    if (limit == 0) return InvalidArgumentError(StrCat("Scan of ", uri_, ": limit must be positive"));
    // Lower bound: after start_after when it is at or past the prefix, else the prefix itself.
    const std::string min =
        !start_after.empty() && start_after >= prefix ? StrCat("(", start_after) : StrCat("[", prefix);
    const std::optional<std::string> successor = PrefixSuccessor(prefix);
    const std::string max = successor ? StrCat("(", *successor) : std::string("+");
    const std::string count = std::to_string(limit);
    VREC_ASSIGN_OR_RETURN(Reply r, Eval(scan_, {min, max, count}, "Scan"));
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) return Unexpected("Scan", *r);
    std::vector<KeyValue> out;
    out.reserve(r->elements / 2);
    for (size_t i = 0; i < r->elements; i += 2) {
      out.push_back({std::string(ReplyText(*r->element[i])), std::string(ReplyText(*r->element[i + 1]))});
    }
    return out;
  }

  StatusOr<std::optional<KeyValue>> Last(std::string_view prefix) override {
    const std::optional<std::string> successor = PrefixSuccessor(prefix);
    const std::string max = successor ? StrCat("(", *successor) : std::string("+");
    const std::string min = StrCat("[", prefix);
    VREC_ASSIGN_OR_RETURN(Reply r, Eval(last_, {max, min}, "Last"));
    if (r->type != REDIS_REPLY_ARRAY || (r->elements != 0 && r->elements != 2)) return Unexpected("Last", *r);
    if (r->elements == 0) return std::optional<KeyValue>();
    return std::optional<KeyValue>(
        KeyValue{std::string(ReplyText(*r->element[0])), std::string(ReplyText(*r->element[1]))});
  }

  bool durable() const override { return durable_; }
  const std::string& uri() const override { return uri_; }

 private:
  StatusOr<Context> Connect() const {
    timeval tv{};
    tv.tv_sec = options_.timeout.count() / 1000;
    tv.tv_usec = (options_.timeout.count() % 1000) * 1000;
    Context c(redisConnectWithTimeout(options_.host.c_str(), options_.port, tv));
    if (!c) return UnavailableError(StrCat(uri_, ": cannot allocate a connection"));
    if (c->err) return UnavailableError(StrCat(uri_, ": cannot connect: ", c->errstr));
    if (redisSetTimeout(c.get(), tv) != REDIS_OK || redisEnableKeepAlive(c.get()) != REDIS_OK) {
      return UnavailableError(StrCat(uri_, ": cannot set the connection's timeout: ", c->errstr));
    }
    if (!options_.password.empty()) {
      std::vector<const char*> argv = {"AUTH"};
      std::vector<size_t> lens = {4};
      if (!options_.user.empty()) {
        argv.push_back(options_.user.data());
        lens.push_back(options_.user.size());
      }
      argv.push_back(options_.password.data());
      lens.push_back(options_.password.size());
      StatusOr<Reply> r = Command(*c, static_cast<int>(argv.size()), argv.data(), lens.data(), "AUTH");
      if (!r.ok()) {
        return r.status().code() == StatusCode::kUnavailable ? r.status()
                                                             : InvalidArgumentError(r.status().message());
      }
    }
    if (options_.db != 0) {
      const std::string db = std::to_string(options_.db);
      const char* argv[] = {"SELECT", db.data()};
      const size_t lens[] = {6, db.size()};
      StatusOr<Reply> r = Command(*c, 2, argv, lens, "SELECT");
      if (!r.ok()) return InvalidArgumentError(r.status().message());
    }
    return c;
  }

  // One command on `c`; error replies become statuses, I/O errors Unavailable.
  StatusOr<Reply> Command(redisContext& c, int argc, const char** argv, const size_t* lens,
                          std::string_view what) const {
    Reply r(static_cast<redisReply*>(redisCommandArgv(&c, argc, argv, lens)));
    if (!r) return UnavailableError(StrCat(what, " on ", uri_, ": ", c.err ? c.errstr : "no reply"));
    if (r->type == REDIS_REPLY_ERROR) return FromErrorReply(*r, StrCat(what, " on ", uri_));
    return r;
  }

  bool ConfigIs(redisContext& c, const char* name, std::string_view want) const {
    const char* argv[] = {"CONFIG", "GET", name};
    const size_t lens[] = {6, 3, std::strlen(name)};
    StatusOr<Reply> r = Command(c, 3, argv, lens, "CONFIG GET");
    // A server that hides CONFIG (managed Redis) promises nothing this store can check.
    if (!r.ok() || (*r)->type != REDIS_REPLY_ARRAY || (*r)->elements != 2) return false;
    return ReplyText(*(*r)->element[1]) == want;
  }

  // A pooled connection, or a new one while fewer than pool_size are open; waits up to the timeout
  // when all are busy.
  StatusOr<Context> Acquire() {
    {
      std::unique_lock lock(mutex_);
      if (!free_.wait_for(lock, options_.timeout, [&] {
            return !idle_.empty() || open_ < static_cast<size_t>(options_.pool_size);
          })) {
        return UnavailableError(StrCat(uri_, ": all ", options_.pool_size, " connections are busy"));
      }
      if (!idle_.empty()) {
        Context c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
      ++open_;  // reserved; connected below, outside the lock
    }
    StatusOr<Context> c = Connect();
    if (!c.ok()) Dropped();
    return c;
  }

  void Release(Context c) {
    {
      std::lock_guard lock(mutex_);
      idle_.push_back(std::move(c));
    }
    free_.notify_one();
  }

  // A connection in an unknown state (I/O error, timeout mid-reply): closed, never reused.
  void Dropped() {
    {
      std::lock_guard lock(mutex_);
      --open_;
    }
    free_.notify_one();
  }

  Status Broken(Context c, std::string_view what) {
    Status s = UnavailableError(StrCat(what, " on ", uri_, ": ", c->err ? c->errstr : "connection failed"));
    c.reset();
    Dropped();
    return s;
  }

  // A command on a pooled connection. An error reply leaves the connection usable; an I/O error
  // closes it (the next caller connects again: that is how the store recovers when Redis returns).
  StatusOr<Reply> Run(int argc, const char** argv, const size_t* lens, std::string_view what) {
    VREC_ASSIGN_OR_RETURN(Context c, Acquire());
    Reply r(static_cast<redisReply*>(redisCommandArgv(c.get(), argc, argv, lens)));
    if (!r) return Broken(std::move(c), what);
    Release(std::move(c));
    if (r->type == REDIS_REPLY_ERROR) return FromErrorReply(*r, StrCat(what, " on ", uri_));
    return r;
  }

  // EVALSHA of `script` over the two keys; EVAL when the server lost its script cache (a restart,
  // SCRIPT FLUSH).
  StatusOr<Reply> Eval(const Script& script, std::span<const std::string_view> args, std::string_view what) {
    for (bool by_sha : {true, false}) {
      std::vector<const char*> argv = {by_sha ? "EVALSHA" : "EVAL",
                                       by_sha ? script.sha.data() : script.text.data(), "2", hash_key_.data(),
                                       index_key_.data()};
      std::vector<size_t> lens = {by_sha ? size_t{7} : size_t{4},
                                  by_sha ? script.sha.size() : script.text.size(), 1, hash_key_.size(),
                                  index_key_.size()};
      for (std::string_view a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      StatusOr<Reply> r = Run(static_cast<int>(argv.size()), argv.data(), lens.data(), what);
      if (by_sha && !r.ok() && r.status().message().find("NOSCRIPT") != std::string::npos) continue;
      return r;
    }
    return InternalError("unreachable");
  }

  StatusOr<Reply> Eval(const Script& script, std::initializer_list<std::string_view> args,
                       std::string_view what) {
    return Eval(script, std::span<const std::string_view>(args.begin(), args.size()), what);
  }

  Status Unexpected(std::string_view what, const redisReply& r) const {
    return InternalError(StrCat(what, " on ", uri_, ": unexpected reply of type ", r.type));
  }

  const RedisOptions options_;
  const std::string uri_;
  const std::string hash_key_, index_key_;
  Script scan_{kScanScript, {}}, last_{kLastScript, {}}, write_{kWriteScript, {}};
  bool durable_ = false;

  std::mutex mutex_;
  std::condition_variable free_;
  std::vector<Context> idle_;
  size_t open_ = 0;  // idle + in use + being connected
};

}  // namespace

StatusOr<RedisOptions> ParseRedisUri(std::string_view uri) {
  const std::string lower = AsciiStrToLower(uri.substr(0, std::min(uri.size(), size_t{8})));
  if (!lower.starts_with("redis://")) return BadUri(uri, "not a redis:// URI");
  std::string_view rest = uri.substr(8);
  RedisOptions o;
  std::string_view query;
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (rest.find('#') != std::string_view::npos) return BadUri(uri, "fragments are not supported");
  std::string_view authority = rest, path;
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) return BadUri(uri, "credentials must be user:password or :password");
    auto user = PercentDecode(userinfo.substr(0, colon)),
         password = PercentDecode(userinfo.substr(colon + 1));
    if (!user || !password) return BadUri(uri, "bad percent-escape in the credentials");
    if (password->empty()) return BadUri(uri, "empty password");
    o.user = *user;
    o.password = *password;
  }
  std::string_view host = authority;
  if (!host.empty() && host.front() == '[') {  // [::1]:6379
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return BadUri(uri, "unclosed '[' in the host");
    o.host = std::string(host.substr(1, close - 1));
    host = host.substr(close + 1);
    if (!host.empty() && host.front() != ':') return BadUri(uri, "expected ':port' after the host");
  } else {
    const size_t colon = host.find(':');
    o.host = std::string(host.substr(0, colon));
    host = colon == std::string_view::npos ? std::string_view() : host.substr(colon);
  }
  if (o.host.empty()) return BadUri(uri, "no host");
  if (!host.empty()) {
    int64_t port = 0;
    if (!ParseSmallInt(host.substr(1), 65535, port) || port == 0)
      return BadUri(uri, "the port must be 1..65535");
    o.port = static_cast<int>(port);
  }
  if (!path.empty()) {
    int64_t db = 0;
    if (!ParseSmallInt(path, 1 << 20, db))
      return BadUri(uri, "the database must be a number (redis://host:port/0)");
    o.db = static_cast<int>(db);
  }
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) return BadUri(uri, StrCat("parameter '", pair, "' has no value"));
    const std::string_view name = pair.substr(0, eq), value = pair.substr(eq + 1);
    int64_t n = 0;
    if (name == "timeout_ms") {
      if (!ParseSmallInt(value, 3'600'000, n) || n == 0) return BadUri(uri, "timeout_ms must be 1..3600000");
      o.timeout = std::chrono::milliseconds(n);
    } else if (name == "pool") {
      if (!ParseSmallInt(value, 1024, n) || n == 0) return BadUri(uri, "pool must be 1..1024");
      o.pool_size = static_cast<int>(n);
    } else if (name == "prefix") {
      if (value.empty() || value.find_first_of("{}") != std::string_view::npos)
        return BadUri(uri, "prefix must be non-empty, without '{' or '}'");
      o.prefix = std::string(value);
    } else {
      return BadUri(uri, StrCat("unknown parameter '", name, "' (known: timeout_ms, pool, prefix)"));
    }
  }
  return o;
}

std::string RedactRedisUri(std::string_view uri) {
  const size_t scheme = uri.find("://");
  if (scheme == std::string_view::npos) return std::string(uri);
  const size_t end = uri.find_first_of("/?#", scheme + 3);
  const std::string_view authority =
      uri.substr(scheme + 3, end == std::string_view::npos ? end : end - scheme - 3);
  const size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(uri);
  const size_t colon = authority.find(':');
  if (colon == std::string_view::npos || colon > at) return std::string(uri);
  return StrCat(uri.substr(0, scheme + 3), authority.substr(0, colon), ":***", uri.substr(scheme + 3 + at));
}

StatusOr<std::unique_ptr<KeyValueStore>> OpenRedisKeyValueStore(const RedisOptions& options,
                                                                std::string_view uri) {
  auto store = std::make_unique<RedisKeyValueStore>(options, RedactRedisUri(uri));
  VREC_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<KeyValueStore>(std::move(store));
}

}  // namespace vrec::features
