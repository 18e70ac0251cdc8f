#!/usr/bin/env bash
# The io_uring engine registers each worker's buffer pool with its ring,
# and file reads and writes into the pool go as READ_FIXED / WRITE_FIXED
# (no page pinning per request); counted from the kernel's own
# io_uring:io_uring_submit_req tracepoint with perf.  Where the kernel
# refuses the registration (no CAP_IPC_LOCK, RLIMIT_MEMLOCK too small),
# lloop says so, stats says so, and the same I/O goes unregistered with
# the same data.  The threads engine registers nothing.
. "$(dirname "$0")/../interop/lib.sh"
describe "registered buffers: used where the kernel takes them, data the same either way"
need nbdcopy nbdsh setpriv prlimit
need_pynbd

CTL=$T/ctl.sock
IMG=$T/img
SRC=$T/src
make_random "$SRC" 32
truncate -s 32M "$IMG"

# registered WORKERS_JSON: the workers' registered_buffers, one word
registered() {
	"$LLOOP" stats --json --control "$CTL" | "$PY" -c '
import json, sys
v = {w["registered_buffers"] for w in json.load(sys.stdin)["workers"]}
print(v.pop() if len(v) == 1 else "mixed")'
}

# round_trip: nbdcopy SRC in and the export out, a FUA write by nbdsh;
# the image file and what came back must both hold the data
round_trip() {
	nbdcopy "$SRC" "$SERVER_URI" || fail "nbdcopy into lloop"
	nbdsh -u "$SERVER_URI" -c '
buf = bytes(range(256)) * 256
h.pwrite(buf, 5 << 20, nbd.CMD_FLAG_FUA)
' || fail "nbdsh FUA write"
	"$PY" - "$SRC" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(5 << 20)
    f.write(bytes(range(256)) * 256)
EOF
	cmp "$SRC" "$IMG" || fail "the image file differs from what was written"
	nbdcopy "$SERVER_URI" "$T/out" || fail "nbdcopy out of lloop"
	cmp "$SRC" "$T/out" || fail "what came back differs from what was written"
	rm -f "$T/out"
}

# counted CMD...: run CMD with perf counting the server's submissions of
# READ_FIXED (4), WRITE_FIXED (5), READ (22) and WRITE (23); the four
# counts go to $T/counts.  (READ also carries the workers' eventfd and
# timer wake-ups.)
counted() {
	count_submits "$SERVER_PID" "$T/counts" 'opcode == 4' 'opcode == 5' \
		'opcode == 22' 'opcode == 23' -- "$@"
}

if [ "$LLOOP_ENGINE" = threads ]; then
	start_server_unix --control "$CTL" "$IMG"
	assert_eq "$(registered)" False "registered_buffers with the threads engine"
	round_trip
	stop_server
	exit 0
fi

perf stat -e io_uring:io_uring_submit_req true >/dev/null 2>&1 ||
	skip "perf cannot count the io_uring:io_uring_submit_req tracepoint here"

log "as root (CAP_IPC_LOCK): the pools are registered and used"
start_server_unix --control "$CTL" "$IMG"
assert_eq "$(registered)" True "registered_buffers as root"
counted round_trip
read -r rf wf r w <"$T/counts"
echo "READ_FIXED $rf, WRITE_FIXED $wf, READ $r, WRITE $w"
# nbdcopy moves 32 MiB each way in requests of 256 KiB: about 128 each
[ "${rf:-0}" -ge 100 ] || fail "only ${rf:-0} READ_FIXED for 32 MiB read"
[ "${wf:-0}" -ge 100 ] || fail "only ${wf:-0} WRITE_FIXED for 32 MiB written"
assert_eq "${w:-0}" 0 "writes of the pool that went unregistered"
stop_server

log "no CAP_IPC_LOCK and RLIMIT_MEMLOCK 1 MiB: refused, said, and the same data"
truncate -s 0 "$IMG"
truncate -s 32M "$IMG"
make_random "$SRC" 32
cat >"$T/capped" <<EOF
#!/bin/sh
exec setpriv --bounding-set=-ipc_lock --inh-caps=-ipc_lock \
	prlimit --memlock=1048576 "$LLOOP" "\$@"
EOF
chmod +x "$T/capped"
LLOOP=$T/capped start_server_unix --control "$CTL" --no-mlock "$IMG"
assert_eq "$(registered)" False "registered_buffers under a 1 MiB RLIMIT_MEMLOCK"
grep -q 'buffers not registered with io_uring' "$SERVER_LOG" ||
	fail "the log does not say that the buffers are not registered"
grep -m1 'buffers not registered' "$SERVER_LOG"
counted round_trip
read -r rf wf r w <"$T/counts"
echo "READ_FIXED $rf, WRITE_FIXED $wf, READ $r, WRITE $w"
assert_eq "$rf $wf" "0 0" "fixed reads and writes without registered buffers"
[ "${r:-0}" -ge 100 ] && [ "${w:-0}" -ge 100 ] ||
	fail "the unregistered reads and writes were not counted: READ $r, WRITE $w"
stop_server
