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
// operation on the same key wins. Optionally conditional (Expect): the batch is applied only if
// given keys still hold the values the writer read, checked atomically with the write, which is
// how several processes sharing one store (Redis) update the same records without losing each
// other's updates (optimistic concurrency: read, compute, write if unchanged, else read again).
// A plain value; not thread-safe for concurrent modification.
class WriteBatch {
 public:
  enum class OpType { kPut, kDelete };
  struct Op {
    OpType type = OpType::kPut;
    std::string key;
    std::string value;  // empty for kDelete
  };
  struct Expectation {
    std::string key;
    std::optional<std::string> value;  // nullopt: the key must be absent
  };

  void Put(std::string_view key, std::string_view value) {
    ops_.push_back({OpType::kPut, std::string(key), std::string(value)});
  }
  void Delete(std::string_view key) { ops_.push_back({OpType::kDelete, std::string(key), {}}); }
  // Write applies the batch only if `key` holds `value` (nullopt: is absent) when it writes;
  // otherwise it writes nothing and returns Aborted.
  void Expect(std::string_view key, std::optional<std::string_view> value) {
    expectations_.push_back({std::string(key), value ? std::optional<std::string>(*value) : std::nullopt});
  }
  void Clear() {
    ops_.clear();
    expectations_.clear();
  }

  const std::vector<Op>& ops() const { return ops_; }
  const std::vector<Expectation>& expectations() const { return expectations_; }
  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }

 private:
  std::vector<Op> ops_;
  std::vector<Expectation> expectations_;
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
  // none of them is. An empty batch succeeds and does nothing (its expectations are not checked).
  // The batch's expectations are checked atomically with the write, against every writer of the
  // store (other threads, and other processes for a shared store). See WriteOptions for durability.
  // Errors: Aborted when an expectation does not hold (nothing was written: read again and retry);
  // Internal on I/O failure (e.g. fsync failed, disk full).
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

// Forwards every call to another store, which lives as long as any store forwarding to it. Derive
// from it to change some calls (fault injection, test gates); as is, it is a second handle on an
// open store (ShareKeyValueStore).
class ForwardingKeyValueStore : public KeyValueStore {
 public:
  explicit ForwardingKeyValueStore(std::shared_ptr<KeyValueStore> base) : base_(std::move(base)) {}
  StatusOr<std::optional<std::string>> Get(std::string_view key) override { return base_->Get(key); }
  StatusOr<std::vector<std::optional<std::string>>> MultiGet(std::span<const std::string> keys) override {
    return base_->MultiGet(keys);
  }
  Status Write(const WriteBatch& batch, const WriteOptions& options) override {
    return base_->Write(batch, options);
  }
  StatusOr<std::vector<KeyValue>> Scan(std::string_view prefix, std::string_view start_after,
                                       size_t limit) override {
    return base_->Scan(prefix, start_after, limit);
  }
  StatusOr<std::optional<KeyValue>> Last(std::string_view prefix) override { return base_->Last(prefix); }
  bool durable() const override { return base_->durable(); }
  const std::string& uri() const override { return base_->uri(); }

 private:
  std::shared_ptr<KeyValueStore> base_;
};

// A second handle on an open store: every call goes to `store`, which lives as long as any handle.
// For two users of one embedded store in one process (tests of what two servers sharing a Redis
// do).
inline std::unique_ptr<KeyValueStore> ShareKeyValueStore(std::shared_ptr<KeyValueStore> store) {
  return std::make_unique<ForwardingKeyValueStore>(std::move(store));
}

// The smallest string greater than every string that starts with `prefix`, or nullopt when there
// is none (prefix empty or all 0xff bytes). Backends use it as an exclusive scan bound.
std::optional<std::string> PrefixSuccessor(std::string_view prefix);

}  // namespace vrec::features
