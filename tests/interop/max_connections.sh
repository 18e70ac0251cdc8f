#!/usr/bin/env bash
# --max-connections: one connection over the limit is refused at once
# (closed before the greeting) with a log line; those within it and the
# daemon go on; a slot freed is reused.
. "$(dirname "$0")/lib.sh"
describe "the connection limit refuses cleanly"
need_pynbd
start_server --max-connections 2 memory:16M
"$PY" - "$SERVER_PORT" "$REPO/tests/lib" <<'PYEOF' || fail "connection limit"
import socket, sys, time
sys.path.insert(0, sys.argv[2])
import nbdraw
port = int(sys.argv[1])
a = nbdraw.connect(("127.0.0.1", port)); nbdraw.handshake(a)
b = nbdraw.connect(("127.0.0.1", port)); nbdraw.handshake(b)
c = nbdraw.connect(("127.0.0.1", port))
c.settimeout(5)
try:
    data = c.recv(18)
except ConnectionResetError:
    data = b""
assert data == b"", "the third connection got a greeting: %r" % data
print("third connection: closed without a greeting")
for s, n in ((a, 1), (b, 2)):
    s.sendall(nbdraw.request(nbdraw.CMD_READ, n, 0, 4096))
    err, cookie = nbdraw.read_simple_reply(s)
    assert err == 0 and cookie == n, (err, cookie)
    nbdraw.recv_exact(s, 4096)
print("the two connections within the limit still work")
a.close()
time.sleep(0.5)
d = nbdraw.connect(("127.0.0.1", port)); nbdraw.handshake(d)
print("a freed slot is reused")
PYEOF
grep -q 'connection limit reached (--max-connections 2): refusing 127.0.0.1:' "$SERVER_LOG" ||
	fail "no log line for the refused connection"
stop_server
