#!/bin/bash
# Option haggling state per the NBD spec, with a raw client
# (meta_negotiation.py): LIST_META_CONTEXT's reserved ID 0, a failed
# SET_META_CONTEXT clearing the selection, a context kept through
# EXPORT_NAME of the same export and dropped by GO of another, and
# STARTTLS forgetting what plaintext negotiated (structured replies, meta
# contexts) until the client asks again inside TLS.
. "$(dirname "$0")/lib.sh"
. "$REPO/tests/lib/tls.sh"
[ -x "$PY" ] || skip "$PY not found"
describe "meta context and structured reply state across SET, GO, EXPORT_NAME and STARTTLS"
tls_setup

make_random "$T/a.img" 4
make_random "$T/b.img" 4
tls_start_server --tls on --tls-certificates "$TLS_SERVER" \
	"a=$T/a.img" "b=$T/b.img"
timeout 120 "$PY" "$INTEROP_DIR/meta_negotiation.py" "$SERVER_PORT" \
	"$TLS_CLIENT/ca-cert.pem" || fail "option state checks failed"
stop_server
