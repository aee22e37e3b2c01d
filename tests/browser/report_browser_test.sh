#!/usr/bin/env bash
# `vrec eval --report` on MovieLens 100K (sar and pop: seconds), opened in headless Chromium: no
# console error or failed request (the page loads nothing), every section and plot visible, SAR's
# published nDCG@10 in the table. The report and its screenshot stay in OUT_DIR to look at.
# Usage: report_browser_test.sh PATH/TO/vrec SHARED_DIR OUT_DIR  (after tests/browser/setup.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
vrec=$1
shared=$2
out=$3
browser_require_node
browser_require_chromium
data="$shared/data/ml-100k"
if [ ! -f "$data/u.data" ]; then
  echo "SKIP: no MovieLens 100K at $data" >&2
  exit 77
fi
mkdir -p "$out"
rm -f "$out/report.html" "$out/report.png"

"$vrec" eval --movielens "$data" --model sar,pop --report "$out/report.html" > "$out/eval.out"
grep -q "^report=$out/report.html$" "$out/eval.out" || { cat "$out/eval.out"; echo "FAIL: no report= line"; exit 1; }
echo "report: $(wc -c < "$out/report.html") bytes"
if grep -Eq 'https?://|<script' "$out/report.html"; then
  echo "FAIL: the report refers to the network or runs a script" >&2
  exit 1
fi

node "$here/check_page.mjs" "$out/report.html" \
  --expect '#run' --expect '#metrics table' \
  --expect '#recall-curve svg polyline' --expect '#ndcg-by-activity svg rect' --expect '#popularity svg rect' \
  --expect '#recall-curve svg .legend' --expect '#ndcg-by-activity svg .legend' --expect '#popularity svg .legend' \
  --expect-text 'Recall@K' --expect-text 'nDCG@10 by user activity' --expect-text 'Popularity bias and coverage' \
  --expect-text '0.3938' --expect-text 'held-out videos' \
  --screenshot "$out/report.png"
