#!/usr/bin/env bash
# Every repository path cited in the code, scripts and docs exists, so that a comment's "see X"
# leads somewhere: paths starting with docs/, src/, tests/, scripts/, configs/ or bench/ (globs
# such as src/vrec/retrieval/two_tower.* must match something; installed node_modules are not ours
# and are skipped). The team's notes outside the repository (../shared/docs) are no source to cite:
# their facts belong in docs/.
#
# Usage: cited_paths_test.sh [REPO_ROOT] (default: the parent of this script's folder).
set -euo pipefail
root=${1:-"$(dirname "$0")/.."}
cd "$root"

scanned=(src apps bench tests scripts docs configs README.md CMakeLists.txt CMakePresets.json)
# A cited path: one of the roots, not inside a longer path or word (so build/bench/loadgen and
# ${PROJECT_SOURCE_DIR}/tests are not read as citations), ending on a name character, * or /.
pattern='(?<![A-Za-z0-9_./$-])(docs|src|tests|scripts|configs|bench)/[A-Za-z0-9_.*/-]*[A-Za-z0-9_*/]'

bad=0
checked=0
while IFS= read -r hit; do
  file=${hit%%:*}
  rest=${hit#*:}
  line=${rest%%:*}
  path=${rest#*:}
  checked=$((checked + 1))
  if [[ $path == *'*'* ]]; then
    compgen -G "$path" >/dev/null && continue
  else
    [ -e "$path" ] && continue
  fi
  echo "$file:$line: cites $path, which does not exist" >&2
  bad=1
done < <(grep -rnoIP --exclude-dir=testdata --exclude-dir=node_modules "$pattern" "${scanned[@]}")

while IFS= read -r hit; do
  echo "$hit: cites the team's notes outside the repository; bring the facts into docs/" >&2
  bad=1
done < <(grep -rnIF --exclude-dir=testdata --exclude-dir=node_modules --exclude="$(basename "$0")" "shared/docs" "${scanned[@]}")

if [ "$checked" -lt 20 ]; then
  echo "only $checked cited paths found: the scan itself is broken" >&2
  exit 1
fi
[ "$bad" -eq 0 ] && echo "cited_paths_test: $checked citations, all present"
exit "$bad"
