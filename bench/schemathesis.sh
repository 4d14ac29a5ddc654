#!/usr/bin/env bash
# Runs the property-based OpenAPI test and keeps its numbers in bench/results/schemathesis.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
TESSERA_SCHEMATHESIS_REPORT="$PWD/bench/results/schemathesis.txt" OMP_NUM_THREADS=1 \
  python3 -m pytest tests/api/test_schemathesis.py -q -p no:cacheprovider "$@"
