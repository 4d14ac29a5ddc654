#!/usr/bin/env bash
# Sets up everything the tests need (Debian packages, PostgreSQL, Python packages), then lints and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# the tests use the real local PostgreSQL (trust auth, database test); start it if it is down
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
ruff check tessera tests bench
mypy tessera
export OMP_NUM_THREADS=1
python3 -m pytest -m "not slow" "$@"
