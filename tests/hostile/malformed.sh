#!/usr/bin/env bash
# lloop-test: engine-independent
# Malformed clients (malformed.py): wrong magic, truncated headers, option
# lengths over the bound, an unknown export, a request before GO, unknown
# commands and flags, offset+length overflowing 64 bits, lengths over the
# maximum payload.  Each gets what proto.md prescribes (an error reply with
# the right code, or a hard disconnect with nothing sent); after each a
# good client on a new connection writes and reads back, and nothing stays
# in use.  The daemon logs why it hung up, and exits 0 on SIGTERM.
# Protocol parsing does not depend on the engine: run once.
. "$(dirname "$0")/../interop/lib.sh"
[ -x "$PY" ] || skip "$PY not found"
describe "malformed clients get an error reply or a clean disconnect; the daemon serves on"

CTL=$T/ctl.sock
start_server --control "$CTL" --buffer-memory 4M main=memory:64M other=memory:1M
"$PY" "$REPO/tests/hostile/malformed.py" "$SERVER_PORT" "$LLOOP" "$CTL" ||
	fail "malformed-client cases failed"
kill -0 "$SERVER_PID" || fail "the server died"
for why in 'unsupported client flags' 'bad option magic' \
	'bad request magic' 'export name too long' "no export named 'no-such-export'"; do
	grep -q "$why" "$SERVER_LOG" || fail "no log line for a hard disconnect: '$why'"
done
stop_server
echo "malformed: ok"
