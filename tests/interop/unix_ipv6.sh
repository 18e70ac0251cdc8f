#!/bin/bash
# One server listening on a unix socket, tcp://[::1]:PORT and 127.0.0.1 at
# once: nbdinfo on each, data written through one address read through the
# others (nbdsh, qemu-io), named exports over the unix socket, and a restart
# on the same socket path.
. "$(dirname "$0")/lib.sh"
need nbdinfo qemu-io nbdsh
need_pynbd
describe "unix:PATH + tcp://[::1]:PORT + tcp://127.0.0.1:PORT at once; nbdinfo/nbdsh/qemu-io on each"

"$PY" -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null ||
	skip "no IPv6 loopback (::1) on this machine"

sock=$T/lloop.sock
p6=$(free_port 6)
p4=$(free_port)
start_server_raw --listen "unix:$sock" --listen "tcp://[::1]:$p6" --listen "tcp://127.0.0.1:$p4" \
	"main=memory:32M" "small=memory:1M"
U="nbd+unix:///?socket=$sock"
U_small="nbd+unix:///small?socket=$sock"
V6="nbd://[::1]:$p6/"
V4="nbd://127.0.0.1:$p4/"

[ -S "$sock" ] || fail "no unix socket at $sock"

log "nbdinfo on every address"
for uri in "$U" "$V6" "$V4"; do
	assert_eq "$(nbdinfo --size "$uri")" 33554432 "size via $uri"
done
assert_eq "$(nbdinfo --size "$U_small")" 1048576 "size of 'small' via the unix socket"
assert_eq "$(nbdinfo --size "nbd://[::1]:$p6/small")" 1048576 "size of 'small' via ::1"
out=$(nbdinfo --list --json "$U")
names=$("$PY" -c 'import json, sys; print(" ".join(sorted(e["export-name"] for e in json.load(sys.stdin)["exports"])))' <<<"$out")
assert_eq "$names" "main small" "export list via the unix socket"
out=$(nbdinfo "$V6")
grep -q 'can_multi_conn: true' <<<"$out" || fail "nbdinfo via ::1 lacks can_multi_conn: true"

log "write via the unix socket, read via ::1 and 127.0.0.1"
qemu-io -f raw -c 'write -P 0x3c 12345 100000' -c flush "$U" >/dev/null ||
	fail "qemu-io write via the unix socket failed"
qemu-io -f raw -c 'read -P 0x3c 12345 100000' -c 'read -P 0 0 12345' "$V6" >/dev/null ||
	fail "qemu-io read via ::1 failed"
nbdsh -u "$V4" -c 'assert h.pread(3, 12344) == b"\0\x3c\x3c", h.pread(3, 12344)' ||
	fail "nbdsh read via 127.0.0.1 failed"
log "write via ::1, read via the unix socket"
nbdsh -u "$V6" -c 'h.pwrite(b"over-ipv6", 4096); h.flush()' || fail "nbdsh write via ::1 failed"
nbdsh -u "$U" -c 'assert h.pread(9, 4096) == b"over-ipv6", h.pread(9, 4096)' ||
	fail "nbdsh read via the unix socket failed"

stop_server
[ ! -e "$sock" ] || fail "the unix socket $sock was left behind after exit"

log "restart on the same socket path"
start_server_raw --listen "unix:$sock" memory:1M
assert_eq "$(nbdinfo --size "$U")" 1048576 "size after restart on the same socket"
stop_server
echo "unix_ipv6: ok"
