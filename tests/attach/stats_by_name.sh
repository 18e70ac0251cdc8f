#!/usr/bin/env bash
# lloop stats finds an attach daemon by the device or image it serves
# (any name of either), and with no name the only daemon running; what
# it cannot find, or a name with --control, is one clear error line.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "lloop stats DEVICE|IMAGE, and the only daemon by default"
need unshare

truncate -s 16M "$T/a.img" "$T/b.img"
ln -s a.img "$T/link.img"

# json_pid: the pid in the lloop stats --json on stdin
json_pid() {
	"$PY" -c 'import json, sys; print(json.load(sys.stdin)["pid"])'
}
# stats_pid ARGS...: the pid lloop stats --json ARGS reports
stats_pid() {
	"$LLOOP" stats --json "$@" | json_pid
}
# in a mount namespace where /run/lloop (serve daemons, maybe another
# test's) is empty: only this test's attachments are there to be found
stats_alone() {
	unshare -m --propagation private sh -c \
		'mkdir -p /run/lloop && mount -t tmpfs none /run/lloop && exec "$@"' \
		sh "$LLOOP" stats "$@"
}

attach "$T/a.img"
a_dev=$ATTACH_DEV a_pid=$ATTACH_PID
assert_eq "$(stats_pid "$a_dev")" "$a_pid" "lloop stats $a_dev: its daemon"
assert_eq "$(stats_pid "$T/a.img")" "$a_pid" "lloop stats IMAGE: its daemon"
assert_eq "$(stats_pid "$T/link.img")" "$a_pid" "lloop stats through a link to the image"
"$LLOOP" stats "$a_dev" | grep -q "^pid $a_pid, engine " ||
	fail "lloop stats $a_dev (text) does not start with its pid"
stats_alone --json >"$T/alone.json" || fail "lloop stats with one daemon and no name failed"
assert_eq "$(json_pid <"$T/alone.json")" \
	"$a_pid" "lloop stats with no name: the only daemon"

attach "$T/b.img"
b_dev=$ATTACH_DEV b_pid=$ATTACH_PID
assert_eq "$(stats_pid "$b_dev")" "$b_pid" "lloop stats $b_dev among two"
stats_alone >/dev/null 2>"$T/err" && fail "lloop stats with two daemons and no name succeeded"
grep -q "several daemons run" "$T/err" || fail "no 'several daemons' error: $(cat "$T/err")"

# errors: one line naming what is wrong, exit 1 (2: usage)
"$LLOOP" stats "$T/nothing.img" 2>"$T/err" && fail "stats of an image never attached succeeded"
grep -q "nothing.img: not attached by lloop" "$T/err" || fail "wrong error: $(cat "$T/err")"
rc=0
"$LLOOP" stats --control "$RUN/attach/$a_pid.sock" "$a_dev" 2>"$T/err" || rc=$?
assert_eq "$rc" 2 "exit status of stats with both --control and a device"
rc=0
"$LLOOP" stats "$a_dev" "$b_dev" 2>/dev/null || rc=$?
assert_eq "$rc" 2 "exit status of stats with two names"

kill -9 "$b_pid"
for _ in $(seq 50); do kill -0 "$b_pid" 2>/dev/null || break; sleep 0.1; done
"$LLOOP" stats "$b_dev" 2>"$T/err" && fail "stats of a device whose daemon died succeeded"
grep -q "its daemon (pid $b_pid) has died" "$T/err" || fail "wrong error: $(cat "$T/err")"
"$LLOOP" detach "$b_dev" >/dev/null || fail "detach of the dead daemon's $b_dev"
detach "$a_dev"
assert_nothing_left "the detaches"
