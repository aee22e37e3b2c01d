// Durability under kill -9: a child process appends batches with sync and reports each
// acknowledged sequence through a pipe; the parent SIGKILLs it mid-stream, reopens the store and
// checks that every acknowledged event is in the log and in the users' histories, that no batch is
// torn, and that the next append continues the sequence. Three crashes hit the same store, so
// recovery after a crash is itself crashed into.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <span>

#include "vrec/data/test_util.h"
#include "vrec/features/feature_store.h"
#include "vrec/features/redis_test_server.h"

namespace vrec::features {
namespace {

using ::vrec::data::testing::TempDir;

constexpr uint64_t kBatch = 8;
constexpr uint64_t kUsers = 5;

// The i-th event of the stream (0-based): event i is stored under sequence i + 1.
Event StreamEvent(uint64_t i) {
  return Event{UserId{i % kUsers},
               VideoId{i},
               static_cast<data::EventType>(i % 7),
               static_cast<int64_t>(i / kBatch),
               static_cast<float>(i % 11) / 4.0f,
               static_cast<data::Device>(i % 5)};
}

// Child: append batches forever, writing the last acknowledged sequence to `fd` after each one.
// Never returns; exit codes say what went wrong.
[[noreturn]] void RunWriter(const std::string& uri, int fd) {
  auto store = FeatureStore::Open(uri, FeatureStoreOptions{.max_history = 1'000'000});
  if (!store.ok()) _exit(2);
  uint64_t next = (*store)->LastSequence();
  if (next % kBatch != 0) _exit(3);  // a torn batch: the parent reports it too
  while (true) {
    std::vector<Event> batch;
    for (uint64_t j = 0; j < kBatch; ++j) batch.push_back(StreamEvent(next + j));
    if (!(*store)->AppendEvents(batch).ok()) _exit(4);
    next += kBatch;
    const uint64_t acked = (*store)->LastSequence();
    if (acked != next) _exit(5);
    // 8 bytes < PIPE_BUF: each write is atomic, so the parent never reads half a number.
    if (write(fd, &acked, sizeof(acked)) != static_cast<ssize_t>(sizeof(acked))) _exit(6);
  }
}

// Reads one 8-byte number; false at end of file.
bool ReadAck(int fd, uint64_t& value) {
  size_t got = 0;
  auto* p = reinterpret_cast<char*>(&value);
  while (got < sizeof(value)) {
    const ssize_t n = read(fd, p + got, sizeof(value) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

// What a round kills: the writer process, or (Redis) the server under it.
enum class Victim { kWriter, kServer };

struct Round {
  uint64_t kill_after;  // batches acknowledged before the kill
  useconds_t delay_us;  // extra delay before it: the kill lands at different points of an append
  Victim victim = Victim::kWriter;
};

// Runs the rounds against one store; after each, reopens it and checks every acknowledged event.
void CrashRounds(const std::string& uri, std::span<const Round> rounds, testing::RedisTestServer* redis) {
  uint64_t acked = 0;  // greatest sequence any writer acknowledged, across crashes
  for (const Round& round : rounds) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0) << std::strerror(errno);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0) << std::strerror(errno);
    if (pid == 0) {
      close(fds[0]);
      RunWriter(uri, fds[1]);
    }
    close(fds[1]);
    // Let the writer acknowledge `kill_after` batches, then kill it (or its server) while it is
    // appending more.
    uint64_t value = 0;
    for (uint64_t n = 0; n < round.kill_after; ++n) {
      if (!ReadAck(fds[0], value)) break;
      acked = value;
    }
    if (round.delay_us > 0) usleep(round.delay_us);
    if (round.victim == Victim::kServer) {
      redis->Kill();  // the writer's next append fails (exit 4) and acknowledges nothing more
    } else {
      ASSERT_EQ(kill(pid, SIGKILL), 0);
    }
    // Acknowledgements written before the kill are still in the pipe.
    while (ReadAck(fds[0], value)) acked = value;
    close(fds[0]);
    int wstatus = 0;
    ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
    if (round.victim == Victim::kServer) {
      ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 4)
          << "the writer should stop on the failed append: status " << wstatus;
      ASSERT_TRUE(redis->Restart().ok());  // reloads its append-only file
    } else {
      ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
          << "writer died on its own: exit code " << (WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
    }

    // On Redis the dead writer's claim is still there: Open waits for it to expire.
    auto store = FeatureStore::Open(uri, FeatureStoreOptions{.max_history = 1'000'000});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    const uint64_t stored = (*store)->LastSequence();
    EXPECT_GE(stored, acked) << "acknowledged events were lost";
    EXPECT_EQ(stored % kBatch, 0u) << "a batch was torn";
    std::printf("%s killed after %llu acknowledged batches: acknowledged seq %llu, stored seq %llu\n",
                round.victim == Victim::kServer ? "redis-server" : "writer",
                static_cast<unsigned long long>(round.kill_after), static_cast<unsigned long long>(acked),
                static_cast<unsigned long long>(stored));

    // The log is exactly the stream's prefix: every acknowledged event, maybe a few batches more
    // (written but killed before the acknowledgement), nothing else.
    std::vector<std::pair<uint64_t, Event>> chunk;
    uint64_t after = 0, count = 0;
    do {
      ASSERT_TRUE((*store)->ScanEvents(after, 100, chunk).ok());
      for (const auto& [seq, e] : chunk) {
        ASSERT_EQ(seq, count + 1);
        const Event want = StreamEvent(count);
        ASSERT_TRUE(e.user == want.user && e.video == want.video && e.type == want.type &&
                    e.time == want.time && e.watch_ratio == want.watch_ratio && e.device == want.device)
            << "event " << seq;
        ++count;
      }
      if (!chunk.empty()) after = chunk.back().first;
    } while (chunk.size() == 100);
    EXPECT_EQ(count, stored);

    // Each history holds exactly that user's events of the log, in stream order (the history
    // record and the log entries are written in one batch).
    for (uint64_t u = 0; u < kUsers; ++u) {
      auto history = (*store)->History(UserId{u});
      ASSERT_TRUE(history.ok()) << history.status().ToString();
      std::vector<uint64_t> want, got;
      for (uint64_t i = u; i < count; i += kUsers) want.push_back(i);
      for (const HistoryEntry& h : *history) got.push_back(h.video.value);
      EXPECT_EQ(got, want) << "user " << u;
    }
  }
  EXPECT_GT(acked, 0u);
}

TEST(FeatureStoreCrash, AcknowledgedEventsSurviveKill9) {
  TempDir dir;
  const Round rounds[] = {{12, 0}, {30, 1500}, {5, 300}};
  CrashRounds("rocksdb://" + (dir.path() / "db").string(), rounds, nullptr);
}

// With the documented settings (appendonly yes, appendfsync always: docs/redis.md), kill -9 of
// redis-server loses no acknowledged event, and neither does kill -9 of the writer.
TEST(FeatureStoreCrash, OnRedisAcknowledgedEventsSurviveKill9OfTheServerOrTheWriter) {
  auto redis = testing::RedisTestServer::Start();
  if (!redis.ok()) GTEST_SKIP() << "no redis-server: " << redis.status().ToString();
  const Round rounds[] = {{12, 0, Victim::kServer}, {20, 700, Victim::kWriter}, {8, 300, Victim::kServer}};
  CrashRounds((*redis)->Uri("crash"), rounds, redis->get());
}

}  // namespace
}  // namespace vrec::features
