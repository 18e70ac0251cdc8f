#!/usr/bin/env bash
# lloop serve rbd: while the cluster changes under it, and images that are
# not the common case, against a throwaway one-node cluster:
# - `rbd resize --allow-shrink` while served: requests past the new end
#   fail with ENOSPC at once (such a write waited in librbd for ever),
#   with a log line, while a trim there succeeds and block status says
#   hole; growing back makes them work again;
# - fancy striping: block status says all data (librbd before 17.2
#   reports such objects out of order: holes where there is data);
# - more than 16 watchers on the image: a read-write open still sees the
#   other writers (it failed with ERANGE);
# - a blocklisted lloop: requests fail, and the log says why, once (it
#   said nothing); its exit status after SIGTERM is 1 (the last flush
#   fails).  (A write there waits: librbd wants the image's lock back.)
. "$(dirname "$0")/../interop/lib.sh"
. "$REPO/tests/lib/ceph.sh"
describe "rbd: backend under a live cluster: shrink, fancy striping, many watchers, blocklist"
need_lloop
"$LLOOP" --version | grep -q '^Ceph RBD: available' ||
	skip "this lloop is built without librbd"
ceph_available || skip "$CEPH_MISSING"
need qemu-io nbdinfo
ceph_start "$T/ceph"
log "cluster up in ${CEPH_START_SECONDS}s"
P=$CEPH_POOL
M=$((1024 * 1024))
AS=(--ceph-conf "$CEPH_CONF" --ceph-id lloop --ceph-timeout 20)
qio() { timeout 60 qemu-io -f raw "$@" "$SERVER_URI"; }

# wait_log PATTERN WHAT: the server log gets a line matching PATTERN
wait_log() {
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q "$1" "$SERVER_LOG" && return 0
		sleep 0.1
	done
	fail "no log line for $2 (/$1/)"
}

# ---- a live shrink, and growing back ----
rbd create --size 64M "$P/img"
start_server "${AS[@]}" "rbd:$P/img"
qio -c 'write -P 0x11 40M 64k' >/dev/null || fail "a write at 40 MiB of 64 failed"
rbd resize --allow-shrink --size 32M "$P/img" >/dev/null 2>&1 ||
	fail "rbd resize --allow-shrink to 32 MiB failed beside lloop"
wait_log "shrunk in the cluster to $((32 * M)) bytes" "the shrink"
rc=0
out=$(qio -c 'write -P 0x22 40M 64k' 2>&1) || rc=$?
[ "$rc" != 124 ] || fail "a write at 40 MiB of an image shrunk to 32 hung"
grep -qi 'no space left' <<<"$out" ||
	fail "a write at 40 MiB of an image shrunk to 32: exit $rc, not ENOSPC: $out"
log "a write past the new end fails: $(head -n 1 <<<"$out")"
# a trim across the new end trims what is left (fstrim must not fail),
# and block status calls what is past the end a hole
out=$(qio -c 'discard 30M 4M' 2>&1) || fail "a trim across the new end failed: $out"
! grep -qi 'fail\|error' <<<"$out" || fail "a trim across the new end: $out"
map=$(nbdinfo --map "$SERVER_URI") || fail "nbdinfo --map after the shrink failed"
tail -n 1 <<<"$map" | grep -q hole ||
	fail "block status past the new end is not a hole: $map"
out=$(qio -c 'write -P 0x33 8M 64k' -c 'read -P 0x33 8M 64k' 2>&1) ||
	fail "a write below the new end failed: $out"
! grep -qi 'fail\|error\|mismatch' <<<"$out" || fail "below the new end: $out"
rbd resize --size 64M "$P/img" >/dev/null 2>&1 || fail "rbd resize back to 64 MiB failed"
wait_log "$((64 * M)) bytes again" "the growth"
out=$(qio -c 'write -P 0x44 40M 64k' -c 'read -P 0x44 40M 64k' 2>&1) ||
	fail "a write at 40 MiB after growing back failed: $out"
! grep -qi 'fail\|error\|mismatch' <<<"$out" || fail "after growing back: $out"
stop_server
log "shrunk: requests past the end fail, with a log line; grown back: they work"

