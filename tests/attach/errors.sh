#!/usr/bin/env bash
# lloop-test: engine-independent (argument and state checks; no I/O path)
# Every refusal of lloop attach and detach is one line on stderr, a
# non-zero exit, nothing on stdout, and nothing left behind: no state
# files, no daemon, no loop device on the test's images.  A refused detach
# of a mounted device leaves it working; after umount, detach works.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "attach/detach refusals: one line, non-zero, nothing left behind"
need setpriv mkfs.ext4

IMG=$T/disk.img
truncate -s 64M "$IMG"
mkdir "$T/adir"

# one_line_error WHAT FILE PATTERN: FILE holds exactly one line, matching
# PATTERN (grep -E, case-insensitive)
one_line_error() {
	local n
	n=$(wc -l <"$2")
	if [ "$n" != 1 ] || [ "$(tail -c 1 "$2" | od -An -c | tr -d ' ')" != '\n' ]; then
		echo "--- stderr of $1:" >&2
		cat "$2" >&2
		fail "$1: stderr has $n lines, expected exactly one"
	fi
	grep -qiE -e "$3" "$2" || fail "$1: the error '$(cat "$2")' does not say /$3/"
}

# refused WHAT PATTERN IMAGE [OPTS...]: lloop attach must fail cleanly
refused() {
	local what=$1 pat=$2
	shift 2
	attach_try "$@"
	echo "$what: exit $ATTACH_RC: $(cat "$ATTACH_ERR")"
	[ "$ATTACH_RC" != 0 ] || fail "$what: lloop attach succeeded (printed '$ATTACH_OUT')"
	[ -z "$ATTACH_OUT" ] || fail "$what: lloop attach failed but printed '$ATTACH_OUT' on stdout"
	one_line_error "$what" "$ATTACH_ERR" "$pat"
	assert_nothing_left "$what"
}

refused "missing image" "no such file" "$T/missing.img"
refused "a directory as image" "directory" "$T/adir"
: >"$T/empty.img"
refused "an empty image" "empty.*truncate -s" "$T/empty.img"
refused "--sector-size 1000" "sector-size" "$IMG" --sector-size 1000
refused "an unknown option" "--bogus" "$IMG" --bogus
refused "--frontend bogus" "--frontend" "$IMG" --frontend bogus
refused "--buffer-memory under the fuse frontend's 64M" "at least 64M" "$IMG" --buffer-memory 8M
refused "--fuse-uring with --frontend nbd" "fuse-uring" "$IMG" --frontend nbd --fuse-uring
# this host has no nbd driver (the VM rig tests the frontend itself)
if [ ! -e /sys/module/nbd ] && [ ! -e /dev/nbd0 ]; then
	refused "--frontend nbd without the nbd driver" "no nbd driver" "$IMG" --frontend nbd
fi
refused "two images" "one image" "$IMG" "$T/other.img"
truncate -s 1000000 "$T/odd.img"
refused "a size that is no multiple of 4096 (1000000 bytes)" "multiple|sector" "$T/odd.img"
refused "1000000 bytes with --sector-size 512" "multiple|sector" "$T/odd.img" --sector-size 512
# 1000448 = 1954 x 512: refused with 4096-byte sectors, fine with 512
truncate -s 1000448 "$T/odd512.img"
refused "1000448 bytes with 4096-byte sectors" "multiple|sector" "$T/odd512.img"
attach "$T/odd512.img" --sector-size 512
assert_eq "$(blockdev --getsize64 "$ATTACH_DEV")" 1000448 "size of the 1000448-byte image with 512-byte sectors"
detach "$ATTACH_DEV"
assert_nothing_left "detach"

# not root: the check comes before anything is touched
_attach_args
rc=0
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$LLOOP" attach "${ATTACH_ARGS[@]}" "$IMG" 2>"$T/nonroot.err") || rc=$?
echo "not root: exit $rc: $(cat "$T/nonroot.err")"
[ "$rc" != 0 ] || fail "lloop attach as uid 65534 succeeded (printed '$out')"
[ -z "$out" ] || fail "lloop attach as uid 65534 printed '$out'"
one_line_error "attach as uid 65534" "$T/nonroot.err" "root"
assert_nothing_left "attach as uid 65534"

