#!/usr/bin/env bash
# Installs what Tessera needs on a fresh Debian machine: system packages, then the Python package.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
pkgs="libsndfile1 ffmpeg sonic-pi-samples hydrogen-drumkits chromium"
# --bench: what bench/similarity_quality.py renders its labelled corpora with (~250 MB; tests never need it)
if [ "${1:-}" = "--bench" ]; then
  pkgs="$pkgs fluidsynth fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont-small avldrums.lv2-soundfont"
fi
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e ".[dev]"
