#!/usr/bin/env bash
# End-to-end checks of the vrec CLI. Usage: cli_test.sh PATH/TO/vrec SHARED_DIR
set -u
vrec=$1
shared=${2:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# expect_error NAME PATTERN -- ARGS...: the command exits non-zero and prints one error line
# matching PATTERN on stderr.
expect_error() {
  local name=$1 pattern=$2
  shift 3
  "$vrec" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  local lines
  lines=$(wc -l <"$tmp/err")
  if [ "$rc" -ne 0 ] && [ "$lines" -eq 1 ] && grep -q -- "$pattern" "$tmp/err"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name: rc=$rc stderr:"; cat "$tmp/err"
  fi
}

expect_ok() {
  local name=$1
  shift 2
  if "$vrec" "$@" >"$tmp/out" 2>"$tmp/err"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name:"; cat "$tmp/err"
  fi
}

expect_error missing_folder "nope: not a directory" -- eval --movielens "$tmp/nope" --model sar
mkdir -p "$tmp/empty"
expect_error not_movielens "no MovieLens ratings file (u.data for 100K, ratings.dat for 1M/10M" -- eval --movielens "$tmp/empty" --model sar

# expect_rc NAME RC -- ARGS...: the command exits with RC (0 ok, 1 error, 2 usage, 3 gates failed).
expect_rc() {
  local name=$1 want=$2
  shift 3
  "$vrec" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ "$rc" -eq "$want" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name: rc=$rc, want $want; stderr:"; cat "$tmp/err"
  fi
}
expect_rc version 0 -- --version
grep -q '^vrec [0-9]*\.[0-9]*\.[0-9]*$' "$tmp/out" && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL version output: $(cat "$tmp/out")"; }
expect_rc usage_unknown_flag 2 -- models list --bogus
expect_rc usage_no_command 2 --
expect_rc usage_eval_unknown_flag 2 -- eval --bogus
expect_rc error_is_1 1 -- eval --movielens "$tmp/nope" --model sar

bad="$tmp/bad"
mkdir -p "$bad"
printf 'user_id,video_id,timestamp\n1,2,3\n4,5\n' >"$bad/interactions.csv"
expect_error wrong_columns "interactions.csv:3: expected 3 fields" -- eval --data "$bad" --model pop
printf 'user_id,video_id,timestamp\n1,x2,3\n' >"$bad/interactions.csv"
expect_error non_numeric_id "interactions.csv:2: column 'video_id'" -- eval --data "$bad" --model pop
printf 'user_id,video_id,timestamp\n1,2,3\n' >"$bad/interactions.csv"
printf 'video_id,title\n2,Caf\xe9\n' >"$bad/videos.csv"
expect_error latin1_bytes "videos.csv:2: column 'title': text is not valid UTF-8" -- eval --data "$bad" --model pop
expect_error unknown_model "unknown model 'nope'" -- eval --data "$bad" --model nope
[ -z "$(ls "$tmp" | grep partial)" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL partial folder left behind"; }

# A small synthetic platform: generate, import round trip, evaluate on the temporal split.
expect_ok synth -- data synth --users 500 --videos 2000 --interactions 40000 --out "$tmp/synth"
expect_ok import -- data import --data "$tmp/synth" --out "$tmp/copy"
expect_error import_no_overwrite "exists and is not empty" -- data import --data "$tmp/synth" --out "$tmp/synth"
expect_error synth_no_overwrite "exists and is not empty" -- data synth --users 5 --out "$tmp/synth"
if cmp -s "$tmp/synth/interactions.csv" "$tmp/copy/interactions.csv"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL import changed interactions.csv"; fi
expect_ok eval_synth -- eval --data "$tmp/synth" --model sar --split temporal
if tail -n 1 "$tmp/out" | grep -q '^model=sar map=.* ndcg@10=.* precision@10=.* recall@10=.* recall@100='; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL eval output:"; cat "$tmp/out"
fi
expect_ok eval_json -- eval --data "$tmp/synth" --model sar --split temporal --json
if [ "$(wc -l <"$tmp/out")" -eq 1 ] && jq -e '.model == "sar" and .split == "temporal" and (.["ndcg@10"] | type) == "number" and .test_rows > 0' "$tmp/out" > /dev/null; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL eval --json: $(cat "$tmp/out")"
fi
# --model-seed reseeds the models alone: the split stays that of --seed (same rows), the default
# is --seed, and another seed trains other weights (other figures). A tiny platform keeps the
# two-tower fits short.
expect_ok synth_tiny -- data synth --users 150 --videos 400 --interactions 5000 --out "$tmp/tiny"
expect_ok model_seed_default -- eval --data "$tmp/tiny" --model two-tower --json
cp "$tmp/out" "$tmp/seed_default.json"
expect_ok model_seed_7 -- eval --data "$tmp/tiny" --model two-tower --json --model-seed 7
if jq -e '.model_seed == 42' "$tmp/seed_default.json" > /dev/null && jq -e '.model_seed == 7' "$tmp/out" > /dev/null &&
  [ "$(jq -c '[.train_rows, .test_rows]' "$tmp/seed_default.json")" = "$(jq -c '[.train_rows, .test_rows]' "$tmp/out")" ] &&
  [ "$(jq -c '[.map, .["ndcg@10"], .["recall@100"]]' "$tmp/seed_default.json")" != \
    "$(jq -c '[.map, .["ndcg@10"], .["recall@100"]]' "$tmp/out")" ]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL --model-seed: $(cat "$tmp/seed_default.json" "$tmp/out")"
fi
# Several models on one split, into one HTML report (checked in a browser by tests/browser); a
# report into a missing folder is refused before any training.
expect_error report_missing_folder "cannot write the report $tmp/nope/r.html: folder $tmp/nope does not exist" -- \
  eval --data "$tmp/synth" --model pop --split temporal --report "$tmp/nope/r.html"
expect_error unknown_model_in_list "unknown model 'nope'" -- eval --data "$tmp/synth" --model pop,nope
expect_ok eval_report -- eval --data "$tmp/synth" --model pop,sar --split temporal --report "$tmp/r.html"
if grep -q '^model=pop map=' "$tmp/out" && grep -q '^model=sar map=' "$tmp/out" && grep -q "^report=$tmp/r.html$" "$tmp/out" &&
  grep -q 'id="recall-curve"' "$tmp/r.html" && [ ! -e "$tmp/r.html.tmp" ]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL eval --report:"; cat "$tmp/out"
fi
expect_ok eval_two_json -- eval --data "$tmp/synth" --model pop,sar --split temporal --json
if jq -e '.["pop.model"] == "pop" and .["sar.model"] == "sar" and (.["sar.ndcg@10"] | type) == "number"' "$tmp/out" > /dev/null; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL eval --model pop,sar --json: $(cat "$tmp/out")"
fi
# The global time cut: the latest 30% of the rows held out, the cut time printed and in the report.
expect_ok eval_timecut -- eval --data "$tmp/synth" --model pop --split timecut --test-fraction 0.3 --json \
  --report "$tmp/timecut.html"
if jq -e '.split == "timecut" and (.time_cut | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")) and .test_rows > 0 and
  .train_rows > 0' "$tmp/out" > /dev/null && grep -q 'time cut: rows at or after .* (the latest 0.3 of the rows)' "$tmp/timecut.html"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); echo "FAIL eval --split timecut: $(cat "$tmp/out")"
fi
# Bad split flags are usage errors (one line, exit 2); a split that holds out nothing is an error.
expect_error usage_bad_split "^error: --split: nope not in {stratified,temporal,timecut}; see --help$" -- \
  eval --data "$tmp/synth" --split nope
expect_rc usage_bad_split_rc 2 -- eval --data "$tmp/synth" --split nope
expect_error usage_bad_test_fraction "^error: --test-fraction: .*1.5 not in range" -- \
  eval --data "$tmp/synth" --split timecut --test-fraction 1.5
expect_rc usage_bad_test_fraction_rc 2 -- eval --data "$tmp/synth" --split timecut --test-fraction 1.5
expect_rc usage_pipeline_bad_split 2 -- pipeline run --registry "$tmp/never" --data "$tmp/synth" --split nope
expect_rc usage_pipeline_bad_test_fraction 2 -- pipeline run --registry "$tmp/never" --data "$tmp/synth" --test-fraction 0
[ ! -e "$tmp/never" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL a usage error created the registry"; }
mkdir -p "$tmp/one_time"
printf 'user_id,video_id,timestamp\n1,2,5\n1,3,5\n4,2,5\n' >"$tmp/one_time/interactions.csv"
expect_error timecut_one_time "the timecut split left 3 training and 0 test rows: nothing to evaluate" -- \
  eval --data "$tmp/one_time" --model pop --split timecut

if [ -n "$shared" ] && [ -d "$shared/data/ml-100k" ]; then
  expect_ok eval_movielens -- eval --movielens "$shared/data/ml-100k" --model sar
  if tail -n 1 "$tmp/out" | grep -q '^model=sar map=0.114038 ndcg@10=0.393819 precision@10=0.340615 recall@10=0.185377 recall@100='; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL SAR figures:"; cat "$tmp/out"
  fi
else
  echo "skipped: MovieLens 100K not found under '$shared/data/ml-100k'"
fi

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
