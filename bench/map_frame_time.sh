#!/usr/bin/env bash
# Measures map frame times at 100k points in Chromium and keeps them in bench/results/map_frame_time.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
TESSERA_MAP_FRAME_REPORT="$PWD/bench/results/map_frame_time.txt" OMP_NUM_THREADS=1 \
  python3 -m pytest -m slow tests/frontend/test_map_frame_time.py -q -p no:cacheprovider -s "$@"
