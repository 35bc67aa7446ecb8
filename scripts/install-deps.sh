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
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
