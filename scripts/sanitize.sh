#!/usr/bin/env bash
# Runs the test suite under a sanitizer, in its own build folder (.build-<sanitizer>), and ends with the
# same "N passed, N failed, N skipped" line as scripts/test.sh.
# Usage: scripts/sanitize.sh address|thread [swift test --filter REGEX]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
san="${1:?address or thread}"; shift || true
scratch="$repo/.build-$san"
log="$(mktemp)"; trap 'rm -f "$log"' EXIT
swift build --build-tests --sanitize="$san" --scratch-path "$scratch"
# The test-only child-process tests find the swiftcap binary beside the test bundle.
swift build --sanitize="$san" --scratch-path "$scratch" --product swiftcap
set +e
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}" TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=0}" \
    swift test --skip-build --sanitize="$san" --scratch-path "$scratch" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
count() { grep -cE "^Test Case '.*' $1 \(" "$log" || true; }
reports=$(grep -cE "^(==[0-9]+==ERROR: AddressSanitizer|WARNING: ThreadSanitizer)" "$log" || true)
echo "$(count passed) passed, $(count failed) failed, $(count skipped) skipped; $reports sanitizer reports"
[ "$reports" -eq 0 ] || rc=1
exit "$rc"
