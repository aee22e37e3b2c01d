#include "vrec/features/kv_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>

#include "vrec/common/strings.h"
#include "vrec/data/test_util.h"
#include "vrec/features/memory_kv_store.h"
#include "vrec/features/redis_kv_store.h"
#include "vrec/features/redis_test_server.h"
#include "vrec/features/rocksdb_kv_store.h"

namespace vrec::features {
namespace {

using ::vrec::data::testing::TempDir;

// ---- the contract, for every backend -----------------------------------------------------------

struct Backend {
  std::string name;  // "memory", "rocksdb" or "redis"
  bool persistent = false;
};
void PrintTo(const Backend& b, std::ostream* os) { *os << b.name; }

// A namespace no other test of this process uses.
std::string FreshPrefix() {
  static std::atomic<int> next{0};
  return StrCat("t", getpid(), "-", next++);
}

class KeyValueStoreContract : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam().name == "redis") {
      std::string why;
      testing::RedisTestServer* redis = testing::SharedRedisTestServer(&why);
      if (redis == nullptr) GTEST_SKIP() << "no redis-server: " << why;
      uri_ = redis->Uri(FreshPrefix());
    } else {
      uri_ = GetParam().name == "memory" ? "memory://" : "rocksdb://" + (dir_.path() / "db").string();
    }
    Reopen();
  }
  void Reopen() {
    store_.reset();  // RocksDB: release the lock before opening again
    auto s = OpenKeyValueStore(uri_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  void Put(std::string_view k, std::string_view v) {
    WriteBatch b;
    b.Put(k, v);
    ASSERT_TRUE(store_->Write(b, WriteOptions{.sync = true}).ok());
  }
  std::optional<std::string> Get(std::string_view k) {
    auto v = store_->Get(k);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : std::nullopt;
  }
  std::vector<std::string> ScanKeys(std::string_view prefix, std::string_view after, size_t limit) {
    auto page = store_->Scan(prefix, after, limit);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    std::vector<std::string> keys;
    if (page.ok()) {
      for (const KeyValue& kv : *page) keys.push_back(kv.key);
    }
    return keys;
  }

  TempDir dir_;
  std::string uri_;
  std::unique_ptr<KeyValueStore> store_;
};

TEST_P(KeyValueStoreContract, GetOfMissingKeyIsNullopt) {
  EXPECT_EQ(Get("nope"), std::nullopt);
  EXPECT_EQ(store_->uri(), uri_);
  EXPECT_EQ(store_->durable(), GetParam().persistent);
}

TEST_P(KeyValueStoreContract, PutThenGet) {
  Put("k", "v");
  EXPECT_EQ(Get("k"), "v");
  // An empty value is a value, not an absence.
  Put("empty", "");
  EXPECT_EQ(Get("empty"), std::optional<std::string>(""));
}

TEST_P(KeyValueStoreContract, PutOverwrites) {
  Put("k", "first");
  Put("k", "second");
  EXPECT_EQ(Get("k"), "second");
}

TEST_P(KeyValueStoreContract, DeleteRemovesAndToleratesMissingKeys) {
  Put("k", "v");
  WriteBatch b;
  b.Delete("k");
  b.Delete("never-there");
  ASSERT_TRUE(store_->Write(b, WriteOptions{}).ok());
  EXPECT_EQ(Get("k"), std::nullopt);
}

TEST_P(KeyValueStoreContract, BatchAppliesOperationsInOrder) {
  Put("gone", "old");
  WriteBatch b;
  b.Put("a", "1");
  b.Put("a", "2");  // later put wins
  b.Put("gone", "new");
  b.Delete("gone");  // delete after put: absent
  b.Delete("back");
  b.Put("back", "again");  // put after delete: present
  ASSERT_TRUE(store_->Write(b, WriteOptions{.sync = true}).ok());
  EXPECT_EQ(Get("a"), "2");
  EXPECT_EQ(Get("gone"), std::nullopt);
  EXPECT_EQ(Get("back"), "again");
  EXPECT_TRUE(store_->Write(WriteBatch(), WriteOptions{}).ok());  // empty batch
}

TEST_P(KeyValueStoreContract, ReadersNeverSeeHalfABatch) {
  // A writer sets ten keys to the same generation in one batch; readers must always find the ten
  // equal, through MultiGet and through Scan.
  constexpr int kKeys = 10;
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) keys.push_back(StrCat("atom/", i));
  {
    WriteBatch b;
    for (const auto& k : keys) b.Put(k, "0");
    ASSERT_TRUE(store_->Write(b, WriteOptions{}).ok());
  }
  std::atomic<bool> done{false};
  std::atomic<int> torn{0}, reads{0};
  auto reader = [&](bool use_scan) {
    while (!done.load()) {
      std::vector<std::string> values;
      if (use_scan) {
        auto page = store_->Scan("atom/", "", 100);
        EXPECT_TRUE(page.ok());
        if (page.ok()) {
          for (const auto& kv : *page) values.push_back(kv.value);
        }
      } else {
        auto got = store_->MultiGet(keys);
        EXPECT_TRUE(got.ok());
        if (got.ok()) {
          for (const auto& v : *got) values.push_back(v.value_or("<missing>"));
        }
      }
      if (values.size() != kKeys ||
          std::adjacent_find(values.begin(), values.end(), std::not_equal_to<>()) != values.end()) {
        ++torn;
      }
      ++reads;
    }
  };
  std::thread r1(reader, false), r2(reader, true);
  for (int gen = 1; gen <= 300; ++gen) {
    WriteBatch b;
    for (const auto& k : keys) b.Put(k, std::to_string(gen));
    EXPECT_TRUE(store_->Write(b, WriteOptions{}).ok());
  }
  // Let the readers observe the final state at least once before stopping them.
  const int seen = reads.load();
  while (reads.load() < seen + 4) std::this_thread::yield();
  done = true;
  r1.join();
  r2.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(Get("atom/9"), "300");
}