# ---- fancy striping: block status says all data ----
rbd create --size 16M --stripe-unit 65536 --stripe-count 4 "$P/striped"
rbd info "$P/striped" | grep -q 'fast-diff' ||
	fail "the striped image has no fast-diff: nothing would be tested"
start_server "${AS[@]}" "rbd:$P/striped"
qio -c 'write -P 0x55 0 64k' -c 'write -P 0x66 9M 64k' >/dev/null ||
	fail "writes to the striped image failed"
map=$(nbdinfo --map "$SERVER_URI")
[ "$(awk '{ print $1, $2, $3 }' <<<"$map")" = "0 $((16 * M)) 0" ] ||
	fail "fancy striping: nbdinfo --map says
$map"
stop_server
log "fancy striping: block status is all data"

# ---- more than 16 watchers: a writer still sees the others ----
id=$(rbd info --format json "$P/img" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["id"])') ||
	fail "rbd info $P/img: no image id: $(rbd info --format json "$P/img" 2>&1)"
# `rados watch` holds its watch until its stdin gives a line or ends: a
# FIFO whose writing end this shell keeps open
mkfifo "$T/hold"
exec 7<>"$T/hold"
WATCHERS=()
for ((i = 0; i < 18; i++)); do
	rados -p "$P" watch "rbd_header.$id" <&7 >/dev/null 2>&1 &
	track_pid $!
	WATCHERS+=($!)
done
# watchers: how many watchers the image has
watchers() {
	local out
	out=$(rbd status "$P/img" 2>&1) || fail "rbd status $P/img: $out"
	grep -c 'watcher=' <<<"$out" || :
}
for ((i = 0; i < 100; i++)); do
	[ "$(watchers)" -ge 18 ] && break
	sleep 0.2
done
n=$(watchers)
[ "$n" -ge 18 ] || fail "only $n watchers came up"
port=$(free_port)
rc=0
timeout 60 "$LLOOP" serve "${AS[@]}" --listen "tcp://127.0.0.1:$port" \
	"rbd:$P/img" >"$T/many.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "beside $n watchers, a read-write lloop: exit $rc: $(cat "$T/many.out")"
grep -q "another client has the image open for writing" "$T/many.out" ||
	fail "beside $n watchers: $(cat "$T/many.out")"
log "beside $n watchers: $(cat "$T/many.out")"
for pid in "${WATCHERS[@]}"; do
	kill "$pid" 2>/dev/null || :
	wait "$pid" 2>/dev/null || :
done
exec 7>&-

# ---- blocklisted: requests fail, and the log says why ----
for ((i = 0; i < 100; i++)); do
	[ "$(watchers)" = 0 ] && break
	sleep 0.2
done
start_server "${AS[@]}" "rbd:$P/img"
# a first write: lloop holds the image's lock, as in service
qio -c 'write -P 0x66 0 4k' >/dev/null || fail "the write before the blocklist failed"
addr=$(rbd status "$P/img" | sed -n 's/.*watcher=\([^ ]*\).*/\1/p' | head -n 1)
[ -n "$addr" ] || fail "no watcher address for lloop: $(rbd status "$P/img")"
ceph osd blocklist add "$addr" >/dev/null 2>&1 || fail "ceph osd blocklist add $addr failed"
rc=0
out=$(timeout 60 qemu-io -f raw -c 'read 8M 4k' "$SERVER_URI" 2>&1) || rc=$?
log "a read after the blocklist: exit $rc: $out"
[ "$rc" = 0 ] && ! grep -qi 'fail\|error' <<<"$out" && fail "a blocklisted lloop's read succeeded: $out"
wait_log "has blocklisted this client" "the blocklist"
[ "$(grep -c 'has blocklisted this client' "$SERVER_LOG")" = 1 ] ||
	fail "the blocklist is said more than once"
log "blocklisted: $(grep -m1 'blocklisted' "$SERVER_LOG")"
# SIGTERM: the final flush fails too, and the exit status says so
pid=$SERVER_PID
SERVER_PID=
kill -TERM "$pid"
rc=0
for ((i = 0; i < 300; i++)); do
	[ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
wait "$pid" || rc=$?
[ "$rc" = 1 ] || fail "a blocklisted lloop exited $rc after SIGTERM (expected 1: its final flush fails)"
ceph osd blocklist rm "$addr" >/dev/null 2>&1 || :
ceph_stop
