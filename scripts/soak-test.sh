#!/usr/bin/env bash
# Soak test of `swiftcap serve` on 127.0.0.1: wrk at a steady concurrency for N minutes in 1-minute rounds,
# printing per round the photos/s, p99, non-200 answers, socket errors and the server's RSS (flat RSS = no leak).
#
#   scripts/soak-test.sh [--minutes 10] [--connections 4] [--workers 2] [--port 18093] [--photo PHOTO]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
minutes=10 connections=4 workers=2 port=18093
photo="${SWIFTCAP_SHARED:-$repo/../shared}/eval/coco-dev/images/000000000285.jpg"
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes="$2"; shift 2 ;;
        --connections) connections="$2"; shift 2 ;;
        --workers) workers="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        --photo) photo="$2"; shift 2 ;;
        *) echo "soak-test: unknown argument $1" >&2; exit 2 ;;
    esac
done
bin=.build/release/swiftcap
[ -x "$bin" ] || swift build -c release
export PHOTO="$photo"
url="http://127.0.0.1:$port"
log="$(mktemp)"
"$bin" serve --port "$port" --workers "$workers" --queue 64 >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz" || true)" = 200 ] && break
    sleep 0.1
done
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<"$2"; }
rss() { echo $(( $(awk '/VmRSS/ {print $2}' "/proc/$pid/status") / 1024 )); }
wrk -t1 -c2 -d3s --timeout 60s -s scripts/load-test.lua "$url" >/dev/null 2>&1 || true   # warm-up
echo "soak: $minutes × 60 s at concurrency $connections, --workers $workers; CPU $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
echo "| minute | photos/s | p50 ms | p99 ms | 200 | non-200 | socket errors | RSS MB | load avg (1 min) |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
echo "| 0 (idle, after warm-up) | | | | | | | $(rss) | $(cut -d' ' -f1 /proc/loadavg) |"
bad=0
for m in $(seq 1 "$minutes"); do
    r=$(wrk -t1 -c"$connections" -d60s --timeout 60s -s scripts/load-test.lua "$url" 2>&1 | grep '^RESULT' || echo "RESULT failed")
    non=$(( $(field busy503 "$r") + $(field other "$r") ))
    err=$(( $(field connect_errors "$r") + $(field read_errors "$r") + $(field other_socket_errors "$r") ))
    bad=$((bad + non + err))
    echo "| $m | $(field ok_per_s "$r") | $(field p50_ms "$r") | $(field p99_ms "$r") | $(field ok "$r") | $non | $err | $(rss) | $(cut -d' ' -f1 /proc/loadavg) |"
done
echo "non-200 answers and socket errors in all: $bad"
[ "$bad" -eq 0 ]
