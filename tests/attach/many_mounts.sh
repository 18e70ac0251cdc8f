#!/usr/bin/env bash
# lloop-test: engine-independent (the daemon's mount namespace; no I/O path)
# The attach daemon's private mount namespace starts as a copy of the
# host's, and it detaches every mount it does not need, or the copy keeps
# the file system alive after the host unmounts it, and its device claimed.
# With more than 1024 mounts (a Kubernetes node), the daemon used to look
# at the first 1024 only: a file system mounted after those stayed held.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "attach on a host with 1100 mounts: the daemon holds none of them"
need mkfs.ext4

mount_dev tmpfs "$T/m" -t tmpfs -o size=1m
for i in $(seq 1100); do
	mkdir "$T/m/$i"
	mount -t tmpfs -o size=64k "t$i" "$T/m/$i" || fail "mount of tmpfs $i failed"
	MOUNTS+=("$T/m/$i")
done
# a file system on a kernel loop device, mounted after all of those
truncate -s 32M "$T/e.img"
mkfs.ext4 -q -F "$T/e.img" || fail "mkfs.ext4 failed"
kloop_attach "$T/e.img"
EDEV=$KLOOP_DEV
mount_dev "$EDEV" "$T/e"
lines=$(wc -l </proc/self/mountinfo)
log "$lines mounts; $EDEV mounted at $T/e, line $(grep -n " $T/e " /proc/self/mountinfo | cut -d: -f1)"
[ "$lines" -gt 1100 ] || fail "only $lines mounts"

truncate -s 64M "$T/disk.img"
attach "$T/disk.img"
umount_dir "$T/e"
# unmounted on the host: nothing holds the device now, unless the daemon's
# namespace kept a copy of the mount
held=$("$PY" - "$EDEV" <<'PYEOF'
import errno, os, sys
try:
    os.close(os.open(sys.argv[1], os.O_RDONLY | os.O_EXCL))
    print("free")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
PYEOF
)
echo "$EDEV after the host's umount, with the lloop daemon running: $held"
[ "$held" = free ] || fail "$EDEV is still claimed ($held) after the host unmounted it: the attach daemon's namespace kept the mount"
detach "$ATTACH_DEV"
kloop_detach "$EDEV"
for ((i = 1100; i >= 1; i--)); do
	umount "$T/m/$i" || fail "umount $T/m/$i failed"
done
umount_dir "$T/m"
assert_nothing_left "attach and detach with 1100 mounts"
