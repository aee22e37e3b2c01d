#!/usr/bin/env bash
# Configures and builds one preset: release (default, into build/) or asan (into build-asan/).
# Further arguments go to the configure step, e.g. -DVREC_WERROR=ON (kept in the build's cache).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
cmake --preset "$preset" -G Ninja "${@:2}" >/dev/null
cmake --build --preset "$preset"
