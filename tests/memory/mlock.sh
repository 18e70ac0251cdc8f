#!/usr/bin/env bash
# lloop-test: engine-independent (memory locking and prctl; io_flusher.sh tries both engines itself)
# --mlock (the default): VmLck covers the pools and stats says so;
# --no-mlock locks nothing; a too small RLIMIT_MEMLOCK is one clear error
# naming the limit, unless --no-mlock.
. "$(dirname "$0")/../interop/lib.sh"
describe "mlock takes effect, and its failure is a clear error"
"$LLOOP" --version | grep -q sanitized &&
	skip "a sanitizer build: memory figures are the sanitizer's, and it allows no mlock or malloc shim"
need setpriv prlimit

CTL=$T/ctl.sock
start_server --control "$CTL" memory:64M
"$LLOOP" stats --json --control "$CTL" >"$T/stats.json"
read -r mlock pools locked <<<"$("$PY" -c '
import json, sys
m = json.load(open(sys.argv[1]))["memory"]
print(m["mlock"], m["pool_bytes"], m["vm_locked"])' "$T/stats.json")"
lck_kb=$(awk '$1 == "VmLck:" { print $2 }' "/proc/$SERVER_PID/status")
echo "mlock $mlock, pools $pools bytes, VmLck $lck_kb kB (stats: $locked bytes)"
assert_eq "$mlock" True "stats memory.mlock"
[ $((lck_kb * 1024)) -ge "$pools" ] || fail "VmLck $lck_kb kB does not cover the $pools bytes of pools"
# the default configuration promises at most 256 MiB locked
[ "$lck_kb" -le $((256 * 1024)) ] || fail "VmLck $lck_kb kB is over 256 MiB"
stop_server

start_server --control "$CTL" --no-mlock memory:64M
lck_kb=$(awk '$1 == "VmLck:" { print $2 }' "/proc/$SERVER_PID/status")
echo "--no-mlock: VmLck $lck_kb kB"
assert_eq "$lck_kb" 0 "VmLck with --no-mlock"
stop_server

# root passes RLIMIT_MEMLOCK with CAP_IPC_LOCK: drop it to see the limit bite
log "RLIMIT_MEMLOCK of 1 MiB without CAP_IPC_LOCK"
rc=0
setpriv --bounding-set=-ipc_lock --inh-caps=-ipc_lock \
	prlimit --memlock=1048576 "$LLOOP" serve --control "$CTL" \
	--listen "tcp://127.0.0.1:$(free_port)" memory:16M >"$T/err.txt" 2>&1 || rc=$?
cat "$T/err.txt"
[ "$rc" != 0 ] || fail "the server started although mlockall cannot succeed"
grep -q 'RLIMIT_MEMLOCK is 1048576 bytes' "$T/err.txt" ||
	fail "the error does not name RLIMIT_MEMLOCK and its value"
grep -q -- '--no-mlock' "$T/err.txt" || fail "the error does not mention --no-mlock"

log "the same limit with --no-mlock serves"
port=$(free_port)
setpriv --bounding-set=-ipc_lock --inh-caps=-ipc_lock \
	prlimit --memlock=1048576 "$LLOOP" serve --no-mlock --control "$CTL" \
	--pidfile "$T/nm.pid" --listen "tcp://127.0.0.1:$port" memory:16M \
	2>"$T/nm.log" &
pid=$!
track_pid "$pid"
for i in $(seq 50); do [ -s "$T/nm.pid" ] && break; sleep 0.1; done
[ -s "$T/nm.pid" ] || fail "--no-mlock did not start: $(cat "$T/nm.log")"
size=$(nbdinfo --size "nbd://127.0.0.1:$port") || fail "nbdinfo failed"
assert_eq "$size" 16777216 "size with --no-mlock"
kill -TERM "$pid"
wait "$pid" || fail "--no-mlock server exit status $?"
