#!/usr/bin/env bash
# Discard reaches the image: ext4 on an attached sparse file, 64 MB
# written then removed; fstrim must give most of the 64 MB back to the
# image file (du -k drops, and SEEK_DATA/SEEK_HOLE see the holes).  On
# both I/O paths: the default (FUSE passthrough) and --no-passthrough.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "fstrim on ext4 punches holes in the image file"
need mkfs.ext4 fstrim

IMG=$T/disk.img
MNT=$T/mnt

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
du_kib() { du -k "$IMG" | cut -f1; }

trim_test() { # PATH
	local path=$1 opts DEV du0 du1 du2 data0 data1 data2 zero0 zero1
	read -r -a opts <<<"$(path_opts "$path")"
	rm -f "$IMG"
	truncate -s 512M "$IMG"
	attach "$IMG" ${opts[@]+"${opts[@]}"}
	check_path "$ATTACH_DEV" "$path"
	DEV=$ATTACH_DEV
	mkfs.ext4 -q -F "$DEV" || fail "mkfs.ext4 $DEV failed"
	mount_dev "$DEV" "$MNT"
	du0=$(du_kib)
	data0=$(data_kib)
	echo "after mkfs and mount: du $du0 KiB, data extents $data0 KiB"

	dd if=/dev/urandom of="$MNT/f" bs=1M count=64 conv=fsync status=none ||
		fail "writing 64 MB to $MNT/f failed"
	sync
	du1=$(du_kib)
	data1=$(data_kib)
	echo "after writing 64 MB: du $du1 KiB, data extents $data1 KiB"
	# the write must have reached the image file at all
	[ $((du1 - du0)) -ge $((60 * 1024)) ] ||
		fail "writing 64 MB grew the image by only $((du1 - du0)) KiB"

	rm "$MNT/f"
	sync
	zero0=$(op_requests "$ATTACH_PID" zero)
	fstrim -v "$MNT" >"$T/fstrim.out" 2>&1 || { cat "$T/fstrim.out" >&2; fail "fstrim -v $MNT failed"; }
	cat "$T/fstrim.out"
	sync
	zero1=$(op_requests "$ATTACH_PID" zero)
	echo "lloop stats: $((zero1 - zero0)) zero (punch hole) requests during fstrim"
	[ "$zero1" -gt "$zero0" ] || fail "fstrim sent the daemon no zero/punch-hole request"
	du2=$(du_kib)
	data2=$(data_kib)
	echo "after rm, fstrim: du $du2 KiB (dropped $((du1 - du2)) KiB)," \
		"data extents $data2 KiB (dropped $((data1 - data2)) KiB)"
	# most of the 64 MB: at least 56 MiB must be gone from the file
	[ $((du1 - du2)) -ge $((56 * 1024)) ] ||
		fail "du -k of the image dropped by $((du1 - du2)) KiB after fstrim, expected >= $((56 * 1024))"
	[ $((data1 - data2)) -ge $((56 * 1024)) ] ||
		fail "SEEK_HOLE: data extents shrank by $((data1 - data2)) KiB after fstrim, expected >= $((56 * 1024))"

	# the file system is still sound
	umount_dir "$MNT"
	e2fsck -fn "$DEV" >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "e2fsck -fn $DEV after fstrim"; }
	detach "$DEV"
	assert_nothing_left "lloop detach"
}

for p in "${PATHS[@]}"; do
	log "path: $p"
	trim_test "$p"
done
