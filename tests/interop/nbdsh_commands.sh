#!/bin/bash
# Every NBD command and flag through libnbd (nbdsh's Python binding):
# pread/pwrite(+FUA), flush, trim, zero (NO_HOLE, FAST_ZERO, FUA), cache,
# block status (base:allocation, REQ_ONE) on a sparse file, DF reads,
# structured replies on/off, error replies (EINVAL, ENOSPC, EOVERFLOW) each
# followed by a good request, pipelined aio requests, multi-conn coherence.
. "$(dirname "$0")/lib.sh"
need nbdsh nbdcopy truncate dd od cmp
need_pynbd
describe "all NBD commands/flags/errors via libnbd + nbdsh on a sparse 48 MiB file"

img=$T/disk.img
truncate -s 48M "$img"
head -c 1M /dev/urandom >"$T/data.bin"
dd if="$T/data.bin" of="$img" bs=1M seek=4 conv=notrunc status=none

start_server "$img"
uri=$(nbd_uri)

log "nbdsh -u with --base-allocation"
out=$(nbdsh --base-allocation -u "$uri" \
	-c 'print(h.get_size(), h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION), h.can_multi_conn())')
assert_eq "$out" "50331648 True True" "nbdsh -u output"
out=$(nbdsh -u "$uri" -c 'import sys; sys.stdout.buffer.write(h.pread(16, 4194304))' | od -An -tx1 | tr -d ' \n')
assert_eq "$out" "$(od -An -tx1 -N 16 "$T/data.bin" | tr -d ' \n')" "nbdsh pread of the data"

"$PY" "$INTEROP_DIR/nbdsh_commands.py" "$uri" "$img" "$T/data.bin" ||
	fail "nbdsh_commands.py failed"

log "dump the export, stop the server, compare with the file on disk"
nbdcopy "$uri" "$T/dump.img" || fail "nbdcopy dump failed"
stop_server
cmp "$T/dump.img" "$img" || fail "image on disk differs from what the server served"
assert_eq "$(od -An -tx1 -j 12344 -N 3 "$img" | tr -s ' ')" " 00 a5 a5" "FUA write on disk"
assert_eq "$(od -An -c -j $((14 * 1048576 + 3)) -N 10 "$img" | tr -d ' ')" "multi-conn" \
	"multi-conn write on disk"

log "memory: export: zero/trim/FAST_ZERO/block status"
start_server memory:8M
"$PY" - "$(nbd_uri)" <<'EOF2' || fail "memory: export checks failed"
import errno, sys
import nbd
M = 1 << 20
h = nbd.NBD()
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_uri(sys.argv[1])
assert h.get_size() == 8 * M
for f in ("can_trim", "can_zero", "can_fast_zero", "can_flush", "can_fua", "can_cache"):
    assert getattr(h, f)(), f
assert h.pread(M, 3 * M) == bytes(M), "fresh memory export is not zero"
h.pwrite(b"\x5a" * (2 * M), M)
h.pwrite(b"\x11" * 3, 4095, nbd.CMD_FLAG_FUA)
assert h.pread(5, 4094) == b"\0\x11\x11\x11\0"
h.zero(1000, M + 10)
assert h.pread(1020, M) == b"\x5a" * 10 + bytes(1000) + b"\x5a" * 10, "zero"
h.zero(4096, M + 8192, nbd.CMD_FLAG_NO_HOLE)
assert h.pread(4096, M + 8192) == bytes(4096), "zero NO_HOLE"
try:
    h.zero(M // 2, 2 * M, nbd.CMD_FLAG_FAST_ZERO)
    assert h.pread(M // 2, 2 * M) == bytes(M // 2), "FAST_ZERO"
except nbd.Error as e:
    assert e.errnum == errno.ENOTSUP, e
h.trim(5000, M + 100000)
b = h.pread(5200, M + 99900)
assert b[:100] == b"\x5a" * 100 and b[5100:] == b"\x5a" * 100, "trim touched neighbours"
assert all(x in (0, 0x5a) for x in b[100:5100]), "trim left foreign data"
h.cache(M, 0)
h.flush()
ext = []
def cb(ctx, off, entries, err):
    for i in range(0, len(entries), 2):
        ext.append((entries[i], entries[i + 1]))
    return 0
off = 0
while off < 8 * M:
    ext.clear()
    h.block_status(8 * M - off, off, cb)
    for ln, fl in ext:
        n = min(ln, 8 * M - off)
        if fl & 2:
            assert h.pread(n, off) == bytes(n), "ZERO extent at %d is not zero" % off
        off += n
        if off >= 8 * M:
            break
assert h.pread(4, 2 * M + M // 2 + 10) == b"\x5a" * 4, "data after the zeroed range"
h.shutdown()
print("memory: export checks ok")
EOF2
stop_server

echo "nbdsh_commands: ok"
