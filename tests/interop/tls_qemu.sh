#!/bin/bash
# qemu's NBD client over TLS: --object tls-creds-x509 (with a client
# certificate, the server has --tls-verify-peer) and tls-creds-psk (dir with
# keys.psk, username=), over TCP and a unix socket: qemu-img info, qemu-io
# pattern writes read back on a fresh connection, qemu-img convert into the
# export and back out compared with cmp; qemu without tls-creds, and with the
# wrong PSK key or an unknown user, refused while the good client goes on.
. "$(dirname "$0")/lib.sh"
. "$REPO/tests/lib/tls.sh"
need qemu-io qemu-img cmp truncate
describe "qemu-io and qemu-img over TLS (x509 and PSK, tcp and unix)"
tls_setup

SIZE=$((32 * 1048576))

# qemu's --image-opts for the running server: tcp|unix
qemu_opts() {
	case "$1" in
	tcp) echo "driver=nbd,host=127.0.0.1,port=$SERVER_PORT,tls-creds=tls0" ;;
	# a unix socket has no host name to check the certificate against
	unix) echo "driver=nbd,server.type=unix,server.path=$TLS_SOCK,tls-creds=tls0,tls-hostname=localhost" ;;
	esac
}

# qio OBJECT TRANSPORT CMD...: qemu-io over TLS; fails on any error
qio() {
	local obj=$1 tr=$2 out rc=0
	shift 2
	local args=() c
	for c in "$@"; do
		args+=(-c "$c")
	done
	out=$(timeout 120 qemu-io --object "$obj" --image-opts "$(qemu_opts "$tr")" \
		"${args[@]}" 2>&1) || rc=$?
	[ "$rc" = 0 ] || fail "qemu-io over $tr exited with status $rc: $out"
	if grep -qi -e 'fail' -e 'error' -e "can't" <<<"$out"; then
		fail "qemu-io over $tr reported an error: $out"
	fi
}

# run_client LABEL OBJECT: the whole qemu client workout against the server
run_client() {
	local label=$1 obj=$2 out tr
	out=$(timeout 60 qemu-img info --object "$obj" --image-opts \
		"$(qemu_opts tcp)" 2>&1) || fail "$label: qemu-img info failed: $out"
	grep -q "virtual size: .*($SIZE bytes)" <<<"$out" ||
		fail "$label: qemu-img info: $out"
	log "$label: qemu-img info over tcp: $SIZE bytes"

	qio "$obj" tcp "write -P 0x5a 0 65536" "write -P 0xa5 1000000 3000" \
		"aio_write -P 0x11 4194304 1048576" "aio_write -P 0x22 5242880 7" \
		"aio_flush" "flush"
	qio "$obj" unix "write -P 0x33 8388608 2097152" "write -z 4194304 512"
	# fresh connections, the other transport
	qio "$obj" unix "read -P 0x5a 0 65536" "read -P 0xa5 1000000 3000" \
		"read -P 0 4194304 512" "read -P 0x11 4194816 1048064" \
		"read -P 0x22 5242880 7"
	qio "$obj" tcp "read -P 0x33 8388608 2097152"
	log "$label: qemu-io pattern writes read back over tcp and unix"

	for tr in tcp unix; do
		make_random "$T/src.img" 4
		truncate -s "$SIZE" "$T/src.img"
		timeout 120 qemu-img convert -n -f raw --object "$obj" \
			--target-image-opts "$T/src.img" "$(qemu_opts "$tr")" ||
			fail "$label: qemu-img convert into the export over $tr"
		rm -f "$T/dst.img"
		timeout 120 qemu-img convert -O raw --object "$obj" \
			--image-opts "$(qemu_opts "$tr")" "$T/dst.img" ||
			fail "$label: qemu-img convert out of the export over $tr"
		cmp "$T/src.img" "$T/dst.img" ||
			fail "$label: qemu-img round trip over $tr differs"
		rm -f "$T/dst.img"
		log "$label: qemu-img convert round trip over $tr: identical"
	done
}

# still_good LABEL OBJECT TRANSPORT: the good client reads the whole export
# and finds what the last qemu-img convert wrote
still_good() {
	rm -f "$T/dst.img"
	timeout 120 qemu-img convert -O raw --object "$2" \
		--image-opts "$(qemu_opts "$3")" "$T/dst.img" ||
		fail "$1: the good client no longer reads the export over $3"
	cmp "$T/src.img" "$T/dst.img" || fail "$1: export differs after the refusals"
	rm -f "$T/dst.img"
	log "$1: the good client still reads the export over $3 after the refusals"
}

# qemu_refused WHAT OBJECT|-: qemu-io must not open the export (- = no TLS)
qemu_refused() {
	local what=$1 obj=$2
	if [ "$obj" = - ]; then
		tls_refused "$what" qemu-io -f raw -c "read 0 512" \
			"nbd://127.0.0.1:$SERVER_PORT/"
	else
		tls_refused "$what" qemu-io --object "$obj" --image-opts \
			"$(qemu_opts tcp)" -c "read 0 512"
	fi
}

# ---- X.509 with client certificates ----
truncate -s "$SIZE" "$T/x509.img"
tls_start_server --tls require --tls-certificates "$TLS_SERVER" \
	--tls-verify-peer "$T/x509.img"
X509=tls-creds-x509,id=tls0,endpoint=client,dir=$TLS_CLIENT
run_client x509 "$X509"
qemu_refused "qemu-io without TLS against --tls require" -
qemu_refused "qemu-io without a client certificate" \
	"tls-creds-x509,id=tls0,endpoint=client,dir=$TLS_NOCERT"
qemu_refused "qemu-io with a certificate of another CA" \
	"tls-creds-x509,id=tls0,endpoint=client,dir=$TLS_ROGUE"
still_good x509 "$X509" tcp
stop_server
cmp "$T/src.img" "$T/x509.img" || fail "x509: image file differs from what qemu-img wrote"

# ---- PSK ----
truncate -s "$SIZE" "$T/psk.img"
tls_start_server --tls require --tls-psk "$TLS_PSK" "$T/psk.img"
PSK=tls-creds-psk,id=tls0,endpoint=client,dir=$TLS_QEMU_PSK,username=alice
run_client psk "$PSK"
qemu_refused "qemu-io without TLS against --tls require" -
qemu_refused "qemu-io with the wrong PSK key" \
	"tls-creds-psk,id=tls0,endpoint=client,dir=$TLS_QEMU_PSK_WRONG,username=alice"
mkdir -p "$T/qemu-mallory"
cp "$TLS_PSK_UNKNOWN" "$T/qemu-mallory/keys.psk"
qemu_refused "qemu-io as an unknown PSK user" \
	"tls-creds-psk,id=tls0,endpoint=client,dir=$T/qemu-mallory,username=mallory"
still_good psk "$PSK" unix
stop_server
cmp "$T/src.img" "$T/psk.img" || fail "psk: image file differs from what qemu-img wrote"
echo "tls_qemu: ok"
