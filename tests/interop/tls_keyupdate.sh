#!/bin/bash
# lloop-test: engine-independent (TLS record handling; runs on one engine)
# TLS 1.3 KeyUpdate (build/tls_keyupdate, a GnuTLS client): a KeyUpdate
# that asks for the server's, sent in one write with an NBD option, gets
# the option answered (GnuTLS says AGAIN after the KeyUpdate with the
# option's record still unread: taking that for "receive more" left the
# client waiting for ever); then the same in two writes.
. "$(dirname "$0")/lib.sh"
. "$REPO/tests/lib/tls.sh"
KU=$REPO/${BUILD:-build}/tls_keyupdate
[ -x "$KU" ] || skip "no $KU (built only with GnuTLS)"
describe "TLS 1.3 KeyUpdate with an option in the same write: answered"
tls_setup

make_random "$T/disk.img" 4
tls_start_server --tls require --tls-certificates "$TLS_SERVER" "$T/disk.img"
timeout 60 "$KU" "$SERVER_PORT" "$TLS_CLIENT/ca-cert.pem" ||
	fail "the KeyUpdate client did not get its replies"
stop_server
