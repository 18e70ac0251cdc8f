#!/usr/bin/env bash
# lloop-test: engine-independent (state files and PIDs; no I/O path)
# The state of a daemon that was killed, whose PID now belongs to another
# process (PID reuse): lloop list must not call it alive, and lloop detach
# must clean up after the dead daemon without signalling the unrelated
# process that has its PID now.
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
