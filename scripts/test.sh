#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite: the release build (unit and
# integration tests), then all tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
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
