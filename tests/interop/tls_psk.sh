#!/bin/bash
# TLS with pre-shared keys (--tls require --tls-psk FILE, psktool's format),
# over TCP and a unix socket: nbdinfo (TLS negotiated, size) for both users
# of the file, nbdsh writes and reads back, nbdcopy round trips with cmp, the
# image file on disk checked after stop; and --tls on with PSK: the same
# export plaintext and over PSK.
. "$(dirname "$0")/lib.sh"
. "$REPO/tests/lib/tls.sh"
need nbdinfo nbdsh nbdcopy cmp truncate
need_pynbd
describe "PSK TLS over TCP and unix: nbdinfo, nbdsh, nbdcopy"
tls_setup

SIZE=$((48 * 1048576))
IMG=$T/disk.img
truncate -s "$SIZE" "$IMG"
BOB=$TLS_DIR/bob.psk

tls_start_server --tls require --tls-psk "$TLS_PSK" "$IMG"

for tr in tcp unix; do
	tls_nbdinfo "$(tls_uri_psk "$tr" "$TLS_PSK_ALICE" alice)" "$SIZE"
	# the second user of the server's file, with a file of its own
	tls_nbdinfo "$(tls_uri_psk "$tr" "$BOB" bob)" "$SIZE"
done

tls_nbdsh "$(tls_uri_psk tcp "$TLS_PSK_ALICE" alice)" write 0 11
tls_nbdsh "$(tls_uri_psk unix "$BOB" bob)" write $((20 << 20)) 12
tls_nbdsh "$(tls_uri_psk unix "$TLS_PSK_ALICE" alice)" check 0 11
tls_nbdsh "$(tls_uri_psk tcp "$BOB" bob)" check $((20 << 20)) 12

tls_nbdcopy "$(tls_uri_psk unix "$TLS_PSK_ALICE" alice)" 10
tls_nbdcopy "$(tls_uri_psk tcp "$TLS_PSK_ALICE" alice)" 10
tls_nbdsh "$(tls_uri_psk unix "$TLS_PSK_ALICE" alice)" check $((20 << 20)) 12
stop_server

cmp -n $((10 << 20)) "$T/nbdcopy.in" "$IMG" ||
	fail "the image file does not hold what nbdcopy wrote over TLS-PSK"
log "image file holds the nbdcopy data"

# --tls on: plaintext and PSK clients of the same export see the same data
tls_start_server --tls on --tls-psk "$TLS_PSK" "$IMG"
out=$(timeout 60 nbdinfo --json "$(tls_uri_plain tcp)" 2>&1) ||
	fail "--tls on: plaintext nbdinfo refused: $out"
grep -q '"TLS": false' <<<"$out" || fail "--tls on: plaintext nbdinfo says: $out"
log "--tls on: plaintext nbdinfo over tcp accepted, without TLS"
tls_nbdinfo "$(tls_uri_psk unix "$TLS_PSK_ALICE" alice)" "$SIZE"
rm -f "$T/plain.out"
timeout 120 nbdcopy "$(tls_uri_plain unix)" "$T/plain.out" ||
	fail "--tls on: plaintext nbdcopy failed"
cmp -n $((10 << 20)) "$T/nbdcopy.in" "$T/plain.out" ||
	fail "--tls on: plaintext read differs from what was written over PSK"
rm -f "$T/plain.out"
log "--tls on: plaintext read back what PSK clients wrote"
stop_server
echo "fio over PSK not tested: fio's nbd engine hands its uri to" \
	"nbd_connect_uri without nbd_set_uri_allow_local_file, so libnbd refuses" \
	"tls-psk-file= (tls_x509 runs fio over X.509)"
echo "tls_psk: ok"
