#!/usr/bin/env bash
# Runs the default job on the sample photos.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
bin="$(swift build -c release --show-bin-path)/swiftcap"
"$bin" info
