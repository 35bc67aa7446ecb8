#!/usr/bin/env bash
# Installs the Debian packages SwiftCap builds against (skips those already installed).
set -euo pipefail
pkgs=(libopenblas-dev libjpeg62-turbo-dev libpng-dev)
missing=()
for p in "${pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# Java runs the reference METEOR jar and the PTB tokenizer the metric tests compare with.
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
# exiftool reads back the XMP sidecars the format tests write (XMPSidecarTests).
command -v exiftool >/dev/null 2>&1 || missing+=(libimage-exiftool-perl)
# `swiftcap serve`: the web page is tested in headless Chromium (WebPageTests), scripts/load-test.sh uses wrk.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
# Python tools the serve tests run (Selenium drives Chromium; openapi-spec-validator checks /openapi.yaml), in a
# venv of their own ($SWIFTCAP_VENV, default ~/.cache/swiftcap/venv), found there by the tests.
venv="${SWIFTCAP_VENV:-$HOME/.cache/swiftcap/venv}"
if ! "$venv/bin/python" -c "import selenium, openapi_spec_validator" >/dev/null 2>&1; then
    echo "install-deps: making the Python venv $venv (selenium, openapi-spec-validator)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "selenium==4.51.0" "openapi-spec-validator==0.9.0"
fi
