#!/bin/bash
# TLS with X.509 certificates (--tls require --tls-certificates DIR
# --tls-verify-peer), over TCP and a unix socket: nbdinfo (TLS negotiated,
# size), nbdsh writes and reads back (2 MiB and 64 aio requests in flight),
# nbdcopy round trips with cmp, the image file on disk checked after stop;
# then fio with verify over TLS (a server without --tls-verify-peer: fio's nbd
# engine cannot hand libnbd a certificate directory).
. "$(dirname "$0")/lib.sh"
. "$REPO/tests/lib/tls.sh"
need nbdinfo nbdsh nbdcopy cmp truncate
need_pynbd
describe "X.509 TLS over TCP and unix: nbdinfo, nbdsh, nbdcopy, fio verify"
tls_setup

SIZE=$((64 * 1048576))
IMG=$T/disk.img
truncate -s "$SIZE" "$IMG"

tls_start_server --tls require --tls-certificates "$TLS_SERVER" \
	--tls-verify-peer "$IMG"

for tr in tcp unix; do
	uri=$(tls_uri_x509 "$tr" "$TLS_CLIENT")
	tls_nbdinfo "$uri" "$SIZE"
done

# tcp writes at 0, unix at 16 MiB; each checked on a fresh connection of the
# other transport
tls_nbdsh "$(tls_uri_x509 tcp "$TLS_CLIENT")" write 0 1
tls_nbdsh "$(tls_uri_x509 unix "$TLS_CLIENT")" write $((16 << 20)) 2
tls_nbdsh "$(tls_uri_x509 unix "$TLS_CLIENT")" check 0 1
tls_nbdsh "$(tls_uri_x509 tcp "$TLS_CLIENT")" check $((16 << 20)) 2

# nbdcopy at offset 0 overwrites what nbdsh wrote there; the second copy over
# the unix socket leaves its data in the image for the on-disk check
tls_nbdcopy "$(tls_uri_x509 tcp "$TLS_CLIENT")" 12
tls_nbdcopy "$(tls_uri_x509 unix "$TLS_CLIENT")" 12
tls_nbdsh "$(tls_uri_x509 tcp "$TLS_CLIENT")" check $((16 << 20)) 2
stop_server

cmp -n $((12 << 20)) "$T/nbdcopy.in" "$IMG" ||
	fail "the image file does not hold what nbdcopy wrote over TLS"
log "image file holds the nbdcopy data"

# ---- fio with verify over TLS ----
if ! command -v fio >/dev/null 2>&1; then
	echo "fio part skipped: fio not installed"
elif ! fio --enghelp=nbd 2>/dev/null | grep -q '^uri'; then
	echo "fio part skipped: fio has no nbd engine (fio --enghelp=nbd)"
elif [ -e /etc/pki/libnbd ] || [ -e "${HOME:-/nonexistent}/.pki/libnbd" ] ||
	[ -e "${HOME:-/nonexistent}/.config/pki/libnbd" ]; then
	echo "fio part skipped: libnbd's default certificate directory exists" \
		"here and would be used instead of the test's CA"
else
	# fio's nbd engine passes its uri to nbd_connect_uri without
	# nbd_set_uri_allow_local_file, so tls-certificates= is refused; a
	# bare nbds:// URI uses libnbd's defaults (no client certificate, no
	# CA to check the server against): TLS still encrypts, and a server
	# with --tls require refuses anything else.
	truncate -s "$SIZE" "$T/fio.img"
	tls_start_server --tls require --tls-certificates "$TLS_SERVER" \
		"$T/fio.img"
	uri="nbds://127.0.0.1:$SERVER_PORT/"
	if ! out=$(timeout 60 nbdinfo --json "$uri" 2>&1); then
		echo "$out"
		echo "fio part skipped: libnbd does not connect to $uri without" \
			"tls-certificates= here, and fio cannot pass it"
	else
		grep -q '"TLS": true' <<<"$out" || fail "nbdinfo $uri: no TLS"
		# the same job plaintext must be refused: proves fio's run below
		# went over TLS
		tls_refused "fio over plaintext against --tls require" \
			fio --name=plain --verify_state_save=0 --ioengine=nbd \
			--uri="nbd://127.0.0.1:$SERVER_PORT/" --rw=read --bs=4k \
			--size=1M
		grep -qi 'tls' <<<"$TLS_REFUSED_OUT" ||
			fail "fio's plaintext refusal does not mention TLS"
		rc=0
		# fio writes verify state files into its working directory
		(cd "$T" && timeout 240 fio --name=tlsverify --ioengine=nbd --uri="$uri" \
			--rw=randwrite --bsrange=4k-256k --size=8M \
			--numjobs=4 --offset_increment=8M --iodepth=16 \
			--verify=crc32c --verify_state_save=0 --do_verify=1 --verify_fatal=1 \
			--verify_state_save=0 --output="$T/fio.out") || rc=$?
		cat "$T/fio.out"
		[ "$rc" = 0 ] || fail "fio with verify over TLS: exit status $rc"
		[ "$(grep -c 'err= 0' "$T/fio.out")" = 4 ] ||
			fail "fio reported errors"
		grep -qi 'verify.*fail\|bad magic\|crc32c: verify' "$T/fio.out" &&
			fail "fio verify failed"
		rm -f "$T/fio.out"
		log "fio: 4 TLS connections, randwrite 8 MiB each, crc32c verify: ok"
	fi
	stop_server
fi
echo "tls_x509: ok"