TEST_P(KeyValueStoreContract, MultiGetKeepsOrderAndReportsMissingKeys) {
  Put("b", "B");
  Put("a", "A");
  Put("c", "C");
  std::vector<std::string> keys = {"c", "missing", "a", "c", "b"};
  auto got = store_->MultiGet(keys);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  std::vector<std::optional<std::string>> want = {"C", std::nullopt, "A", "C", "B"};
  EXPECT_EQ(*got, want);
  auto none = store_->MultiGet({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_P(KeyValueStoreContract, ScanReturnsThePrefixInByteOrderAndPages) {
  // Inserted in random order; neighbours of the prefix ("b", "b0", "a/...", "c/...") must not leak
  // in, and bytes >= 0x80 sort after ASCII (unsigned order).
  std::vector<std::string> inside = {"b/",  "b/\x01", "b/a",    "b/aa",  "b/b",
                                     "b/z", "b/\x7f", "b/\x80", "b/\xff"};
  std::vector<std::string> outside = {"a/z", "b", "b0", "c/", "b.", std::string("b\0/", 3)};
  std::vector<std::string> all = inside;
  all.insert(all.end(), outside.begin(), outside.end());
  std::shuffle(all.begin(), all.end(), std::mt19937(7));
  for (const auto& k : all) Put(k, "v:" + k);

  EXPECT_EQ(ScanKeys("b/", "", 100), inside);

  // Paging with start_after = last key of the previous page visits every key once.
  std::vector<std::string> paged;
  std::string after;
  int pages = 0;
  while (true) {
    auto page = store_->Scan("b/", after, 4);
    ASSERT_TRUE(page.ok());
    ++pages;
    for (const auto& kv : *page) {
      EXPECT_EQ(kv.value, "v:" + kv.key);
      paged.push_back(kv.key);
    }
    if (page->size() < 4) break;
    after = page->back().key;
  }
  EXPECT_EQ(paged, inside);
  EXPECT_EQ(pages, 3);  // 4 + 4 + 1

  // start_after need not be a stored key; before the prefix it means "from the start".
  EXPECT_EQ(ScanKeys("b/", "b/ab", 2), (std::vector<std::string>{"b/b", "b/z"}));
  EXPECT_EQ(ScanKeys("b/", "a", 2), (std::vector<std::string>{"b/", "b/\x01"}));
  EXPECT_TRUE(ScanKeys("b/", "b0", 10).empty());
  EXPECT_TRUE(ScanKeys("zzz/", "", 10).empty());
  // The empty prefix is the whole store.
  std::vector<std::string> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(ScanKeys("", "", 100), sorted);
}

TEST_P(KeyValueStoreContract, ScanRejectsZeroLimit) {
  auto page = store_->Scan("", "", 0);
  ASSERT_FALSE(page.ok());
  EXPECT_EQ(page.status().code(), StatusCode::kInvalidArgument);
}

TEST_P(KeyValueStoreContract, LastFindsTheGreatestKeyOfAPrefix) {
  auto last = [&](std::string_view prefix) -> std::optional<std::string> {
    auto kv = store_->Last(prefix);
    EXPECT_TRUE(kv.ok()) << kv.status().ToString();
    if (!kv.ok() || !kv->has_value()) return std::nullopt;
    EXPECT_EQ((*kv)->value, "v:" + (*kv)->key);
    return (*kv)->key;
  };
  EXPECT_EQ(last(""), std::nullopt);
  for (std::string k : {"e/1", "e/2", "e/10", "f", "e", "\xff\xff/1", "\xff\xff"}) Put(k, "v:" + k);
  EXPECT_EQ(last("e/"), "e/2");
  EXPECT_EQ(last("e"), "e/2");
  EXPECT_EQ(last("f"), "f");
  EXPECT_EQ(last("d"), std::nullopt);
  EXPECT_EQ(last("g"), std::nullopt);
  EXPECT_EQ(last("\xff\xff"), "\xff\xff/1");  // no prefix successor: scans to the end
  EXPECT_EQ(last(""), "\xff\xff/1");
}

TEST_P(KeyValueStoreContract, BinaryKeysAndValuesRoundTrip) {
  const std::string key("k\0ey\0", 5), value("\0v\xff\0", 4);
  const std::string shorter("k\0ey", 4);
  Put(key, value);
  Put(shorter, "short");
  EXPECT_EQ(Get(key), value);
  EXPECT_EQ(Get(shorter), "short");
  EXPECT_EQ(Get(std::string("k\0ey\0\0", 6)), std::nullopt);
  auto page = store_->Scan(std::string("k\0", 2), "", 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0], (KeyValue{shorter, "short"}));
  EXPECT_EQ((*page)[1], (KeyValue{key, value}));
}

TEST_P(KeyValueStoreContract, ConcurrentWritersLoseNothing) {
  constexpr int kThreads = 4, kBatches = 200, kPerBatch = 5;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        WriteBatch batch;
        for (int i = 0; i < kPerBatch; ++i) batch.Put(StrCat("w/", t, "/", b * kPerBatch + i), StrCat(t));
        // Every writer also overwrites one shared key: last writer wins, never a torn value.
        batch.Put("shared", StrCat(t));
        ASSERT_TRUE(store_->Write(batch, WriteOptions{.sync = (b % 50 == 0)}).ok());
        if (b % 20 == 0) {
          auto got = store_->Get(StrCat("w/", t, "/", b * kPerBatch));
          ASSERT_TRUE(got.ok());
          ASSERT_EQ(*got, StrCat(t));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    auto page = store_->Scan(StrCat("w/", t, "/"), "", 100000);
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(page->size(), size_t{kBatches * kPerBatch}) << "thread " << t;
  }
  auto shared = Get("shared");
  ASSERT_TRUE(shared.has_value());
  EXPECT_EQ(shared->size(), 1u);
}

TEST_P(KeyValueStoreContract, ConditionalBatchWritesOnlyWhenEveryExpectationHolds) {
  Put("seq", "1");
  WriteBatch b;
  b.Expect("seq", "1");
  b.Expect("id/a", std::nullopt);
  b.Put("seq", "2");
  b.Put("id/a", "x");
  ASSERT_TRUE(store_->Write(b, WriteOptions{.sync = true}).ok());
  EXPECT_EQ(Get("seq"), "2");
  // The same batch again: "seq" is no longer "1" and "id/a" is present; nothing is written.
  b.Clear();
  b.Expect("seq", "1");
  b.Put("seq", "3");
  b.Put("other", "y");
  Status s = store_->Write(b, WriteOptions{.sync = true});
  EXPECT_EQ(s.code(), StatusCode::kAborted) << s.ToString();
  b.Clear();
  b.Expect("seq", "2");
  b.Expect("id/a", std::nullopt);
  b.Put("other", "y");
  s = store_->Write(b, WriteOptions{});
  EXPECT_EQ(s.code(), StatusCode::kAborted) << s.ToString();
  EXPECT_EQ(Get("seq"), "2");
  EXPECT_EQ(Get("other"), std::nullopt);
  // Binary values and the empty value compare exactly.
  const std::string binary("\0\xff\x01", 3);
  Put("bin", binary);
  b.Clear();
  b.Expect("bin", std::string_view(binary).substr(0, 2));
  b.Put("other", "z");
  EXPECT_EQ(store_->Write(b, WriteOptions{}).code(), StatusCode::kAborted);
  Put("empty", "");
  b.Clear();
  b.Expect("bin", binary);
  b.Expect("empty", "");
  b.Put("other", "z");
  EXPECT_TRUE(store_->Write(b, WriteOptions{}).ok());
  EXPECT_EQ(Get("other"), "z");
}

TEST_P(KeyValueStoreContract, ConditionalIncrementsOfOneKeyLoseNoUpdate) {
  // Read, add one, write if unchanged, else read again: how the feature store hands out sequences.
  constexpr int kThreads = 4, kIncrements = 100;
  std::atomic<int> aborted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        for (;;) {
          auto old = store_->Get("counter");
          ASSERT_TRUE(old.ok());
          const int n = *old ? std::stoi(**old) : 0;
          WriteBatch b;
          b.Expect("counter", *old);
          b.Put("counter", std::to_string(n + 1));
          b.Put(StrCat("slot/", n + 1), "taken");
          const Status s = store_->Write(b, WriteOptions{});
          if (s.ok()) break;
          ASSERT_EQ(s.code(), StatusCode::kAborted) << s.ToString();
          ++aborted;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(Get("counter"), std::to_string(kThreads * kIncrements));
  auto slots = store_->Scan("slot/", "", 100000);
  ASSERT_TRUE(slots.ok());
  EXPECT_EQ(slots->size(), size_t{kThreads * kIncrements});
}

// Backends that keep data outside the process (a directory, a server). Instantiated only for them.
class PersistentKeyValueStoreContract : public KeyValueStoreContract {};

TEST_P(PersistentKeyValueStoreContract, DataPersistsAfterReopen) {
  Put("kept", "yes");
  WriteBatch b;
  b.Put("gone", "x");
  b.Delete("gone");
  ASSERT_TRUE(store_->Write(b, WriteOptions{.sync = true}).ok());
  Reopen();
  EXPECT_EQ(Get("kept"), "yes");
  EXPECT_EQ(Get("gone"), std::nullopt);
}

// Embedded backends: one process at a time.
class ExclusiveKeyValueStoreContract : public KeyValueStoreContract {};

TEST_P(ExclusiveKeyValueStoreContract, SecondOpenOfAnOpenStoreFailsClearly) {
  auto second = OpenKeyValueStore(uri_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition) << second.status().ToString();
  EXPECT_NE(second.status().message().find("already open"), std::string::npos) << second.status().ToString();
  // The first handle is unaffected.
  Put("still", "works");
  EXPECT_EQ(Get("still"), "works");
}

// Shared backends: every handle on the same URI (each server of a deployment) sees one store.
class SharedKeyValueStoreContract : public KeyValueStoreContract {};

TEST_P(SharedKeyValueStoreContract, HandlesOfOneUriSeeEachOthersWrites) {
  auto second = OpenKeyValueStore(uri_);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  Put("from-first", "1");
  EXPECT_EQ(*(*second)->Get("from-first"), "1");
  WriteBatch b;
  b.Put("from-second", "2");
  b.Delete("from-first");
  ASSERT_TRUE((*second)->Write(b, WriteOptions{.sync = true}).ok());
  EXPECT_EQ(Get("from-second"), "2");
  EXPECT_EQ(Get("from-first"), std::nullopt);
  EXPECT_EQ(ScanKeys("", "", 10), std::vector<std::string>{"from-second"});
  // A conditional write of one handle sees the other's writes.
  b.Clear();
  b.Expect("from-second", std::nullopt);
  b.Put("late", "x");
  EXPECT_EQ(store_->Write(b, WriteOptions{}).code(), StatusCode::kAborted);
}

const auto kName = [](const ::testing::TestParamInfo<Backend>& p) { return p.param.name; };
// redis: durable because the test server runs with appendonly yes, appendfsync always.
INSTANTIATE_TEST_SUITE_P(AllBackends, KeyValueStoreContract,
                         ::testing::Values(Backend{"memory", false}, Backend{"rocksdb", true},
                                           Backend{"redis", true}),
                         kName);
INSTANTIATE_TEST_SUITE_P(PersistentBackends, PersistentKeyValueStoreContract,
                         ::testing::Values(Backend{"rocksdb", true}, Backend{"redis", true}), kName);
INSTANTIATE_TEST_SUITE_P(ExclusiveBackends, ExclusiveKeyValueStoreContract,
                         ::testing::Values(Backend{"rocksdb", true}), kName);
INSTANTIATE_TEST_SUITE_P(SharedBackends, SharedKeyValueStoreContract,
                         ::testing::Values(Backend{"redis", true}), kName);

// ---- URIs and helpers -----------------------------------------------------------------------------

TEST(OpenKeyValueStore, RejectsBadUrisNamingTheAcceptedForms) {
  for (std::string_view uri : {"", "memory", "memory://x", "rocksdb://", "rocksdb://relative/dir",
                               "rocksdb:///", "rocksdb:///tmp/x?cache=1", "ftp://host/x", "/abs/path"}) {
    auto s = OpenKeyValueStore(uri);
    ASSERT_FALSE(s.ok()) << uri;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << uri;
    EXPECT_NE(s.status().message().find(StrCat("'", uri, "'")), std::string::npos) << s.status().ToString();
    EXPECT_NE(s.status().message().find("rocksdb:///absolute/path"), std::string::npos)
        << s.status().ToString();
  }
}

TEST(OpenKeyValueStore, RedisUrisParseOrFailNamingTheForm) {
  auto o = ParseRedisUri("redis://app:p%40ss@cache.internal:6380/3?timeout_ms=250&pool=4&prefix=prod");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->host, "cache.internal");
  EXPECT_EQ(o->port, 6380);
  EXPECT_EQ(o->db, 3);
  EXPECT_EQ(o->user, "app");
  EXPECT_EQ(o->password, "p@ss");
  EXPECT_EQ(o->timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(o->pool_size, 4);
  EXPECT_EQ(o->prefix, "prod");
  auto d = ParseRedisUri("REDIS://[::1]");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->host, "::1");
  EXPECT_EQ(d->port, 6379);
  EXPECT_EQ(d->db, 0);
  EXPECT_EQ(d->prefix, "vrec");
  EXPECT_EQ(ParseRedisUri("redis://:secret@h")->password, "secret");
  for (std::string_view uri :
       {"redis://", "redis://:6379", "redis://h:0", "redis://h:70000", "redis://h:x", "redis://h/db1",
        "redis://h?pool=0", "redis://h?timeout_ms=", "redis://h?nope=1", "redis://h?prefix={x}",
        "redis://user@h", "redis://:@h", "redis://:%zz@h", "redis://[::1"}) {
    auto s = OpenKeyValueStore(uri);
    ASSERT_FALSE(s.ok()) << uri;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << uri;
    EXPECT_NE(s.status().message().find(StrCat("'", uri, "'")), std::string::npos) << s.status().ToString();
    EXPECT_NE(s.status().message().find("redis://[[user]:password@]host"), std::string::npos)
        << s.status().ToString();
  }
  EXPECT_EQ(RedactRedisUri("redis://app:p%40ss@h:1/0?prefix=x"), "redis://app:***@h:1/0?prefix=x");
  EXPECT_EQ(RedactRedisUri("redis://h:1/0"), "redis://h:1/0");
}

TEST(OpenKeyValueStore, UnreachableRedisIsUnavailable) {
  auto s = OpenKeyValueStore("redis://127.0.0.1:1/0?timeout_ms=200");  // nothing listens on port 1
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable) << s.status().ToString();
  EXPECT_NE(s.status().message().find("redis://127.0.0.1:1/0"), std::string::npos) << s.status().ToString();
}

// ---- Redis: what the server's crash and persistence settings do -------------------------------

class RedisKeyValueStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    redis_ = testing::SharedRedisTestServer(&why);
    if (redis_ == nullptr) GTEST_SKIP() << "no redis-server: " << why;
  }
  testing::RedisTestServer* redis_ = nullptr;
};

