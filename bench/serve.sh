# Sourced by bench/auth.sh and bench/fanout.sh: `serve` starts the release runtime over the
# seeded database of BACKEND in a session of its own (setsid, as bench/run.sh starts servers)
# and waits until it answers; every server started so is stopped when the script exits.
#
#   serve LOG BASE [ENV=VALUE...]     (HERE, ROOT and BACKEND set by the sourcing script)
SERVERS=()
trap 'for pid in "${SERVERS[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; done' EXIT

serve() {
  local log=$1 base=$2
  shift 2
  # env and setsid exec in place: $! is the server.
  (cd "$ROOT" && exec env "$@" setsid "$ROOT/target/release/runtime" \
    --database-url "$("$HERE/seed.sh" url "$BACKEND")" start) >"$log" 2>&1 &
  SERVERS+=($!)
  for _ in $(seq 1 200); do
    curl -s -o /dev/null "$base/" && return 0
    sleep 0.05
  done
  echo "the runtime did not answer on $base; its log: $log" >&2
  exit 1
}
