#!/usr/bin/env bash
# Valgrind memcheck on `swiftcap caption` of the sample photos, in its own build folder (.build-valgrind) with
# the kernels built portable (SWIFTCAP_PORTABLE_KERNELS=1: valgrind does not emulate AVX-512). Ends with
# memcheck's error summary; exits 1 if memcheck reports any error (invalid read/write, uninitialised value
# used, invalid free).
# Usage: scripts/valgrind.sh [swiftcap caption arguments; default: the sample photos that scripts/setup.sh fetched]
#   VALGRIND=/path/to/valgrind (default: valgrind on PATH; needs 3.20+ for Swift 6's DWARF 5)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
scratch="$repo/.build-valgrind"
vg="${VALGRIND:-valgrind}"
SWIFTCAP_PORTABLE_KERNELS=1 swift build -c release --scratch-path "$scratch" --product swiftcap
bin="$scratch/release/swiftcap"
assets="${SWIFTCAP_ASSETS:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftcap/assets}"
[ $# -gt 0 ] || set -- "$assets/sample-photos"
log="$(mktemp)"; trap 'rm -f "$log"' EXIT
set +e
# --threads 1: one worker, so the run stays within minutes under memcheck (the pool is covered by TSan).
"$vg" --tool=memcheck --error-exitcode=99 --track-origins=yes --num-callers=30 --log-file="$log" \
    "$bin" caption --threads 1 "$@"
rc=$?
set -e
cat "$log" | grep -vE "^==[0-9]+== (Warning: set address range perms|   (at|by) 0x|$)" | tail -40
grep -E "ERROR SUMMARY" "$log" | tail -1
[ "$rc" -eq 99 ] && exit 1
exit "$rc"
