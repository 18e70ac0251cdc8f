#!/usr/bin/env bash
# Abusive clients (abuse.py) on the socket and pool paths of each engine:
# writes whose payload stops short before the socket closes, clients that
# close with 100 requests in flight, and, together for ~30 s, slowloris
# handshakes (one byte a second), 32 MiB writes whose payload comes one
# byte a second, and clients that flood reads and never read a reply;
# meanwhile a well-behaved client must be served, VmRSS must stay put,
# and afterwards every connection slot and pool request must be back.
. "$(dirname "$0")/../interop/lib.sh"
[ -x "$PY" ] || skip "$PY not found"
describe "short payloads, in-flight closes, slowloris, slow payloads, non-readers"

CTL=$T/ctl.sock
truncate -s 1G "$T/disk.img"
# no handshake deadline: here slow handshakes must finish and be served
# while others are (hostile/handshake_timeout tests the deadline)
start_server --control "$CTL" --threads 2 --handshake-timeout 0 "$T/disk.img"
rc=0
"$PY" "$REPO/tests/hostile/abuse.py" "$SERVER_PORT" "$LLOOP" "$CTL" "$SERVER_PID" || rc=$?
# what the server said about the stalled clients, for the record
grep -E 'warning: [^-]' "$SERVER_LOG" | grep -v 'PR_SET_IO_FLUSHER\|oom-score-adj\|--mlock' |
	sed 's/^/    server: /' | head -n 40 || :
[ "$rc" = 0 ] || fail "abusive-client cases failed"
kill -0 "$SERVER_PID" || fail "the server died"
stop_server
echo "abuse: ok"
