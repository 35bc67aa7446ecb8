#!/usr/bin/env bash
# Runs the default captioner on the sample photos (and the coco-dev photos when ../shared is there).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
bin="$(swift build -c release --show-bin-path)/swiftcap"
assets="${SWIFTCAP_ASSETS:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftcap/assets}"
"$bin" info
store="$assets/datastore/coco-karpathy-train.scds"
if [ ! -f "$store" ]; then
    mkdir -p "$(dirname "$store")"
    "$bin" index build --out "$store"
fi
"$bin" caption "$assets/sample-photos"
