#!/usr/bin/env bash
# `schemathesis run --checks all` against a running Tessera (bench/schemathesis_app.py: real audio, indexed and
# clustered), anonymously and with a key of each role. Writes bench/results/schemathesis.txt; run it by hand.
#   bench/schemathesis.sh [extra schemathesis options, e.g. --max-examples 20]
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD" OMP_NUM_THREADS=1
PORT="${PORT:-8765}"
# TESSERA_ST_DATA: reuse a data folder prepared by an earlier run (indexing takes minutes); else a fresh one
DATA="${TESSERA_ST_DATA:-$(mktemp -d -t tessera-st-XXXXXX)}"
OUT="bench/results/schemathesis.txt"
python3 bench/schemathesis_app.py "$DATA" "$PORT" >"$DATA/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; [ -n "${TESSERA_ST_DATA:-}" ] || rm -rf "$DATA"' EXIT
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$DATA/server.log"; exit 1; }
  sleep 1
done
key() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$DATA/keys.json" "$1"; }
status=0
echo "$(schemathesis --version 2>&1 | tail -1), $(date -u +%FT%TZ), checks: all, options: ${*:-none}" | tee "$OUT"
for role in anonymous editor moderator admin; do
  printf '\n=== role: %s\n' "$role" | tee -a "$OUT"
  auth=()
  [ "$role" = anonymous ] || auth=(-H "Authorization: Bearer $(key "$role")")
  schemathesis --config-file bench/schemathesis.toml --no-color run "http://127.0.0.1:$PORT/openapi.json" \
    --checks all --max-redirects 0 --workers 1 --suppress-health-check all "${auth[@]}" "$@" 2>&1 \
    | tee -a "$OUT" || status=1
done
exit "$status"
