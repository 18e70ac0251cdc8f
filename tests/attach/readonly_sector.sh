#!/usr/bin/env bash
# Device properties, on both I/O paths (the default, FUSE passthrough where
# the kernel has it, and --no-passthrough): the default 4096-byte sectors
# and every field of lloop list --json; stats counters move with I/O;
# --read-only (blockdev --getro 1, writes fail, reads work, the image is
# untouched, list says read_only); --sector-size 512 (blockdev --getss 512,
# ext4 with 1 KiB blocks works).
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "read-only, sector sizes, lloop list --json fields, stats counters"
need blockdev mkfs.ext4 e2fsck cmp sha256sum

IMG=$T/disk.img
head -c $((16 << 20)) /dev/urandom >"$IMG"
mkdir -p "$T/sub"
ln -s ../disk.img "$T/sub/link.img"

# ---- the default: 4096-byte sectors, read-write; list fields; stats ------
rw_default() { # PATH
	local path=$1 dev pid opts
	read -r -a opts <<<"$(path_opts "$path")"
	# a relative path through a symlink: list must show the real path
	pushd "$T/sub" >/dev/null
	attach ./link.img ${opts[@]+"${opts[@]}"}
	popd >/dev/null
	dev=$ATTACH_DEV
	pid=$ATTACH_PID
	check_path "$dev" "$path"
	assert_eq "$(blockdev --getss "$dev")" 4096 "default logical sector size (blockdev --getss)"
	assert_eq "$(blockdev --getsize64 "$dev")" $((16 << 20)) "blockdev --getsize64"
	assert_eq "$(blockdev --getro "$dev")" 0 "blockdev --getro without --read-only"
	assert_eq "$(cat "/sys/block/${dev#/dev/}/loop/dio")" 1 "direct I/O of $dev (sysfs loop/dio)"
	"$LLOOP" list --json >"$T/list.json"
	cat "$T/list.json"
	"$PY" - "$T/list.json" "$dev" "$(realpath "$IMG")" "$pid" <<'PYEOF' || fail "lloop list --json fields are wrong"
import json, sys
l = json.load(open(sys.argv[1]))
dev, img, pid = sys.argv[2], sys.argv[3], int(sys.argv[4])
want = {"device": dev, "image": img, "size": 16 << 20, "sector_size": 4096,
        "pid": pid, "read_only": False, "direct_io": True, "alive": True}
bad = []
if len(l) != 1:
    bad.append("%d entries, expected 1" % len(l))
else:
    e = l[0]
    for k, v in want.items():
        if k not in e:
            bad.append("no field %s" % k)
        elif e[k] != v or type(e[k]) is not type(v):
            bad.append("%s is %r, expected %r" % (k, e[k], v))
    if not isinstance(e.get("path"), str) or not e.get("path"):
        bad.append("path is %r, expected a non-empty string" % e.get("path"))
for b in bad:
    print("lloop list --json:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PYEOF
	# the text listing names the device and the real path too
	"$LLOOP" list >"$T/list.txt"
	grep -q "^$dev .* $(realpath "$IMG")\$" "$T/list.txt" ||
		fail "lloop list does not show '$dev ... $(realpath "$IMG")': $(cat "$T/list.txt")"

	local w0 r0 wb0 f0 w1 r1 wb1 f1
	w0=$(op_requests "$pid" write)
	r0=$(op_requests "$pid" read)
	wb0=$(op_requests "$pid" write bytes)
	f0=$(op_requests "$pid" flush)
	head -c $((1 << 20)) /dev/urandom >"$T/chunk"
	dd if="$T/chunk" of="$dev" bs=64k seek=32 oflag=direct conv=fsync status=none ||
		fail "dd to $dev failed"
	dd if="$dev" of="$T/chunk.back" bs=64k skip=32 count=16 iflag=direct status=none ||
		fail "dd from $dev failed"
	cmp "$T/chunk" "$T/chunk.back" || fail "1 MiB written to $dev at 2 MiB reads back different"
	w1=$(op_requests "$pid" write)
	r1=$(op_requests "$pid" read)
	wb1=$(op_requests "$pid" write bytes)
	f1=$(op_requests "$pid" flush)
	echo "stats: write requests $w0 -> $w1 (bytes $wb0 -> $wb1), read requests $r0 -> $r1, flush $f0 -> $f1"
	# a flush always reaches lloop; reads and writes only on the engine path
	[ "$f1" -gt "$f0" ] || fail "flush requests did not move after dd conv=fsync ($f0 -> $f1)"
	if [ "$(list_field "$dev" path)" = engine ]; then
		[ "$w1" -gt "$w0" ] || fail "write requests did not move after writing 1 MiB ($w0 -> $w1)"
		[ "$r1" -gt "$r0" ] || fail "read requests did not move after reading 1 MiB ($r0 -> $r1)"
		[ $((wb1 - wb0)) -ge $((1 << 20)) ] ||
			fail "write bytes moved by $((wb1 - wb0)), expected >= 1 MiB"
	fi
	detach "$dev"
	# the write went to the image file, at 2 MiB
	cmp -n $((1 << 20)) "$T/chunk" <(tail -c +$(((2 << 20) + 1)) "$IMG") ||
		fail "the 1 MiB written at 2 MiB is not in the image file after detach"
	assert_nothing_left "lloop detach"
}

# ---- --read-only ----------------------------------------------------------
read_only() { # PATH
	local path=$1 dev sum0 opts
	read -r -a opts <<<"$(path_opts "$path")"
	sum0=$(sha256sum <"$IMG")
	attach "$IMG" --read-only ${opts[@]+"${opts[@]}"}
	dev=$ATTACH_DEV
	check_path "$dev" "$path"
	assert_eq "$(blockdev --getro "$dev")" 1 "blockdev --getro with --read-only"
	assert_eq "$(list_field "$dev" read_only)" True "read_only in lloop list --json"
	if dd if=/dev/zero of="$dev" bs=4k count=1 oflag=direct status=none 2>"$T/dd.err"; then
		fail "a 4 KiB O_DIRECT write to the read-only $dev succeeded"
	fi
	log "write to the read-only device refused: $(head -n 1 "$T/dd.err")"
	# even with the block layer's flag cleared, nothing reaches the image
	if blockdev --setrw "$dev" 2>/dev/null; then
		dd if=/dev/zero of="$dev" bs=4k count=1 oflag=direct status=none 2>"$T/dd.err" &&
			fail "after blockdev --setrw, a write to the read-only $dev succeeded"
		log "after blockdev --setrw, still refused: $(head -n 1 "$T/dd.err")"
	fi
	dd if="$dev" of="$T/ro.back" bs=1M iflag=direct status=none || fail "reading the read-only $dev failed"
	cmp "$IMG" "$T/ro.back" || fail "the read-only $dev does not read as the image"
	detach "$dev"
	assert_eq "$(sha256sum <"$IMG")" "$sum0" "sha256 of the image after the read-only attachment"
	assert_nothing_left "lloop detach"
}

# ---- --sector-size 512 ----------------------------------------------------
sector_512() { # PATH
	local path=$1 dev img=$T/fs512.img i opts
	read -r -a opts <<<"$(path_opts "$path")"
	rm -f "$img"
	truncate -s 64M "$img"
	attach "$img" --sector-size 512 ${opts[@]+"${opts[@]}"}
	dev=$ATTACH_DEV
	check_path "$dev" "$path"
	assert_eq "$(blockdev --getss "$dev")" 512 "blockdev --getss with --sector-size 512"
	assert_eq "$(list_field "$dev" sector_size)" 512 "sector_size in lloop list --json"
	mkfs.ext4 -q -F -b 1024 "$dev" || fail "mkfs.ext4 -b 1024 on $dev failed"
	mount_dev "$dev" "$T/mnt"
	head -c $((3 << 20)) /dev/urandom >"$T/data"
	cp "$T/data" "$T/mnt/data"
	for i in $(seq 1 50); do
		head -c $((i * 317)) "$T/data" >"$T/mnt/small$i"
	done
	umount_dir "$T/mnt"
	sync
	echo 3 >/proc/sys/vm/drop_caches || fail "cannot drop the caches"
	mount_dev "$dev" "$T/mnt"
	cmp "$T/data" "$T/mnt/data" || fail "a 3 MiB file on ext4 -b 1024 over 512-byte sectors reads back different"
	for i in $(seq 1 50); do
		cmp -s <(head -c $((i * 317)) "$T/data") "$T/mnt/small$i" ||
			fail "small$i on ext4 -b 1024 over 512-byte sectors reads back different"
	done
	umount_dir "$T/mnt"
	e2fsck -fn "$dev" >"$T/fsck.out" 2>&1 || { cat "$T/fsck.out" >&2; fail "e2fsck -fn on $dev"; }
	log "ext4 -b 1024 on 512-byte sectors: files read back after remount, fsck clean"
	detach "$dev"
	assert_nothing_left "lloop detach"
}

for p in "${PATHS[@]}"; do
	log "path: $p"
	rw_default "$p"
	read_only "$p"
	sector_512 "$p"
done
