#!/usr/bin/env bash
# lloop-test: alone (it sets and restores the fuse module's enable_uring)
# --fuse-uring: FUSE over io_uring.  With the io_uring engine: lloop sets
# the fuse module's enable_uring (N -> Y) and says so; the daemon says
# requests come through the ring, and the ring's completion count
# (/proc/PID/fdinfo) grows with every request, so READ and WRITE
# (--no-passthrough) do go through it; data written with O_DIRECT reads
# back; ext4 mkfs, mount, files, umount, fsck, remount with the same
# sha256; discard reads back zeroes and punches the image; with
# passthrough the ring carries the rest.  Falls back to /dev/fuse with one
# warning when the pool cannot hold the ring, and with the threads engine
# (which leaves enable_uring alone).  Detach leaves nothing behind.  The
# test puts enable_uring back as it found it.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "FUSE over io_uring: ring in use, data, ext4, discard, fall-backs"
need mkfs.ext4 e2fsck blkdiscard cmp sha256sum

PARAM=/sys/module/fuse/parameters/enable_uring
IMG=$T/disk.img
MNT=$T/mnt

# the daemon's ring for FUSE: of its io_uring fds, the one with the
# smallest SQ (the engine's ring is much larger); prints its CqTail
fuse_ring_cqtail() { # PID
	"$PY" - "$1" <<'PYEOF'
import os, sys
pid = sys.argv[1]
best = None
for fd in os.listdir("/proc/%s/fd" % pid):
    try:
        if os.readlink("/proc/%s/fd/%s" % (pid, fd)) != "anon_inode:[io_uring]":
            continue
        info = dict(l.split(":", 1) for l in open("/proc/%s/fdinfo/%s" % (pid, fd)) if ":" in l)
    except OSError:
        continue
    mask, tail = int(info["SqMask"].strip(), 16), int(info["CqTail"].strip())
    if best is None or mask < best[0]:
        best = (mask, tail)
print(best[1] if best and best[0] < 0x100 else "none")
PYEOF
}

