#!/usr/bin/env bash
# A block device as the image: size from BLKGETSIZE64, direct I/O at the
# device's sector size, trim and write-zeroes through fallocate on the
# device (write-zeroes in the kernel).  The device is a loop device over a
# file, detached at the end.  FAST_ZERO: fast where the device does
# write-zeroes itself (a loop device on ext4), ENOTSUP where the kernel
# would write the zeroes (a loop device on ramfs, which has no fallocate),
# while a plain zero there still works.
. "$(dirname "$0")/lib.sh"
describe "serving a block device: I/O, trim, zero, flush"
need losetup qemu-io
[ -w /dev/loop-control ] || skip "no /dev/loop-control to make a loop device"

truncate -s 64M "$T/backing.img"
DEV=$(losetup --find --show "$T/backing.img") || skip "losetup cannot attach a loop device here"
DEV2= RAMFS=
detach() {
	losetup -d "$DEV" 2>/dev/null || :
	[ -z "$DEV2" ] || losetup -d "$DEV2" 2>/dev/null || :
	[ -n "$RAMFS" ] || return 0
	# the loop device lets go of its file a moment after losetup -d
	local i
	for ((i = 0; i < 50; i++)); do
		mountpoint -q "$RAMFS" || return 0
		umount "$RAMFS" 2>/dev/null && return 0
		sleep 0.1
	done
	umount -l "$RAMFS" 2>/dev/null || :
}
trap 'detach; _cleanup' EXIT
echo "loop device $DEV"

start_server "$DEV"
size=$(nbdinfo --size "$SERVER_URI")
assert_eq "$size" 67108864 "export size of $DEV"
grep -q 'direct I/O' "$SERVER_LOG" || fail "the device is not served with direct I/O"

qemu-io -f raw \
	-c 'write -P 0x11 0 1M' -c 'write -P 0x22 1000 5000' \
	-c 'write -z 2M 1M' -c 'discard 3M 1M' -c 'flush' \
	-c 'read -P 0x11 0 1000' -c 'read -P 0x22 1000 5000' \
	-c 'read -P 0x11 6000 1042576' -c 'read -P 0 2M 1M' \
	"$SERVER_URI" >"$T/qio.txt" || fail "qemu-io on the device: $(cat "$T/qio.txt")"
grep -qi 'fail\|error\|mismatch' "$T/qio.txt" && fail "qemu-io reported: $(cat "$T/qio.txt")"
stop_server

# what the device holds, read beside lloop
cmp -n 1000 <(head -c 1000 /dev/zero | tr '\0' '\021') "$DEV" ||
	fail "the device does not hold the first write"
cmp -i 1000:0 -n 5000 "$DEV" <(head -c 5000 /dev/zero | tr '\0' '\042') ||
	fail "the device does not hold the unaligned write"
cmp -i 2097152:0 -n 1048576 "$DEV" /dev/zero || fail "the zeroed range is not zero"
echo "the device holds what was written, the zeroed range reads zero"

fast_zero() { # URI: FAST_ZERO, FAST_ZERO|NO_HOLE, then a plain zero
	"$PY" - "$1" <<'PYEOF'
import sys
import nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
assert h.can_fast_zero()
out = []
for flags in (nbd.CMD_FLAG_FAST_ZERO,
              nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_NO_HOLE):
    h.pwrite(b"\x77" * 65536, 1 << 20)
    try:
        h.zero(65536, 1 << 20, flags=flags)
        out.append("ok" if h.pread(65536, 1 << 20) == bytes(65536) else "not-zero")
    except nbd.Error as e:
        out.append(e.errno or str(e))
h.pwrite(b"\x77" * 65536, 1 << 20)
h.zero(65536, 1 << 20)
out.append("ok" if h.pread(65536, 1 << 20) == bytes(65536) else "not-zero")
print(" ".join(out))
PYEOF
}

if "$PY" -c 'import nbd' 2>/dev/null; then
	start_server "$DEV"
	out=$(fast_zero "$SERVER_URI") || fail "FAST_ZERO on $DEV: $out"
	assert_eq "$out" "ok ok ok" "FAST_ZERO, FAST_ZERO|NO_HOLE, zero on a loop device on ext4 ($(cat "/sys/block/${DEV#/dev/}/queue/write_zeroes_max_bytes") write-zeroes bytes)"
	stop_server

	RAMFS=$T/ramfs
	mkdir "$RAMFS"
	mount -t ramfs none "$RAMFS" || fail "cannot mount a ramfs on $RAMFS"
	truncate -s 16M "$RAMFS/backing.img"
	DEV2=$(losetup --find --show "$RAMFS/backing.img") || fail "losetup on the ramfs file failed"
	wz=$(cat "/sys/block/${DEV2#/dev/}/queue/write_zeroes_max_bytes")
	[ "$wz" = 0 ] || fail "a loop device on ramfs does write-zeroes ($wz bytes): this check needs one that does not"
	start_server "$DEV2"
	out=$(fast_zero "$SERVER_URI") || fail "FAST_ZERO on $DEV2: $out"
	assert_eq "$out" "ENOTSUP ENOTSUP ok" "FAST_ZERO, FAST_ZERO|NO_HOLE, zero on a loop device on ramfs (no write-zeroes)"
	stop_server
	echo "FAST_ZERO: fast on a device with write-zeroes, ENOTSUP on one without"
else
	echo "SKIP part: python3-libnbd is not importable by $PY: FAST_ZERO not checked"
fi
