#!/usr/bin/env bash
# 1,000 idle connections against --max-connections 100 (idle.py): exactly
# 100 are let in (half of them idle before their flags, half after GO),
# the other 900 are refused cleanly (closed, nothing sent) with one log line
# each; with all slots held a new client is refused, and once ten close,
# new clients are served at once.  Every slot comes back.  Accepting and
# closing go through the engine: run with each.
. "$(dirname "$0")/../interop/lib.sh"
[ -x "$PY" ] || skip "$PY not found"
describe "1000 idle connections, --max-connections 100: refused cleanly, still serving"

CTL=$T/ctl.sock
start_server --control "$CTL" --max-connections 100 memory:64M
"$PY" "$REPO/tests/hostile/idle.py" "$SERVER_PORT" "$LLOOP" "$CTL" 100 >"$T/idle.out" ||
	{ cat "$T/idle.out"; fail "idle connections"; }
cat "$T/idle.out"
refused=$(sed -n 's/^refused \([0-9]*\)$/\1/p' "$T/idle.out")
logged=$(grep -c 'connection limit reached (--max-connections 100): refusing 127.0.0.1:' \
	"$SERVER_LOG" || :)
echo "refusals seen by the clients: $refused, log lines: $logged"
assert_eq "$logged" "$refused" "log lines for refused connections"
kill -0 "$SERVER_PID" || fail "the server died"
stop_server
echo "idle_connections: ok"
