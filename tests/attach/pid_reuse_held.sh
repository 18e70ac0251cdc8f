#!/usr/bin/env bash
# lloop-test: engine-independent (state files and PIDs; no I/O path)
# A daemon dies while its device is held open, so its record stays (it
# stops a second writable device on the image, and 'lloop detach' cleans
# up once the device is free).  Then a new daemon gets the dead one's
# pid.  The old code wrote the new daemon's record over the dead one's:
# the image could be attached a second time while the held device still
# wrote to it, and the held device was no attachment any more.
# Pid reuse is made certain with pid namespaces: in a fresh one, the same
# commands give the daemon the same pid.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "a new daemon with the pid of a dead daemon whose device is held"
need unshare nsenter

truncate -s 16M "$T/a.img" "$T/b.img"

# ns_attach IMAGE: lloop attach in a new pid namespace whose init stays;
# sets NS_UNSHARE (unshare, whose death kills the namespace), NS_INIT (its
# init, for nsenter), NS_DEV and NS_PID (the daemon, as the namespace
# numbers it)
ns_attach() {
	local img=$1 i
	rm -f "$T/ns.done"
	unshare --pid --fork --kill-child --mount-proc bash -c '
		"$1" attach "$2" >"$3/ns.out" 2>"$3/ns.err"
		echo $? >"$3/ns.done"
		exec sleep 600' ns "$LLOOP" "$img" "$T" &
	NS_UNSHARE=$!
	track_pid "$NS_UNSHARE"
	for ((i = 0; i < 300; i++)); do
		[ -s "$T/ns.done" ] && break
		sleep 0.1
	done
	[ "$(cat "$T/ns.done" 2>/dev/null)" = 0 ] ||
		fail "lloop attach $img in a pid namespace: $(cat "$T/ns.err" 2>/dev/null)"
	NS_INIT=$(pgrep -P "$NS_UNSHARE")
	NS_DEV=$(head -n1 "$T/ns.out")
	NS_PID=$(grep -l "^image=$img\$" "$RUN"/attach/*.state | xargs grep -h '^pid=' | cut -d= -f2)
	ATTACHED_DEVS+=("$NS_DEV")
	log "attached $img as $NS_DEV, daemon pid $NS_PID in the namespace of $NS_INIT"
}
# in_ns CMD...: run CMD with that namespace's pids and /proc
in_ns() {
	nsenter -t "$NS_INIT" -p -m -- "$@"
}

# A: attached, held open, killed with its namespace
ns_attach "$T/a.img"
A_DEV=$NS_DEV A_PID=$NS_PID
hold_dev "$A_DEV"
kill -KILL "$NS_UNSHARE"
wait "$NS_UNSHARE" 2>/dev/null || :
for ((i = 0; i < 100; i++)); do
	[ "$(_backing_file "$A_DEV")" = / ] && break
	sleep 0.1
done
[ "$(_backing_file "$A_DEV")" = / ] || fail "$A_DEV: '$(_backing_file "$A_DEV")' 10 s after its daemon was killed"

# B: the same commands in a new namespace give its daemon A's pid
sleep 0.1 # another clock tick: a different start time
ns_attach "$T/b.img"
B_DEV=$NS_DEV B_PID=$NS_PID
[ "$B_PID" = "$A_PID" ] ||
	fail "the daemons got pids $A_PID and $B_PID in fresh namespaces: no pid reuse to test"
echo "A: $A_DEV, daemon $A_PID (dead, device held); B: $B_DEV, daemon $B_PID (alive)"
ls "$RUN/attach" | sed 's/^/  in attach\/: /'

# both are attachments, A's daemon dead and B's alive
in_ns "$LLOOP" list --json >"$T/list.json" || fail "lloop list failed"
"$PY" - "$T/list.json" "$T/a.img" "$T/b.img" <<'EOF' || fail "lloop list: $(cat "$T/list.json")"
import json, sys
l = {d["image"]: d for d in json.load(open(sys.argv[1]))}
assert sys.argv[2] in l, "A's record is gone"
assert sys.argv[3] in l, "B's record is missing"
assert not l[sys.argv[2]]["alive"] and l[sys.argv[3]]["alive"], l
EOF

# A's image is still written through its held device: no second device
rc=0
in_ns "$LLOOP" attach "$T/a.img" >"$T/a2.out" 2>"$T/a2.err" || rc=$?
echo "attach a.img again: exit $rc: $(cat "$T/a2.out" "$T/a2.err")"
if [ "$rc" = 0 ]; then
	ATTACHED_DEVS+=("$(head -n1 "$T/a2.out")")
	fail "a.img got a second device while $A_DEV, held, still writes to it"
fi
grep -q "still bound to $A_DEV, whose daemon died" "$T/a2.err" ||
	fail "the refusal does not name $A_DEV: $(cat "$T/a2.err")"

# the holder goes: A's record is cleaned up, B's stays whole
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null || :
rc=0
in_ns "$LLOOP" detach "$T/a.img" >"$T/d.out" 2>"$T/d.err" || rc=$?
echo "detach a.img: exit $rc: $(cat "$T/d.out" "$T/d.err")"
[ "$rc" = 0 ] && grep -q "its daemon (pid $A_PID) had died; cleaned up" "$T/d.out" ||
	fail "detach of a.img after its holder went: exit $rc: $(cat "$T/d.out" "$T/d.err")"
for ext in state sock log; do
	[ -e "$RUN/attach/$B_PID.$ext" ] || fail "detach of A's record removed B's $B_PID.$ext"
done
grep -q "^image=$T/b.img\$" "$RUN/attach/$B_PID.state" || fail "$B_PID.state is not B's"
in_ns "$LLOOP" detach "$B_DEV" >"$T/d.out" 2>"$T/d.err" ||
	fail "detach of B's $B_DEV: $(cat "$T/d.out" "$T/d.err")"
kill -KILL "$NS_UNSHARE"
wait "$NS_UNSHARE" 2>/dev/null || :
assert_nothing_left "both detached"
echo "PASS: a dead daemon's held device keeps its record when its pid comes back"
