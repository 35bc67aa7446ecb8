#!/usr/bin/env bash
# Load and fault test of `swiftcap serve` on 127.0.0.1 with wrk (Debian's `wrk`) and a real photo:
#   1. throughput and latency at concurrency 1, 2, 8, 32, 128 (queue large enough that every photo is accepted);
#   2. overload: concurrency 128 against --queue 4 (fast 503s; latency of the accepted photos from /metrics);
#   3. SIGTERM during load: requests in flight are answered and the server exits 0;
#   4. kill -9, restart: seconds until /readyz answers 200;
#   5. `swiftcap bench caption` photos/s on the same photo, alternating with serve at concurrency 8 (twice each).
# Prints a Markdown table (docs/serving.md has a run). Every loop is bounded in time; only 127.0.0.1 is called.
#
#   scripts/load-test.sh [--seconds 20] [--workers 2] [--port 18090] [--photo PHOTO]
#                        [--only sweep,overload,sigterm,restart,bench] [--serve-args "--arch blip --weights DIR"]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
seconds=20 workers=2 port=18090 only="sweep,overload,sigterm,restart,bench" serve_args=""
photo="${SWIFTCAP_SHARED:-$repo/../shared}/eval/coco-dev/images/000000000285.jpg"
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --workers) workers="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        --photo) photo="$2"; shift 2 ;;
        --only) only="$2"; shift 2 ;;
        --serve-args) serve_args="$2"; shift 2 ;;
        *) echo "load-test: unknown argument $1" >&2; exit 2 ;;
    esac
done
command -v wrk >/dev/null || { echo "load-test: wrk not found (scripts/install-deps.sh installs it)" >&2; exit 1; }
[ -f "$photo" ] || { echo "load-test: photo $photo not found" >&2; exit 1; }
bin=.build/release/swiftcap
[ -x "$bin" ] || swift build -c release
url="http://127.0.0.1:$port"
export PHOTO="$photo"
log="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; }
trap cleanup EXIT

start() {  # start ARGS...: serve in the background, wait (≤ 60 s) for /readyz
    # shellcheck disable=SC2086  # --serve-args is split into words on purpose
    "$bin" serve --port "$port" --workers "$workers" $serve_args "$@" >>"$log/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz" || true)" = 200 ] && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$log/server.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "load-test: server not ready in 60 s" >&2; exit 1
}
stop() { kill -TERM "$pid"; wait "$pid" || true; pid=""; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<"$2"; }
run_wrk() {  # run_wrk CONNECTIONS SECONDS -> RESULT line
    wrk -t1 -c"$1" -d"$2"s --timeout 120s -s scripts/load-test.lua "$url" 2>&1 | grep '^RESULT' || echo "RESULT failed"
}
# p50/p99 (bucket upper bounds, ms) of the 200 answers to POST /v1/captions, from two /metrics snapshots.
accepted_percentiles() {
    python3 - "$1" "$2" <<'PY'
import re, sys
def buckets(path):
    out = {}
    for line in open(path):
        m = re.match(r'swiftcap_http_request_duration_seconds_bucket\{route="/v1/captions",method="POST",status="200",le="([^"]+)"\} (\S+)', line)
        if m: out[m.group(1)] = float(m.group(2))
    return out
a, b = buckets(sys.argv[1]), buckets(sys.argv[2])
d = sorted(((float("inf") if k == "+Inf" else float(k)), b[k] - a.get(k, 0)) for k in b)
total = d[-1][1] if d else 0
def q(p):
    for le, c in d:
        if total and c >= p * total: return "≤%s" % ("inf" if le == float("inf") else "%g" % (le * 1000))
    return "n/a"
print(f"{int(total)} {q(0.5)} {q(0.99)}")
PY
}

want() { [[ ",$only," == *",$1,"* ]]; }
errors() { echo $(( $(field connect_errors "$1") + $(field read_errors "$1") + $(field other_socket_errors "$1") )); }

cpu="$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
echo "# swiftcap serve load test — $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "CPU: $cpu; photo: $(basename "$photo") ($(stat -c %s "$photo") bytes); server: --workers $workers $serve_args; wrk -t1, $seconds s per row"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

