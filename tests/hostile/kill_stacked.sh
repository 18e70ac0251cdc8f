#!/usr/bin/env bash
# SIGKILL of an attach daemon while a call on its own FUSE file waits.
# The daemon's FUSE file is answered by its own workers; a call on it made
# by a thread of the daemon (opening it, LOOP_CONFIGURE at attach; fsync
# and LOOP_CLR_FD of the loop device at detach) waits uninterruptibly, and
# the kernel ends those waits only when /dev/fuse closes, at process exit,
# which waits for that thread: a SIGKILL left the daemon in D state for
# good.  Stacked attaches make the wait last: IMAGE -> /dev/loopA (the
# lower daemon), /dev/loopA -> /dev/loopB (the upper daemon).  1 MiB is
# written through loopB; the lower daemon gets SIGSTOP; lloop detach of
# loopB makes the upper flush, which needs the stopped lower; once the
# upper's detach waits (its main thread, or a helper process of it, in D
# state), the upper gets SIGKILL.  Then: within 10 s the upper's main
# thread has left (it is not stuck in the kernel; its engine's sync on
# loopA still waits for the lower), the lower gets SIGCONT and within 20 s
# the upper daemon and its helpers are gone; the lower still serves (the
# 1 MiB reads back through loopA, a new write there too); lloop detach
# cleans up the dead upper and detaches the lower; nothing is left (state
# files, daemons, loop devices in losetup -a, FUSE mounts).
# Runs once per engine: what waits on the lower is an io-wq worker with
# uring, a pool thread with threads, and the upper's exit waits for it.
# If the upper stays stuck anyway (the bug), the clean-up aborts the FUSE
# connection of the upper's mount (/sys/fs/fuse/connections/<minor of its
# st_dev>/abort, through a private fusectl mount if none is mounted), so
# that a failing run leaves nothing behind either.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/../attach/attach_lib.sh"
describe "SIGKILL of the upper of two stacked attaches while its detach waits on its own FUSE file"
need dd cmp ps unshare

LOWER=
UPPER=
UPPER_CONN=
UPPER_DEV=
KILLED=
STOPPED=

