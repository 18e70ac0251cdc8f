#!/bin/bash
# lloop-test: engine-independent (command-line handling; runs with the first engine only)
# Command-line handling of 'lloop serve': every bad usage gives exactly one
# line on stderr and a non-zero exit without serving; --create refuses an
# existing file (left untouched) and makes a sparse file of the right size;
# --help exits 0; --daemon, --max-connections, --log-level, small tuning
# values and an address already in use.
. "$(dirname "$0")/lib.sh"
need nbdinfo qemu-io du
need_pynbd
need_lloop
describe "bad usage -> one stderr line + non-zero exit; --create; --help; --daemon; --max-connections; --log-level"

PORT=$(free_port)
L=(--listen "tcp://127.0.0.1:$PORT")

# bad DESCRIPTION ARGS...: 'lloop serve ARGS' must fail fast with exactly one
# line on stderr.  Failures are collected so that one run reports them all.
BAD_FAILURES=()
bad() {
	local what=$1 rc=0 n
	shift
	timeout 10 "$LLOOP" serve "$@" >"$T/bad.out" 2>"$T/bad.err" </dev/null || rc=$?
	[ "$rc" != 124 ] || fail "$what: still running after 10 s (lloop serve $*)"
	n=$(wc -l <"$T/bad.err")
	if [ "$rc" = 0 ] || [ "$n" != 1 ] || [ -s "$T/bad.out" ]; then
		echo "    FAILED: $what: exit $rc, $n stderr lines (lloop serve $*)"
		sed 's/^/        stdout: /' "$T/bad.out"
		sed 's/^/        stderr: /' "$T/bad.err"
		BAD_FAILURES+=("$what (exit $rc, $n stderr lines)")
		return 0
	fi
	echo "    $what -> $rc: $(cat "$T/bad.err")"
}

bad_summary() {
	[ "${#BAD_FAILURES[@]}" = 0 ] && return 0
	printf '    bad usage not handled as one line + non-zero exit: %s\n' "${BAD_FAILURES[@]}" >&2
	SERVER_LOG=
	fail "${#BAD_FAILURES[@]} bad-usage cases failed"
}

existing=$T/existing.img
head -c 1048576 /dev/urandom >"$existing"
sum_before=$(sha256sum <"$existing")

log "bad usage"
bad "no image" "${L[@]}"
bad "nonexistent file" "${L[@]}" "$T/nonexistent.img"
[ ! -e "$T/nonexistent.img" ] || fail "serving a nonexistent file created it"
bad "nonexistent file in a named export" "${L[@]}" "a=memory:1M" "b=$T/nonexistent.img"
bad "directory as image" "${L[@]}" "$T"
bad "unknown option" "${L[@]}" --no-such-option "$existing"
bad "unknown short option" "${L[@]}" -Z "$existing"
bad "option without its value" "${L[@]}" "$existing" --threads
bad "--create on an existing file" "${L[@]}" --create 4M "$existing"
assert_eq "$(stat -c %s "$existing")" 1048576 "size of the existing file after --create"
assert_eq "$(sha256sum <"$existing")" "$sum_before" "content of the existing file after --create"
bad "--create in a missing directory" "${L[@]}" --create 1M "$T/no/such/dir.img"
bad "--create bad size" "${L[@]}" --create 12Q "$T/new1.img"
[ ! -e "$T/new1.img" ] || fail "--create with a bad size created the file"
bad "--create negative size" "${L[@]}" --create -5M "$T/new3.img"
bad "memory: without size" "${L[@]}" memory:
bad "memory: bad size" "${L[@]}" memory:lots
bad "--listen bad scheme" --listen "http://127.0.0.1:$PORT" memory:1M
bad "--listen no port" --listen "tcp://127.0.0.1" memory:1M
bad "--listen port out of range" --listen "tcp://127.0.0.1:99999" memory:1M
bad "--listen port not a number" --listen "tcp://127.0.0.1:http" memory:1M
bad "--listen unix without path" --listen "unix:" memory:1M
bad "--listen unbracketed IPv6" --listen "tcp://::1:$PORT" memory:1M
bad "--engine bogus" "${L[@]}" --engine bogus memory:1M
bad "--cache bogus" "${L[@]}" --cache sometimes memory:1M
bad "--log-level bogus" "${L[@]}" --log-level loud memory:1M
bad "--threads 0" "${L[@]}" --threads 0 memory:1M
bad "--threads abc" "${L[@]}" --threads abc memory:1M
bad "--queue-depth 0" "${L[@]}" --queue-depth 0 memory:1M
bad "--max-connections x" "${L[@]}" --max-connections x memory:1M
bad "--buffer-memory bad size" "${L[@]}" --buffer-memory 3X memory:1M
bad "duplicate export name" "${L[@]}" a=memory:1M a=memory:2M

log "--help exits 0 and prints usage on stdout"
"$LLOOP" serve --help >"$T/help.out" 2>"$T/help.err" || fail "lloop serve --help failed"
grep -q -- --listen "$T/help.out" || fail "serve --help does not mention --listen"
grep -q -- --read-only "$T/help.out" || fail "serve --help does not mention --read-only"
[ ! -s "$T/help.err" ] || fail "serve --help wrote to stderr"
"$LLOOP" --help >"$T/help2.out" || fail "lloop --help failed"
grep -q serve "$T/help2.out" || fail "lloop --help does not mention serve"

