# shellcheck shell=bash disable=SC2034 # the variables set here are for the sourcing test
# Shared TLS material for the lloop tests: a CA, a server certificate for
# 127.0.0.1/::1/localhost, a client certificate, a second unrelated CA with its
# own client certificate, PSK files, and deliberately broken variants for the
# start-up error tests.  Everything goes under $T (the test's temp dir from
# tests/interop/lib.sh, itself inside TMPDIR), so the exit trap removes it.
#
#   . "$(dirname "$0")/lib.sh"
#   . "$REPO/tests/lib/tls.sh"
#   tls_setup            # needs certtool and psktool (skips without them)
#
# Directories (the layout qemu, nbdkit and libnbd read: ca-cert.pem plus
# server-{cert,key}.pem or client-{cert,key}.pem):
#   $TLS_SERVER       ca-cert.pem server-cert.pem server-key.pem (CA 1)
#   $TLS_CLIENT       ca-cert.pem client-cert.pem client-key.pem (CA 1)
#   $TLS_NOCERT       ca-cert.pem only: trusts the server, has no certificate
#   $TLS_ROGUE        ca-cert.pem (CAs 1 and 2: trusts the server) and a
#                     client certificate signed by CA 2: refused by
#                     --tls-verify-peer
#   $TLS_WRONGCA      ca-cert.pem of CA 2 only: the client does not trust
#                     the server's certificate
#   $TLS_MISMATCH     server-cert.pem with a server-key.pem of another key
#   $TLS_NOKEY        ca-cert.pem server-cert.pem, server-key.pem missing
#   $TLS_NOCA         server-cert.pem server-key.pem, no ca-cert.pem
# PSK (psktool's USER:HEXKEY format):
#   $TLS_PSK          alice:KEY1 and bob:KEY2 (the server's file)
#   $TLS_PSK_ALICE    alice:KEY1 (a client's file)
#   $TLS_PSK_WRONGKEY alice:KEY3 (right user, wrong key)
#   $TLS_PSK_UNKNOWN  mallory:KEY1 (unknown user, a key the server knows)
#   $TLS_PSK_BAD      alice:KEY1 then a line without a colon (line 2)
#   $TLS_PSK_BADHEX   alice:not-hex (line 1)
#   $TLS_QEMU_PSK     directory with keys.psk = alice:KEY1 (qemu's layout)
#   $TLS_QEMU_PSK_WRONG directory with keys.psk = alice:KEY3

tls_certtool() {
	local out
	out=$(certtool "$@" 2>&1) || {
		printf '%s\n' "$out" >&2
		fail "certtool $* failed"
	}
}

# tls_key FILE: an ECDSA key (fast to generate, unlike RSA)
tls_key() {
	tls_certtool --generate-privkey --key-type=ecdsa --outfile "$1"
	chmod 0600 "$1"
}

# tls_ca NAME DIR: self-signed CA key and certificate in DIR
tls_ca() {
	mkdir -p "$2"
	cat >"$2/ca.info" <<EOF
cn = lloop test CA $1
ca
cert_signing_key
expiration_days = 30
EOF
	tls_key "$2/ca-key.pem"
	tls_certtool --generate-self-signed --load-privkey "$2/ca-key.pem" \
		--template "$2/ca.info" --outfile "$2/ca-cert.pem"
}

# tls_cert CADIR KIND(server|client) KEY CERT CN
tls_cert() {
	local info=$T/tls/$2-$5.info
	{
		echo "cn = $5"
		echo "expiration_days = 30"
		if [ "$2" = server ]; then
			echo 'dns_name = "localhost"'
			echo 'ip_address = "127.0.0.1"'
			echo 'ip_address = "::1"'
			echo "tls_www_server"
		else
			echo "tls_www_client"
		fi
		echo "signing_key"
		echo "encryption_key"
	} >"$info"
	tls_key "$3"
	tls_certtool --generate-certificate --load-privkey "$3" \
		--load-ca-certificate "$1/ca-cert.pem" \
		--load-ca-privkey "$1/ca-key.pem" \
		--template "$info" --outfile "$4"
}

