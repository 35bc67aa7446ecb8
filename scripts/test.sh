#!/usr/bin/env bash
# The whole test suite: installs what is missing, fetches the public assets, runs every test, and ends with
# one line "N passed, N failed, N skipped" counted from XCTest's own per-test results.
# Under CI (CI set), or with SWIFTCAP_FUZZ_SECONDS=N, it then runs every libFuzzer harness (scripts/fuzz.sh) for
# 30 s (N s) each; each harness counts as one test, failed on a crash, sanitizer report, hang or OOM.
# SWIFTCAP_FUZZ_SECONDS=0 turns the fuzzing off under CI.
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
fuzz_secs="${SWIFTCAP_FUZZ_SECONDS:-}"
if [ -z "$fuzz_secs" ] && [ -n "${CI:-}" ]; then fuzz_secs=30; fi
if [ -n "$fuzz_secs" ] && [ "$fuzz_secs" != 0 ]; then
    fuzzlog="$(mktemp)"
    trap 'rm -f "$log" "$fuzzlog"' EXIT
    echo "== fuzzing: every harness for $fuzz_secs s (scripts/fuzz.sh) =="
    set +e
    ./scripts/fuzz.sh "$fuzz_secs" 2>&1 | tee "$fuzzlog"
    frc=${PIPESTATUS[0]}
    set -e
    fok=$(grep -cE '^\| .* \| ok \|$' "$fuzzlog" || true)
    ffail=$(grep -cE '^\| .* \| FAILED \|$' "$fuzzlog" || true)
    # A failure with no harness row (the fuzz build failed) still counts as one failed test.
    if [ "$frc" -ne 0 ] && [ "$ffail" -eq 0 ]; then ffail=1; fi
    echo "fuzzing: $fok harnesses clean, $ffail failed"
    passed=$((passed + fok)); failed=$((failed + ffail))
    if [ "$ffail" -ne 0 ] && [ "$rc" -eq 0 ]; then rc=1; fi
fi
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$rc" -eq 0 ] && [ "$failed" -ne 0 ]; then rc=1; fi
if [ "$rc" -eq 0 ] && [ "$passed" -eq 0 ]; then echo "test.sh: no test ran" >&2; rc=1; fi
exit "$rc"
