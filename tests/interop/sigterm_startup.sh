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
