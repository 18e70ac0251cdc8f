#!/bin/bash
# TLS record packing (tls_records.py): a raw-socket client that does its own
# TLS 1.3 handshake (Python ssl over MemoryBIO, the test CA verified) sees
# every record the server sends.  Pipelined reads (32 x 4 KiB, 4 x 1 MiB,
# 64 x 512 B; simple and structured replies) must come back right, with no
# record holding only reply headers and no more than ceil(plaintext/16 KiB)
# + replies records: a server sealing each iovec piece on its own sends a
# header record and a data record per read, which this refuses.
. "$(dirname "$0")/lib.sh"
. "$REPO/tests/lib/tls.sh"
[ -x "$PY" ] || skip "$PY not found"
"$PY" -c 'import ssl, sys; sys.exit(not ssl.HAS_TLSv1_3)' 2>/dev/null ||
	skip "$PY's ssl module cannot speak TLS 1.3"
describe "replies packed into full TLS records (raw TLS 1.3 client)"
tls_setup

IMG=$T/disk.img
make_random "$IMG" 16

tls_start_server --tls require --tls-certificates "$TLS_SERVER" "$IMG"
timeout 180 "$PY" "$INTEROP_DIR/tls_records.py" "$SERVER_PORT" \
	"$TLS_CLIENT/ca-cert.pem" "$IMG" ||
	fail "TLS record packing checks failed"
stop_server
echo "tls_records: ok"
