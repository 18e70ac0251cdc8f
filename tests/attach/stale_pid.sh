#!/usr/bin/env bash
# lloop-test: engine-independent (state files and PIDs; no I/O path)
# The state of a daemon that was killed, whose PID now belongs to another
# process (PID reuse): lloop list must not call it alive, and lloop detach
# must clean up after the dead daemon without signalling the unrelated
# process that has its PID now.  And a new daemon that gets an old
# daemon's pid does not take that one's PID.failed for its own.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "a dead daemon's PID reused by another process"

truncate -s 64M "$T/disk.img"
attach "$T/disk.img"
DEV=$ATTACH_DEV
PID=$ATTACH_PID
kill -KILL "$PID"
for ((i = 0; i < 100; i++)); do
	[ -e "/proc/$PID" ] || break
	sleep 0.1
done
[ ! -e "/proc/$PID" ] || fail "daemon $PID still exists 10 s after kill -9"

# the PID comes back as an unrelated process: rename the dead daemon's
# state to the PID of a process of ours, exactly what PID reuse leaves
sleep 300 &
DECOY=$!
track_pid "$DECOY"
for ext in state img sock log; do
	[ ! -e "$RUN/attach/$PID.$ext" ] || mv "$RUN/attach/$PID.$ext" "$RUN/attach/$DECOY.$ext"
done
sed -i "s/^pid=$PID\$/pid=$DECOY/" "$RUN/attach/$DECOY.state"
log "daemon $PID killed; its state now names pid $DECOY (a sleep)"

alive=$(list_field "$DEV" alive)
rc=0
out=$(timeout 70 "$LLOOP" detach "$DEV" 2>"$T/detach.err") || rc=$?
echo "lloop detach $DEV: exit $rc: $out $(cat "$T/detach.err")"
kill -0 "$DECOY" 2>/dev/null ||
	fail "lloop detach $DEV killed pid $DECOY, an unrelated process that reused the dead daemon's PID"
assert_eq "$rc" 0 "exit status of lloop detach of the dead daemon's device"
assert_eq "$out" "$DEV: its daemon (pid $DECOY) had died; cleaned up" "lloop detach output"
assert_eq "$alive" False "alive in lloop list --json for a dead daemon whose PID was reused"
# the decoy is not lloop's: stop it before the final check
kill "$DECOY"
wait "$DECOY" 2>/dev/null || :
assert_nothing_left "lloop detach"

# A PID.failed left by an earlier daemon whose pid a new daemon has now
# (nobody ran detach after its error): not the new daemon's.  Planted for
# each of the next 3000 pids, one of which the daemon gets.
last=$(cat /proc/sys/kernel/ns_last_pid)
max=$(cat /proc/sys/kernel/pid_max)
mkdir -p "$RUN/attach"
for ((i = 1; i <= 3000; i++)); do
	p=$((last + i))
	[ "$p" -lt "$max" ] || p=$((p - max + 300))
	echo "an old daemon's error" >"$RUN/attach/$p.failed"
done
attach "$T/disk.img"
planted=$(find "$RUN/attach" -name '*.failed' | wc -l)
if [ -e "$RUN/attach/$ATTACH_PID.failed" ]; then
	fail "daemon $ATTACH_PID started with its pid's old PID.failed still there"
elif [ "$planted" = 3000 ]; then
	echo "note: daemon $ATTACH_PID got a pid outside the 3000 planted: not checked"
fi
find "$RUN/attach" -name '*.failed' -delete
detach "$ATTACH_DEV"
assert_nothing_left "detach of the daemon with a reused pid"
