#include "vrec/features/redis_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "vrec/common/strings.h"

extern char** environ;

namespace vrec::features::testing {

namespace {

std::string FindBinary() {
  if (const char* env = std::getenv("VREC_REDIS_SERVER"); env != nullptr && *env != '\0') return env;
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  dirs += ":/usr/sbin:/sbin";
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::filesystem::path candidate =
        std::filesystem::path(dirs.substr(start, end - start)) / "redis-server";
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return "";
}

// A port the kernel just handed out; redis-server binds it right after (a race with other
// processes is possible and handled by retrying with another port).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// true when the server on `port` answers PING with +PONG.
bool Pong(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = false;
  timeval tv{.tv_sec = 1, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 && write(fd, "PING\r\n", 6) == 6) {
    char buf[16] = {};
    ok = read(fd, buf, sizeof(buf) - 1) >= 5 && std::string_view(buf).starts_with("+PONG");
  }
  close(fd);
  return ok;
}

}  // namespace

StatusOr<std::unique_ptr<RedisTestServer>> RedisTestServer::Start() {
  std::unique_ptr<RedisTestServer> s(new RedisTestServer());
  s->binary_ = FindBinary();
  if (s->binary_.empty())
    return NotFoundError("redis-server is not installed (apt-get install redis-server)");
  std::string tmpl = (std::filesystem::temp_directory_path() / "vrec_redis_XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr)
    return InternalError("cannot create a temporary folder for redis-server");
  s->dir_ = tmpl;
  Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    s->port_ = FreePort();
    last = s->Spawn();
    if (last.ok()) return s;
  }
  return last;
}

Status RedisTestServer::Spawn() {
  const std::string port = std::to_string(port_), dir = dir_.string(), log = (dir_ / "redis.log").string();
  std::vector<std::string> args = {
      binary_, "--port",           port,  "--bind",        "127.0.0.1", "--dir",       dir,  "--save",
      "",      "--appendonly",     "yes", "--appendfsync", "always",    "--daemonize", "no", "--logfile",
      log,     "--protected-mode", "yes"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (posix_spawn(&pid_, binary_.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
    pid_ = -1;
    return InternalError(StrCat("cannot start ", binary_));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (Pong(port_)) return OkStatus();
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: the port was taken, or bad settings
      pid_ = -1;
      return UnavailableError(StrCat("redis-server exited at start (see ", log, ")"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Kill();
  return UnavailableError(StrCat("redis-server did not answer PING on port ", port_, " within 10 s"));
}

std::string RedisTestServer::Uri(std::string_view prefix, int timeout_ms) const {
  return StrCat("redis://127.0.0.1:", port_, "/0?prefix=", prefix, "&timeout_ms=", timeout_ms);
}

void RedisTestServer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

Status RedisTestServer::Restart() {
  Kill();
  return Spawn();
}

RedisTestServer::~RedisTestServer() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (waitpid(pid_, nullptr, WNOHANG) != pid_) {
      if (std::chrono::steady_clock::now() > deadline) {
        Kill();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

RedisTestServer* SharedRedisTestServer(std::string* why) {
  static StatusOr<std::unique_ptr<RedisTestServer>> server = RedisTestServer::Start();
  if (!server.ok()) {
    *why = server.status().ToString();
    return nullptr;
  }
  return server->get();
}

}  // namespace vrec::features::testing
