#!/bin/bash
# qemu-img convert into and out of a lloop export (created with --create):
# 64 MiB of random data, then a source with zeroed/sparse ranges over it
# (exercises WRITE_ZEROES / FAST_ZERO), sha256 checked both ways and on disk.
. "$(dirname "$0")/lib.sh"
need qemu-img sha256sum truncate dd
describe "qemu-img convert 64 MiB random raw -> export -> file, then a holey source over it"

sum() { sha256sum "$1" | cut -d' ' -f1; }

src=$T/src.img
make_random "$src" 64
img=$T/export.img
start_server --create 64M "$img"
uri=$(nbd_uri)
assert_eq "$(stat -c %s "$img")" 67108864 "size of the --create'd image"

log "convert random source into the export"
qemu-img convert -n -f raw -O raw "$src" "$uri" || fail "qemu-img convert into the export failed"
log "convert the export back out"
qemu-img convert -f raw -O raw "$uri" "$T/out1.img" || fail "qemu-img convert out of the export failed"
assert_eq "$(sum "$T/out1.img")" "$(sum "$src")" "sha256 after round trip 1"
qemu-img compare -q -f raw -F raw "$src" "$uri" || fail "qemu-img compare after round 1"

log "convert a source with zero ranges over the existing data"
src2=$T/src2.img
cp "$src" "$src2"
# 8 MiB of explicit zeros at 16 MiB, a punched hole at 40 MiB, a zero tail
dd if=/dev/zero of="$src2" bs=1M seek=16 count=8 conv=notrunc status=none
fallocate -p -o $((40 << 20)) -l $((3 << 20)) "$src2" 2>/dev/null ||
	dd if=/dev/zero of="$src2" bs=1M seek=40 count=3 conv=notrunc status=none
truncate -s 63M "$src2"
truncate -s 64M "$src2"
# a few unaligned zero runs that qemu-img writes as data or zeroes
printf '\0\0\0\0\0' | dd of="$src2" bs=1 seek=12345 conv=notrunc status=none
qemu-img convert -n -f raw -O raw "$src2" "$uri" || fail "qemu-img convert (holey source) failed"
qemu-img convert -f raw -O raw "$uri" "$T/out2.img" || fail "qemu-img convert out (round 2) failed"
assert_eq "$(sum "$T/out2.img")" "$(sum "$src2")" "sha256 after round trip 2"

stop_server
log "checking the image file on disk"
assert_eq "$(stat -c %s "$img")" 67108864 "image size on disk"
assert_eq "$(sum "$img")" "$(sum "$src2")" "sha256 of the image file"

echo "qemu_img: ok"
