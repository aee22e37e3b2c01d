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

#include "vrec/data/test_util.h"
#include "vrec/features/feature_store.h"

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

TEST(FeatureStoreCrash, AcknowledgedEventsSurviveKill9) {
  TempDir dir;
  const std::string uri = "rocksdb://" + (dir.path() / "db").string();
  uint64_t acked = 0;  // greatest sequence any writer acknowledged, across crashes
  // (batches acknowledged before the kill, extra delay before it in microseconds): the delay lets
  // the writer get further, so the kill lands at different points of an append.
  const std::pair<uint64_t, useconds_t> rounds[] = {{12, 0}, {30, 1500}, {5, 300}};
  for (const auto& [kill_after, delay_us] : rounds) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0) << std::strerror(errno);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0) << std::strerror(errno);
    if (pid == 0) {
      close(fds[0]);
      RunWriter(uri, fds[1]);
    }
    close(fds[1]);
    // Let the writer acknowledge `kill_after` batches, then kill it while it is appending more.
    uint64_t value = 0;
    for (uint64_t n = 0; n < kill_after; ++n) {
      if (!ReadAck(fds[0], value)) break;
      acked = value;
    }
    if (delay_us > 0) usleep(delay_us);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    // Acknowledgements written before the kill are still in the pipe.
    while (ReadAck(fds[0], value)) acked = value;
    close(fds[0]);
    int wstatus = 0;
    ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
        << "writer died on its own: exit code " << (WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);

    auto store = FeatureStore::Open(uri, FeatureStoreOptions{.max_history = 1'000'000});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    const uint64_t stored = (*store)->LastSequence();
    EXPECT_GE(stored, acked) << "acknowledged events were lost";
    EXPECT_EQ(stored % kBatch, 0u) << "a batch was torn";
    std::printf("crash after %llu acknowledged batches: acknowledged seq %llu, stored seq %llu\n",
                static_cast<unsigned long long>(kill_after), static_cast<unsigned long long>(acked),
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

}  // namespace
}  // namespace vrec::features
