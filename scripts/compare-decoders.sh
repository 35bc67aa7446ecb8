#!/usr/bin/env bash
# Caption quality of the default captioner against the nearest-neighbour baseline and the previous
# default, all on ../shared/eval/coco-dev in one run, with paired-bootstrap intervals of the differences.
# Usage: scripts/compare-decoders.sh [OUT_DIR]   (needs a release build: swift build -c release)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
bin="$(swift build -c release --show-bin-path)/swiftcap"
shared="${SWIFTCAP_SHARED:-$repo/../shared}"
images="$shared/eval/coco-dev/images"
refs="$shared/eval/coco-dev/references.json"
out="${1:-eval-out/compare}"
mkdir -p "$out"
for arch in neighbours retrieval; do
    echo "== $arch"
    "$bin" eval --arch "$arch" --images "$images" --references "$refs" --out "$out/$arch" --no-report
done
echo "== concepts (default) vs the nearest-neighbour baseline"
"$bin" eval --arch concepts --images "$images" --references "$refs" --out "$out/concepts" --compare "$out/neighbours/results.json"
echo "== concepts (default) vs the previous default (retrieval)"
python3 -c 'import json, sys; print(json.dumps({r["file"]: r["caption"] for r in json.load(open(sys.argv[1]))["images"]}))' \
    "$out/concepts/results.json" > "$out/concepts/captions.json"
"$bin" eval --captions "$out/concepts/captions.json" --references "$refs" --out "$out/concepts-vs-retrieval" --no-report \
    --compare "$out/retrieval/results.json"