# _pstate PID [TID]: the state letter of a task (empty: no such task)
_pstate() {
	local st
	st=$(cat "/proc/$1/task/${2:-$1}/stat" 2>/dev/null) || return 0
	st=${st##*) }
	echo "${st%% *}"
}

# gone PID: the process has ended (a zombie, or reaped)
gone() {
	local s
	s=$(_pstate "$1")
	[ -z "$s" ] || [ "$s" = Z ] || [ "$s" = X ]
}

# fuse_conn PID: the FUSE connection of the daemon PID's mount, by the
# minor of its st_dev (fusectl names connections so)
fuse_conn() {
	awk -v mp="$RUN/attach/$1.img" '$5 == mp { split($3, d, ":"); print d[2] }' \
		"/proc/$1/mountinfo"
}

# abort_conn N PID: abort FUSE connection N, which the daemon PID (still
# there: so N is still its connection) made
abort_conn() {
	local c=/sys/fs/fuse/connections/$1
	[ -n "$1" ] && [ -e "/proc/$2" ] || return 0
	echo "cleanup: aborting FUSE connection $1 of daemon $2" >&2
	if [ -e "$c/abort" ]; then
		echo 1 >"$c/abort"
	else
		# shellcheck disable=SC2016 # expanded by that sh
		unshare -m sh -c 'mount -t fusectl fusectl /sys/fs/fuse/connections &&
			[ -e "/proc/$2" ] && echo 1 >"/sys/fs/fuse/connections/$1/abort"' \
			sh "$1" "$2"
	fi
}

_kill_stacked_cleanup() {
	local rc=$? i
	set +e
	if [ -n "$STOPPED" ] && _is_lloop_pid "$LOWER"; then
		kill -CONT "$LOWER"
	fi
	if [ -n "$UPPER" ] && ! gone "$UPPER"; then
		[ -n "$KILLED" ] || ! _is_lloop_pid "$UPPER" || kill -KILL "$UPPER"
		for ((i = 0; i < 100; i++)); do
			gone "$UPPER" && break
			sleep 0.1
		done
		if ! gone "$UPPER"; then
			echo "cleanup: daemon $UPPER stuck after SIGKILL:" \
				"$(tr '\n' ' ' <"/proc/$UPPER/task/$UPPER/stack" 2>/dev/null)" >&2
			abort_conn "$UPPER_CONN" "$UPPER"
			for ((i = 0; i < 100; i++)); do
				gone "$UPPER" && break
				sleep 0.1
			done
			gone "$UPPER" || echo "cleanup: daemon $UPPER still there" >&2
		fi
	fi
	# the upper first: while it lives on the lower's device, "lloop
	# detach LOWER" is refused
	if [ -n "$UPPER" ] && daemon_pid_of "$UPPER_DEV" >/dev/null 2>&1 && gone "$UPPER"; then
		timeout 20 "$LLOOP" detach "$UPPER_DEV" >&2
	fi
	(exit "$rc")
	_attach_cleanup
}
trap _kill_stacked_cleanup EXIT

truncate -s 64M "$T/disk.img"
attach "$T/disk.img"
LOWER_DEV=$ATTACH_DEV
LOWER=$ATTACH_PID
attach "$LOWER_DEV"
UPPER_DEV=$ATTACH_DEV
UPPER=$ATTACH_PID
UPPER_CONN=$(fuse_conn "$UPPER")
# the daemons' children (their helper processes), which must go with them
LOWER_KIDS=$(ps -o pid= --ppid "$LOWER" | tr -s ' \n' ' ')
UPPER_KIDS=$(ps -o pid= --ppid "$UPPER" | tr -s ' \n' ' ')
[ -n "$UPPER_CONN" ] || fail "no FUSE mount of daemon $UPPER in /proc/$UPPER/mountinfo"
echo "lower: $LOWER_DEV (daemon $LOWER); upper: $UPPER_DEV (daemon $UPPER, FUSE connection $UPPER_CONN)"

# naming the lower device means that device, though it is also the
# upper's image; the upper lives on it, so it stays
rc=0
out=$("$LLOOP" detach "$LOWER_DEV" 2>&1) || rc=$?
{ [ "$rc" = 1 ] && grep -qF "is the image of $UPPER_DEV (pid $UPPER): detach that first" <<<"$out"; } ||
	fail "lloop detach $LOWER_DEV under a stacked attach: exit $rc: $out"
{ kill -0 "$LOWER" && kill -0 "$UPPER"; } || fail "a refused lloop detach $LOWER_DEV ended a daemon"

head -c 1M /dev/urandom >"$T/pattern"
dd if="$T/pattern" of="$UPPER_DEV" bs=1M count=1 oflag=direct conv=fsync status=none ||
	fail "writing 1 MiB through $UPPER_DEV failed"

kill -STOP "$LOWER"
STOPPED=1
log "lower daemon $LOWER stopped; lloop detach $UPPER_DEV"
"$LLOOP" detach "$UPPER_DEV" >"$T/detach.out" 2>"$T/detach.err" &
DETACH=$!
track_pid "$DETACH"

# blocked: the upper's main thread, or a child of the upper, in D state
HELPERS=
blocked() {
	local st
	[ "$(_pstate "$UPPER")" != D ] || return 0
	while read -r _ st; do
		if [ "${st:0:1}" = D ]; then
			HELPERS=$(ps -o pid= --ppid "$UPPER" | tr -s ' \n' ' ')
			return 0
		fi
	done < <(ps -o pid=,stat= --ppid "$UPPER")
	return 1
}
for ((i = 0; i < 300; i++)); do
	blocked && break
	gone "$UPPER" && fail "the upper daemon $UPPER ended while the lower was stopped"
	sleep 0.1
done
blocked || fail "30 s after lloop detach $UPPER_DEV, with the lower daemon stopped, nothing of the upper waits: the scenario did not happen"
grep -q detaching "$RUN/attach/$UPPER.log" ||
	fail "the upper daemon blocked, but not in its detach: $(tail -n 3 "$RUN/attach/$UPPER.log")"
echo "the upper's detach waits: main thread $(_pstate "$UPPER") in" \
	"$(cat "/proc/$UPPER/task/$UPPER/wchan" 2>/dev/null)${HELPERS:+, helper process(es) $HELPERS}"
for h in $HELPERS; do
	echo "  helper $h: $(_pstate "$h") in $(cat "/proc/$h/wchan" 2>/dev/null)"
done

kill -KILL "$UPPER"
KILLED=1
log "SIGKILL to the upper daemon $UPPER"
for ((i = 0; i < 100; i++)); do
	s=$(_pstate "$UPPER")
	[ "$s" = D ] || break
	sleep 0.1
done
if [ "$(_pstate "$UPPER")" = D ]; then
	echo "stack of the upper's main thread:" >&2
	cat "/proc/$UPPER/task/$UPPER/stack" >&2
	fail "10 s after SIGKILL the upper daemon's main thread is still in D state: it waits on its own FUSE file, and nothing can end it"
fi
echo "the upper's main thread has left: state '$(_pstate "$UPPER")'"

kill -CONT "$LOWER"
STOPPED=
CONT_AT=$(date +%s.%N)
log "lower daemon $LOWER continued"
for ((i = 0; i < 200; i++)); do
	[ -e "/proc/$UPPER" ] || break
	sleep 0.1
done
if [ -e "/proc/$UPPER" ]; then
	for t in /proc/"$UPPER"/task/*; do
		echo "task ${t##*/}: $(_pstate "$UPPER" "${t##*/}"): $(tr '\n' ' ' <"$t/stack" 2>/dev/null)" >&2
	done
	fail "20 s after the lower was continued, the killed upper daemon $UPPER still exists (state $(_pstate "$UPPER"))"
