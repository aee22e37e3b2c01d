#!/usr/bin/env bash
# The shipped systemd units (deploy/*.service) pass `systemd-analyze verify` with the real binary:
# the units name /usr/local/bin/vrec, which is replaced by the path under test (verify checks that
# ExecStart is executable). Unknown or misspelt keys are only warnings for verify, so any line it
# prints about the units fails the test. Skipped (exit 77) when systemd-analyze is absent.
# Usage: systemd_units_test.sh path/to/vrec source-root
set -euo pipefail

vrec=$1
root=$2
if ! command -v systemd-analyze > /dev/null; then
  echo "SKIP: systemd-analyze is not installed (Debian package systemd; scripts/setup.sh installs it)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

units=()
for unit in "$root"/deploy/*.service; do
  name=$(basename "$unit")
  grep -q '^ExecStart=/usr/local/bin/vrec ' "$unit" || fail "$name: ExecStart must run /usr/local/bin/vrec"
  sed "s|/usr/local/bin/vrec|$vrec|g" "$unit" > "$tmp/$name"
  units+=("$tmp/$name")
done
[ ${#units[@]} -eq 2 ] || fail "expected vrec-serve.service and vrec-trainer.service, found ${#units[@]} units"
if ! systemd-analyze verify "${units[@]}" > "$tmp/verify.out" 2>&1; then
  cat "$tmp/verify.out"
  fail "systemd-analyze verify failed"
fi
if grep -e "$tmp" -e 'vrec-' "$tmp/verify.out"; then
  fail "systemd-analyze verify warns about the units"
fi
for unit in "${units[@]}"; do
  for key in User= Group= WorkingDirectory= StateDirectory= LimitNOFILE= Restart=on-failure NoNewPrivileges=yes \
             ProtectSystem=strict; do
    grep -q "^$key" "$unit" || fail "$(basename "$unit") lacks $key"
  done
done
echo "systemd units: ${#units[@]} verified with $vrec"
