#!/usr/bin/env bash
# Crash consistency of lloop attach (crash_attach.py drives it): 20 rounds
# on one 32 MiB image in TMPDIR, alternating the default path (FUSE
# passthrough: the kernel writes the image itself) and --no-passthrough
# (lloop's engine), and --cache none and writeback.  Four writer threads on
# /dev/loopN (O_DIRECT) write 4-64 KiB of a known pattern (block number +
# write id), one write in five with RWF_DSYNC (FUA), an fdatasync (FLUSH,
# which reaches lloop as loop -> FUSE FSYNC: lloop stats must count them)
# every 12 writes, and journal every acknowledgement; the daemon (its pid
# from lloop list --json) gets SIGKILL at a random moment.  Then: the
# writers stop (EIO on the engine path), the device is freed by autoclear
# once they close it, lloop detach reports the dead daemon and leaves
# nothing (no loop device, state file, mount or process); the image file
# read directly and the image attached again must hold every write
# acknowledged before the call of the last fdatasync that returned and
# every acknowledged RWF_DSYNC write, no block may hold another block's
# data or a write never sent to it, blocks not written must not change.
# Then SIGTERM under load: with the device open, the daemon serves until
# the writers close it, then exits 0 and leaves nothing (both paths); with
# the device claimed (O_EXCL) it refuses to detach and serves on until
# lloop detach; every acknowledged write is there.
#
# CRASH_ROUNDS=N changes the number of SIGKILL rounds (default 20).
# CRASH_ATTACH_SELF_CHECK=1 makes the checker expect a wrong write id in
# every durable block: the test must then fail (proof that it can).
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/../attach/attach_lib.sh"
ROUNDS=${CRASH_ROUNDS:-20}
describe "$ROUNDS SIGKILLs of the attach daemon under load (passthrough and engine); SIGTERM under load"
need findmnt

RECORDS=$T/attached
: >"$RECORDS"

# The driver attaches; tell attach_lib.sh's clean-up what it made, so that
# a failure (or a killed driver) leaves nothing either.
_crash_attach_cleanup() {
	local rc=$? dev pid start info
	set +e
	if [ -s "$RECORDS" ]; then
		while read -r dev pid start info; do
			ATTACHED_DEVS+=("$dev")
			DAEMON_PIDS+=("$pid")
			[ -z "$start" ] || DAEMON_START[$pid]=$start
			[ -z "$info" ] || LOOP_IDS[$dev]=$info
		done <"$RECORDS"
	fi
	(exit "$rc")
	_attach_cleanup
}
trap _crash_attach_cleanup EXIT

fstype=$(stat -f -c %T "$T")
echo "image on a $fstype file system ($T)"
"$PY" "$REPO/tests/hostile/crash_attach.py" "$LLOOP" "$LLOOP_ENGINE" "$T" "$ROUNDS" "$RECORDS" &
DRIVER=$!
track_pid "$DRIVER"
rc=0
wait "$DRIVER" || rc=$?
[ "$rc" = 0 ] || fail "crash consistency of lloop attach (crash_attach.py exited with status $rc)"
assert_nothing_left "the last round"
echo "crash_attach: ok"
