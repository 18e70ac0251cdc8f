#!/usr/bin/env bash
# A block device as the image: size from BLKGETSIZE64, direct I/O at the
# device's sector size, trim and write-zeroes through fallocate on the
# device (the kernel's BLKDISCARD and BLKZEROOUT).  The device is a loop
# device over a file, detached at the end.
. "$(dirname "$0")/lib.sh"
describe "serving a block device: I/O, trim, zero, flush"
need losetup qemu-io
[ -w /dev/loop-control ] || skip "no /dev/loop-control to make a loop device"

truncate -s 64M "$T/backing.img"
DEV=$(losetup --find --show "$T/backing.img") || skip "losetup cannot attach a loop device here"
detach() { losetup -d "$DEV" 2>/dev/null || :; }
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
