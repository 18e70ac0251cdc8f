#!/bin/bash
# What TLS must refuse, each while the good client goes on working on the
# same server: plaintext clients under --tls require (libnbd, and raw option
# by option: NBD_REP_ERR_TLS_REQD; EXPORT_NAME: disconnect), a client without
# a certificate and one with a certificate of another CA under
# --tls-verify-peer (the server logs it), a client that does not trust the
# server's CA, the wrong PSK key, an unknown PSK user, an X.509 client of a
# PSK-only server.  STARTTLS is NBD_REP_ERR_UNSUP with --tls off and
# NBD_REP_ERR_INVALID once TLS is up; --tls on serves both; --tls-priority
# takes effect.  Last, the start-up errors: one line naming the file.
. "$(dirname "$0")/lib.sh"
. "$REPO/tests/lib/tls.sh"
need nbdinfo nbdsh
need_pynbd
describe "TLS refusals (plaintext, certificates, PSK), STARTTLS rules, start-up errors"
tls_setup
"$PY" -c 'import ssl' 2>/dev/null || skip "$PY has no ssl module"

# ---- a raw client: option by option, then STARTTLS with Python's ssl ----
cat >"$T/tlsraw.py" <<'PYEOF'
import socket, ssl, struct, sys
sys.path.insert(0, sys.argv[1])
import nbdraw as n

OPT_STARTTLS, OPT_LIST_META, OPT_SET_META = 5, 9, 10
ERR_TLS_REQD = 0x80000005
port, case = int(sys.argv[2]), sys.argv[3]
args = sys.argv[4:]


def conn():
    s = n.connect(("127.0.0.1", port), timeout=30)
    n.greet(s)
    return s


def opt(s, o, data=b""):
    s.sendall(n.option(o, data))
    ropt, rtype, payload = n.recv_option_reply(s)
    assert ropt == o, "reply for option %d to option %d" % (ropt, o)
    return rtype, payload


def starttls(s, certdir, version=None, cert=True):
    rtype, _ = opt(s, OPT_STARTTLS)
    assert rtype == n.REP_ACK, "STARTTLS: reply 0x%x, expected ACK" % rtype
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certdir + "/ca-cert.pem")
    if cert:
        ctx.load_cert_chain(certdir + "/client-cert.pem",
                            certdir + "/client-key.pem")
    if version == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    t = ctx.wrap_socket(s, server_hostname="127.0.0.1")
    return t


def read_works(s):
    info = n.go(s)
    assert isinstance(info, dict), "GO over TLS refused: 0x%x" % info
    s.sendall(n.request(n.CMD_READ, 7, 0, 4096))
    err, cookie = n.read_simple_reply(s)
    assert err == 0 and cookie == 7, (err, cookie)
    n.recv_exact(s, 4096)
    return info


if case == "require":
    # every option but STARTTLS and ABORT: NBD_REP_ERR_TLS_REQD, and the
    # connection stays usable for the next option
    s = conn()
    for o, data in ((n.OPT_LIST, b""), (n.OPT_INFO, n.go_data()),
                    (n.OPT_GO, n.go_data()), (n.OPT_STRUCTURED_REPLY, b""),
                    (OPT_LIST_META, struct.pack(">II", 0, 0)),
                    (OPT_SET_META, struct.pack(">II", 0, 0)),
                    (99, b"")):
        rtype, _ = opt(s, o, data)
        assert rtype == ERR_TLS_REQD, \
            "option %d before TLS: reply 0x%x, expected TLS_REQD" % (o, rtype)
        print("option %d before TLS: NBD_REP_ERR_TLS_REQD" % o)
    # EXPORT_NAME cannot be answered with an error: disconnect, no data
    s.sendall(n.option(n.OPT_EXPORT_NAME, b""))
    assert n.closed_by_peer(s, 30), "EXPORT_NAME before TLS: not disconnected"
    print("EXPORT_NAME before TLS: disconnected")
    # ABORT: an ACK (or a plain close), never a hang
    s = conn()
    s.sendall(n.option(n.OPT_ABORT))
    s.settimeout(30)
    data = s.recv(20)
    if data:
        magic, o, rtype, ln = struct.unpack(">QIII", data)
        assert rtype == n.REP_ACK, "ABORT: reply 0x%x" % rtype
    print("ABORT before TLS: %s" % ("ACK" if data else "closed"))
    # STARTTLS with a payload is invalid (NBD spec)
    s = conn()
    rtype, _ = opt(s, OPT_STARTTLS, b"xx")
    assert rtype == n.REP_ERR_INVALID, "STARTTLS with data: 0x%x" % rtype
    print("STARTTLS with data: NBD_REP_ERR_INVALID")
    # then the real thing; a second STARTTLS inside TLS is invalid
    t = starttls(s, args[0])
    print("TLS up: %s %s" % (t.version(), t.cipher()[0]))
    rtype, _ = opt(t, OPT_STARTTLS)
    assert rtype == n.REP_ERR_INVALID, "second STARTTLS: 0x%x" % rtype
    print("STARTTLS inside TLS: NBD_REP_ERR_INVALID")
    read_works(t)
    print("GO and READ over TLS: ok")
