#!/usr/bin/env bash
# memory:SIZE as a device: a random 8 MiB pattern written with O_DIRECT
# reads back the same; a discarded range and a zeroed range read back as
# zeroes and the rest is untouched; detach leaves nothing behind.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "memory:64M: direct writes read back, discard and zeroout read back zero"
need blkdiscard blockdev cmp

attach memory:64M
DEV=$ATTACH_DEV
# memory: has no file for passthrough: always the engine
assert_eq "$(list_field "$DEV" path)" engine "I/O path of memory:64M"
assert_eq "$(blockdev --getsize64 "$DEV")" $((64 << 20)) "size of $DEV"
assert_eq "$(list_field "$DEV" image)" memory:64M "image in lloop list"

head -c $((8 << 20)) /dev/urandom >"$T/pattern"
rw0=$(($(op_requests "$ATTACH_PID" read) + $(op_requests "$ATTACH_PID" write)))
on0=$(ops_on_worker "$ATTACH_PID")
dd if="$T/pattern" of="$DEV" bs=1M oflag=direct status=none || fail "dd to $DEV failed"
dd if="$DEV" of="$T/back" bs=1M count=8 iflag=direct status=none || fail "dd from $DEV failed"
rw1=$(($(op_requests "$ATTACH_PID" read) + $(op_requests "$ATTACH_PID" write)))
on1=$(ops_on_worker "$ATTACH_PID")
cmp "$T/pattern" "$T/back" || fail "8 MiB read back from $DEV differ from what was written"
log "8 MiB written and read back with O_DIRECT"

# discard [1 MiB, 3 MiB) and zero out [5 MiB, 5.5 MiB)
blkdiscard -o $((1 << 20)) -l $((2 << 20)) "$DEV" || fail "blkdiscard of 2 MiB at 1 MiB failed"
blkdiscard -z -o $((5 << 20)) -l $((512 << 10)) "$DEV" || fail "blkdiscard -z of 512 KiB at 5 MiB failed"
"$PY" - "$T/pattern" "$T/expect" <<'PYEOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[1 << 20:3 << 20] = bytes(2 << 20)
b[5 << 20:(5 << 20) + (512 << 10)] = bytes(512 << 10)
open(sys.argv[2], "wb").write(b)
PYEOF
dd if="$DEV" of="$T/back2" bs=1M count=8 iflag=direct status=none || fail "dd from $DEV failed"
cmp "$T/expect" "$T/back2" ||
	fail "after blkdiscard: $DEV does not read zeroes in the discarded/zeroed ranges and the pattern elsewhere"
zeros=$(op_requests "$ATTACH_PID" zero)
echo "zero requests seen by the daemon: $zeros"
[ "$zeros" -ge 2 ] || fail "lloop stats counts $zeros zero requests after a discard and a zeroout, expected >= 2"
log "discarded and zeroed ranges read back as zeroes, the rest unchanged"

# with few requests in service (dd sends one at a time) the io_uring
# engine's workers write each reply to /dev/fuse at once, not as a ring
# entry
reqs=$((rw1 - rw0))
on_worker=$((on1 - on0))
echo "dd's reads and writes: $reqs; ops on the workers meanwhile (replies): $on_worker"
if [ "$LLOOP_ENGINE" = uring ]; then
	[ "$on_worker" -ge "$reqs" ] ||
		fail "$on_worker replies written by the workers for $reqs reads and writes"
else
	assert_eq "$on_worker" 0 "ops on the workers with the threads engine"
fi

detach "$DEV"
assert_nothing_left "lloop detach"
