#!/usr/bin/env bash
# lloop-test: engine-independent (the "already attached" check; no I/O path)
# Four lloop attach of the same image at the same moment: exactly one may
# succeed, the other three must be refused with "already attached" (one
# line, non-zero), so that no two devices ever write one image.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "concurrent attaches of one image: exactly one wins"

IMG=$T/disk.img
truncate -s 64M "$IMG"
_attach_args
# start them together: each waits for the go file
for i in 0 1 2 3; do
	(
		while [ ! -e "$T/go" ]; do sleep 0.01; done
		exec "$LLOOP" attach "${ATTACH_ARGS[@]}" "$IMG" >"$T/out$i" 2>"$T/err$i"
	) &
	P[i]=$!
	track_pid "${P[i]}"
done
sleep 0.5
touch "$T/go"
ok=0
for i in 0 1 2 3; do
	rc=0
	wait "${P[i]}" || rc=$?
	out=$(cat "$T/out$i")
	echo "attach $i: exit $rc, stdout '$out', stderr: $(tr '\n' ' ' <"$T/err$i")"
	if [ -n "$out" ]; then
		# record it for the cleanup, like the attach helper does
		ATTACHED_DEVS+=("$out")
		LOOP_IDS[$out]=$(_loopinfo "$out")
		if pid=$(daemon_pid_of "$out"); then
			DAEMON_PIDS+=("$pid")
			DAEMON_START[$pid]=$(_start_time "$pid")
		fi
	fi
	if [ "$rc" = 0 ]; then
		ok=$((ok + 1))
	else
		if [ "$(wc -l <"$T/err$i")" != 1 ] || ! grep -q 'already attached' "$T/err$i"; then
			fail "attach $i failed with something else than one 'already attached' line"
		fi
	fi
done
"$LLOOP" list
n=$("$LLOOP" list --json | "$PY" -c 'import json, sys; print(len(json.load(sys.stdin)))')
assert_eq "$ok" 1 "lloop attach commands of one image that succeeded"
assert_eq "$n" 1 "attachments in lloop list --json"
for dev in "${ATTACHED_DEVS[@]}"; do
	detach "$dev"
done
assert_nothing_left "lloop detach"
