#include "vrec/features/kv_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>

#include "vrec/common/strings.h"
#include "vrec/data/test_util.h"
#include "vrec/features/memory_kv_store.h"
#include "vrec/features/rocksdb_kv_store.h"

namespace vrec::features {
namespace {

using ::vrec::data::testing::TempDir;

// ---- the contract, for every backend -----------------------------------------------------------

struct Backend {
  std::string name;  // "memory" or "rocksdb"
  bool persistent = false;
};
void PrintTo(const Backend& b, std::ostream* os) { *os << b.name; }

class KeyValueStoreContract : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    uri_ = GetParam().name == "memory" ? "memory://" : "rocksdb://" + (dir_.path() / "db").string();
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

// Backends that keep data in a shared location (a directory, a server): persistence and exclusive
// opening. Instantiated only for them.
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

TEST_P(PersistentKeyValueStoreContract, SecondOpenOfAnOpenStoreFailsClearly) {
  auto second = OpenKeyValueStore(uri_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition) << second.status().ToString();
  EXPECT_NE(second.status().message().find("already open"), std::string::npos) << second.status().ToString();
  // The first handle is unaffected.
  Put("still", "works");
  EXPECT_EQ(Get("still"), "works");
}

INSTANTIATE_TEST_SUITE_P(AllBackends, KeyValueStoreContract,
                         ::testing::Values(Backend{"memory", false}, Backend{"rocksdb", true}),
                         [](const ::testing::TestParamInfo<Backend>& p) { return p.param.name; });
INSTANTIATE_TEST_SUITE_P(PersistentBackends, PersistentKeyValueStoreContract,
                         ::testing::Values(Backend{"rocksdb", true}),
                         [](const ::testing::TestParamInfo<Backend>& p) { return p.param.name; });

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

TEST(OpenKeyValueStore, RedisIsNotBuiltYet) {
  auto s = OpenKeyValueStore("redis://localhost:6379/0");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("redis:// is not built yet"), std::string::npos);
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