TEST_F(RedisKeyValueStoreTest, AcknowledgedWritesSurviveKillNineOfTheServerAndTheStoreReconnects) {
  auto store = OpenKeyValueStore(redis_->Uri(FreshPrefix(), 500));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->durable());  // appendonly yes, appendfsync always
  for (int i = 0; i < 50; ++i) {
    WriteBatch b;
    b.Put(StrCat("k/", i), StrCat("v", i));
    ASSERT_TRUE((*store)->Write(b, WriteOptions{.sync = true}).ok());
  }
  redis_->Kill();
  // Down: every call fails as Unavailable (retry later), nothing half-done.
  WriteBatch lost;
  lost.Put("k/late", "x");
  EXPECT_EQ((*store)->Write(lost, WriteOptions{.sync = true}).code(), StatusCode::kUnavailable);
  EXPECT_EQ((*store)->Get("k/0").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ((*store)->Scan("k/", "", 10).status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(redis_->Restart().ok());
  // Back: the same handle reconnects, and every acknowledged write is there (the server reloaded
  // its append-only file).
  auto page = (*store)->Scan("k/", "", 100);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->size(), 50u);
  EXPECT_EQ(*(*store)->Get("k/49"), "v49");
  EXPECT_EQ(*(*store)->Get("k/late"), std::nullopt);
  ASSERT_TRUE((*store)->Last("k/").ok());  // the scripts are loaded again (EVALSHA -> NOSCRIPT -> EVAL)
  EXPECT_EQ((*(*store)->Last("k/"))->key, "k/9");
}

