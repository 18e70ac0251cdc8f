#!/bin/bash
# A write through the page cache beside an O_DIRECT write of other bytes
# of the same page.  The page cache works in whole pages (folios, up to
# 2 MiB), the guard of the file backend (backend/rmw.h) in blocks of the
# direct-I/O alignment (512 bytes here).  The old guard let an unaligned
# WRITE_ZEROES (fallocate refuses it on a block device, so its zeroes go
# through the page cache) run beside a read-modify-write of another 512
# bytes of the same page: the page cache read the old sector in, the
# kernel could not drop the dirty page after the direct write ("Page cache
# invalidation failure on direct I/O"), and the write-back put the old
# sector back over a write already answered as done.  Silent: no flush
# failed.
#
# A slow device widens the window (a Lustre OST or a busy disk has it
# anyway): the server's writes to a 512-byte-sector loop device are held
# to 4 a second with the cgroup v1 blkio throttle.  With the old code
# about 5 of 6 rounds lost the write.
. "$(dirname "$0")/../interop/lib.sh"
need_pynbd
need losetup
describe "a page-cache write beside an O_DIRECT write of the same page: nothing lost"

[ "$(id -u)" = 0 ] || skip "needs root (a loop device, a blkio cgroup)"
CGROOT=/sys/fs/cgroup/blkio
[ -e "$CGROOT/blkio.throttle.write_iops_device" ] ||
	skip "no cgroup v1 blkio throttle in $CGROOT (it slows the device so that the race shows)"

LOOPDEV= CG=
_cache_cleanup() {
	local rc=$?
	[ -z "$CG" ] || echo "$MM 0" >"$CG/blkio.throttle.write_iops_device" 2>/dev/null
	if [ -n "$SERVER_PID" ]; then
		kill -TERM "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
	fi
	[ -z "$CG" ] || rmdir "$CG" 2>/dev/null || echo "cleanup: cannot remove $CG" >&2
	[ -z "$LOOPDEV" ] || losetup -d "$LOOPDEV" || echo "cleanup: losetup -d $LOOPDEV failed" >&2
	(exit "$rc")
	_cleanup
}
trap _cache_cleanup EXIT

truncate -s 64M "$T/bdev.img"
LOOPDEV=$(losetup -f --show "$T/bdev.img") || fail "losetup"
MM=$(cat "/sys/block/${LOOPDEV#/dev/}/dev")
assert_eq "$(cat "/sys/block/${LOOPDEV#/dev/}/queue/logical_block_size")" 512 "$LOOPDEV's logical block size"
CG=$CGROOT/lloop-test-$$
mkdir "$CG" || fail "cannot make $CG"
echo "$MM 4" >"$CG/blkio.throttle.write_iops_device"

start_server_unix "$LOOPDEV"
echo "$SERVER_PID" >"$CG/cgroup.procs" || fail "cannot move the server into $CG"

"$PY" - "$SERVER_URI" <<'EOF' || fail "a write answered as done was lost"
import sys, time
import nbd

hr, hz = nbd.NBD(), nbd.NBD()
for h in (hr, hz):
    h.connect_uri(sys.argv[1])
Q = 1 << 20
lost = 0
for i in range(6):
    pat = bytes([i + 0x41]) * 10
    # R: 10 bytes at Q+10, a read-modify-write of the sector at Q (O_DIRECT)
    cr = hr.aio_pwrite(pat, Q + 10)
    time.sleep(0.05)
    # Z: 100 bytes of zeroes at Q+600: another sector of the same page,
    # written through the block device's page cache
    cz = hz.aio_zero(100, Q + 600)
    for h, c in ((hr, cr), (hz, cz)):
        while not h.aio_command_completed(c):
            h.poll(-1)
    hr.flush()
    got = hr.pread(10, Q + 10)
    zer = hr.pread(100, Q + 600)
    ok = got == pat and zer == bytes(100)
    print("    round %d: write %s, zeroes %s" % (i, "kept" if got == pat else "LOST: %r" % got,
                                               "kept" if zer == bytes(100) else "LOST"))
    lost += not ok
sys.exit(1 if lost else 0)
EOF
echo "$MM 0" >"$CG/blkio.throttle.write_iops_device"
stop_server
echo "PASS: no write lost"
