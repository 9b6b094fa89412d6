#!/usr/bin/env bash
# Seeds the benchmark data set of ../shared/bench into the runtime's own database: the schema
# comes from the runtime's migrations (`runtime migrate apply`), the rows from seed.py.
#
#   bench/seed.sh sqlite|pg        (env: SCALE [1.0], RUNTIME [target/release/runtime])
# SQLite: /tmp/runtime-bench.sqlite. PostgreSQL: database `runtime` on the throwaway cluster of
# ../shared/bench/db.sh (127.0.0.1:55432), which must be running.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
SHARED="${SHARED_BENCH:-$ROOT/../shared/bench}"
RUNTIME="${RUNTIME:-$ROOT/target/release/runtime}"
SCALE="${SCALE:-1.0}"

url() {
  case "$1" in
    sqlite) echo "sqlite:///tmp/runtime-bench.sqlite" ;;
    pg) echo "postgres://postgres@127.0.0.1:55432/runtime" ;;
    *) echo "usage: seed.sh sqlite|pg" >&2; exit 2 ;;
  esac
}

case "${1:-}" in
  sqlite)
    rm -f /tmp/runtime-bench.sqlite /tmp/runtime-bench.sqlite-wal /tmp/runtime-bench.sqlite-shm
    (cd "$ROOT" && "$RUNTIME" --database-url "$(url sqlite)" migrate apply >/dev/null)
    python3 "$SHARED/seed.py" sql --dialect sqlite --scale "$SCALE" | sqlite3 /tmp/runtime-bench.sqlite
    sqlite3 /tmp/runtime-bench.sqlite 'PRAGMA journal_mode=WAL; ANALYZE;' >/dev/null
    ;;
  pg)
    export PGHOST=127.0.0.1 PGPORT=55432 PGUSER=postgres
    PGOPTIONS="-c client_min_messages=warning" psql -q -d postgres \
      -c "DROP DATABASE IF EXISTS runtime WITH (FORCE)" -c "CREATE DATABASE runtime"
    (cd "$ROOT" && "$RUNTIME" --database-url "$(url pg)" migrate apply >/dev/null)
    python3 "$SHARED/seed.py" sql --dialect postgres --scale "$SCALE" \
      | psql -q -v ON_ERROR_STOP=1 -d runtime >/dev/null 2>/tmp/runtime-pg-seed.err \
      || { cat /tmp/runtime-pg-seed.err >&2; exit 1; }
    psql -q -d runtime -c "ANALYZE" >/dev/null
    ;;
  url) url "${2:-}" ;;
  *) sed -n '2,8p' "$0"; exit 2 ;;
esac
[ "${1}" = url ] || echo "seeded the runtime's $1 database (scale $SCALE)" >&2