elif case == "version":
    # args: certdir expected-version [max 1.2]
    t = starttls(conn(), args[0], args[2] if len(args) > 2 else None)
    assert t.version() == args[1], "TLS %s, expected %s" % (t.version(), args[1])
    read_works(t)
    print("negotiated %s, GO and READ ok" % t.version())
elif case == "refused-version":
    # the server must not accept a client that only speaks TLS 1.2
    try:
        t = starttls(conn(), args[0], "1.2")
        read_works(t)
    except (ssl.SSLError, OSError, EOFError, AssertionError) as e:
        print("TLS 1.2 client refused: %s" % e)
    else:
        raise AssertionError("a TLS 1.2 client got in (%s)" % t.version())
elif case == "refused-cert":
    # OpenSSL sends its certificate even when the server's list of CAs does
    # not name its issuer (GnuTLS clients then send none): the server itself
    # must reject a certificate of another CA
    try:
        t = starttls(conn(), args[0])
        read_works(t)
    except (ssl.SSLError, OSError, EOFError, AssertionError) as e:
        print("certificate of another CA refused: %s" % e)
    else:
        raise AssertionError("a client certificate of another CA got in")
elif case == "garbage":
    # after the ACK to STARTTLS: a plaintext option where the ClientHello
    # belongs, other junk, a record header too long; then a client that hangs up in the middle
    # of the TLS handshake.  Each is closed by the server (which runs with
    # --handshake-timeout 0), without plaintext leaking out.
    import os
    for what, junk in (("a plaintext option", n.option(n.OPT_GO, n.go_data())),
                       # not random: a first byte of 0x16 or above 0x7f
                       # is a record (or SSLv2) header, and the server
                       # rightly waits for the rest of that record
                       ("zero bytes", bytes(1024)),
                       ("an HTTP request", b"GET / HTTP/1.1\r\n\r\n"),
                       ("a TLS record of 64 KiB", b"\x16\x03\x03\xff\xff" +
                        os.urandom(512))):
        s = conn()
        rtype, _ = opt(s, OPT_STARTTLS)
        assert rtype == n.REP_ACK, "STARTTLS: 0x%x" % rtype
        s.sendall(junk)
        s.settimeout(30)
        got = b""
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                got += d
        except ConnectionResetError:
            pass
        except socket.timeout:
            raise AssertionError("%s instead of a ClientHello: not closed" % what)
        # a TLS alert record at most, never an NBD reply
        assert not got or got[0] == 0x15, \
            "%s instead of a ClientHello: server sent %r" % (what, got[:32])
        print("%s instead of a ClientHello: closed (%d bytes of alert)" % (
            what, len(got)))
    s = conn()
    opt(s, OPT_STARTTLS)
    s.sendall(b"\x16\x03\x01\x00\x30")
    n.close_reset(s)
    print("a client resetting mid-handshake: done")
elif case == "off":
    s = conn()
    rtype, _ = opt(s, OPT_STARTTLS)
    assert rtype == n.REP_ERR_UNSUP, "STARTTLS with --tls off: 0x%x" % rtype
    print("STARTTLS with --tls off: NBD_REP_ERR_UNSUP")
    read_works(s)
    print("the same connection goes on in plaintext: ok")
elif case == "on":
    read_works(conn())
    print("--tls on: plaintext GO and READ ok")
    t = starttls(conn(), args[0])
    read_works(t)
    print("--tls on: STARTTLS (%s), GO and READ ok" % t.version())
else:
    raise SystemExit("unknown case " + case)
PYEOF

raw() {
	timeout 120 "$PY" "$T/tlsraw.py" "$REPO/tests/lib" "$SERVER_PORT" "$@" ||
		fail "raw client: $*"
}

# server_refused WHAT PATTERN CMD...: CMD refused, and the server logged a
# new line matching PATTERN (grep -Ei): proof that the server refused, not
# only the client
server_refused() {
	local what=$1 pat=$2 before after
	shift 2
	before=$(grep -Eic "$pat" "$SERVER_LOG" || :)
	tls_refused "$what" "$@"
	for _ in $(seq 50); do
		after=$(grep -Eic "$pat" "$SERVER_LOG" || :)
		[ "$after" -gt "$before" ] && break
		sleep 0.1
	done
	[ "$after" -gt "$before" ] ||
		fail "$what: no server log line matching '$pat'"
	log "$what: server log: $(grep -Ei "$pat" "$SERVER_LOG" | tail -n 1)"
}

