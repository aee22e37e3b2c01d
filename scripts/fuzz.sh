#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ with Debian's clang and runs each for SECONDS seconds on
# its committed corpus. Prints one line per harness:
#   fuzz_<harness>_execs=N fuzz_<harness>_crashes=N
# and exits non-zero when a harness crashed (or failed an invariant). New inputs that libFuzzer finds
# go to build-fuzz/findings/<harness>/ (never into the committed corpus), crash inputs and logs to
# build-fuzz/crashes/<harness>/.
#
#   bash scripts/fuzz.sh SECONDS [HARNESS...]     default: every harness
#
# Environment: VREC_FUZZ_JOBS (harnesses run at once, default 2; the machine has 2 cores),
# VREC_FUZZ_NICE (niceness of the fuzzers, default 10).
#
# The build (build-fuzz/) compiles the libraries the harnesses link with
# -fsanitize=fuzzer-no-link,address,undefined (Torch, apps, tests and benchmarks are not built).
# FAISS (Debian's static library, built by GCC) calls libgomp: clang's own -fopenmp would bring
# LLVM's libomp beside the libgomp that XGBoost loads, so OpenMP is configured as
# -fopenmp=libgomp, which makes clang link libgomp without compiling OpenMP itself (vrec has no
# OpenMP pragmas; FAISS and XGBoost come compiled).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: scripts/fuzz.sh SECONDS [HARNESS...]}
shift
all=(event_json_fuzz service_fuzz http_request_fuzz config_fuzz csv_import_fuzz manifest_fuzz)
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${all[@]}")
jobs=${VREC_FUZZ_JOBS:-2}
niceness=${VREC_FUZZ_NICE:-10}

bash scripts/setup.sh
# clang-14 is Debian 12's clang; libclang-rt-14-dev holds libFuzzer and the sanitizer runtimes.
missing=()
for p in clang-14 libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "fuzz: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
source scripts/env.sh

build=build-fuzz
gomp=$(g++ -print-file-name=libgomp.so)
mkdir -p "$build"
cmake -S . -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DVREC_LIBFUZZER=ON -DVREC_BUILD_TESTS=OFF -DVREC_BUILD_BENCH=OFF \
  -DOpenMP_CXX_FLAGS=-fopenmp=libgomp -DOpenMP_CXX_LIB_NAMES=gomp -DOpenMP_gomp_LIBRARY="$gomp" \
  > "$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" --target "${harnesses[@]}" -j 2

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
run_one() {
  local h=$1 findings=$build/findings/$1 crashes=$build/crashes/$1
  rm -rf "$crashes"  # this run's crashes only
  mkdir -p "$findings" "$crashes"
  # Several workers would share 2 cores with the other harness: one process per harness, and
  # -error_exitcode/-timeout so that a hang or an abort counts as a crash.
  nice -n "$niceness" "$build/fuzz/$h" "$findings" "fuzz/corpus/$h" \
    -max_total_time="$seconds" -timeout=25 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$crashes/" > "$crashes/log.txt" 2>&1 || true
}
pids=()
for h in "${harnesses[@]}"; do
  run_one "$h" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}"
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p"; done

failed=0
for h in "${harnesses[@]}"; do
  log=$build/crashes/$h/log.txt
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  crashes=$(find "$build/crashes/$h" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  if [ -z "$execs" ]; then
    # No final stats: the fuzzer died before or without printing them.
    execs=0
    [ "$crashes" -gt 0 ] || crashes=1
    echo "fuzz: $h printed no final stats; see $log" >&2
  fi
  echo "fuzz_${h}_execs=$execs fuzz_${h}_crashes=$crashes"
  [ "$crashes" -eq 0 ] || failed=1
done
exit $failed
