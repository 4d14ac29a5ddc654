#!/usr/bin/env bash
# Sets up Tessera, catalogues Debian's CC0 Sonic Pi samples, indexes and clusters them, serves the API and web app.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TESSERA_DATA_DIR="${TESSERA_DATA_DIR:-$PWD/tessera-data}"
tessera add /usr/share/sonic-pi/samples --licence CC0-1.0 \
  --creator "Sonic Pi contributors (samples from Freesound)" --title "Sonic Pi samples" \
  --source-url "https://github.com/sonic-pi-net/sonic-pi/tree/main/etc/samples"
tessera index
# groupings for the map and the cluster pages (the first run compiles numba code: about a minute)
tessera cluster --seed 42
exec tessera serve --host "${TESSERA_HOST:-127.0.0.1}" --port "${TESSERA_PORT:-8000}"
