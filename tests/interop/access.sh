#!/bin/bash
# lloop-test: engine-independent
# Access control: --allow CIDR refuses TCP peers outside every range before
# the handshake (closed without a greeting, a log line naming the peer), IPv4
# and IPv6, unix-socket clients unaffected; bad CIDRs are start-up errors.
# Unix sockets are 0600 whatever the umask, --socket-mode and --socket-group
# change that.  NAME=PATH:ro makes that export read-only, the others stay
# writable.  A listener on a non-loopback address without --tls require
# prints a warning naming it (the test listens on 0.0.0.0 but connects only
# to 127.0.0.1).
. "$(dirname "$0")/lib.sh"
. "$REPO/tests/lib/tls.sh"
need nbdinfo qemu-io cmp stat
describe "--allow, unix socket modes, per-export :ro, the non-loopback warning"

HAVE6=1
"$PY" -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' \
	2>/dev/null || HAVE6=0

# no_greeting HOST PORT: the server closes the connection without a byte
no_greeting() {
	"$PY" - "$1" "$2" <<'PYEOF' || fail "$1 port $2: the refused peer got data"
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(20)
s.connect((host, port))
try:
    data = s.recv(18)
except ConnectionResetError:
    data = b""
except socket.timeout:
    raise SystemExit("no close within 20 s")
if data:
    raise SystemExit("got %r instead of a close" % data)
print("%s: closed before the greeting" % host)
PYEOF
}

# refused_logged PEER: a server log line names PEER as refused
refused_logged() {
	local line
	for _ in $(seq 50); do
		line=$(grep -F -- "$1" "$SERVER_LOG" |
			grep -Ei 'refus|allow|denied|reject|not permitted' |
			grep -v 'listening' | tail -n 1) || :
		[ -z "$line" ] || break
		sleep 0.1
	done
	[ -n "$line" ] || fail "no log line naming the refused peer $1"
	log "log: $line"
}

size_is() {
	local out
	out=$(timeout 60 nbdinfo --size "$1" 2>&1) || fail "nbdinfo $1: $out"
	assert_eq "$out" "$2" "size via $1"
}

# ---- --allow ----
sock=$T/allow.sock
p4=$(free_port)
start_server_raw --listen "tcp://127.0.0.1:$p4" --listen "unix:$sock" \
	--allow 10.0.0.0/8 memory:16M
no_greeting 127.0.0.1 "$p4"
refused_logged 127.0.0.1
tls_refused "nbdinfo from 127.0.0.1 with --allow 10.0.0.0/8" \
	nbdinfo "nbd://127.0.0.1:$p4/"
size_is "nbd+unix:///?socket=$sock" 16777216
log "the unix socket is not subject to --allow"
stop_server

if [ "$HAVE6" = 1 ]; then
	p4=$(free_port)
	p6=$(free_port 6)
	start_server_raw --listen "tcp://127.0.0.1:$p4" --listen "tcp://[::1]:$p6" \
		--allow 127.0.0.1/32 --allow ::1/128 memory:16M
	size_is "nbd://127.0.0.1:$p4/" 16777216
	size_is "nbd://[::1]:$p6/" 16777216
	qemu-io -f raw -c "write -P 0x6b 4096 8192" "nbd://[::1]:$p6/" >/dev/null ||
		fail "qemu-io write over ::1 with --allow ::1/128"
	qemu-io -f raw -c "read -P 0x6b 4096 8192" "nbd://127.0.0.1:$p4/" |
		grep -q '^read 8192/8192' || fail "read back over 127.0.0.1"
	log "--allow 127.0.0.1/32 --allow ::1/128: both accepted, data shared"
	stop_server

	# the prefix length counts; an IPv4 range does not admit ::1
	p4=$(free_port)
	p6=$(free_port 6)
	start_server_raw --listen "tcp://127.0.0.1:$p4" --listen "tcp://[::1]:$p6" \
		--allow 127.0.0.0/8 --allow ::2/128 memory:16M
	size_is "nbd://127.0.0.1:$p4/" 16777216
	no_greeting ::1 "$p6"
	refused_logged ::1
	size_is "nbd://127.0.0.1:$p4/" 16777216
	log "--allow 127.0.0.0/8 --allow ::2/128: 127.0.0.1 in, ::1 out"
	stop_server
else
	echo "IPv6 part skipped: no IPv6 loopback (::1) on this machine"
fi

p4=$(free_port)
start_server_raw --listen "tcp://127.0.0.1:$p4" --allow 127.0.0.2/32 \
	--allow 10.0.0.0/8 memory:16M