log "--create makes a sparse file of the right size"
start_server --create 64M "$T/created.img"
assert_eq "$(nbdinfo --size "$(nbd_uri)")" 67108864 "export size of the created image"
assert_eq "$(stat -c %s "$T/created.img")" 67108864 "size of the created file"
used=$(du -k "$T/created.img" | cut -f1)
[ "$used" -le 64 ] || fail "created file uses $used KiB, expected a sparse file"
qemu-io -f raw -c 'write -P 0x42 1000000 5000' -c 'read -P 0 0 1000000' "$(nbd_uri)" >/dev/null ||
	fail "qemu-io on the created image failed"
stop_server
assert_eq "$(od -An -tx1 -j 1000000 -N 1 "$T/created.img" | tr -d ' ')" 42 "write to the created file"

log "--create sizes with suffixes"
start_server --create 1536K "$T/created2.img"
assert_eq "$(stat -c %s "$T/created2.img")" 1572864 "size of --create 1536K"
stop_server
start_server --create 1G "$T/created3.img"
assert_eq "$(nbdinfo --size "$(nbd_uri)")" 1073741824 "size of --create 1G"
stop_server
assert_eq "$(stat -c %s "$T/created3.img")" 1073741824 "file size of --create 1G"

log "address already in use: fails fast with an error"
start_server memory:1M
rc=0
timeout 10 "$LLOOP" serve --listen "tcp://127.0.0.1:$SERVER_PORT" memory:1M \
	</dev/null >"$T/inuse.out" 2>&1 || rc=$?
cat "$T/inuse.out"
[ "$rc" != 124 ] || fail "port in use: still running after 10 s"
[ "$rc" != 0 ] || fail "port in use: exit status 0"
grep -qi 'in use' "$T/inuse.out" || fail "port in use: no 'in use' in the message"
stop_server

log "--log-level error is quiet, debug is not"
start_server --log-level error memory:1M
nbdinfo --size "$(nbd_uri)" >/dev/null
stop_server
if [ "$(sed 1d "$SERVER_LOG" | wc -l)" != 0 ]; then
	cat "$SERVER_LOG"
	fail "--log-level error: server logged lines at a lower level"
fi
start_server --log-level debug memory:1M
nbdinfo --size "$(nbd_uri)" >/dev/null
stop_server
[ "$(sed 1d "$SERVER_LOG" | wc -l)" -gt 0 ] || fail "--log-level debug: nothing logged"

log "small tuning values still serve correctly"
start_server --threads 1 --queue-depth 2 --buffer-memory 64M memory:16M
qemu-io -f raw -c 'write -P 0x17 0 8M' -c 'aio_write -P 0x18 8M 4M' -c 'aio_write -P 0x19 12M 4M' \
	-c aio_flush -c 'read -P 0x17 0 8M' -c 'read -P 0x18 8M 4M' -c 'read -P 0x19 12M 4M' \
	"$(nbd_uri)" >/dev/null || fail "qemu-io with --threads 1 --queue-depth 2 failed"
stop_server

log "--max-connections 2: a third connection is refused, and accepted once one closes"
start_server --max-connections 2 memory:1M
"$PY" - "$(nbd_uri)" <<'EOF' || fail "--max-connections check failed"
import sys, time
import nbd
uri = sys.argv[1]
def conn():
    h = nbd.NBD()
    h.connect_uri(uri)
    return h
h1, h2 = conn(), conn()
try:
    h3 = conn()
    h3.pread(512, 0)
except nbd.Error as e:
    print("    third connection refused:", e.string)
else:
    sys.exit("a third connection was accepted and served with --max-connections 2")
h1.pwrite(b"ok", 0)
h1.shutdown()
del h1
for i in range(50):  # the server notices the close asynchronously
    try:
        h4 = conn()
        break
    except nbd.Error:
        time.sleep(0.1)
else:
    sys.exit("no connection accepted after one of the two closed")
if h4.pread(2, 0) != b"ok":
    sys.exit("bad data on the new connection")
if h2.pread(2, 0) != b"ok":
    sys.exit("bad data on the remaining connection")
print("    max-connections ok")
EOF
stop_server

log "--daemon: returns once listening, pidfile names the daemon, SIGTERM stops it"
dport=$(free_port)
rc=0
timeout 20 "$LLOOP" serve --engine "$LLOOP_ENGINE" --daemon --pidfile "$T/daemon.pid" \
	--listen "tcp://127.0.0.1:$dport" memory:4M </dev/null >"$T/daemon.out" 2>"$T/daemon.err" || rc=$?
[ "$rc" = 0 ] || {
	cat "$T/daemon.err"
	fail "--daemon: exit status $rc"
}
[ -s "$T/daemon.pid" ] || fail "--daemon: no pidfile once the command returned"
dpid=$(tr -d ' \n' <"$T/daemon.pid")
[[ "$dpid" =~ ^[0-9]+$ ]] || fail "--daemon: pidfile holds '$dpid'"
track_pid "$dpid"
kill -0 "$dpid" 2>/dev/null || fail "--daemon: process $dpid from the pidfile is not running"
assert_eq "$(nbdinfo --size "nbd://127.0.0.1:$dport/")" 4194304 "--daemon: export size"
kill -TERM "$dpid"
for ((i = 0; i < 200; i++)); do
	kill -0 "$dpid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$dpid" 2>/dev/null && fail "--daemon: still running 20 s after SIGTERM"

bad_summary
echo "options: ok"
