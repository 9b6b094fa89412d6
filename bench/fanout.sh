#!/usr/bin/env bash
# Change-event fan-out on one backend: the release runtime over the freshly seeded benchmark
# database, SUBSCRIBERS Server-Sent Events streams on GET /changes of the composed port, and
# inserts (POST /customers) at RATE a second meanwhile (bench/fanout, a Rust tool: at 100
# subscribers and hundreds of inserts a second it reads tens of thousands of events a second).
# Appends one row labelled runtime-BACKEND-fanout to OUTDIR/fanout.tsv: the delay from each
# insert's 2xx answer to its event's arrival at each subscriber, and the events missing,
# duplicated or otherwise amiss.
#
#   bench/fanout.sh sqlite|pg      (env: OUTDIR, REP [1], MAX_ID [10000], DURATION [10s, in
#                                   seconds], SUBSCRIBERS [100], RATE [200], FANOUT_CONNS [8])
# Needs the release builds of the runtime and the tool (bench/run.sh builds both).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
BACKEND="${1:?usage: fanout.sh sqlite|pg}"
RUNTIME="$ROOT/target/release/runtime"
FANOUT="$ROOT/target/release/fanout"
OUTDIR="${OUTDIR:?}"
REP="${REP:-1}"
DURATION="${DURATION:-10s}"
BASE=http://127.0.0.1:3042
LABEL="runtime-$BACKEND-fanout"

if curl -s -o /dev/null --max-time 1 "$BASE/"; then
  echo "something already answers on $BASE; stop it first" >&2; exit 1
fi
"$HERE/seed.sh" "$BACKEND"

# A session of its own, as bench/run.sh starts servers (setsid execs in place: $! is the server).
cd "$ROOT"
setsid "$RUNTIME" --database-url "$("$HERE/seed.sh" url "$BACKEND")" start \
  >"$OUTDIR/$LABEL-$REP.server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do
  curl -s -o /dev/null "$BASE/" && break
  sleep 0.05
done

echo "[$LABEL rep $REP] ${SUBSCRIBERS:-100} subscribers, ${RATE:-200} inserts/s for $DURATION" >&2
line="$("$FANOUT" --base "$BASE" --subscribers "${SUBSCRIBERS:-100}" --rate "${RATE:-200}" \
         --conns "${FANOUT_CONNS:-8}" --duration "${DURATION%s}" --max-id "${MAX_ID:-10000}" \
       | grep '^RESULT ')"
# The tool's keys, in its order, are the file's columns.
declare -a keys=() values=()
for kv in ${line#RESULT }; do keys+=("${kv%%=*}"); values+=("${kv#*=}"); done
tsv="$OUTDIR/fanout.tsv"
[ -s "$tsv" ] || (IFS=$'\t'; echo "label	rep	${keys[*]}") > "$tsv"
(IFS=$'\t'; echo "$LABEL	$REP	${values[*]}") >> "$tsv"