no_greeting 127.0.0.1 "$p4"
refused_logged 127.0.0.1
stop_server
log "--allow 127.0.0.2/32: 127.0.0.1 refused"

# bad ranges are start-up errors naming the value
for bad in 10.0.0.0/33 300.1.2.3/8 ::1/129 banana 10.0.0.0/; do
	rc=0
	out=$(timeout 30 "$LLOOP" serve --listen "tcp://127.0.0.1:$(free_port)" \
		--allow "$bad" memory:1M 2>&1 </dev/null) || rc=$?
	echo "    | $out"
	case "$rc" in
	1 | 2) ;;
	*) fail "--allow $bad: exit status $rc, expected 1 or 2" ;;
	esac
	grep -qF -- "$bad" <<<"$out" || fail "--allow $bad: the message does not name it"
done
log "bad --allow values refused at start-up"

# ---- unix socket permissions ----
sock_mode() {
	[ -S "$1" ] || fail "$1 is not a socket"
	stat -c %a "$1"
}
old_umask=$(umask)
umask 0000 # the server must not rely on the umask
start_server_unix memory:1M
assert_eq "$(sock_mode "$SERVER_SOCK")" 600 "default socket mode (umask 0000)"
stop_server
umask "$old_umask"
start_server_unix memory:1M
assert_eq "$(sock_mode "$SERVER_SOCK")" 600 "default socket mode (umask $old_umask)"
size_is "$SERVER_URI" 1048576
stop_server
start_server_unix --socket-mode 0660 memory:1M
assert_eq "$(sock_mode "$SERVER_SOCK")" 660 "--socket-mode 0660"
size_is "$SERVER_URI" 1048576
stop_server
# a group root is not in by default, so the change is visible
if getent group disk >/dev/null; then
	grp=disk
else
	grp=$(getent group | awk -F: '$3 != 0 { print $1; exit }')
fi
[ -n "$grp" ] || fail "no group other than root on this machine"
start_server_unix --socket-mode 0660 --socket-group "$grp" memory:1M
assert_eq "$(stat -c %G "$SERVER_SOCK")" "$grp" "--socket-group $grp"
assert_eq "$(sock_mode "$SERVER_SOCK")" 660 "--socket-mode with --socket-group"
size_is "$SERVER_URI" 1048576
stop_server
log "unix sockets: 0600 by default, --socket-mode 0660, --socket-group $grp"
for bad in "--socket-group no-such-group-lloop" "--socket-mode 9999" "--socket-mode rw"; do
	rc=0
	# shellcheck disable=SC2086 # option and value split on purpose
	out=$(timeout 30 "$LLOOP" serve --listen "unix:$T/bad.sock" $bad memory:1M \
		2>&1 </dev/null) || rc=$?
	echo "    | $out"
	case "$rc" in
	1 | 2) ;;
	*) fail "$bad: exit status $rc, expected 1 or 2" ;;
	esac
	grep -qF -- "${bad#* }" <<<"$out" || fail "$bad: the message does not name it"
	rm -f "$T/bad.sock"
done
log "bad --socket-group / --socket-mode refused at start-up"

# ---- per-export read-only ----
make_random "$T/ro.img" 4
make_random "$T/rw.img" 4
cp "$T/rw.img" "$T/rw.orig"
cp "$T/ro.img" "$T/ro.orig"
start_server "ro=$T/ro.img:ro" "rw=$T/rw.img"
ro_flag() {
	timeout 60 nbdinfo --json "nbd://127.0.0.1:$SERVER_PORT/$1" |
		"$PY" -c 'import json, sys; print(json.load(sys.stdin)["exports"][0]["is_read_only"])'
}
assert_eq "$(ro_flag ro)" True "ro export: is_read_only"
assert_eq "$(ro_flag rw)" False "rw export: is_read_only"
rc=0
out=$(timeout 60 qemu-io -f raw -c "write -P 0x99 0 65536" \
	"nbd://127.0.0.1:$SERVER_PORT/ro" 2>&1) || rc=$?
echo "    | $out"
if [ "$rc" = 0 ] && ! grep -qi -e 'error' -e 'fail' -e 'read-only' -e 'permission' <<<"$out"; then
	fail "qemu-io wrote to the :ro export"
