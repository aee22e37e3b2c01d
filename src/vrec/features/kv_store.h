// An ordered key-value store of byte strings: the storage contract under the FeatureStore. Backends
// are chosen by URI (OpenKeyValueStore):
//   - memory://           in-process std::map (memory_kv_store.h): tests and throwaway runs.
//   - rocksdb:///abs/dir  embedded RocksDB (rocksdb_kv_store.h): the default for `vrec serve`.
//   - redis://host:port/db  a Redis server several vrec servers share (redis_kv_store.h).
//
// Keys and values are arbitrary bytes (embedded '\0' included). Keys are ordered by unsigned
// lexicographic byte order (memcmp order, shorter first on a common prefix), which is what Scan
// pages through. Every backend passes the same contract test suite (kv_store_test.cc).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vrec/common/status.h"

namespace vrec::features {

// A list of puts and deletes applied atomically and in order by KeyValueStore::Write: a later
// operation on the same key wins. A plain value; not thread-safe for concurrent modification.
class WriteBatch {
 public:
  enum class OpType { kPut, kDelete };
  struct Op {
    OpType type = OpType::kPut;
    std::string key;
    std::string value;  // empty for kDelete
  };

  void Put(std::string_view key, std::string_view value) {
    ops_.push_back({OpType::kPut, std::string(key), std::string(value)});
  }
  void Delete(std::string_view key) { ops_.push_back({OpType::kDelete, std::string(key), {}}); }
  void Clear() { ops_.clear(); }

  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }

 private:
  std::vector<Op> ops_;
};

struct WriteOptions {
  // true: Write returns only after the batch is on stable storage (RocksDB fsyncs its write-ahead
  // log), so it survives a crash of the process or of the machine. false: it survives a crash of
  // the process only (the OS still holds it). Ignored by stores that are not durable. Default false.
  bool sync = false;
};

struct KeyValue {
  std::string key;
  std::string value;
  friend bool operator==(const KeyValue&, const KeyValue&) = default;
};

// Abstract ordered key-value store. Thread-safe: every method may be called concurrently from any
// number of threads; a Write is atomic with respect to concurrent readers (they see all of it or
// none of it). Not copyable; the store owns its underlying resources (files, connections) and
// releases them in its destructor.
class KeyValueStore {
 public:
  KeyValueStore() = default;
  KeyValueStore(const KeyValueStore&) = delete;
  KeyValueStore& operator=(const KeyValueStore&) = delete;
  virtual ~KeyValueStore() = default;

  // The value stored under `key`, or nullopt when the key is absent.
  // Errors: Internal on I/O failure; DataLoss when the backend detects corruption; Unavailable
  // when a networked backend cannot be reached or is busy (retry later: nothing was changed).
  virtual StatusOr<std::optional<std::string>> Get(std::string_view key) = 0;

  // The values of `keys`, in the same order and of the same size; nullopt for absent keys.
  // Duplicate keys are allowed (each gets the value). Errors: as Get; one failing key fails all.
  virtual StatusOr<std::vector<std::optional<std::string>>> MultiGet(std::span<const std::string> keys) = 0;

  // Applies every operation of `batch`, atomically: on success all of them are visible, on error
  // none of them is. An empty batch succeeds and does nothing. See WriteOptions for durability.
  // Errors: Internal on I/O failure (e.g. fsync failed, disk full).
  virtual Status Write(const WriteBatch& batch, const WriteOptions& options) = 0;

  // Up to `limit` pairs whose key starts with `prefix` and is greater than `start_after`, in
  // ascending key order. An empty `start_after` starts at the first key with the prefix. Page
  // through a range by passing the last key of one page as `start_after` of the next; the range is
  // exhausted when a page holds fewer than `limit` pairs. Each page is a consistent snapshot, pages
  // are not consistent with each other.
  // Errors: InvalidArgument when limit is 0 (it would never make progress); as Get otherwise.
  virtual StatusOr<std::vector<KeyValue>> Scan(std::string_view prefix, std::string_view start_after,
                                               size_t limit) = 0;

  // The pair with the greatest key starting with `prefix`, or nullopt when there is none. (Used to
  // recover the next sequence number of a log without scanning all of it.) Errors: as Get.
  virtual StatusOr<std::optional<KeyValue>> Last(std::string_view prefix) = 0;

  // Makes this handle the store's only writer, for as long as it lives: a store several processes
  // can open (Redis) records `holder` (e.g. "host:pid") under a claim that this handle renews in the
  // background, and fences every Write with it (a handle that lost its claim to another writer gets
  // FailedPrecondition instead of writing). Embedded stores are exclusive by construction (RocksDB
  // locks its directory; memory:// is private) and return OK.
  // A claim whose holder died (kill -9, a lost machine) expires when it is no longer renewed: the
  // call waits up to `wait` for that before it gives up.
  // Errors: FailedPrecondition naming the holder when another handle still holds the claim after
  // `wait`; Unavailable when the server cannot be reached.
  virtual Status ClaimSingleWriter(std::string_view holder, std::chrono::milliseconds wait) {
    (void)holder;
    (void)wait;
    return OkStatus();
  }

  // true when data written with WriteOptions::sync survives a crash of the machine and a reopen of
  // the same URI (RocksDB); false for the in-memory store, which loses everything on destruction.
  virtual bool durable() const = 0;

  // The URI this store was opened with (for messages).
  virtual const std::string& uri() const = 0;
};

// Opens the store named by `uri`:
//   memory://            a new, empty in-memory store (each call gives a separate store);
//   rocksdb:///abs/path  RocksDB in directory /abs/path, created (with its parents) when missing;
//   redis://[[user]:password@]host[:port][/db][?timeout_ms=N&pool=N&prefix=NAME]  a Redis server.
// Errors: InvalidArgument for an unknown scheme or a malformed URI (a relative or empty path, a
// host in a rocksdb URI, a bad port), naming the URI and the accepted forms; FailedPrecondition
// when the RocksDB directory is already open (by this or another process: RocksDB holds a lock on
// it); Unavailable when the Redis server cannot be reached; Internal on other I/O failures.
StatusOr<std::unique_ptr<KeyValueStore>> OpenKeyValueStore(std::string_view uri);

// The smallest string greater than every string that starts with `prefix`, or nullopt when there
// is none (prefix empty or all 0xff bytes). Backends use it as an exclusive scan bound.
std::optional<std::string> PrefixSuccessor(std::string_view prefix);

}  // namespace vrec::features
