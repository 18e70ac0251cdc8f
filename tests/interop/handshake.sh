#!/bin/bash
# Raw-socket handshake checks (handshake.py): NBD_OPT_EXPORT_NAME with and
# without NO_ZEROES, exact transmission flags, OPT_LIST/INFO/GO replies and
# block sizes, unknown options/exports, OPT_ABORT, STRUCTURED_REPLY,
# LIST/SET_META_CONTEXT, an unknown command, a read-only export.
. "$(dirname "$0")/lib.sh"
[ -x "$PY" ] || skip "$PY not found"
describe "fixed-newstyle handshake and flags over a raw socket"

start_server alpha=memory:16M beta=memory:8M
"$PY" "$INTEROP_DIR/handshake.py" rw "$SERVER_PORT" || fail "handshake checks failed"
stop_server

"$PY" -c 'import sys; sys.stdout.buffer.write(bytes(4 << 20))' >"$T/ro.img"
start_server --read-only "$T/ro.img"
"$PY" "$INTEROP_DIR/handshake.py" ro "$SERVER_PORT" || fail "read-only handshake checks failed"
stop_server
echo "handshake: ok"
