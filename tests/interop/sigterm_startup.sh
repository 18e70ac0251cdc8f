#!/bin/bash
# lloop-test: engine-independent (signal handling at start-up; no I/O)
# SIGTERM that comes while lloop serve is still starting (1 GiB of buffers
# per worker to prefault and lock: over a second) waits for the start-up
# to end and then stops it as always: "SIGTERM: draining and stopping",
# exit 0.  A thread made before the signal mask (the control thread) would
# take it instead, and its default action would end the process at once.
. "$(dirname "$0")/lib.sh"
need_lloop
describe "SIGTERM during start-up: a clean stop once started, exit 0"

pf=$T/serve.pid
"$LLOOP" serve --engine "$LLOOP_ENGINE" --threads 2 --buffer-memory 1G \
	--listen "unix:$T/s.sock" --pidfile "$pf" memory:1M \
	</dev/null >"$T/serve.log" 2>&1 &
pid=$!
track_pid "$pid"
sleep 0.3
[ ! -e "$pf" ] || skip "start-up ended within 0.3 s here: no start-up left to send SIGTERM into"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
cat "$T/serve.log"
[ ! -e "$pf" ] || fail "the pidfile is left behind"
assert_eq "$rc" 0 "exit status of lloop serve after SIGTERM during start-up (143: killed by it)"
grep -q 'SIGTERM: draining and stopping' "$T/serve.log" ||
	fail "no 'SIGTERM: draining and stopping' line in the log"
echo "sigterm_startup: ok"

# the serve --daemon command killed while its daemon starts: the daemon
# finds nobody to tell it is ready, says so, stops, and removes its pidfile
pf=$T/daemon.pid
"$LLOOP" serve --daemon --engine "$LLOOP_ENGINE" --threads 2 --buffer-memory 1G \
	--listen "unix:$T/d.sock" --pidfile "$pf" memory:1M \
	</dev/null >"$T/cmd.log" 2>&1 &
cmd=$!
sleep 0.3
[ ! -e "$pf" ] || skip "start-up ended within 0.3 s here: no start-up left to kill the command in"
kill -KILL "$cmd"
wait "$cmd" 2>/dev/null || :
# the daemon writes its pidfile, then fails to tell the command
for ((i = 0; i < 100; i++)); do
	[ -e "$pf" ] && break
	pgrep -f -- "--listen unix:$T/d.sock" >/dev/null || break
	sleep 0.1
done
for ((i = 0; i < 100; i++)); do
	pgrep -f -- "--listen unix:$T/d.sock" >/dev/null || break
	sleep 0.1
done
left=$(pgrep -f -- "--listen unix:$T/d.sock" || :)
[ -z "$left" ] || { kill -KILL $left; fail "the daemon ($left) still runs 10 s after its command was killed"; }
# (the daemon has the command's stderr until it is ready)
cat "$T/cmd.log"
[ ! -e "$pf" ] || fail "the daemon left its pidfile ($(cat "$pf")) behind"
grep -q "gone before it could be told" "$T/cmd.log" ||
	fail "the daemon's log does not say why it stopped"
echo "sigterm_startup (serve --daemon): ok"
