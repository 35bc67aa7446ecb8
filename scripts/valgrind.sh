#!/usr/bin/env bash
# Valgrind memcheck on the default captioner over the sample photos plus two bad inputs (a truncated JPEG,
# a text file named .png), through Tools/Memcheck (the same library calls as `swiftcap caption --threads 1`
# from a plain main thread: the CLI's async entry point parks the main thread in libdispatch, which
# valgrind does not survive). Built in its own folder (.build-valgrind) with the kernels built portable
# (SWIFTCAP_PORTABLE_KERNELS=1: valgrind does not emulate AVX-512). Ends with memcheck's error summary and
# exits 1 if memcheck reports any error (invalid read/write, use of uninitialised values, invalid free).
# Usage: scripts/valgrind.sh [PHOTO|FOLDER ...]   (default: the sample photos scripts/setup.sh fetched)
#   VALGRIND=/path/to/valgrind (default: valgrind on PATH; Swift 6's DWARF 5 needs 3.20+ — see docs/reliability.md)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
scratch="$repo/.build-valgrind"
vg="${VALGRIND:-valgrind}"
SWIFTCAP_PORTABLE_KERNELS=1 swift build -c release --package-path Tools/Memcheck --scratch-path "$scratch"
bin="$scratch/release/swiftcap-memcheck"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
assets="${SWIFTCAP_ASSETS:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftcap/assets}"
if [ $# -eq 0 ]; then
    set -- "$assets/sample-photos"
    first=$(ls "$assets/sample-photos"/*.jpg | head -1)
    head -c 3000 "$first" > "$work/truncated.jpg"
    echo "not an image" > "$work/text.png"
    set -- "$@" "$work/truncated.jpg" "$work/text.png"
fi
log="$work/memcheck.log"
set +e
"$vg" --tool=memcheck --error-exitcode=99 --track-origins=yes --num-callers=30 ${VALGRIND_OPTIONS:-} \
    --log-file="$log" "$bin" "$@"
rc=$?
set -e
# The header, heap and leak summaries and the error summary (every error's first lines when there are any).
grep -vE "^==[0-9]+== +(at|by) 0x|^==[0-9]+== *$" "$log" | tail -40
[ "$rc" -eq 99 ] && exit 1
exit "$rc"
