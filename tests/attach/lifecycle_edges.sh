#!/usr/bin/env bash
# lloop-test: engine-independent (state files and the daemon's exit; the
# I/O path is the default engine's)
# Edges of the attach lifecycle, each once broken:
# - a flush that fails at detach: lloop detach must fail and say why,
#   not report success over data that may not be durable;
# - an attach command killed before it printed the device: its daemon
#   must not stay behind with a bound device nobody knows about;
# - a dead daemon's device still held open: a hard link to the same image
#   is the same image, and gets no second writable device;
# - an image path with a newline (the state file is a line per key): refused;
# - a runtime directory on a full file system: one line naming the file
#   and the reason, and nothing left behind;
# - a dead daemon's mount point file whose pid comes back to a new daemon;
# - detach by the device's name in /dev, by a link to it, and by a hard
#   link to the image;
# - an attach whose output cannot be written: no device nobody knows of;
# - lloop list --json with an unreadable runtime directory: valid JSON, and
#   the reason on stderr.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "attach lifecycle edges: failed final flush, killed attach, hard link, newline"

IMG=$T/disk.img
truncate -s 64M "$IMG"

# 1. every flush fails: writes go in, the detach's flush fails
attach "$IMG" --inject-fault flush:EIO:1
DEV=$ATTACH_DEV
PID=$ATTACH_PID
dd if=/dev/urandom of="$DEV" bs=1M count=4 status=none
rc=0
timeout 90 "$LLOOP" detach "$DEV" >"$T/d.out" 2>"$T/d.err" || rc=$?
echo "lloop detach with a failing flush: exit $rc: $(cat "$T/d.err")"
[ "$rc" = 1 ] || fail "lloop detach exited $rc when the flush before detach failed"
grep -q "stopped with an error" "$T/d.err" && grep -qi "flush" "$T/d.err" ||
	fail "lloop detach's error does not say the flush failed: $(cat "$T/d.err")"
for ((i = 0; i < 50; i++)); do
	_is_lloop_pid "$PID" || break
	sleep 0.2
done
! _is_lloop_pid "$PID" || fail "the daemon $PID is still running after the detach"
left=$(ls "$RUN/attach" 2>/dev/null | grep "^$PID\." || :)
[ -z "$left" ] || fail "files of the daemon left in $RUN/attach: $left"
assert_nothing_left "a detach whose flush failed"

# 2. the attach command killed while it waits for its daemon: SIGKILL,
# and SIGINT as Ctrl-C sends it (timeout signals its whole process group,
# as the terminal does; the daemon leaves that group right after the fork)
# (an attach takes some 60 ms here: kill it at several points of that)
for sig in KILL INT; do
	killed=0
	for after in 0.005 0.01 0.02 0.03 0.04 0.05; do
		rc=0
		timeout -s "$sig" "$after" "$LLOOP" attach "$IMG" >"$T/a.out" 2>"$T/a.err" || rc=$?
		echo "attach sent SIG$sig after $after s: exit $rc, printed '$(cat "$T/a.out")'"
		if [ -s "$T/a.out" ]; then
			# it printed the device before the signal (exit 0, or
			# 137 when killed right after printing): a normal one
			ATTACHED_DEVS+=("$(cat "$T/a.out")")
			detach "$(cat "$T/a.out")"
			continue
		fi
		# the daemon, if it got going, finds nobody to tell and stops
		killed=$((killed + 1))
		assert_nothing_left "an attach sent SIG$sig before it printed the device" 15
	done
	[ "$killed" -gt 0 ] || fail "every attach finished before SIG$sig: no attach killed by it was tested"
done

# 3. a dead daemon's device held open; the image again by a hard link
attach "$IMG"
DEV=$ATTACH_DEV
PID=$ATTACH_PID
# the holder must have the device open before the daemon dies, or the
# device goes with the daemon and there is no orphan to test
hold_dev "$DEV"
kill -KILL "$PID"
# the daemon and its helper process (its session), and with them the lock
for ((i = 0; i < 50; i++)); do
	pgrep -s "$PID" >/dev/null || break
	sleep 0.2
done
! pgrep -s "$PID" >/dev/null || fail "the killed daemon's session $PID still has processes: $(pgrep -as "$PID")"
ln "$IMG" "$T/hard.img"
attach_try "$T/hard.img"
echo "attach of a hard link while $DEV (dead daemon) holds the image: exit $ATTACH_RC: $(cat "$ATTACH_ERR")"
if [ "$ATTACH_RC" = 0 ]; then
	ATTACHED_DEVS+=("$ATTACH_DEV")
	fail "a second device ($ATTACH_DEV) for the image $DEV still writes through"
fi
grep -q "$DEV" "$ATTACH_ERR" || fail "the refusal does not name $DEV: $(cat "$ATTACH_ERR")"
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null || :
rc=0
timeout 60 "$LLOOP" detach "$DEV" >/dev/null 2>"$T/d.err" || rc=$?
[ "$rc" = 0 ] || fail "detach of the dead daemon's device: exit $rc: $(cat "$T/d.err")"
assert_nothing_left "the dead daemon's device, closed and detached"

# 4. a newline in the image's path
NL="$T/new
line.img"
truncate -s 64M "$NL"
attach_try "$NL"
echo "attach of a path with a newline: exit $ATTACH_RC: $(cat "$ATTACH_ERR")"
[ "$ATTACH_RC" != 0 ] || { ATTACHED_DEVS+=("$ATTACH_DEV"); fail "attach of a path with a newline succeeded"; }
grep -q "newline" "$ATTACH_ERR" || fail "the refusal does not say why: $(cat "$ATTACH_ERR")"
assert_nothing_left "a refused path with a newline"