fi
log "qemu-io write to the :ro export refused"
# qemu refuses on its own once it sees the read-only flag: a raw client
# sends the writes anyway, and the server must refuse them itself
"$PY" - "$SERVER_PORT" "$REPO/tests/lib" <<'PYEOF' || fail "raw writes to the :ro export"
import sys
sys.path.insert(0, sys.argv[2])
import nbdraw as n
port = int(sys.argv[1])
for name, want_err in ((b"ro", True), (b"rw", False)):
    s = n.connect(("127.0.0.1", port), timeout=30)
    size, flags = n.handshake(s, name)
    assert bool(flags & 2) == want_err, "%s: read-only flag 0x%x" % (name, flags)
    for i, (cmd, ln, payload) in enumerate((
            (n.CMD_WRITE, 4096, b"\x42" * 4096),
            (n.CMD_WRITE_ZEROES, 8192, b""),
            (n.CMD_TRIM, 8192, b""))):
        s.sendall(n.request(cmd, 100 + i, 1 << 20, ln) + payload)
        err, cookie = n.read_simple_reply(s)
        assert cookie == 100 + i, cookie
        if want_err:
            assert err != 0, "%s: command %d at 1 MiB succeeded" % (name, cmd)
        elif cmd == n.CMD_WRITE:
            assert err == 0, "%s: write failed: %d" % (name, err)
        print("%s: command %d -> error %d" % (name.decode(), cmd, err))
    # the connection goes on after the refusals
    s.sendall(n.request(n.CMD_READ, 9, 0, 4096))
    err, cookie = n.read_simple_reply(s)
    assert err == 0 and cookie == 9, (err, cookie)
    n.recv_exact(s, 4096)
    s.close()
PYEOF
log "raw write, write-zeroes and trim to the :ro export refused by the server"
out=$(timeout 60 qemu-io -f raw -c "write -P 0x99 0 65536" -c "read -P 0x99 0 65536" \
	"nbd://127.0.0.1:$SERVER_PORT/rw" 2>&1) || fail "qemu-io write to rw export: $out"
grep -qi -e 'error' -e 'fail' <<<"$out" && fail "qemu-io on the rw export: $out"
log "qemu-io write to the other export works"
# the ro export still reads, unchanged
rm -f "$T/ro.out"
timeout 60 nbdcopy "nbd://127.0.0.1:$SERVER_PORT/ro" "$T/ro.out" ||
	fail "nbdcopy from the ro export"
cmp "$T/ro.orig" "$T/ro.out" || fail "the ro export reads differently"
stop_server
cmp "$T/ro.orig" "$T/ro.img" || fail "the :ro image file was modified"
cmp -n 65536 "$T/rw.img" <(head -c 65536 /dev/zero | tr '\0' '\231') ||
	fail "the rw image file does not hold the write"
cmp -s "$T/rw.orig" "$T/rw.img" && fail "the rw image file was not written"
log "ro image untouched, rw image written"

# ---- the warning for a non-loopback listener ----
# warned ADDR: a log line holds "warning" and ADDR
warned() {
	grep -i 'warning' "$SERVER_LOG" | grep -qF -- "$1"
}
p=$(free_port)
start_server_raw --listen "tcp://0.0.0.0:$p" --read-only memory:1M
warned 0.0.0.0 || fail "no warning line naming 0.0.0.0"
log "warning: $(grep -i 'warning' "$SERVER_LOG" | grep -F 0.0.0.0)"
size_is "nbd://127.0.0.1:$p/" 1048576
stop_server
start_server --read-only memory:1M
warned 127.0.0.1 && fail "a warning for the loopback listener"
stop_server
if [ "$HAVE6" = 1 ]; then
	p=$(free_port 6)
	start_server_raw --listen "tcp://[::1]:$p" --read-only memory:1M
	warned ::1 && fail "a warning for the ::1 listener"
	stop_server
fi
if command -v certtool >/dev/null && command -v psktool >/dev/null; then
	tls_setup
	p=$(free_port)
	start_server_raw --listen "tcp://0.0.0.0:$p" --tls on \
		--tls-certificates "$TLS_SERVER" --read-only memory:1M
	warned 0.0.0.0 || fail "no warning for 0.0.0.0 with --tls on"
	stop_server
	p=$(free_port)
	start_server_raw --listen "tcp://0.0.0.0:$p" --tls require \
		--tls-certificates "$TLS_SERVER" --read-only memory:1M
	warned 0.0.0.0 && fail "a warning for 0.0.0.0 with --tls require"
	stop_server
	log "--tls on on 0.0.0.0 warns, --tls require does not"
else
	echo "TLS part of the warning check skipped: certtool/psktool not installed"
fi
echo "access: ok"
