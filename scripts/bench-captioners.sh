#!/usr/bin/env bash
# Published captioners at full size (random weights under the published names), each weight format in its
# own process (so peak RSS is that format's), as one markdown table:
#   scripts/bench-captioners.sh [--threads 2] [--runs 3] [--archs "clipcap smallcap blip"] [--quants "f32 f16 int8 q4"]
# Columns come from `swiftcap bench model --random-weights --quant Q` (quality vs fp32 for Q != f32).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2 runs=3 archs="clipcap smallcap blip" quants="f32 f16 int8 q4"
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --archs) archs=$2; shift 2 ;;
    --quants) quants=$2; shift 2 ;;
    *) echo "bench-captioners.sh: unknown argument '$1' (see the header of this script)" >&2; exit 2 ;;
  esac
done
B=.build/release/swiftcap
[ -x "$B" ] || { echo "bench-captioners.sh: build first: swift build -c release" >&2; exit 2; }
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), threads $threads, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| model | weights | held MB | encoder ms | step ms (3 beams) | caption ms (beam 3, 20 tok) | peak RSS captioning MB | max logit err | top-1 agree | greedy same | beam same |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for a in $archs; do
  for q in $quants; do
    out=$("$B" bench model --arch "$a" --random-weights --threads "$threads" --runs "$runs" --quant "$q" 2>&1) || { echo "| $a | $q | failed: $(echo "$out" | tail -1) |"; continue; }
    held=$(echo "$out" | sed -n 's/.*held as [a-z0-9]*: \([0-9.]*\) MB.*/\1/p')
    enc=$(echo "$out" | sed -n 's/^encoder (ms) *\([0-9.]*\).*/\1/p')
    step=$(echo "$out" | sed -n 's/^decoder step.* \([0-9.]*\)$/\1/p')
    cap=$(echo "$out" | sed -n 's/^caption: [^)]*) *\([0-9.]*\).*/\1/p')
    rss=$(echo "$out" | sed -n 's/^peak RSS[^0-9]*\([0-9]*\).*/\1/p')
    err=$(echo "$out" | sed -n 's/^ *max |logit error| *\([0-9.e+-]*\).*/\1/p')
    top=$(echo "$out" | sed -n 's/^ *top-1 agreement *\(.*\)$/\1/p')
    greedy=$(echo "$out" | sed -n 's/^ *greedy tokens identical *\(.*\)$/\1/p')
    beam=$(echo "$out" | sed -n 's/^ *beam-[0-9]* tokens identical *\(.*\)$/\1/p')
    echo "| $a | $q | $held | $enc | $step | $cap | $rss | ${err:--} | ${top:--} | ${greedy:--} | ${beam:--} |"
  done
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); medians of $runs runs; quality columns: the same random weights at fp32 in the same process"