# tls_psk FILE USER: a new random key for USER appended to FILE
tls_psk() {
	local out
	out=$(psktool -u "$2" -p "$1" 2>&1) || {
		printf '%s\n' "$out" >&2
		fail "psktool -u $2 -p $1 failed"
	}
	chmod 0600 "$1"
}

tls_setup() {
	need certtool psktool
	local d=$T/tls
	mkdir -p "$d"
	TLS_DIR=$d
	tls_ca 1 "$d/ca1"
	tls_ca 2 "$d/ca2"

	TLS_SERVER=$d/server
	mkdir -p "$TLS_SERVER"
	cp "$d/ca1/ca-cert.pem" "$TLS_SERVER/"
	tls_cert "$d/ca1" server "$TLS_SERVER/server-key.pem" \
		"$TLS_SERVER/server-cert.pem" localhost

	TLS_CLIENT=$d/client
	mkdir -p "$TLS_CLIENT"
	cp "$d/ca1/ca-cert.pem" "$TLS_CLIENT/"
	tls_cert "$d/ca1" client "$TLS_CLIENT/client-key.pem" \
		"$TLS_CLIENT/client-cert.pem" client.lloop.test

	TLS_NOCERT=$d/nocert
	mkdir -p "$TLS_NOCERT"
	cp "$d/ca1/ca-cert.pem" "$TLS_NOCERT/"

	# trusts both CAs: CA 1 to accept the server, CA 2 because qemu
	# checks its own certificate against ca-cert.pem before connecting
	TLS_ROGUE=$d/rogue
	mkdir -p "$TLS_ROGUE"
	cat "$d/ca1/ca-cert.pem" "$d/ca2/ca-cert.pem" >"$TLS_ROGUE/ca-cert.pem"
	tls_cert "$d/ca2" client "$TLS_ROGUE/client-key.pem" \
		"$TLS_ROGUE/client-cert.pem" rogue.lloop.test

	TLS_WRONGCA=$d/wrongca
	mkdir -p "$TLS_WRONGCA"
	cp "$d/ca2/ca-cert.pem" "$TLS_WRONGCA/"

	TLS_MISMATCH=$d/mismatch
	mkdir -p "$TLS_MISMATCH"
	cp "$TLS_SERVER/ca-cert.pem" "$TLS_SERVER/server-cert.pem" "$TLS_MISMATCH/"
	tls_key "$TLS_MISMATCH/server-key.pem"

	TLS_NOKEY=$d/nokey
	mkdir -p "$TLS_NOKEY"
	cp "$TLS_SERVER/ca-cert.pem" "$TLS_SERVER/server-cert.pem" "$TLS_NOKEY/"

	TLS_NOCA=$d/noca
	mkdir -p "$TLS_NOCA"
	cp "$TLS_SERVER/server-cert.pem" "$TLS_SERVER/server-key.pem" "$TLS_NOCA/"

	TLS_PSK=$d/server.psk
	TLS_PSK_ALICE=$d/alice.psk
	TLS_PSK_WRONGKEY=$d/alice-wrong.psk
	TLS_PSK_UNKNOWN=$d/mallory.psk
	TLS_PSK_BAD=$d/bad.psk
	TLS_PSK_BADHEX=$d/badhex.psk
	tls_psk "$TLS_PSK_ALICE" alice
	tls_psk "$d/bob.psk" bob
	tls_psk "$TLS_PSK_WRONGKEY" alice
	cat "$TLS_PSK_ALICE" "$d/bob.psk" >"$TLS_PSK"
	sed 's/^alice:/mallory:/' "$TLS_PSK_ALICE" >"$TLS_PSK_UNKNOWN"
	{
		cat "$TLS_PSK_ALICE"
		echo "this line has no colon"
	} >"$TLS_PSK_BAD"
	echo "alice:not-hex" >"$TLS_PSK_BADHEX"
	chmod 0600 "$d"/*.psk
	# the keys must differ, or the wrong-key test proves nothing
	[ "$(cut -d: -f2 "$TLS_PSK_ALICE")" != "$(cut -d: -f2 "$TLS_PSK_WRONGKEY")" ] ||
		fail "psktool made the same key twice"

	TLS_QEMU_PSK=$d/qemu-psk
	TLS_QEMU_PSK_WRONG=$d/qemu-psk-wrong
	mkdir -p "$TLS_QEMU_PSK" "$TLS_QEMU_PSK_WRONG"
	cp "$TLS_PSK_ALICE" "$TLS_QEMU_PSK/keys.psk"
	cp "$TLS_PSK_WRONGKEY" "$TLS_QEMU_PSK_WRONG/keys.psk"
	log "TLS material in $d (CA, server, client, rogue client, PSK files)"
}

# tls_start_server ARGS...: lloop listening on a free TCP port of 127.0.0.1
# AND on a unix socket in $T.  Sets SERVER_PID, SERVER_LOG, SERVER_PORT and
# TLS_SOCK (SERVER_SOCK stays empty, so lib.sh's nbd_uri gives the TCP URI).
tls_start_server() {
	[ -z "$SERVER_PID" ] || fail "tls_start_server: a server is already running"
	local rc
	TLS_SOCK=$T/tls$((SERVER_SEQ + 1)).sock
	for _ in 1 2 3 4 5; do
		SERVER_PORT=$(free_port 4)
		rc=0
		_launch --listen "tcp://127.0.0.1:$SERVER_PORT" \
			--listen "unix:$TLS_SOCK" -- "$@" || rc=$?
		[ "$rc" = 2 ] || break
	done
	[ "$rc" = 0 ] || fail "could not find a free port"
	SERVER_SOCK=
	SERVER_URI=nbd://127.0.0.1:$SERVER_PORT/
	log "server pid $SERVER_PID on tcp://127.0.0.1:$SERVER_PORT and unix:$TLS_SOCK: $*"
}

# URIs of the server started by tls_start_server.  libnbd takes the PSK
# username from the authority part (alice@).
#   tls_uri_plain tcp|unix [EXPORT]
#   tls_uri_x509  tcp|unix DIR [EXPORT]
#   tls_uri_psk   tcp|unix FILE USER [EXPORT]
tls_uri_plain() {
	case "$1" in
	tcp) echo "nbd://127.0.0.1:$SERVER_PORT/${2:-}" ;;
	unix) echo "nbd+unix:///${2:-}?socket=$TLS_SOCK" ;;
	*) fail "tls_uri_plain: transport '$1'" ;;
	esac
}

tls_uri_x509() {
	case "$1" in
	tcp) echo "nbds://127.0.0.1:$SERVER_PORT/${3:-}?tls-certificates=$2" ;;
	unix) echo "nbds+unix:///${3:-}?socket=$TLS_SOCK&tls-certificates=$2" ;;
	*) fail "tls_uri_x509: transport '$1'" ;;
	esac
}

tls_uri_psk() {
	case "$1" in
	tcp) echo "nbds://$3@127.0.0.1:$SERVER_PORT/${4:-}?tls-psk-file=$2" ;;
	unix) echo "nbds+unix://$3@/${4:-}?socket=$TLS_SOCK&tls-psk-file=$2" ;;
	*) fail "tls_uri_psk: transport '$1'" ;;
	esac
}

# tls_nbdinfo URI EXPECTED_SIZE: nbdinfo connects, negotiated TLS, and
# reports the size
tls_nbdinfo() {
	local out
	out=$(timeout 60 nbdinfo --json "$1" 2>&1) ||
		fail "nbdinfo $1 failed: $out"
	"$PY" -c '
import json, sys
j = json.loads(sys.argv[1])
assert j["TLS"] is True, "nbdinfo: TLS not negotiated"
size = j["exports"][0]["export-size"]
assert size == int(sys.argv[2]), "nbdinfo: size %d, expected %s" % (size, sys.argv[2])
' "$out" "$2" || fail "nbdinfo $1: unexpected answer: $out"
	log "nbdinfo over TLS: $1"
}

# tls_nbdsh URI write|check OFFSET SEED: with nbdsh (libnbd), over TLS
# (get_tls_negotiated), write (or only check) a 2 MiB request, then 64 aio
# writes of 64 KiB in flight at once, each read back; "check" reads back what
# a "write" with the same OFFSET and SEED wrote, on a fresh connection.
tls_nbdsh() {
	local out
	out=$(URI=$1 MODE=$2 OFF=$3 SEED=$4 PATH=/usr/bin:$PATH timeout 120 nbdsh -c '
import os, random
h.set_uri_allow_local_file(True)
h.connect_uri(os.environ["URI"])
assert h.get_tls_negotiated(), "TLS not negotiated"
off = int(os.environ["OFF"])
rnd = random.Random(int(os.environ["SEED"]))
big = rnd.randbytes(2 << 20)
small = [rnd.randbytes(65536) for _ in range(64)]
base = off + len(big)
if os.environ["MODE"] == "write":
    h.pwrite(big, off)
    cookies = [h.aio_pwrite(b, base + i * 65536)
               for i, b in enumerate(small)]
    while h.aio_in_flight() > 0:
        h.poll(-1)
    for c in cookies:
        assert h.aio_command_completed(c)
    h.flush()
assert h.pread(len(big), off) == big, "2 MiB read back differs"
bufs = [nbd.Buffer(65536) for _ in small]
cookies = [h.aio_pread(b, base + i * 65536) for i, b in enumerate(bufs)]
while h.aio_in_flight() > 0:
    h.poll(-1)
for i, c in enumerate(cookies):
    assert h.aio_command_completed(c)
    assert bufs[i].to_bytearray() == small[i], "aio read %d differs" % i
h.shutdown()
print("nbdsh ok")
' 2>&1) || fail "nbdsh $2 over $1: $out"
	log "nbdsh $2 at $3 (2 MiB + 64 x 64 KiB in flight) over $1"
}

# tls_nbdcopy URI SIZE_MIB: random data to the export at offset 0 and back,
# compared with cmp; leaves the data in $T/nbdcopy.in
tls_nbdcopy() {
	make_random "$T/nbdcopy.in" "$2"
	timeout 120 nbdcopy "$T/nbdcopy.in" "$1" ||
		fail "nbdcopy file -> $1 failed"
	rm -f "$T/nbdcopy.out"
	timeout 120 nbdcopy "$1" "$T/nbdcopy.out" ||
		fail "nbdcopy $1 -> file failed"
	cmp -n "$(($2 * 1048576))" "$T/nbdcopy.in" "$T/nbdcopy.out" ||
		fail "nbdcopy round trip over $1 differs"
	rm -f "$T/nbdcopy.out"
	log "nbdcopy round trip of $2 MiB over $1: identical"
}

# tls_refused WHAT CMD...: CMD must fail (not hang); its output is shown
tls_refused() {
	local what=$1 out rc=0
	shift
	out=$(timeout 60 "$@" 2>&1) || rc=$?
	printf '%s\n' "$out" | head -n 6 | sed 's/^/    | /'
	[ "$rc" != 0 ] || fail "$what: accepted, expected a refusal ($*)"
	[ "$rc" != 124 ] || fail "$what: the client hung for 60 s instead of being refused"
	TLS_REFUSED_OUT=$out
	log "$what: refused (exit $rc)"
}
