#!/usr/bin/env bash
# lloop-test: engine-independent (what lloop detach says about a device
# others use; the I/O path is the default engine's)
# lloop detach of a device that something else uses:
# - held open by processes (not mounted): the kernel unbinds the device
#   only at its last close, and the daemon serves it until then.  detach
#   must say so within seconds, naming the processes (it waited 60 s and
#   said "something still uses the device"), and the daemon must stop by
#   itself once they close it, leaving nothing behind;
# - opened exclusively by a process (as mkfs does): refused at once,
#   naming the process, the daemon untouched;
# - a final flush that takes longer than that look, with nobody else on
#   the device (the daemon's helper holds it meanwhile): detach waits for
#   it and succeeds.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "detach of a device held open: says who holds it, and finishes at the last close"

IMG=$T/disk.img
make_random "$IMG" 8
attach "$IMG"
DEV=$ATTACH_DEV
PID=$ATTACH_PID

# 1. two processes hold the device open
hold_dev "$DEV" 3
H1=$HOLDER
hold_dev "$DEV" 4
H2=$HOLDER
start=$(date +%s.%N)
rc=0
timeout 90 "$LLOOP" detach "$DEV" >"$T/d.out" 2>"$T/d.err" || rc=$?
took=$(_elapsed "$start")
echo "detach of $DEV held by $H1 and $H2: exit $rc after $took s: $(cat "$T/d.err")"
assert_eq "$rc" 1 "exit status of lloop detach of a device held open"
[ "$(wc -l <"$T/d.err")" = 1 ] || fail "the message is not one line: $(cat "$T/d.err")"
awk -v t="$took" 'BEGIN { exit !(t < 20) }' ||
	fail "lloop detach took $took s to say the device is held (waited for the full timeout?)"
for h in "$H1" "$H2"; do
	grep -qF "pid $h (sleep)" "$T/d.err" || fail "the message does not name holder $h: $(cat "$T/d.err")"
done
grep -q "last close" "$T/d.err" || fail "the message does not say when the device goes: $(cat "$T/d.err")"
! grep -qF "pid $PID (" "$T/d.err" || fail "the message names the daemon itself as a holder"
# the daemon still serves the holders: a read through a holder's descriptor
_is_lloop_pid "$PID" || fail "the daemon stopped while the device is held open"
dd if="/proc/$H1/fd/3" of="$T/back" bs=1M count=8 iflag=direct status=none ||
	fail "reading $DEV while its detach waits for the last close failed"
cmp "$IMG" "$T/back" || fail "$DEV read back differs from the image while held"

kill "$H1" "$H2"
wait "$H1" "$H2" 2>/dev/null || :
assert_nothing_left "the holders of $DEV closed it" 15

# 2. an exclusive opener: refused at once, the daemon serving on
attach "$IMG"
DEV=$ATTACH_DEV
PID=$ATTACH_PID
"$PY" -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_EXCL)
print("open", flush=True)
time.sleep(600)' "$DEV" >"$T/excl.out" &
HX=$!
track_pid "$HX"
for ((i = 0; i < 50; i++)); do
	[ -s "$T/excl.out" ] && break
	sleep 0.1
done
[ -s "$T/excl.out" ] || fail "$PY could not open $DEV with O_EXCL"
# the command name the kernel keeps: the name it was run by, 15 bytes
comm=$(basename "$PY" | cut -c1-15)
rc=0
timeout 90 "$LLOOP" detach "$DEV" >"$T/d.out" 2>"$T/d.err" || rc=$?
echo "detach of $DEV opened exclusively by $HX: exit $rc: $(cat "$T/d.err")"
assert_eq "$rc" 1 "exit status of lloop detach of a device opened with O_EXCL"
[ "$(wc -l <"$T/d.err")" = 1 ] || fail "the message is not one line: $(cat "$T/d.err")"
grep -q "in use" "$T/d.err" && grep -qF "pid $HX ($comm)" "$T/d.err" ||
	fail "the refusal does not name the exclusive opener $HX: $(cat "$T/d.err")"
_is_lloop_pid "$PID" || fail "the daemon stopped after a refused detach"
assert_eq "$(list_field "$DEV" alive)" True "$DEV alive after the refused detach"
kill "$HX"
wait "$HX" 2>/dev/null || :
detach "$DEV"
assert_nothing_left "the detach after the exclusive opener left"

# 3. a slow final flush, nobody else on the device: the threads engine
# calls fdatasync(2), which a shim slows down once $T/slow exists
if ! command -v cc >/dev/null; then
	echo "SKIP: cc not installed for the fdatasync shim (the other cases passed)"
	exit 77
fi
cat >"$T/shim.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int fdatasync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	const char *gate = getenv("SHIM_SLOW_GATE");
	struct timespec ts = { 5, 0 };

	if (gate && access(gate, F_OK) == 0)
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	return real(fd);
}
EOF
cc -shared -fPIC -O1 -o "$T/shim.so" "$T/shim.c" -ldl || fail "cannot build the shim"
# a sanitized lloop wants its runtime first; the shim only wraps libc
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
export LD_PRELOAD=$T/shim.so SHIM_SLOW_GATE=$T/slow
attach "$IMG" --engine threads
unset LD_PRELOAD
DEV=$ATTACH_DEV
touch "$T/slow"
start=$(date +%s.%N)
detach "$DEV"
took=$(_elapsed "$start")
echo "detach with a 5 s flush: took $took s"
awk -v t="$took" 'BEGIN { exit !(t >= 4.5) }' ||
	fail "the detach took $took s: the flush was not slowed, so this case tested nothing"
assert_nothing_left "the detach with a slow flush"