# 5. the runtime directory's file system is full
mount_dev lloopfull "$T/fullrun" -t tmpfs -o size=64k
mkdir -p "$T/fullrun/attach" "$T/fullrun/locks"
dd if=/dev/zero of="$T/fullrun/fill" bs=4k 2>/dev/null || :
LLOOP_RUNTIME_DIR=$T/fullrun attach_try "$IMG"
echo "attach with a full runtime file system: exit $ATTACH_RC: $(cat "$ATTACH_ERR")"
[ "$ATTACH_RC" != 0 ] || { ATTACHED_DEVS+=("$ATTACH_DEV"); fail "attach succeeded with a full runtime file system"; }
grep -q "No space left on device" "$ATTACH_ERR" && grep -q "$T/fullrun/attach/" "$ATTACH_ERR" ||
	fail "the error does not name the file and ENOSPC: $(cat "$ATTACH_ERR")"
left=$(ls "$T/fullrun/attach")
[ -z "$left" ] || fail "left in the full runtime directory: $left"
assert_nothing_left "an attach refused for a full runtime file system"
umount_dir "$T/fullrun"

# 6. mount point files of dead daemons, for the pids the next daemon gets
if [ -w /proc/sys/kernel/ns_last_pid ]; then
	max=$(cat /proc/sys/kernel/pid_max)
	base=$(($(cat /proc/sys/kernel/ns_last_pid) + 1000))
	[ "$base" -lt $((max - 1000)) ] || base=1000
	mkdir -p "$RUN/attach"
	for ((p = base; p < base + 300; p++)); do
		: >"$RUN/attach/$p.img"
	done
	echo $((base - 1)) >/proc/sys/kernel/ns_last_pid
	attach "$IMG"
	echo "stale mount point files for pids $base-$((base + 299)); the daemon got pid $ATTACH_PID"
	[ "$ATTACH_PID" -ge "$base" ] && [ "$ATTACH_PID" -lt $((base + 300)) ] ||
		fail "the daemon's pid $ATTACH_PID is not among those of the stale files: nothing was tested"
	detach "$ATTACH_DEV"
	rm -f "$RUN"/attach/*.img
else
	echo "SKIP part 6: /proc/sys/kernel/ns_last_pid is not writable"
fi

# 7. detach finds the attachment by other names of the device and image
attach "$IMG"
rc=0
(cd /dev && timeout 60 "$LLOOP" detach "${ATTACH_DEV#/dev/}") >/dev/null 2>"$T/d.err" || rc=$?
[ "$rc" = 0 ] || fail "lloop detach ${ATTACH_DEV#/dev/} in /dev: exit $rc: $(cat "$T/d.err")"
assert_nothing_left "detach by the device's name in /dev"
attach "$IMG"
ln -s "$ATTACH_DEV" "$T/devlink"
rc=0
timeout 60 "$LLOOP" detach "$T/devlink" >/dev/null 2>"$T/d.err" || rc=$?
[ "$rc" = 0 ] || fail "lloop detach of a symlink to $ATTACH_DEV: exit $rc: $(cat "$T/d.err")"
assert_nothing_left "detach by a symlink to the device"
[ -e "$T/hard.img" ] || ln "$IMG" "$T/hard.img"
attach "$IMG"
rc=0
timeout 60 "$LLOOP" detach "$T/hard.img" >/dev/null 2>"$T/d.err" || rc=$?
[ "$rc" = 0 ] || fail "lloop detach by a hard link to the image: exit $rc: $(cat "$T/d.err")"
assert_nothing_left "detach by a hard link to the image"

# 8. the device cannot be printed (stdout is a full device)
rc=0
"$LLOOP" attach "$IMG" >/dev/full 2>"$T/a.err" || rc=$?
echo "attach >/dev/full: exit $rc: $(grep -v warning "$T/a.err")"
[ "$rc" = 1 ] || fail "attach with stdout on /dev/full exited $rc"
grep -q "cannot print the device" "$T/a.err" || fail "attach >/dev/full does not say why: $(cat "$T/a.err")"
# it returns once its daemon has detached: an attach right after works
assert_nothing_left "an attach that could not print its device" 0
attach "$IMG"
detach "$ATTACH_DEV"
assert_nothing_left "the attach after it"

# 9. lloop list with a runtime directory it cannot read; a bad argument
: >"$T/notadir"
rc=0
out=$(LLOOP_RUNTIME_DIR=$T/notadir "$LLOOP" list --json 2>"$T/l.err") || rc=$?
echo "list --json, runtime directory a file: exit $rc, stdout '$out', stderr: $(cat "$T/l.err")"
[ "$rc" = 1 ] || fail "list --json exited $rc with an unreadable runtime directory"
echo "$out" | "$PY" -c 'import json, sys; assert json.load(sys.stdin) == []' ||
	fail "list --json printed no valid JSON: '$out'"
grep -q "Not a directory" "$T/l.err" || fail "list does not say why: $(cat "$T/l.err")"
rc=0
"$LLOOP" list --json foo >/dev/null 2>"$T/l.err" || rc=$?
[ "$rc" = 2 ] && grep -q "'foo'" "$T/l.err" ||
	fail "list --json foo: exit $rc, $(cat "$T/l.err") (the error must name foo)"
