#!/bin/bash
# --handshake-timeout: clients that never finish the handshake are cut off
# after the timeout (not before) with a log line, whether they are silent,
# stop in the middle of an option, drip one byte a second, or stall in the
# TLS handshake (after STARTTLS, in the ClientHello, or with TLS up but no
# GO); a client that finished the handshake may then idle; the slot is
# freed (--max-connections 1: a new client gets in after the cut-off);
# --handshake-timeout 0 cuts nobody off.  Each time a good client still
# reads back what it wrote.
. "$(dirname "$0")/../interop/lib.sh"
. "$REPO/tests/lib/tls.sh"
need nbdsh
need_pynbd
describe "--handshake-timeout: stalled handshakes (plain and TLS) are cut off, the slot is freed"
tls_setup
"$PY" -c 'import ssl' 2>/dev/null || skip "$PY has no ssl module"

TO=3
hs() {
	local out
	out=$(timeout 150 "$PY" "$REPO/tests/hostile/handshake_timeout.py" \
		"$REPO/tests/lib" "$SERVER_PORT" "$@" 2>&1) || {
		printf '%s\n' "$out" >&2
		fail "handshake_timeout.py $*"
	}
	printf '%s\n' "$out"
}

# timeout_logged N: at least N log lines about a handshake timeout
timeout_logged() {
	local n=0
	for _ in $(seq 50); do
		n=$(grep -Eic 'handshake.*(time|[0-9] ?s\b)|timed? ?out' "$SERVER_LOG" || :)
		[ "$n" -ge "$1" ] && break
		sleep 0.1
	done
	[ "$n" -ge "$1" ] || fail "expected $1 handshake-timeout log lines, found $n"
	log "log: $(grep -Ei 'handshake.*(time|[0-9] ?s\b)|timed? ?out' "$SERVER_LOG" | tail -n 1)"
}

# good_client SEED: nbdsh over TLS writes and reads back on a fresh connection
good_client() {
	tls_nbdsh "$(tls_uri_x509 tcp "$TLS_CLIENT")" write $(($1 << 20)) "$1"
	tls_nbdsh "$(tls_uri_x509 unix "$TLS_CLIENT")" check $(($1 << 20)) "$1"
}

truncate -s 64M "$T/disk.img"
tls_start_server --tls on --tls-certificates "$TLS_SERVER" \
	--handshake-timeout "$TO" "$T/disk.img"
# the stalled clients run at once, in the background, so the test waits
# one timeout rather than six
pids=()
for c in silent half-option drip tls-silent tls-partial tls-no-go; do
	hs "$TO" "$c" "$TLS_CLIENT" >"$T/hs-$c.out" 2>&1 &
	pids+=($!)
	track_pid $!
done
hs "$TO" idle-after-go
hs "$TO" tls-idle-after-go "$TLS_CLIENT"
good_client 1
rc=0
for p in "${pids[@]}"; do
	wait "$p" || rc=1
done
cat "$T"/hs-*.out
[ "$rc" = 0 ] || fail "a stalled client was not cut off as it should be"
timeout_logged 6
good_client 2
stop_server

# a timeout longer than the default (10 s): the slot holder must survive
# past 10 s, which proves the value given is the one used
start_server --max-connections 1 --handshake-timeout 13 memory:16M
hs 13 slot
timeout_logged 1
stop_server

start_server --handshake-timeout 0 memory:16M
hs 6 no-timeout
stop_server

# the default is 10 s: a client silent for 4 s is not cut off
start_server memory:16M
hs 4 no-timeout
stop_server
echo "handshake_timeout: ok"
