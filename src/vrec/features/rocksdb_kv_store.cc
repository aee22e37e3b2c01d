// The only file that includes RocksDB.
#include "vrec/features/rocksdb_kv_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/status.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <system_error>

#include "vrec/common/strings.h"

namespace vrec::features {

namespace {

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

// rocksdb::Status -> vrec Status, with `what` (the operation and the path) in front.
Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return OkStatus();
  std::string message = StrCat(what, ": ", s.ToString());
  if (s.IsCorruption()) return DataLossError(std::move(message));
  if (s.IsInvalidArgument() || s.IsNotSupported()) return InvalidArgumentError(std::move(message));
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) return UnavailableError(std::move(message));
  return InternalError(std::move(message));
}

class RocksDbKeyValueStore final : public KeyValueStore {
 public:
  RocksDbKeyValueStore(std::unique_ptr<rocksdb::DB> db, std::string path)
      : db_(std::move(db)), path_(std::move(path)), uri_("rocksdb://" + path_) {}

  ~RocksDbKeyValueStore() override {
    // Close flushes nothing that the WAL does not already hold; its status only matters to callers
    // that could act on it, and a destructor cannot.
    (void)db_->Close();
  }

  StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    rocksdb::PinnableSlice value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), ToSlice(key), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocks(s, StrCat("Get from ", uri_));
    return std::optional<std::string>(value.ToString());
  }

  StatusOr<std::vector<std::optional<std::string>>> MultiGet(std::span<const std::string> keys) override {
    std::vector<std::optional<std::string>> out(keys.size());
    if (keys.empty()) return out;
    std::vector<rocksdb::Slice> slices;
    slices.reserve(keys.size());
    for (const std::string& k : keys) slices.push_back(ToSlice(k));
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    // The batched MultiGet reads every key from one consistent view.
    db_->MultiGet(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), keys.size(), slices.data(),
                  values.data(), statuses.data());
    for (size_t i = 0; i < keys.size(); ++i) {
      if (statuses[i].IsNotFound()) continue;
      if (!statuses[i].ok()) return FromRocks(statuses[i], StrCat("MultiGet from ", uri_));
      out[i] = values[i].ToString();
    }
    return out;
  }

  Status Write(const WriteBatch& batch, const WriteOptions& options) override {
    if (batch.empty()) return OkStatus();
    // The directory lock makes this handle the only writer: a conditional batch is checked and
    // written under the exclusive side of write_mu_, so that no other batch of this handle lands
    // in between; unconditional batches share it and keep RocksDB's own group commit.
    std::shared_lock shared(write_mu_, std::defer_lock);
    std::unique_lock exclusive(write_mu_, std::defer_lock);
    if (batch.expectations().empty()) {
      shared.lock();
    } else {
      exclusive.lock();
      std::vector<std::string> keys;
      keys.reserve(batch.expectations().size());
      for (const WriteBatch::Expectation& e : batch.expectations()) keys.push_back(e.key);
      VREC_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> values, MultiGet(keys));
      for (size_t i = 0; i < keys.size(); ++i) {
        if (values[i] != batch.expectations()[i].value) {
          return AbortedError(StrCat("Write to ", uri_, ": a conditional key changed"));
        }
      }
    }
    rocksdb::WriteBatch wb;
    for (const WriteBatch::Op& op : batch.ops()) {
      rocksdb::Status s = op.type == WriteBatch::OpType::kPut ? wb.Put(ToSlice(op.key), ToSlice(op.value))
                                                              : wb.Delete(ToSlice(op.key));
      if (!s.ok()) return FromRocks(s, StrCat("Write to ", uri_));
    }
    rocksdb::WriteOptions wo;
    wo.sync = options.sync;
    return FromRocks(db_->Write(wo, &wb), StrCat("Write to ", uri_));
  }

  StatusOr<std::vector<KeyValue>> Scan(std::string_view prefix, std::string_view start_after,
                                       size_t limit) override {
    if (limit == 0) return InvalidArgumentError("Scan: limit must be positive");
    const std::optional<std::string> end = PrefixSuccessor(prefix);
    rocksdb::Slice end_slice;
    rocksdb::ReadOptions ro;
    if (end) {
      end_slice = ToSlice(*end);
      ro.iterate_upper_bound = &end_slice;
    }
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    const bool after = !start_after.empty() && start_after >= prefix;
    it->Seek(ToSlice(after ? start_after : prefix));
    if (after && it->Valid() && ToView(it->key()) == start_after) it->Next();
    std::vector<KeyValue> out;
    for (; it->Valid() && out.size() < limit; it->Next()) {
      const std::string_view key = ToView(it->key());
      if (!key.starts_with(prefix)) break;
      out.push_back({std::string(key), it->value().ToString()});
    }
    VREC_RETURN_IF_ERROR(FromRocks(it->status(), StrCat("Scan of ", uri_)));
    return out;
  }

  StatusOr<std::optional<KeyValue>> Last(std::string_view prefix) override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    const std::optional<std::string> end = PrefixSuccessor(prefix);
    if (end) {
      // The last key <= end; `end` itself is outside the prefix, so step over it.
      it->SeekForPrev(ToSlice(*end));
      if (it->Valid() && ToView(it->key()) == *end) it->Prev();
    } else {
      it->SeekToLast();
    }
    VREC_RETURN_IF_ERROR(FromRocks(it->status(), StrCat("Last in ", uri_)));
    if (!it->Valid() || !ToView(it->key()).starts_with(prefix)) return std::optional<KeyValue>();
    return std::optional<KeyValue>(KeyValue{it->key().ToString(), it->value().ToString()});
  }

  bool durable() const override { return true; }
  const std::string& uri() const override { return uri_; }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::shared_mutex write_mu_;  // see Write
  const std::string path_;
  const std::string uri_;
};

}  // namespace

StatusOr<std::unique_ptr<KeyValueStore>> OpenRocksDbKeyValueStore(const std::string& path,
                                                                  const RocksDbOptions& options) {
  if (path.empty() || path.front() != '/') {
    return InvalidArgumentError(StrCat("RocksDB path '", path, "' must be absolute"));
  }
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return InternalError(StrCat("cannot create RocksDB directory ", path, ": ", ec.message()));

  rocksdb::Options opts;
  opts.create_if_missing = true;
  opts.IncreaseParallelism(std::max(1, options.background_threads));
  rocksdb::BlockBasedTableOptions table;
  if (options.block_cache_bytes > 0) {
    table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  } else {
    table.no_block_cache = true;
  }
  if (options.bloom_bits_per_key > 0) {
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(options.bloom_bits_per_key));
  }
  // Index and filter blocks in the cache (bounded memory) but pinned for L0 (no extra reads for
  // the freshest, hottest files).
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(opts, path, &raw);
  if (!s.ok()) {
    // RocksDB takes an exclusive lock on <path>/LOCK: a second open, from this process or another,
    // fails with an IOError naming that file.
    if (s.IsIOError() && s.ToString().find("/LOCK") != std::string::npos) {
      return FailedPreconditionError(
          StrCat("RocksDB at ", path, " is already open (by this or another process; RocksDB locks ", path,
                 "/LOCK): stop the other vrec process or use another path (", s.ToString(), ")"));
    }
    return FromRocks(s, StrCat("cannot open RocksDB at ", path));
  }
  return std::unique_ptr<KeyValueStore>(
      std::make_unique<RocksDbKeyValueStore>(std::unique_ptr<rocksdb::DB>(raw), path));
}

}  // namespace vrec::features