TEST_F(RedisKeyValueStoreTest, DurableOnlyWhenTheServerFsyncsEveryWrite) {
  const std::string uri = redis_->Uri(FreshPrefix());
  auto config = [&](const char* value) {
    // Through a store handle's connection is not possible (the interface has no raw commands):
    // redis-cli is part of the same Debian package.
    const std::string cmd =
        StrCat("redis-cli -p ", redis_->port(), " CONFIG SET appendfsync ", value, " > /dev/null");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  };
  config("everysec");
  auto relaxed = OpenKeyValueStore(uri);
  ASSERT_TRUE(relaxed.ok()) << relaxed.status().ToString();
  EXPECT_FALSE((*relaxed)->durable());
  config("always");
  auto strict = OpenKeyValueStore(uri);
  ASSERT_TRUE(strict.ok()) << strict.status().ToString();
  EXPECT_TRUE((*strict)->durable());
}

TEST_F(RedisKeyValueStoreTest, ScanPagesOfManyThousandKeys) {
  // Scan's script reads values in chunks (Lua's unpack has a limit of a few thousand values).
  auto store = OpenKeyValueStore(redis_->Uri(FreshPrefix()));
  ASSERT_TRUE(store.ok());
  WriteBatch b;
  for (int i = 0; i < 20000; ++i) b.Put(StrCat("m/", 100000 + i), std::to_string(i));
  ASSERT_TRUE((*store)->Write(b, WriteOptions{}).ok());
  auto page = (*store)->Scan("m/", "", 100000);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->size(), 20000u);
  EXPECT_EQ(page->back().key, "m/119999");
  EXPECT_EQ(page->back().value, "19999");
}

