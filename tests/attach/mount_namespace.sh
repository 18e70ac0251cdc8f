#!/usr/bin/env bash
# lloop-test: engine-independent (the daemon's mount namespace; no I/O path)
# An attach daemon's private mount namespace must not keep other file
# systems alive: a file system mounted before another lloop attach (on an
# lloop device, or on a kernel loop device standing for any disk) is really
# gone after umount: its device is free (detach works, O_EXCL open works)
# and fsck finds it clean.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "umount releases a file system that was mounted before another attach"
need mkfs.ext4 e2fsck

# excl_free DEV: an O_EXCL open of DEV works (no mount, no claim)
excl_free() {
	"$PY" -c '
import os, sys
try:
    os.close(os.open(sys.argv[1], os.O_RDONLY | os.O_EXCL))
except OSError as e:
    sys.exit("%s: %s" % (sys.argv[1], e.strerror))' "$1"
}

truncate -s 64M "$T/a.img" "$T/b.img" "$T/k.img"
attach "$T/a.img"
A=$ATTACH_DEV
mkfs.ext4 -q -F "$A" || fail "mkfs.ext4 $A failed"
mount_dev "$A" "$T/mnt-a"
kloop_attach "$T/k.img"
K=$KLOOP_DEV
mkfs.ext4 -q -F "$K" || fail "mkfs.ext4 $K failed"
mount_dev "$K" "$T/mnt-k"
echo data >"$T/mnt-a/f"
echo data >"$T/mnt-k/f"

# another attachment while both are mounted
attach "$T/b.img"
B=$ATTACH_DEV
BPID=$ATTACH_PID
pinned=$(grep -cE " $T/mnt-(a|k) " "/proc/$BPID/mountinfo" || :)
echo "mounts of this test's file systems in the namespace of daemon $BPID: $pinned"

umount_dir "$T/mnt-a"
umount_dir "$T/mnt-k"
err=$(excl_free "$K" 2>&1) ||
	fail "after umount, $K (a kernel loop device) is still claimed: $err; daemon $BPID's mount namespace holds $pinned of the test's mounts"
err=$(excl_free "$A" 2>&1) ||
	fail "after umount, $A is still claimed: $err; daemon $BPID's mount namespace holds $pinned of the test's mounts"
e2fsck -fn "$A" >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "e2fsck -fn $A after umount"; }
detach "$A"
kloop_detach "$K"
detach "$B"
assert_nothing_left "lloop detach"
