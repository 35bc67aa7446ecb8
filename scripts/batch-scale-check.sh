#!/usr/bin/env bash
# Scale check for batch jobs (docs/batch.md): captions every photo under DIR into OUT, SIGKILLs the job
# after KILL_AFTER seconds, resumes it to the end, and samples the job's RSS and progress every 10 s.
# Prints one row per sample (run, seconds, photos written, photos/s over the last interval, RSS MB) and
# checks that every photo is in OUT exactly once.
# Usage: scripts/batch-scale-check.sh DIR OUT [KILL_AFTER=300]
# Photos for it: scripts/make-scale-photos.py DIR --count 20000
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
B="$repo/.build/release/swiftcap"
dir="$1"; out="$2"; kill_after="${3:-300}"
[ -x "$B" ] || { echo "build first: swift build -c release" >&2; exit 1; }
total=$(find "$dir" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | wc -l)
echo "$total photos under $dir; $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
echo "| run | s | photos written | photos/s (last 10 s) | RSS MB |"
echo "|---|---|---|---|---|"
sample() {  # run-name pid start
    local name="$1" pid="$2" start="$3" last=0 lastT="$3"
    while kill -0 "$pid" 2>/dev/null; do
        sleep 10
        kill -0 "$pid" 2>/dev/null || break
        local now rss n
        now=$(date +%s.%N)
        rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        n=$(wc -l < "$out" 2>/dev/null || echo 0)
        awk -v r="$name" -v t="$(awk -v a="$start" -v b="$now" 'BEGIN{print b-a}')" -v n="$n" -v l="$last" \
            -v dt="$(awk -v a="$lastT" -v b="$now" 'BEGIN{print b-a}')" -v rss="$rss" \
            'BEGIN{printf "| %s | %.0f | %d | %.1f | %.0f |\n", r, t, n, (n-l)/dt, rss/1024}'
        last=$n; lastT=$now
    done
}
start=$(date +%s.%N)
"$B" caption "$dir" --recursive --out "$out" --progress none 2>"$out.log1" &
pid=$!
( sleep "$kill_after"; kill -9 "$pid" 2>/dev/null && echo "(SIGKILL after ${kill_after} s)" ) &
sample first "$pid" "$start"
wait "$pid" || true
before=$(wc -l < "$out")
start=$(date +%s.%N)
"$B" caption "$dir" --recursive --out "$out" --progress none 2>"$out.log2" &
pid=$!
sample resumed "$pid" "$start"
wait "$pid" || true
tail -1 "$out.log2"
n=$(wc -l < "$out"); uniq=$(cut -d'"' -f4 "$out" | sort -u | wc -l)
echo "after the kill: $before lines; at the end: $n lines, $uniq distinct paths, $total photos"
[ "$n" -eq "$total" ] && [ "$uniq" -eq "$total" ] && echo "OK: every photo exactly once" || { echo "MISMATCH"; exit 1; }
