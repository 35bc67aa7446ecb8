#!/usr/bin/env bash
# The whole test suite: installs what is missing, fetches the public assets, runs every test.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
./scripts/install-deps.sh
./scripts/fetch-assets.sh
swift build
swift test --parallel --num-workers 2
