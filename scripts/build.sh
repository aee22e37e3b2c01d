#!/usr/bin/env bash
# Configures and builds one preset: release (default, into build/) or asan (into build-asan/).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
cmake --preset "$preset" -G Ninja >/dev/null
cmake --build --preset "$preset"