fi
echo "the upper daemon is gone $(_elapsed "$CONT_AT") s after the lower was continued"
for h in $HELPERS $UPPER_KIDS; do
	for ((i = 0; i < 100; i++)); do
		gone "$h" && break
		sleep 0.1
	done
	gone "$h" || fail "the upper's helper process $h is still there ($(_pstate "$h"))"
done

rc=0
wait "$DETACH" || rc=$?
cat "$T/detach.out" "$T/detach.err"
assert_eq "$rc" 0 "exit status of the lloop detach $UPPER_DEV during which its daemon was killed"

# the lower still serves: what was written through the upper, and more
dd if="$LOWER_DEV" of="$T/back" bs=1M count=1 iflag=direct status=none ||
	fail "reading $LOWER_DEV failed after the lower daemon was continued"
cmp -s "$T/pattern" "$T/back" || fail "the 1 MiB written through $UPPER_DEV does not read back through $LOWER_DEV"
head -c 1M /dev/urandom >"$T/pattern2"
dd if="$T/pattern2" of="$LOWER_DEV" bs=1M seek=1 count=1 oflag=direct conv=fsync status=none ||
	fail "writing $LOWER_DEV failed after the lower daemon was continued"
dd if="$LOWER_DEV" of="$T/back" bs=1M skip=1 count=1 iflag=direct status=none ||
	fail "reading $LOWER_DEV back failed"
cmp -s "$T/pattern2" "$T/back" || fail "a write to $LOWER_DEV does not read back"
echo "the lower daemon serves: the upper's 1 MiB and a new 1 MiB read back through $LOWER_DEV"

# the dead upper: its device goes with its helper's last close
for ((i = 0; i < 100; i++)); do
	[ -z "$(_backing_file "$UPPER_DEV")" ] && break
	sleep 0.1
done
out=$("$LLOOP" detach "$UPPER_DEV" 2>&1) || fail "lloop detach $UPPER_DEV after its daemon was killed: exit $?: $out"
assert_eq "$out" "$UPPER_DEV: its daemon (pid $UPPER) had died; cleaned up" "lloop detach $UPPER_DEV"
detach "$LOWER_DEV"
assert_nothing_left "the detaches"
for h in $LOWER_KIDS; do
	gone "$h" || fail "the lower's child process $h is still there ($(_pstate "$h"))"
done
left=$(losetup -a | grep -F "$T/" || :)
[ -z "$left" ] || fail "losetup -a still lists: $left"
left=$(findmnt -rn -o TARGET | grep -F "$T/" || :)
[ -z "$left" ] || fail "findmnt still lists: $left"
echo "kill_stacked: ok"