# the same image twice, also under another name: the second is refused,
# the first one keeps working
attach "$IMG"
DEV=$ATTACH_DEV
PID=$ATTACH_PID
ln -s "$IMG" "$T/alias.img"
for name in "$IMG" "$T/alias.img"; do
	attach_try "$name"
	echo "attach $name again: exit $ATTACH_RC: $(cat "$ATTACH_ERR")"
	[ "$ATTACH_RC" != 0 ] || fail "attaching $name a second time succeeded (printed '$ATTACH_OUT')"
	[ -z "$ATTACH_OUT" ] || fail "the refused second attach of $name printed '$ATTACH_OUT'"
	one_line_error "second attach of $name" "$ATTACH_ERR" "already attached"
	n=$(find "$RUN/attach" -name '*.state' | wc -l)
	assert_eq "$n" 1 "state files after the refused second attach of $name"
	assert_eq "$(list_field "$DEV" pid)" "$PID" "daemon of $DEV after the refused second attach"
done
head -c 1M /dev/urandom >"$T/pat"
dd if="$T/pat" of="$DEV" bs=1M oflag=direct status=none || fail "writing $DEV after the refused second attach failed"
cmp "$T/pat" <(dd if="$DEV" bs=1M count=1 iflag=direct status=none) ||
	fail "$DEV reads back wrong after the refused second attach"

# detach of what is not attached
for what in /dev/loop999 "$T/missing.img" "$T/odd.img"; do
	rc=0
	"$LLOOP" detach "$what" >"$T/d.out" 2>"$T/d.err" || rc=$?
	echo "detach $what: exit $rc: $(cat "$T/d.err")"
	assert_eq "$rc" 1 "exit status of lloop detach $what (not attached)"
	[ ! -s "$T/d.out" ] || fail "lloop detach $what printed '$(cat "$T/d.out")'"
	one_line_error "detach $what" "$T/d.err" "not attached"
done
assert_eq "$(list_field "$DEV" alive)" True "$DEV alive after detaching other things"

# detach while mounted: refused, the device keeps working
mkfs.ext4 -q -F "$DEV" || fail "mkfs.ext4 $DEV failed"
mount_dev "$DEV" "$T/mnt"
rc=0
"$LLOOP" detach "$DEV" >"$T/d.out" 2>"$T/d.err" || rc=$?
echo "detach $DEV while mounted: exit $rc: $(cat "$T/d.err")"
assert_eq "$rc" 1 "exit status of lloop detach of a mounted device"
[ ! -s "$T/d.out" ] || fail "the refused detach printed '$(cat "$T/d.out")'"
one_line_error "detach of a mounted device" "$T/d.err" "in use|mounted"
grep -qF "mounted on $T/mnt" "$T/d.err" || fail "the refused detach does not say where $DEV is mounted"
rc=0
"$LLOOP" detach "$IMG" >"$T/d.out" 2>"$T/d.err" || rc=$?
assert_eq "$rc" 1 "exit status of lloop detach IMAGE of a mounted device"
one_line_error "detach IMAGE of a mounted device" "$T/d.err" "in use|mounted"
_is_lloop_pid "$PID" || fail "the daemon died after a refused detach"
assert_eq "$(list_field "$DEV" alive)" True "$DEV alive after the refused detach"
cp "$T/pat" "$T/mnt/pat"
sync -f "$T/mnt/pat"
umount_dir "$T/mnt"
echo 3 >/proc/sys/vm/drop_caches
mount_dev "$DEV" "$T/mnt"
cmp "$T/pat" "$T/mnt/pat" || fail "a file written after the refused detach reads back wrong"
umount_dir "$T/mnt"

# after umount, detach (by image name this time) works
rc=0
"$LLOOP" detach "$IMG" >"$T/d.out" 2>"$T/d.err" || rc=$?
assert_eq "$rc" 0 "exit status of lloop detach IMAGE after umount ($(cat "$T/d.err"))"
[ ! -s "$T/d.err" ] || fail "lloop detach IMAGE wrote '$(cat "$T/d.err")'"
! _is_lloop_pid "$PID" || fail "lloop detach IMAGE returned with the daemon $PID still alive"
assert_nothing_left "lloop detach IMAGE after umount"
