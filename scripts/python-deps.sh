#!/usr/bin/env bash
# The Python packages the Swift tests call (pinned), in a venv the tests find at .venv-test/bin/python
# (or set SWIFTCAP_TEST_PYTHON). huggingface_hub: the hub interop tests (Tests/SwiftCapHubTests/InteropTests).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="$repo/.venv-test"
HUGGINGFACE_HUB_VERSION=2.4.0
if ! "$venv/bin/python" -c "import huggingface_hub, sys; sys.exit(huggingface_hub.__version__ != '$HUGGINGFACE_HUB_VERSION')" 2>/dev/null; then
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" 2>/dev/null; then
        echo "python-deps: installing python3-venv"
        sudo=""
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv
    fi
    echo "python-deps: huggingface_hub==$HUGGINGFACE_HUB_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "huggingface_hub==$HUGGINGFACE_HUB_VERSION"
fi