if want sweep; then
start --queue 256 --timeout-s 120
wrk -t1 -c2 -d3s --timeout 60s -s scripts/load-test.lua "$url" >/dev/null 2>&1 || true   # warm-up
sleep 1
idle_rss=$(rss_kb)
echo "| concurrency | photos/s (200) | p50 ms | p90 ms | p99 ms | max ms | 200 | 503 | other | socket errors | server RSS MB | load avg (1 min) |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
peak_rss=$idle_rss
for c in 1 2 8 32 128; do
    r=$(run_wrk "$c" "$seconds")
    rss=$(rss_kb); [ "$rss" -gt "$peak_rss" ] && peak_rss=$rss
    echo "| $c | $(field ok_per_s "$r") | $(field p50_ms "$r") | $(field p90_ms "$r") | $(field p99_ms "$r") | $(field max_ms "$r") | $(field ok "$r") | $(field busy503 "$r") | $(field other "$r") | $(errors "$r") | $((rss / 1024)) | $(cut -d' ' -f1 /proc/loadavg) |"
done
echo
sleep 2
echo "Server RSS: idle after warm-up $((idle_rss / 1024)) MB, highest seen after a row $((peak_rss / 1024)) MB, idle after the sweep $(( $(rss_kb) / 1024 )) MB."
stop
fi

if want overload; then
echo
echo "## Overload: concurrency 128 against --queue 4"
start --queue 4 --timeout-s 120
curl -s "$url/metrics" >"$log/m0"
r=$(run_wrk 128 "$seconds")
curl -s "$url/metrics" >"$log/m1"
read -r n p50 p99 <<<"$(accepted_percentiles "$log/m0" "$log/m1")"
echo "wrk, all answers: p50 $(field p50_ms "$r") ms, p99 $(field p99_ms "$r") ms; 200: $(field ok "$r") ($(field ok_per_s "$r")/s), 503: $(field busy503 "$r"), other: $(field other "$r"), socket errors: $(errors "$r")"
echo "accepted photos (server histogram, $n answers): p50 $p50 ms, p99 $p99 ms"
stop
fi

if want sigterm; then
echo
echo "## SIGTERM during load (concurrency 8)"
start --queue 64 --timeout-s 120
lines_before=$(wc -l <"$log/server.log")
wrk -t1 -c8 -d10s --timeout 60s -s scripts/load-test.lua "$url" >"$log/wrk-term" 2>&1 &
wrk_pid=$!
sleep 4
kill -TERM "$pid"
set +e; wait "$pid"; rc=$?; set -e
pid=""
wait "$wrk_pid" || true
r=$(grep '^RESULT' "$log/wrk-term" || echo "RESULT failed")
echo "server exit status after SIGTERM: $rc; answered during the run: 200: $(field ok "$r"), 503: $(field busy503 "$r"), other: $(field other "$r"); read errors: $(field read_errors "$r"); connection refused after the listener closed: $(field connect_errors "$r")"
answered=$(tail -n +"$((lines_before + 1))" "$log/server.log" | grep -c 'path=/v1/captions.*status=200' || true)
echo "captions the server logged as answered 200 in this run: $answered (wrk received $(field ok "$r"))"
grep -E 'stopping workers|stopped' "$log/server.log" | tail -2
fi

if want restart; then
echo
echo "## kill -9 and restart"
start --queue 16
kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=""
t0=$(date +%s.%N)
start --queue 16
t1=$(date +%s.%N)
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: image/jpeg' --data-binary @"$photo" "$url/v1/captions")
echo "restart after kill -9: /readyz 200 after $(python3 -c "print(f'{$t1 - $t0:.2f}')") s; first caption: HTTP $code"
stop
fi

if want bench; then
echo
echo "## swiftcap bench caption vs serve at concurrency 8, alternating (same photo, same machine)"
echo "| run | photos/s | load avg (1 min) after |"
echo "|---|---:|---:|"
for _ in 1 2; do
    b=$("$bin" bench caption --threads 2 --batch 8 --concurrent "$workers" "$photo" 2>&1 | sed -n 's/.*throughput \([0-9.]*\) photos\/s.*/\1/p')
    echo "| \`bench caption --threads 2 --batch 8 --concurrent $workers\` | $b | $(cut -d' ' -f1 /proc/loadavg) |"
    start --queue 64 --timeout-s 120
    wrk -t1 -c2 -d2s --timeout 60s -s scripts/load-test.lua "$url" >/dev/null 2>&1 || true   # warm-up
    r=$(run_wrk 8 "$seconds")
    stop
    echo "| serve --workers $workers, wrk -c8 ${seconds} s | $(field ok_per_s "$r") | $(cut -d' ' -f1 /proc/loadavg) |"
done
fi
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
