#include "vrec/features/kv_store.h"

#include "vrec/common/strings.h"
#include "vrec/features/memory_kv_store.h"
#include "vrec/features/redis_kv_store.h"
#include "vrec/features/rocksdb_kv_store.h"

namespace vrec::features {

namespace {

constexpr std::string_view kAcceptedForms = "memory://, rocksdb:///absolute/path or redis://host:port/db";

Status BadUri(std::string_view uri, std::string_view why) {
  return InvalidArgumentError(
      StrCat("feature store URI '", uri, "': ", why, " (accepted forms: ", kAcceptedForms, ")"));
}

}  // namespace

std::optional<std::string> PrefixSuccessor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(s.back());
    if (last != 0xff) {
      ++last;
      return s;
    }
    s.pop_back();
  }
  return std::nullopt;
}

StatusOr<std::unique_ptr<KeyValueStore>> OpenKeyValueStore(std::string_view uri) {
  const size_t sep = uri.find("://");
  if (sep == std::string_view::npos) return BadUri(uri, "no scheme");
  const std::string scheme = AsciiStrToLower(uri.substr(0, sep));
  const std::string_view rest = uri.substr(sep + 3);
  if (scheme == "memory") {
    if (!rest.empty()) return BadUri(uri, "memory:// takes nothing after the scheme");
    return NewMemoryKeyValueStore();
  }
  if (scheme == "rocksdb") {
    // rocksdb:///abs/path: the authority is empty, so what follows "://" is the absolute path.
    if (rest.empty()) return BadUri(uri, "no path");
    if (rest.front() != '/') {
      return BadUri(uri, "the path must be absolute (three slashes: rocksdb:///var/lib/vrec)");
    }
    if (rest.find_first_not_of('/') == std::string_view::npos) {
      return BadUri(uri, "the path must not be the root directory");
    }
    if (rest.find_first_of("?#") != std::string_view::npos) {
      return BadUri(uri, "query strings and fragments are not supported");
    }
    return OpenRocksDbKeyValueStore(std::string(rest));
  }
  if (scheme == "redis") {
    VREC_ASSIGN_OR_RETURN(RedisOptions options, ParseRedisUri(uri));
    return OpenRedisKeyValueStore(options, uri);
  }
  return BadUri(uri, StrCat("unknown scheme '", scheme, "'"));
}

}  // namespace vrec::features
