#!/usr/bin/env bash
# lloop attach rbd:POOL/IMAGE: a local block device on an image in the
# throwaway Ceph cluster (tests/lib/ceph.sh).  mkfs.ext4 -> mount -> write
# files -> umount, drop caches, mount -> every file verified -> fstrim ->
# e2fsck -fn clean -> detach; then what the cluster holds (rbd export) is
# mounted through the kernel loop driver and verified again; a snapshot
# attaches read-only; --exclusive keeps a second attach out.
. "$(dirname "$0")/../interop/lib.sh"
. "$REPO/tests/attach/attach_lib.sh"
. "$REPO/tests/lib/ceph.sh"
describe "rbd: attach: ext4 round trip, rbd export checked, snapshot read-only"
"$LLOOP" --version | grep -q '^Ceph RBD: available' ||
	skip "this lloop is built without librbd"
ceph_available || skip "$CEPH_MISSING"
need mkfs.ext4 e2fsck sha256sum fstrim
ceph_start "$T/ceph"
P=$CEPH_POOL
AS=(--ceph-conf "$CEPH_CONF" --ceph-id lloop)
rbd create --size 256M "$P/vm"

attach "rbd:$P/vm" "${AS[@]}"
dev=$ATTACH_DEV
[ "$(list_field "$dev" image)" = "rbd:$P/vm" ] ||
	fail "lloop list names the image '$(list_field "$dev" image)'"
[ "$(blockdev --getsize64 "$dev")" = $((256 << 20)) ] ||
	fail "$dev has $(blockdev --getsize64 "$dev") bytes, expected 256 MiB"
mkfs.ext4 -q -E nodiscard "$dev" || fail "mkfs.ext4 $dev failed"
mount_dev "$dev" "$T/mnt"
# 4 files of 8 MiB and 300 small ones, all random
"$PY" - "$T/mnt" "$T/sums" <<'EOF'
import hashlib, os, random, sys
root, sums = sys.argv[1], sys.argv[2]
out = {}
for i in range(4):
    b = os.urandom(8 << 20)
    open(os.path.join(root, "big%d" % i), "wb").write(b)
    out["big%d" % i] = hashlib.sha256(b).hexdigest()
os.mkdir(os.path.join(root, "small"))
for i in range(300):
    b = os.urandom(random.randint(1, 16) * 1024)
    open(os.path.join(root, "small/f%03d" % i), "wb").write(b)
    out["small/f%03d" % i] = hashlib.sha256(b).hexdigest()
with open(sums, "w") as f:
    for n in sorted(out):
        f.write("%s  %s\n" % (out[n], n))
EOF
umount_dir "$T/mnt"
echo 3 >/proc/sys/vm/drop_caches
mount_dev "$dev" "$T/mnt"
check_tree "$T/mnt" "$T/sums" "after umount, drop_caches and mount"
rm "$T/mnt"/big*
sync
before=$(rbd diff "$P/vm" --format json | "$PY" -c 'import json,sys; print(sum(e["length"] for e in json.load(sys.stdin)))')
fstrim "$T/mnt" || fail "fstrim on the rbd: device failed"
after=$(rbd diff "$P/vm" --format json | "$PY" -c 'import json,sys; print(sum(e["length"] for e in json.load(sys.stdin)))')
[ "$after" -lt "$before" ] || fail "fstrim freed nothing in the cluster ($before -> $after bytes)"
log "fstrim after deleting 32 MiB: rbd diff $before -> $after bytes"
umount_dir "$T/mnt"
e2fsck -fn "$dev" >"$T/fsck.out" 2>&1 || fail "e2fsck -fn: $(tail -n 5 "$T/fsck.out")"
detach "$dev"
assert_nothing_left "detach"

# what the cluster holds, through the kernel's own loop driver
rbd export --no-progress "$P/vm" "$T/export.img" 2>/dev/null
kloop_attach "$T/export.img" --read-only
mount_dev "$KLOOP_DEV" "$T/mnt" -o ro
grep -v ' big' "$T/sums" >"$T/sums.small"
check_tree "$T/mnt" "$T/sums.small" "in the image rbd export wrote"
umount_dir "$T/mnt"
kloop_detach "$KLOOP_DEV"
rm -f "$T/export.img"

# a snapshot: a read-only device
rbd snap create "$P/vm@s1" >/dev/null 2>&1
attach "rbd:$P/vm@s1" "${AS[@]}"
[ "$(blockdev --getro "$ATTACH_DEV")" = 1 ] || fail "the snapshot's device is writable"
! dd if=/dev/zero of="$ATTACH_DEV" bs=4k count=1 oflag=direct 2>/dev/null ||
	fail "a write to the snapshot's device succeeded"
mount_dev "$ATTACH_DEV" "$T/mnt" -o ro,noload
check_tree "$T/mnt" "$T/sums.small" "on the snapshot"
umount_dir "$T/mnt"
detach "$ATTACH_DEV"

# --exclusive: a second read-write attach of the same image is refused
attach "rbd:$P/vm" "${AS[@]}" --exclusive
first=$ATTACH_DEV
attach_try "rbd:$P/vm" "${AS[@]}"
[ "$ATTACH_RC" != 0 ] || fail "a second read-write attach of an --exclusive image worked ($ATTACH_DEV)"
grep -q "another client has the image open for writing" "$ATTACH_ERR" ||
	fail "the second attach does not say why: $(cat "$ATTACH_ERR")"
log "second attach refused: $(grep -m1 error "$ATTACH_ERR")"
detach "$first"
assert_nothing_left "the last detach"
ceph_stop