# bytes of IMG in data extents (SEEK_DATA/SEEK_HOLE), in KiB
data_kib() {
	"$PY" - "$IMG" <<'PYEOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
off = total = 0
while off < size:
    try:
        d = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    h = os.lseek(fd, d, os.SEEK_HOLE)
    total += h - d
    off = h
print(total // 1024)
PYEOF
}

# O_DIRECT round trip of 8 MiB at 1 MiB offset, and 1,000 4 KiB writes
roundtrip() { # DEV
	head -c $((8 << 20)) /dev/urandom >"$T/pattern"
	dd if="$T/pattern" of="$1" bs=1M seek=1 oflag=direct status=none || fail "dd to $1 failed"
	dd if="$T/pattern" of="$1" bs=4k count=1000 seek=4096 oflag=direct status=none ||
		fail "4 KiB dd to $1 failed"
	dd if="$1" of="$T/back" bs=1M skip=1 count=8 iflag=direct status=none || fail "dd from $1 failed"
	cmp "$T/pattern" "$T/back" || fail "8 MiB read back from $1 differ from what was written"
	dd if="$1" of="$T/back" bs=4k skip=4096 count=1000 iflag=direct status=none ||
		fail "4 KiB dd from $1 failed"
	cmp "$T/back" <(head -c 4096000 "$T/pattern") ||
		fail "1,000 4 KiB blocks read back from $1 differ from what was written"
}

if [ ! -e "$PARAM" ]; then
	truncate -s 64M "$IMG"
	attach "$IMG" --fuse-uring --no-passthrough
	grep -q "no FUSE over io_uring" "$ATTACH_ERR" ||
		fail "no fall-back line on a kernel without $PARAM: $(cat "$ATTACH_ERR")"
	roundtrip "$ATTACH_DEV"
	detach "$ATTACH_DEV"
	assert_nothing_left "lloop detach"
	skip "Linux $(uname -r) has no FUSE over io_uring ($PARAM): only the fall-back was tested"
fi

# enable_uring as found, put back at exit (lloop itself leaves it Y)
ORIG=$(cat "$PARAM")
_fu_cleanup() {
	local rc=$?
	[ "$(cat "$PARAM")" = "$ORIG" ] || echo "$ORIG" >"$PARAM" || :
	(exit "$rc")
	_attach_cleanup
}
trap _fu_cleanup EXIT
echo N >"$PARAM" || skip "cannot write $PARAM"

if [ "$LLOOP_ENGINE" = threads ]; then
	truncate -s 64M "$IMG"
	attach "$IMG" --fuse-uring --no-passthrough
	grep -q "needs the io_uring engine.*/dev/fuse" "$ATTACH_ERR" ||
		fail "no fall-back line with --engine threads: $(cat "$ATTACH_ERR")"
	assert_eq "$(cat "$PARAM")" N "$PARAM after --fuse-uring with the threads engine"
	roundtrip "$ATTACH_DEV"
	detach "$ATTACH_DEV"
	assert_nothing_left "lloop detach"
	exit 0
fi

# ---- the ring, every request through it (--no-passthrough) ---------------
log "the ring, --no-passthrough"
truncate -s 256M "$IMG"
attach "$IMG" --fuse-uring --no-passthrough --log-level info
DEV=$ATTACH_DEV
cat "$ATTACH_ERR"
grep -q "enable_uring was N, set it to Y" "$ATTACH_ERR" ||
	fail "lloop did not say it set $PARAM: $(cat "$ATTACH_ERR")"
assert_eq "$(cat "$PARAM")" Y "$PARAM after lloop attach --fuse-uring"
grep -q "requests come through io_uring" "$ATTACH_ERR" ||
	fail "the daemon does not say requests come through io_uring: $(cat "$ATTACH_ERR")"
! grep -q "serving /dev/fuse" "$ATTACH_ERR" ||
	fail "the daemon fell back to /dev/fuse: $(grep "serving /dev/fuse" "$ATTACH_ERR")"
path=$(list_field "$DEV" path)
assert_eq "$path" engine+uring "I/O path of $DEV in lloop list"

cq0=$(fuse_ring_cqtail "$ATTACH_PID")
[ "$cq0" != none ] || fail "the daemon $ATTACH_PID has no small io_uring (the FUSE ring)"
w0=$(op_requests "$ATTACH_PID" write)
r0=$(op_requests "$ATTACH_PID" read)
roundtrip "$DEV"
cq1=$(fuse_ring_cqtail "$ATTACH_PID")
w1=$(op_requests "$ATTACH_PID" write)
r1=$(op_requests "$ATTACH_PID" read)
echo "FUSE ring completions: $((cq1 - cq0)); lloop stats: $((w1 - w0)) writes, $((r1 - r0)) reads"
[ $((w1 - w0)) -ge 1000 ] || fail "lloop stats counts $((w1 - w0)) writes, expected >= 1000"
# one completion per request the ring delivers
[ $((cq1 - cq0)) -ge $((w1 - w0 + r1 - r0)) ] ||
	fail "the FUSE ring completed $((cq1 - cq0)) commands for $((w1 - w0 + r1 - r0)) reads and writes: they did not all come through it"
log "reads and writes came through the ring and read back"

# ext4 round trip
mkfs.ext4 -q -F "$DEV" || fail "mkfs.ext4 $DEV failed"
mount_dev "$DEV" "$MNT"
head -c $((24 << 20)) /dev/urandom >"$MNT/big"
mkdir "$MNT/small"
for i in $(seq 1 300); do
	head -c $((i * 37 % 9000 + 1)) /dev/urandom >"$MNT/small/f$i"
done
(cd "$MNT" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$T/sums"
umount_dir "$MNT"
e2fsck -fn "$DEV" >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "e2fsck -fn $DEV"; }
mount_dev "$DEV" "$MNT"
(cd "$MNT" && sha256sum --quiet -c "$T/sums") || fail "sha256 of the files differ after a remount"
umount_dir "$MNT"
log "ext4: mkfs, 24 MB + 300 small files, fsck clean, same sha256 after a remount"

# discard: zeroes, and holes in the image
data0=$(data_kib)
z0=$(op_requests "$ATTACH_PID" zero)
dd if=/dev/urandom of="$DEV" bs=1M seek=200 count=16 oflag=direct status=none ||
	fail "dd to $DEV failed"
data1=$(data_kib)
blkdiscard -f -o $((200 << 20)) -l $((16 << 20)) "$DEV" || fail "blkdiscard on $DEV failed"
cmp -n $((16 << 20)) /dev/zero <(dd if="$DEV" bs=1M skip=200 count=16 iflag=direct status=none) ||
	fail "the discarded 16 MiB of $DEV do not read back as zeroes"
data2=$(data_kib)
z1=$(op_requests "$ATTACH_PID" zero)
echo "image data extents: $data0 KiB, $data1 KiB after 16 MiB written, $data2 KiB after the discard ($((z1 - z0)) zero requests)"
[ "$z1" -gt "$z0" ] || fail "blkdiscard sent the daemon no zero request"
[ $((data1 - data2)) -ge $((15 << 10)) ] ||
	fail "the discard freed $((data1 - data2)) KiB of the image, expected >= $((15 << 10))"
detach "$DEV"
assert_nothing_left "lloop detach"
assert_eq "$(cat "$PARAM")" Y "$PARAM after lloop detach (lloop leaves it Y)"

# ---- with passthrough, the ring carries the rest ---------------------------
log "the ring with passthrough"
attach "$IMG" --fuse-uring --log-level info
grep -q "requests come through io_uring" "$ATTACH_ERR" ||
	fail "with passthrough, no request came through io_uring: $(cat "$ATTACH_ERR")"
! grep -q "enable_uring was N" "$ATTACH_ERR" || fail "lloop says it set $PARAM, which was Y already"
path=$(list_field "$ATTACH_DEV" path)
case "$path" in
passthrough+uring) ;;
engine+uring) _kernel_at_least 6 9 && fail "I/O path of $ATTACH_DEV: expected passthrough+uring, got $path" ;;
*) fail "I/O path of $ATTACH_DEV in lloop list: expected passthrough+uring, got '$path'" ;;
esac
roundtrip "$ATTACH_DEV"
detach "$ATTACH_DEV"
assert_nothing_left "lloop detach"

# ---- fall-back: no room in the pool for the ring -------------------------
log "fall-back to /dev/fuse"
attach "$IMG" --fuse-uring --no-passthrough --queue-depth 16 --log-level info
cat "$ATTACH_ERR"
[ "$(grep -c "serving /dev/fuse with read and write" "$ATTACH_ERR")" = 1 ] ||
	fail "expected one fall-back line: $(cat "$ATTACH_ERR")"
! grep -q "requests come through io_uring" "$ATTACH_ERR" ||
	fail "the ring is in use although the daemon fell back"
roundtrip "$ATTACH_DEV"
detach "$ATTACH_DEV"
assert_nothing_left "lloop detach"
