#!/usr/bin/env bash
# lloop-test: engine-independent (the worker count; no I/O path)
# On a node with more than 128 CPUs the default worker count (one per
# CPU) is capped at 128, the most --threads takes: the file backend's
# guard (backend/rmw.h) keeps one waiter slot per worker, and with more
# workers the writes waiting behind a read-modify-write on the 129th and
# later were never woken (a review reproduced 22 of 150 writes hanging).
# An LD_PRELOAD shim makes sysconf say 160 CPUs.
. "$(dirname "$0")/lib.sh"
describe "the default worker count is capped at 128 on a 160-CPU node"
SHIM=$REPO/build/manycpus.so
[ -e "$SHIM" ] || SHIM=$(dirname "$LLOOP")/manycpus.so
[ -f "$SHIM" ] || fail "$SHIM not built (run make)"
"$LLOOP" --version | grep -q sanitized &&
	skip "a sanitizer build: its runtime must be the first preloaded library"

truncate -s 16M "$T/disk.img"
LD_PRELOAD=$SHIM start_server_unix --control "$T/ctl.sock" "$T/disk.img"
n=$("$LLOOP" stats --json --control "$T/ctl.sock" |
	"$PY" -c 'import json, sys; print(len(json.load(sys.stdin)["workers"]))')
assert_eq "$n" 128 "workers of a server started with 160 CPUs online"
stop_server
rc=0
"$LLOOP" serve --threads 129 "$T/disk.img" 2>"$T/err" || rc=$?
assert_eq "$rc" 2 "exit status of serve --threads 129"
grep -q -- "--threads" "$T/err" || fail "the error does not name --threads: $(cat "$T/err")"
echo "PASS: at most 128 workers"
