#!/usr/bin/env bash
# lloop-test: engine-independent (state files and loop devices; no I/O path)
# A dead daemon's device number bound again, by a daemon that died too
# while its device is held open.  Once a daemon's mount namespace is gone,
# sysfs shows its loop device's file as "/", whoever's it was, and the
# FUSE mount's device number is given to the next mount: only the file's
# inode number (unique per daemon) tells the two apart.  The old code took
# the device as the first daemon's, so:
# - lloop detach of the first image refused ("still in use") and its
#   record stayed for ever, and attaching that image again was refused;
# - lloop detach of the device refused: "matches 2 attachments: name the
#   device", with the device named.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "a dead daemon's device number reused by another dead daemon's device"

truncate -s 16M "$T/a.img" "$T/b.img"

wait_gone() { # PID
	local i
	for ((i = 0; i < 100; i++)); do
		[ -e "/proc/$1" ] || return 0
		sleep 0.1
	done
	fail "daemon $1 still exists 10 s after kill -9"
}

# A dies with nobody holding its device: the kernel frees the device
attach "$T/a.img"
A_DEV=$ATTACH_DEV A_PID=$ATTACH_PID
kill -KILL "$A_PID"
wait_gone "$A_PID"
# aside while B attaches: the helpers find a daemon by its device
mv "$RUN/attach/$A_PID.state" "$T/a.state"

# B dies while its device is held open: the device stays bound
attach "$T/b.img"
B_DEV=$ATTACH_DEV B_PID=$ATTACH_PID
hold_dev "$B_DEV"
kill -KILL "$B_PID"
wait_gone "$B_PID"
[ "$(_backing_file "$B_DEV")" = / ] ||
	fail "$B_DEV's file is '$(_backing_file "$B_DEV")', expected / once its daemon is gone"

# what the kernel giving A's number to B leaves (other tests may run and
# take numbers meanwhile, so A's record is made to name B's device)
sed "s|^device=.*|device=$B_DEV|" "$T/a.state" >"$RUN/attach/$A_PID.state"
echo "A: pid $A_PID, $A_DEV (freed; its record now names $B_DEV); B: pid $B_PID, $B_DEV (held by pid $HOLDER)"

# the device named: it is B's, which is held
rc=0
"$LLOOP" detach "$B_DEV" >"$T/d.out" 2>"$T/d.err" || rc=$?
echo "detach $B_DEV (held): exit $rc: $(cat "$T/d.out" "$T/d.err")"
[ "$rc" = 1 ] || fail "detach of the held $B_DEV exited $rc"
grep -q "its daemon (pid $B_PID) died, and the device is still in use" "$T/d.err" ||
	fail "detach $B_DEV does not say B's daemon died and the device is held: $(cat "$T/d.err")"

# A's image: its device is not A's any more
rc=0
"$LLOOP" detach "$T/a.img" >"$T/d.out" 2>"$T/d.err" || rc=$?
echo "detach a.img: exit $rc: $(cat "$T/d.out" "$T/d.err")"
[ "$rc" = 0 ] || fail "detach of a.img, whose daemon died and whose device was taken since, exited $rc: $(cat "$T/d.err")"
grep -q "its daemon (pid $A_PID) had died; cleaned up" "$T/d.out" ||
	fail "detach a.img does not say A's daemon died: $(cat "$T/d.out")"
[ ! -e "$RUN/attach/$A_PID.state" ] || fail "A's record stayed after its detach"
[ "$(_backing_file "$B_DEV")" = / ] || fail "detach of a.img freed B's device $B_DEV"

# and a.img attaches again
attach "$T/a.img"
detach "$ATTACH_DEV"

# two stale records naming the held device: the held one's is the device's
sed "s|^device=.*|device=$B_DEV|" "$T/a.state" >"$RUN/attach/$A_PID.state"
rc=0
"$LLOOP" detach "$B_DEV" >"$T/d.out" 2>"$T/d.err" || rc=$?
echo "detach $B_DEV with two records naming it: exit $rc: $(cat "$T/d.out" "$T/d.err")"
[ "$rc" = 1 ] && grep -q "pid $B_PID" "$T/d.err" ||
	fail "detach $B_DEV did not take B's record (pid $B_PID): exit $rc: $(cat "$T/d.err")"

# the holder goes: the device is freed, and both records are cleaned up
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null || :
for _ in 1 2; do
	rc=0
	"$LLOOP" detach "$B_DEV" >"$T/d.out" 2>"$T/d.err" || rc=$?
	echo "detach $B_DEV: exit $rc: $(cat "$T/d.out" "$T/d.err")"
	[ "$rc" = 0 ] || fail "detach $B_DEV after its holder went: exit $rc: $(cat "$T/d.err")"
done
assert_nothing_left "both dead daemons' records detached"
echo "PASS: a device number used again is told apart by its file"
