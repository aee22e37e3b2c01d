// Test-only: a real redis-server (Debian's package) started on a free loopback port, with its data
// in a temporary folder and the persistence settings that make the store durable (AOF, fsync
// always). Tests that need one skip, with a message, only when the binary is absent.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>

#include "vrec/common/status.h"

namespace vrec::features::testing {

class RedisTestServer {
 public:
  // NotFound when no redis-server is installed ($VREC_REDIS_SERVER, else redis-server on PATH);
  // Unavailable when it did not answer PING within 10 s.
  static StatusOr<std::unique_ptr<RedisTestServer>> Start();
  ~RedisTestServer();  // SIGTERM, then SIGKILL after 5 s; removes the data folder

  // redis://127.0.0.1:<port>/0?prefix=<prefix>&timeout_ms=<timeout_ms>
  std::string Uri(std::string_view prefix, int timeout_ms = 2000) const;
  int port() const { return port_; }

  // kill -9, as a crash would.
  void Kill();
  // Starts the server again on the same port and data folder (after Kill): it reloads the AOF.
  Status Restart();

 private:
  RedisTestServer() = default;
  Status Spawn();

  std::string binary_;
  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// One server per test process, started on first use and stopped at exit; null, with the reason
// in `why`, when it cannot be started (no redis-server installed).
RedisTestServer* SharedRedisTestServer(std::string* why);

}  // namespace vrec::features::testing
