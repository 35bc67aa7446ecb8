#!/usr/bin/env bash
# The whole test suite: installs what is missing, fetches the public assets, runs every test, and ends with
# one line "N passed, N failed, N skipped" counted from XCTest's own per-test results.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
./scripts/install-deps.sh
./scripts/python-deps.sh
./scripts/fetch-assets.sh
swift build
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
swift test 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
count() { grep -cE "^Test Case '.*' $1 \(" "$log" || true; }
passed=$(count passed); failed=$(count failed); skipped=$(count skipped)
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$rc" -eq 0 ] && [ "$failed" -ne 0 ]; then rc=1; fi
if [ "$rc" -eq 0 ] && [ "$passed" -eq 0 ]; then echo "test.sh: no test ran" >&2; rc=1; fi
exit "$rc"
