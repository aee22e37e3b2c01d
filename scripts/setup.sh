#!/usr/bin/env bash
# Installs what vrec needs to build and test on Debian 12, from Debian's packages only.
# Uses sudo only when not root. Installs nothing when everything is already there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev
  libtorch-dev libfaiss-dev libxgboost-dev nlohmann-json3-dev liblapack-dev
  # The online store (RocksDB) and the HTTP layer (Boost.Beast, header-only); curl for the main job
  # and the end-to-end tests, jq for the main job's loop (scripts/loop.sh).
  librocksdb-dev libboost-dev curl jq
  # The shared store for several servers (redis:// URIs): hiredis to build, redis-server for the
  # tests and the main job's Redis mode; HAProxy in front of replicas (deploy/haproxy.cfg).
  libhiredis-dev redis-server haproxy
  # The config file is TOML, parsed by toml++ (3.3, a shared library; src/vrec/config/source.cc).
  libtomlplusplus-dev
  # FAISS trains and adds through BLAS; without OpenBLAS, libblas.so.3 is the reference BLAS and
  # IVF training at 1M vectors takes minutes instead of seconds.
  libopenblas0-pthread
  # gzip for the exported event segments; systemd-analyze (package systemd) verifies deploy/*.service.
  zlib1g-dev systemd
  # The web console's charts (Chart.js, compiled into vrec serve).
  libjs-chart.js
  # The browser tests (tests/browser): headless Chromium driven by playwright-core under node (>= 20;
  # they skip with an older one), and a font for the text of its screenshots.
  chromium nodejs fonts-dejavu-core
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
