#!/usr/bin/env bash
# A block device as IMAGE (here a kernel loop device over a file of the
# test's): it takes the engine path; data written with O_DIRECT reads
# back and lands in the device; a second attach of the device is refused;
# detach leaves the block device as it was.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "a block device as the image"
need blockdev cmp

truncate -s 64M "$T/backing.img"
kloop_attach "$T/backing.img" --direct-io=on
K=$KLOOP_DEV
attach "$K"
DEV=$ATTACH_DEV
assert_eq "$(list_field "$DEV" path)" engine "I/O path of a block device image"
assert_eq "$(list_field "$DEV" image)" "$(realpath "$K")" "image in lloop list"
assert_eq "$(blockdev --getsize64 "$DEV")" $((64 << 20)) "size of $DEV"

head -c $((4 << 20)) /dev/urandom >"$T/pat"
dd if="$T/pat" of="$DEV" bs=1M seek=8 oflag=direct conv=fsync status=none || fail "writing $DEV failed"
dd if="$DEV" of="$T/back" bs=1M skip=8 count=4 iflag=direct status=none || fail "reading $DEV failed"
cmp "$T/pat" "$T/back" || fail "4 MiB written to $DEV read back different"
cmp "$T/pat" <(dd if="$K" bs=1M skip=8 count=4 iflag=direct status=none) ||
	fail "the 4 MiB written to $DEV are not on $K at 8 MiB"
w=$(op_requests "$ATTACH_PID" write bytes)
[ "$w" -ge $((4 << 20)) ] || fail "lloop stats counts $w bytes written, expected >= 4 MiB"

attach_try "$K"
[ "$ATTACH_RC" != 0 ] || fail "a second attach of $K succeeded ($ATTACH_OUT)"
grep -q 'already attached' "$ATTACH_ERR" || fail "the second attach of $K: $(cat "$ATTACH_ERR")"

detach "$DEV"
assert_eq "$(_backing_file "$K")" "$T/backing.img" "backing file of $K after lloop detach"
kloop_detach "$K"
cmp "$T/pat" <(dd if="$T/backing.img" bs=1M skip=8 count=4 status=none) ||
	fail "the data is not in $T/backing.img after detach"
assert_nothing_left "lloop detach and losetup -d"
