#!/usr/bin/env bash
# Batch throughput: the batch job (`caption --out`, workers + prefetch) against the one-photo-at-a-time
# loop (`caption` without --out) on the same photos, alternated, same binary. Prints a table of photos/s.
# Usage: scripts/bench-batch.sh [PHOTO_DIR (default ../shared/eval/coco-dev/images)] [ROUNDS (default 2)]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
B="$repo/.build/release/swiftcap"
dir="${1:-${SWIFTCAP_SHARED:-$repo/../shared}/eval/coco-dev/images}"
rounds="${2:-2}"
[ -x "$B" ] || { echo "build first: swift build -c release" >&2; exit 1; }
n=$(ls "$dir" | grep -ciE '\.(jpe?g|png)$')
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
now() { date +%s.%N; }
declare -A rates
run() {  # name, command...
    local name="$1"; shift
    local t0 t1; t0=$(now); "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }; t1=$(now)
    rates[$name]+="$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN{print n/(b-a)}') "
}
for r in $(seq "$rounds"); do
    run "one-at-a-time loop (caption, 2 threads)" "$B" caption "$dir" --threads 2
    rm -f "$tmp/a.jsonl"; run "batch job, 1 worker x 2 threads" "$B" caption "$dir" --threads 2 --workers 1 --out "$tmp/a.jsonl" --no-embeddings --progress none
    rm -f "$tmp/b.jsonl"; run "batch job, 2 workers x 1 thread" "$B" caption "$dir" --threads 2 --workers 2 --out "$tmp/b.jsonl" --no-embeddings --progress none
    rm -f "$tmp/c.jsonl"; run "batch job, 2 workers x 1 thread, with embeddings" "$B" caption "$dir" --threads 2 --workers 2 --out "$tmp/c.jsonl" --progress none
done
echo "$n photos from $dir, $rounds rounds alternated, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(wall time per run including model load; photos/s per round)"
printf '| %-50s | %s |\n' "run" "photos/s (each round)"
printf '|%s|%s|\n' "---" "---"
for k in "one-at-a-time loop (caption, 2 threads)" "batch job, 1 worker x 2 threads" "batch job, 2 workers x 1 thread" "batch job, 2 workers x 1 thread, with embeddings"; do
    printf '| %-50s | %s|\n' "$k" "$(for x in ${rates[$k]}; do printf '%.2f ' "$x"; done)"
done
