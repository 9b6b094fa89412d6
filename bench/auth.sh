#!/usr/bin/env bash
# The authenticated scenarios on one backend: the runtime with auth on (an HMAC secret) over the
# freshly seeded benchmark database, loaded with get-by-id and GraphQL requests each carrying
# its customer's token (bench/auth.lua). Appends rows labelled runtime-BACKEND-auth to
# OUTDIR/runs.tsv, in the format of ../shared/bench/run.sh.
#
#   bench/auth.sh sqlite|pg      (env: OUTDIR, REP [1], MAX_ID [10000], DURATION [10s],
#                                 THREADS [2], CONNS [32], WARMUP [3s], TOKENS_N [1000])
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
BACKEND="${1:?usage: auth.sh sqlite|pg}"
OUTDIR="${OUTDIR:?}"
REP="${REP:-1}"
DURATION="${DURATION:-10s}"; THREADS="${THREADS:-2}"; CONNS="${CONNS:-32}"; WARMUP="${WARMUP:-3s}"
TOKENS_N="${TOKENS_N:-1000}"
MAX_ID="${MAX_ID:-10000}"
[ "$TOKENS_N" -le "$MAX_ID" ] || TOKENS_N=$MAX_ID
SECRET="bench-secret-bench-secret-bench-secret"
BASE=http://127.0.0.1:3042
LABEL="runtime-$BACKEND-auth"

"$HERE/seed.sh" "$BACKEND"
tokens="$OUTDIR/tokens-$BACKEND.txt"
python3 - "$SECRET" "$TOKENS_N" > "$tokens" <<'PY'
import base64, hashlib, hmac, json, sys, time
secret, n = sys.argv[1].encode(), int(sys.argv[2])
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
for customer in range(1, n + 1):
    claims = {"role": "customer", "customer_id": customer, "exp": int(time.time()) + 3600}
    signing = header + "." + b64(json.dumps(claims).encode())
    print(signing + "." + b64(hmac.new(secret, signing.encode(), hashlib.sha256).digest()))
PY

. "$HERE/serve.sh"
serve "$OUTDIR/$LABEL.log" "$BASE" RUNTIME_AUTH__JWT_SECRET="$SECRET"
first=$(head -1 "$tokens")
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $first" "$BASE/customers/1")
[ "$status" = 200 ] || { echo "the customer's own row answered $status" >&2; exit 1; }
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $first" "$BASE/customers/2")
[ "$status" = 404 ] || { echo "another customer's row answered $status, not 404" >&2; exit 1; }

[ -s "$OUTDIR/runs.tsv" ] || printf 'label\trep\tscenario\trps\tp50_ms\tp99_ms\terrors\trequests\tmax_ms\n' > "$OUTDIR/runs.tsv"
for sc in get-by-id graphql; do
  if [ "$WARMUP" != 0 ]; then
    TOKENS="$tokens" SCENARIO="$sc" SEED=99 wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" \
      -s "$HERE/auth.lua" "$BASE" >/dev/null 2>&1 || true
  fi
  out="$(TOKENS="$tokens" SCENARIO="$sc" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" \
         -s "$HERE/auth.lua" "$BASE" 2>&1)"
  line="$(grep '^RESULT ' <<<"$out" | tail -1)"
  [ -n "$line" ] || { echo "$out" >&2; exit 1; }
  declare -A r=()
  for kv in ${line#RESULT }; do r[${kv%%=*}]="${kv#*=}"; done
  errors=$(( r[non2xx] + r[sock_err] ))
  echo "[$LABEL rep $REP] $sc ${r[rps]} req/s p99 ${r[p99_ms]} ms errors $errors" >&2
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$LABEL" "$REP" "$sc" "${r[rps]}" "${r[p50_ms]}" \
    "${r[p99_ms]}" "$errors" "${r[requests]}" "${r[max_ms]}" >> "$OUTDIR/runs.tsv"
  unset r
done
