#!/usr/bin/env bash
# No allocation on the I/O path: with a shim counting malloc, calloc,
# realloc, free, mmap and munmap on lloop's I/O threads, 20 s of fio
# (nbd engine, 4 connections, random reads and writes of 512 B to 1 MiB,
# verified) must add no call at all.
. "$(dirname "$0")/../interop/lib.sh"
describe "allocator and mmap calls on the I/O threads during 20 s of fio"
"$LLOOP" --version | grep -q sanitized &&
	skip "a sanitizer build: memory figures are the sanitizer's, and it allows no mlock or malloc shim"
need fio
SHIM=${BUILD_DIR:-$REPO/build}/alloccount.so
[ -f "$SHIM" ] || fail "$SHIM not built (run make)"

truncate -s 256M "$T/disk.img"
CTL=$T/ctl.sock
LD_PRELOAD=$SHIM start_server --control "$CTL" "$T/disk.img"

calls() {
	"$LLOOP" stats --json --control "$CTL" | "$PY" -c '
import json, sys
c = json.load(sys.stdin).get("io_thread_calls")
if c is None:
    sys.exit("the shim is not loaded: no io_thread_calls in lloop stats")
print(sum(c.values()), " ".join("%s=%d" % kv for kv in sorted(c.items())))'
}

run_fio() {
	fio --name=alloc --ioengine=nbd --uri="$SERVER_URI" --rw=randrw \
		--bsrange=512-1M --size=48M --offset_increment=64M --numjobs=4 \
		--iodepth=16 --verify=crc32c --verify_state_save=0 --time_based --runtime="$1" \
		--group_reporting --output="$T/fio-$1.txt" ||
		fail "fio failed: $(tail -5 "$T/fio-$1.txt")"
}

log "warm-up: 2 s of fio"
run_fio 2
read -r before detail_before <<<"$(calls)"
echo "after warm-up: $before calls ($detail_before)"
# the worker threads allocate their rings at start: seeing those proves
# the shim counts on the right threads
[ "$before" -gt 0 ] || fail "the shim counted nothing even at start-up"

log "measured: 20 s of fio"
run_fio 20
grep -E 'IOPS' "$T/fio-20.txt" | sed 's/^/    /'
read -r after detail_after <<<"$(calls)"
echo "after 20 s of fio: $after calls ($detail_after)"
echo "allocator and mmap calls on the I/O path: $((after - before))"
[ "$after" = "$before" ] || fail "the I/O path made $((after - before)) calls"
stop_server
