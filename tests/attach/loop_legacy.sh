#!/usr/bin/env bash
# A kernel without LOOP_CONFIGURE (before Linux 5.8: uname says 5.4,
# through an LD_PRELOAD shim): the loop device is bound with LOOP_SET_FD
# and the calls that set it up, to the same result: direct I/O, autoclear,
# the sector size, read-only; a data round trip on both I/O paths; and a
# killed daemon's device goes by itself.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "attach on a kernel without LOOP_CONFIGURE (LOOP_SET_FD and its settings)"
need blockdev cmp
"$LLOOP" --version | grep -q sanitized &&
	skip "a sanitizer build: its runtime must be the first preloaded library"
SHIM=$REPO/build/oldkernel.so
[ -e "$SHIM" ] || SHIM=$(dirname "$LLOOP")/oldkernel.so
[ -e "$SHIM" ] || fail "no oldkernel.so shim next to $LLOOP (meson builds it)"

IMG=$T/disk.img
make_random "$IMG" 16

# legacy_attach [OPTS...]: attach $IMG through the shim, said at info level
legacy_attach() {
	LD_PRELOAD=$SHIM attach "$IMG" --log-level info "$@"
	grep -q "no LOOP_CONFIGURE: binding with LOOP_SET_FD" "$ATTACH_ERR" ||
		fail "attach $* did not take the LOOP_SET_FD way: $(cat "$ATTACH_ERR")"
}
# check_dev DEV SECTOR RO
check_dev() {
	local n=${1#/dev/}
	assert_eq "$(blockdev --getss "$1")" "$2" "sector size of $1"
	assert_eq "$(blockdev --getro "$1")" "$3" "read-only of $1"
	assert_eq "$(cat "/sys/block/$n/loop/dio")" 1 "direct I/O of $1"
	assert_eq "$(cat "/sys/block/$n/loop/autoclear")" 1 "autoclear of $1"
}

for path in --passthrough --no-passthrough; do
	legacy_attach "$path"
	check_dev "$ATTACH_DEV" 4096 0
	head -c $((4 << 20)) /dev/urandom >"$T/pat"
	dd if="$T/pat" of="$ATTACH_DEV" bs=1M seek=2 oflag=direct conv=fsync status=none ||
		fail "write through $ATTACH_DEV ($path)"
	cmp <(dd if="$ATTACH_DEV" bs=1M skip=2 count=4 iflag=direct status=none) "$T/pat" ||
		fail "$ATTACH_DEV ($path) does not read back what was written"
	cmp <(dd if="$IMG" bs=1M skip=2 count=4 status=none) "$T/pat" ||
		fail "the image does not hold what was written through $ATTACH_DEV ($path)"
	detach "$ATTACH_DEV"
	assert_nothing_left "detach ($path)"
done

legacy_attach --read-only --sector-size 512
check_dev "$ATTACH_DEV" 512 1
dd if=/dev/zero of="$ATTACH_DEV" bs=4096 count=1 oflag=direct status=none 2>/dev/null &&
	fail "a write to the read-only $ATTACH_DEV succeeded"
detach "$ATTACH_DEV"
assert_nothing_left "detach (read-only)"

# autoclear: SIGKILL of the daemon frees the device by itself; detach
# then clears the dead daemon's record
legacy_attach
kill -9 "$ATTACH_PID"
for _ in $(seq 75); do
	[ -z "$(loops_of_test)" ] && break
	sleep 0.2
done
[ -z "$(loops_of_test)" ] ||
	fail "15 s after SIGKILL of the daemon $ATTACH_DEV is still bound: no autoclear"
"$LLOOP" detach "$ATTACH_DEV" >/dev/null || fail "detach after SIGKILL of the daemon"
assert_nothing_left "SIGKILL of the daemon, then detach"
