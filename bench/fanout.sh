#!/usr/bin/env bash
# Change-event fan-out on one backend: the release runtime over the freshly seeded benchmark
# database, SUBSCRIBERS Server-Sent Events streams on GET /changes of the composed port, and
# inserts (POST /customers) at RATE a second meanwhile (bench/fanout, a Rust tool: at 100
# subscribers and hundreds of inserts a second it reads tens of thousands of events a second).
# Appends one row labelled runtime-BACKEND-fanout to OUTDIR/fanout.tsv: the delay from each
# insert's 2xx answer to its event's arrival at each subscriber, and the events missing,
# duplicated or otherwise amiss. With `cross`, the subscribers read a second runtime process
# over the same database (its ports 100 above the first's), while the inserts go to the first:
# the delay across processes (the row is labelled runtime-BACKEND-fanout-cross).
#
#   bench/fanout.sh sqlite|pg [cross]   (env: OUTDIR, REP [1], MAX_ID [10000], DURATION [10s,
#                                        in seconds], SUBSCRIBERS [100], RATE [200],
#                                        FANOUT_CONNS [8])
# Needs the release builds of the runtime and the tool (bench/run.sh builds both).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
BACKEND="${1:?usage: fanout.sh sqlite|pg [cross]}"
CROSS="${2:-}"
case "$CROSS" in ""|cross) ;; *) echo "usage: fanout.sh sqlite|pg [cross]" >&2; exit 2 ;; esac
FANOUT="$ROOT/target/release/fanout"
OUTDIR="${OUTDIR:?}"
REP="${REP:-1}"
DURATION="${DURATION:-10s}"
BASE=http://127.0.0.1:3042
LABEL="runtime-$BACKEND-fanout${CROSS:+-$CROSS}"
SUBSCRIBE=$BASE

if curl -s -o /dev/null --max-time 1 "$BASE/"; then
  echo "something already answers on $BASE; stop it first" >&2; exit 1
fi
"$HERE/seed.sh" "$BACKEND"

. "$HERE/serve.sh"
serve "$OUTDIR/$LABEL-$REP.server.log" "$BASE"
if [ "$CROSS" = cross ]; then
  SUBSCRIBE=http://127.0.0.1:3142
  serve "$OUTDIR/$LABEL-$REP.second.log" "$SUBSCRIBE" RUNTIME_SERVER__PORT=3142 \
    RUNTIME_APPS__SHARED__PORT=3143 RUNTIME_APPS__CUSTOMERS__PORT=3144 \
    RUNTIME_APPS__PRODUCTS__PORT=3145 RUNTIME_APPS__INVOICES__PORT=3146 RUNTIME_ADMIN__PORT=9190
fi

echo "[$LABEL rep $REP] ${SUBSCRIBERS:-100} subscribers, ${RATE:-200} inserts/s for $DURATION" >&2
line="$("$FANOUT" --base "$BASE" --subscribe "$SUBSCRIBE" --subscribers "${SUBSCRIBERS:-100}" \
         --rate "${RATE:-200}" \
         --conns "${FANOUT_CONNS:-8}" --duration "${DURATION%s}" --max-id "${MAX_ID:-10000}" \
       | grep '^RESULT ')"
# The tool's keys, in its order, are the file's columns.
declare -a keys=() values=()
for kv in ${line#RESULT }; do keys+=("${kv%%=*}"); values+=("${kv#*=}"); done
tsv="$OUTDIR/fanout.tsv"
[ -s "$tsv" ] || (IFS=$'\t'; echo "label	rep	${keys[*]}") > "$tsv"
(IFS=$'\t'; echo "$LABEL	$REP	${values[*]}") >> "$tsv"
