#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite: the release build (unit and
# integration tests, the fuzz corpora replayed), then all tests again but the browser ones (they
# check pages; the routes they call run under ASan in the other integration tests) under
# AddressSanitizer + UndefinedBehaviorSanitizer, then the serving concurrency tests and the feature
# store's (group commit) under ThreadSanitizer (only the targets they need are built: see the tsan
# presets; the feature store runs over the memory and Redis backends only, as Debian's RocksDB is
# not instrumented and TSan reports its lock-free internals as races; the Redis store's pool and
# claim renewal are vrec's own code), and the ANN index's 8-bit lists built on a thread beside
# searches (FAISS on one OpenMP thread there: libgomp is not instrumented either).
# VREC_SKIP_ASAN=1 / VREC_SKIP_TSAN=1 skip those.
# Warnings are errors here (VREC_WERROR): this is the command CI runs. Each phase prints its time
# ("test.sh: phase=... seconds=...").
set -euo pipefail
cd "$(dirname "$0")/.."
phase() {  # phase NAME COMMAND...: runs it and prints how long it took
  local name=$1 start=$SECONDS
  shift
  "$@"
  echo "test.sh: phase=$name seconds=$((SECONDS - start))"
}

phase setup bash scripts/setup.sh
source scripts/env.sh

phase release_build bash scripts/build.sh release -DVREC_WERROR=ON
phase release_tests ctest --preset release -j2

if [ "${VREC_SKIP_ASAN:-0}" != "1" ]; then
  phase asan_build bash scripts/build.sh asan -DVREC_WERROR=ON
  phase asan_tests ctest --preset asan -j2
fi

if [ "${VREC_SKIP_TSAN:-0}" != "1" ]; then
  phase tsan_build bash scripts/build.sh tsan -DVREC_WERROR=ON
  phase tsan_tests ctest --preset tsan -j2
fi
echo "test.sh: phase=all seconds=$SECONDS"