TEST(OpenKeyValueStore, RocksDbCreatesMissingParentDirectories) {
  TempDir dir;
  const auto path = dir.path() / "a" / "b" / "db";
  auto s = OpenKeyValueStore("rocksdb://" + path.string());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(std::filesystem::exists(path / "CURRENT"));
}

TEST(OpenKeyValueStore, MemoryStoresAreSeparate) {
  auto a = OpenKeyValueStore("memory://");
  auto b = OpenKeyValueStore("MEMORY://");
  ASSERT_TRUE(a.ok() && b.ok());
  WriteBatch batch;
  batch.Put("k", "v");
  ASSERT_TRUE((*a)->Write(batch, WriteOptions{}).ok());
  EXPECT_EQ(*(*b)->Get("k"), std::nullopt);
}

TEST(PrefixSuccessor, IncrementsTheLastByteThatCan) {
  EXPECT_EQ(PrefixSuccessor("ab"), "ac");
  EXPECT_EQ(PrefixSuccessor("a\xff\xff"), "b");
  EXPECT_EQ(PrefixSuccessor(std::string("a\0", 2)), std::string("a\x01", 2));
  EXPECT_EQ(PrefixSuccessor("\xff\xff"), std::nullopt);
  EXPECT_EQ(PrefixSuccessor(""), std::nullopt);
}

}  // namespace
}  // namespace vrec::features