IMG=$T/disk.img
truncate -s 16M "$IMG"

# ---- X.509 with --tls-verify-peer ----
# no handshake timeout: every refusal below must come from the server's
# checks, not from a timer
tls_start_server --tls require --tls-certificates "$TLS_SERVER" \
	--tls-verify-peer --handshake-timeout 0 "$IMG"
GOOD_TCP=$(tls_uri_x509 tcp "$TLS_CLIENT")
GOOD_UNIX=$(tls_uri_x509 unix "$TLS_CLIENT")
tls_nbdsh "$GOOD_TCP" write 0 21

tls_refused "plaintext nbdinfo over tcp against --tls require" \
	nbdinfo "$(tls_uri_plain tcp)"
grep -qi 'tls' <<<"$TLS_REFUSED_OUT" ||
	fail "the plaintext refusal does not say TLS is required"
tls_refused "plaintext nbdinfo over unix against --tls require" \
	nbdinfo "$(tls_uri_plain unix)"
tls_nbdinfo "$GOOD_UNIX" $((16 << 20))
raw require "$TLS_CLIENT"
server_refused "client without a certificate (tcp)" 'tls|certificate|handshake' \
	nbdinfo "$(tls_uri_x509 tcp "$TLS_NOCERT")"
server_refused "client without a certificate (unix)" 'tls|certificate|handshake' \
	nbdinfo "$(tls_uri_x509 unix "$TLS_NOCERT")"
server_refused "client certificate of another CA" 'tls|certificate|handshake' \
	nbdinfo "$(tls_uri_x509 tcp "$TLS_ROGUE")"
before=$(grep -Eic 'tls|certificate|handshake' "$SERVER_LOG" || :)
raw refused-cert "$TLS_ROGUE"
sleep 0.5
[ "$(grep -Eic 'tls|certificate|handshake' "$SERVER_LOG" || :)" -gt "$before" ] ||
	fail "certificate of another CA: no server log line"
log "certificate of another CA (sent by OpenSSL): server log:" \
	"$(grep -Ei 'tls|certificate|handshake' "$SERVER_LOG" | tail -n 1)"
raw garbage
tls_refused "client that does not trust the server's CA" \
	nbdinfo "$(tls_uri_x509 tcp "$TLS_WRONGCA")"
tls_refused "PSK client against an X.509-only server" \
	nbdinfo "$(tls_uri_psk tcp "$TLS_PSK_ALICE" alice)"
tls_nbdsh "$GOOD_UNIX" check 0 21
log "the good client still reads back its data after the refusals"
stop_server

# ---- PSK ----
tls_start_server --tls require --tls-psk "$TLS_PSK" "$IMG"
GOOD=$(tls_uri_psk tcp "$TLS_PSK_ALICE" alice)
tls_nbdsh "$GOOD" write $((4 << 20)) 22
server_refused "wrong PSK key (tcp)" 'tls|psk|handshake|key' \
	nbdinfo "$(tls_uri_psk tcp "$TLS_PSK_WRONGKEY" alice)"
server_refused "wrong PSK key (unix)" 'tls|psk|handshake|key' \
	nbdinfo "$(tls_uri_psk unix "$TLS_PSK_WRONGKEY" alice)"
server_refused "unknown PSK user" 'tls|psk|handshake|user|mallory' \
	nbdinfo "$(tls_uri_psk tcp "$TLS_PSK_UNKNOWN" mallory)"
tls_refused "X.509 client against a PSK-only server" \
	nbdinfo "$(tls_uri_x509 tcp "$TLS_CLIENT")"
tls_refused "plaintext nbdinfo against --tls require (PSK)" \
	nbdinfo "$(tls_uri_plain tcp)"
tls_nbdsh "$(tls_uri_psk unix "$TLS_PSK_ALICE" alice)" check $((4 << 20)) 22
log "the good PSK client still reads back its data after the refusals"
stop_server

# ---- --tls off / on, --tls-priority ----
start_server "$IMG"
raw off
tls_refused "nbds:// against --tls off" nbdinfo "$(tls_uri_x509 tcp "$TLS_CLIENT")"
stop_server

start_server --tls on --tls-certificates "$TLS_SERVER" "$IMG"
raw on "$TLS_CLIENT"
# TLS 1.3 preferred, 1.2 still accepted
raw version "$TLS_CLIENT" TLSv1.3
raw version "$TLS_CLIENT" TLSv1.2 1.2
stop_server

start_server --tls require --tls-certificates "$TLS_SERVER" \
	--tls-priority "NORMAL:-VERS-ALL:+VERS-TLS1.2" "$IMG"
