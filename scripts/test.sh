#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite: the release build (unit and
# integration tests, the fuzz corpora replayed), then all tests again under AddressSanitizer +
# UndefinedBehaviorSanitizer, then the serving concurrency tests and the feature store's (group
# commit) under ThreadSanitizer (only the targets they need are built: see the tsan presets; the
# feature store runs over the memory and Redis backends only, as Debian's RocksDB is not
# instrumented and TSan reports its lock-free internals as races; the Redis store's pool and claim
# renewal are vrec's own code). VREC_SKIP_ASAN=1 / VREC_SKIP_TSAN=1 skip those.
# Warnings are errors here (VREC_WERROR): this is the command CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh

bash scripts/build.sh release -DVREC_WERROR=ON
ctest --preset release -j2

if [ "${VREC_SKIP_ASAN:-0}" != "1" ]; then
  bash scripts/build.sh asan -DVREC_WERROR=ON
  ctest --preset asan -j2
fi

if [ "${VREC_SKIP_TSAN:-0}" != "1" ]; then
  bash scripts/build.sh tsan -DVREC_WERROR=ON
  ctest --preset tsan -j2
fi
