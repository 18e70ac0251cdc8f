#!/usr/bin/env bash
# lloop-test: engine-independent (io_uring is made to fail; no --engine)
# Where io_uring is refused (seccomp in containers: EPERM at set-up), the
# threads engine takes over by itself, the log says so in one line, and
# clients see no difference; --engine=uring then fails with a clear line.
. "$(dirname "$0")/lib.sh"
describe "io_uring refused: the threads engine takes over"
need qemu-io
# the plain build's shim where there is one (CI builds it first), else the
# one beside $LLOOP
SHIM=$REPO/build/nouring.so
[ -e "$SHIM" ] || SHIM=$(dirname "$LLOOP")/nouring.so
[ -f "$SHIM" ] || fail "$SHIM not built (run make)"
"$LLOOP" --version | grep -q sanitized &&
	skip "a sanitizer build: its runtime must be the first preloaded library"

# start_server passes --engine; here the point is to pass none
port=$(free_port)
LD_PRELOAD=$SHIM "$LLOOP" serve --listen "tcp://127.0.0.1:$port" \
	--pidfile "$T/pid" --create 16M "$T/disk.img" 2>"$T/log" &
pid=$!
track_pid "$pid"
for i in $(seq 100); do [ -s "$T/pid" ] && break; sleep 0.1; done
[ -s "$T/pid" ] || fail "the server did not start: $(cat "$T/log")"
cat "$T/log"
n=$(grep -c 'io_uring refused (Operation not permitted): using the threads engine' "$T/log")
assert_eq "$n" 1 "lines saying io_uring was refused"
grep -q 'engine threads' "$T/log" || fail "the threads engine is not the one running"
qemu-io -f raw -c 'write -P 0x5a 1000 70000' -c 'read -P 0x5a 1000 70000' \
	"nbd://127.0.0.1:$port" >"$T/qio" || fail "qemu-io: $(cat "$T/qio")"
grep -qi 'fail\|mismatch' "$T/qio" && fail "qemu-io: $(cat "$T/qio")"
kill -TERM "$pid"
wait "$pid" || fail "exit status $? after SIGTERM"

rc=0
LD_PRELOAD=$SHIM "$LLOOP" serve --engine uring --listen "tcp://127.0.0.1:$port" \
	memory:1M 2>"$T/err" || rc=$?
cat "$T/err"
[ "$rc" != 0 ] || fail "--engine uring started although io_uring is refused"
grep -q -- '--engine=uring: io_uring is not available here: Operation not permitted' "$T/err" ||
	fail "no clear line for --engine uring"
[ "$(wc -l <"$T/err")" = 1 ] || fail "more than one line for --engine uring"
