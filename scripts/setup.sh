#!/usr/bin/env bash
# Set-up and first run on a fresh machine: Debian packages, public assets from PyPI,
# a release build, then the main job on sample photos.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
./scripts/install-deps.sh
./scripts/fetch-assets.sh
swift build -c release
./scripts/run-samples.sh
