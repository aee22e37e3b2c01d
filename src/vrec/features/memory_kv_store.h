// In-memory KeyValueStore (std::map under a std::shared_mutex): the backend of `memory://`, for
// tests and throwaway runs. Nothing survives the destruction of the store.
#pragma once

#include <memory>

#include "vrec/features/kv_store.h"

namespace vrec::features {

// A new, empty in-memory store (thread-safe, see KeyValueStore). durable() is false and
// WriteOptions::sync is ignored. uri() is "memory://".
std::unique_ptr<KeyValueStore> NewMemoryKeyValueStore();

}  // namespace vrec::features
