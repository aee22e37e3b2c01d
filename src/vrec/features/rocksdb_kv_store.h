// KeyValueStore on embedded RocksDB: the backend of `rocksdb:///abs/path`. rocksdb_kv_store.cc is
// the only file that includes RocksDB; this header does not, so users of the store never see it.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "vrec/features/kv_store.h"

namespace vrec::features {

struct RocksDbOptions {
  // Shared LRU cache of uncompressed data blocks. Default 64 MiB: histories of the active users
  // stay in memory (a history record is ~8 KB at 500 entries).
  size_t block_cache_bytes = size_t{64} << 20;
  // Bloom filter bits per key (0 = no filter). Point lookups of absent keys (new users) then skip
  // the data blocks of most SST files. Default 10 (~1% false positives).
  int bloom_bits_per_key = 10;
  // Threads for background flushes and compactions. Default 2 (the serving machine is small).
  int background_threads = 2;
};

// Opens (creating when missing, parents included) the RocksDB database in directory `path`, which
// must be absolute. The store is durable(); uri() is "rocksdb://" + path. RocksDB's errors become
// statuses naming the path.
// Errors: InvalidArgument for a relative path; FailedPrecondition when the database is already
// open (by this or another process); DataLoss when RocksDB reports corruption; Internal otherwise.
StatusOr<std::unique_ptr<KeyValueStore>> OpenRocksDbKeyValueStore(const std::string& path,
                                                                  const RocksDbOptions& options = {});

}  // namespace vrec::features
