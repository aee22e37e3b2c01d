// KeyValueStore on a Redis server: the backend of `redis://host:port/db`, the store several vrec
// servers share. redis_kv_store.cc is the only file that includes hiredis; this header does not.
//
// Layout, under a namespace N (URI parameter `prefix`, default "vrec"), both keys in the same
// Redis Cluster hash slot ({N}):
//   {N}:kv    a hash: key -> value
//   {N}:keys  a sorted set of the keys, all with score 0, so that ZRANGEBYLEX orders them by
//             memcmp: the byte order Scan and Last promise.
// Write, Scan and Last are Lua scripts (one round trip each, atomic for other clients); a Write
// checks its batch's expectations inside its script, so conditional writes of several servers
// serialize on the Redis server.
//
// Durability depends on the server's persistence settings, read at open (CONFIG GET):
//   appendonly yes, appendfsync always   every acknowledged write is fsynced: survives kill -9 of
//                                        redis-server and a crash of the machine. durable() = true.
//   appendonly yes, appendfsync everysec survives kill -9 of redis-server (the write reached the
//                                        kernel before the reply); a machine crash loses <= ~1 s.
//   appendonly no                        kill -9 loses everything since the last RDB snapshot.
// Only the first makes durable() true; WriteOptions::sync cannot ask more of the server than its
// settings give (Redis 7.0 has no per-write fsync), see docs/redis.md.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "vrec/features/kv_store.h"

namespace vrec::features {

struct RedisOptions {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string user;      // ACL user (Redis 6+); empty = the default user
  std::string password;  // empty = no AUTH
  std::string prefix = "vrec";
  // Connect and per-command timeout; also how long a caller waits for a free pooled connection.
  std::chrono::milliseconds timeout{1000};
  int pool_size = 8;  // connections opened on demand, at most this many
};

// redis://[[user]:password@]host[:port][/db][?timeout_ms=N&pool=N&prefix=NAME]. Percent-escapes
// are decoded in the user and password. InvalidArgument naming the URI and the accepted form.
StatusOr<RedisOptions> ParseRedisUri(std::string_view uri);

// `uri` with the password (if any) replaced by "***": what messages and uri() show.
std::string RedactRedisUri(std::string_view uri);

// Connects (one connection, to check the server and read its persistence settings; the pool grows
// on demand). uri() is RedactRedisUri(uri). Every later call that cannot reach the server returns
// Unavailable and closes its connection; the next call connects again, so the store recovers by
// itself when Redis returns.
// Errors: Unavailable when the server cannot be reached or answers LOADING; InvalidArgument naming
// the URI when AUTH or SELECT is refused.
StatusOr<std::unique_ptr<KeyValueStore>> OpenRedisKeyValueStore(const RedisOptions& options,
                                                                std::string_view uri);

}  // namespace vrec::features