raw version "$TLS_CLIENT" TLSv1.2
stop_server
start_server --tls require --tls-certificates "$TLS_SERVER" \
	--tls-priority "NORMAL:-VERS-ALL:+VERS-TLS1.3" "$IMG"
raw refused-version "$TLS_CLIENT"
raw version "$TLS_CLIENT" TLSv1.3
stop_server
log "--tls-priority decides the TLS version"

# ---- start-up errors ----
# startup_error WHAT PATTERN ARGS...: lloop serve ARGS exits 1 or 2 at once,
# printing a line that holds PATTERN (F:fixed string, E:extended regex,
# case-insensitive), and no more than 2 lines that are not warnings
startup_error() {
	local what=$1 pat=$2 out rc=0 port nlines
	shift 2
	port=$(free_port 4)
	out=$(timeout 30 "$LLOOP" serve --engine "$LLOOP_ENGINE" \
		--listen "tcp://127.0.0.1:$port" --pidfile "$T/bad.pid" \
		"$@" 2>&1 </dev/null) || rc=$?
	rm -f "$T/bad.pid"
	printf '%s\n' "$out" | sed 's/^/    | /'
	case "$rc" in
	1 | 2) ;;
	0 | 124) fail "$what: the server started (exit $rc): lloop serve $*" ;;
	*) fail "$what: exit status $rc, expected 1 or 2" ;;
	esac
	case "$pat" in
	F:*) grep -qiF -- "${pat#F:}" <<<"$out" ||
		fail "$what: the message does not name '${pat#F:}'" ;;
	E:*) grep -qiE -- "${pat#E:}" <<<"$out" ||
		fail "$what: the message does not match '${pat#E:}'" ;;
	esac
	nlines=$(grep -v -i 'warning' <<<"$out" | grep -c . || :)
	[ "$nlines" -le 2 ] || fail "$what: $nlines lines of error, expected one"
	log "$what: exit $rc, message names it"
}

startup_error "--tls require without certificates or PSK" E:'tls' \
	--tls require memory:1M
startup_error "--tls on without certificates or PSK" E:'tls' \
	--tls on memory:1M
startup_error "--tls with a bad value" E:'tls' --tls sometimes memory:1M
startup_error "--tls-certificates: no such directory" F:"$T/nonexistent" \
	--tls require --tls-certificates "$T/nonexistent" memory:1M
startup_error "--tls-certificates: server-key.pem missing" \
	F:"$TLS_NOKEY/server-key.pem" \
	--tls require --tls-certificates "$TLS_NOKEY" memory:1M
mkdir -p "$T/garbage" "$T/keydir"
cp "$TLS_SERVER"/*.pem "$T/garbage/"
echo "not a certificate" >"$T/garbage/server-cert.pem"
startup_error "--tls-certificates: server-cert.pem is not a certificate" \
	F:"$T/garbage/server-cert.pem" \
	--tls require --tls-certificates "$T/garbage" memory:1M
cp "$TLS_SERVER/ca-cert.pem" "$TLS_SERVER/server-cert.pem" "$T/keydir/"
mkdir "$T/keydir/server-key.pem"
startup_error "--tls-certificates: server-key.pem unreadable (a directory)" \
	F:"$T/keydir/server-key.pem" \
	--tls require --tls-certificates "$T/keydir" memory:1M
startup_error "--tls-certificates: key does not match the certificate" \
	E:"$TLS_MISMATCH/server-(key|cert)\.pem" \
	--tls require --tls-certificates "$TLS_MISMATCH" memory:1M
startup_error "--tls-verify-peer without ca-cert.pem" F:"$TLS_NOCA/ca-cert.pem" \
	--tls require --tls-certificates "$TLS_NOCA" --tls-verify-peer memory:1M
startup_error "--tls-psk: no such file" F:"$T/nonexistent.psk" \
	--tls require --tls-psk "$T/nonexistent.psk" memory:1M
startup_error "--tls-psk: a line without a colon" F:"$TLS_PSK_BAD:2:" \
	--tls require --tls-psk "$TLS_PSK_BAD" memory:1M
startup_error "--tls-psk: a key that is not hex" F:"$TLS_PSK_BADHEX:1:" \
	--tls require --tls-psk "$TLS_PSK_BADHEX" memory:1M
startup_error "--tls-priority: a bad priority string" F:"tls-priority" \
	--tls require --tls-certificates "$TLS_SERVER" \
	--tls-priority "NO-SUCH-PRIORITY:+NONSENSE" memory:1M

# ca-cert.pem is needed only with --tls-verify-peer
start_server --tls require --tls-certificates "$TLS_NOCA" memory:1M
tls_nbdinfo "$(tls_uri_x509 tcp "$TLS_NOCERT")" 1048576
stop_server
echo "tls_refusals: ok"
