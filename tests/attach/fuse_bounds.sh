#!/usr/bin/env bash
# The one-file FUSE file system keeps the image's size, as a block device
# does: on the FUSE file itself (in the daemon's mount namespace, where
# the loop device's backing file is), on both I/O paths where lloop sees
# the call:
# - a write across the end is cut short there, one at the end gets ENOSPC,
#   and the image file does not grow (engine path; with passthrough the
#   kernel writes the backing file itself);
# - fallocate that would make the file longer fails with ENOSPC and leaves
#   it as it was; with KEEP_SIZE it succeeds;
# - a punch or zero-range (KEEP_SIZE) across the end zeroes up to the end;
# - modes lloop does not do (collapse range) get EOPNOTSUPP.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "FUSE file bounds: short write at the end, fallocate past the end, EOPNOTSUPP"
need nsenter fallocate cmp

SIZE=$((64 << 20))
M=$((1 << 20))

# in_ns PID CMD...: CMD in the daemon's mount namespace
in_ns() {
	local pid=$1
	shift
	nsenter -t "$pid" -m -- "$@"
}

# expect_fail WHAT ERRNO-TEXT CMD...: CMD fails, saying ERRNO-TEXT
expect_fail() {
	local what=$1 text=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		fail "$what: succeeded, expected '$text'"
	fi
	[[ "$out" == *"$text"* ]] || fail "$what: expected '$text', got: $out"
	echo "$what: $text, as expected"
}

one_path() {
	local path=$1 dev pid f opts
	read -r -a opts <<<"$(path_opts "$path")"
	head -c "$SIZE" /dev/urandom >"$T/img"
	cp "$T/img" "$T/want"
	attach "$T/img" ${opts[@]+"${opts[@]}"}
	dev=$ATTACH_DEV pid=$ATTACH_PID
	check_path "$dev" "$path"
	f=$(cat "/sys/block/${dev#/dev/}/loop/backing_file")
	log "$path: the FUSE file $f of daemon $pid"
	assert_eq "$(in_ns "$pid" stat -c %s "$f")" "$SIZE" "size of the FUSE file"

	if [ "$path" = engine ]; then
		# 8 KiB from 4 KiB before the end: 4096 written, then ENOSPC
		out=$(in_ns "$pid" "$PY" - "$f" "$SIZE" <<'PYEOF'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
size = int(sys.argv[2])
n = os.pwrite(fd, b"\x5a" * 8192, size - 4096)
try:
    os.pwrite(fd, b"\x5a" * 4096, size)
    print(n, "no error at the end")
except OSError as e:
    print(n, errno.errorcode[e.errno])
PYEOF
)
		assert_eq "$out" "4096 ENOSPC" "write across the end, then at the end"
		"$PY" - "$T/want" "$SIZE" <<'PYEOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]) - 4096)
    f.write(b"\x5a" * 4096)
PYEOF
	fi

	expect_fail "fallocate to twice the size" "No space left on device" \
		in_ns "$pid" fallocate -o 0 -l $((2 * SIZE)) "$f"
	expect_fail "zero range without KEEP_SIZE across the end" "No space left on device" \
		in_ns "$pid" fallocate -z -o $((SIZE - M)) -l $((2 * M)) "$f"
	in_ns "$pid" fallocate -n -o 0 -l $((2 * SIZE)) "$f" ||
		fail "fallocate --keep-size to twice the size failed"
	in_ns "$pid" fallocate -o 0 -l "$SIZE" "$f" ||
		fail "fallocate of the file's own size failed"
	expect_fail "collapse range" "Operation not supported" \
		in_ns "$pid" fallocate -c -o 0 -l 4096 "$f"
	# punch [60 MiB, end) asked as [60 MiB, 68 MiB); zero-range with
	# KEEP_SIZE [56 MiB, end + 4 MiB)... on [56, 58) only, so that the
	# punch's zeroes are told apart
	in_ns "$pid" fallocate -p -o $((60 * M)) -l $((8 * M)) "$f" ||
		fail "punch hole across the end failed"
	in_ns "$pid" fallocate -z -n -o $((56 * M)) -l $((2 * M)) "$f" ||
		fail "zero range --keep-size failed"
	"$PY" - "$T/want" <<'PYEOF'
import sys
M = 1 << 20
with open(sys.argv[1], "r+b") as f:
    f.seek(60 * M)
    f.write(bytes(4 * M))
    f.seek(56 * M)
    f.write(bytes(2 * M))
PYEOF
	assert_eq "$(in_ns "$pid" stat -c %s "$f")" "$SIZE" "size of the FUSE file afterwards"
	detach "$dev"
	assert_eq "$(stat -c %s "$T/img")" "$SIZE" "size of the image file afterwards"
	cmp "$T/img" "$T/want" || fail "$path: the image is not what the writes and fallocates made it"
	log "$path: the image has the expected bytes and size"
}

for p in "${PATHS[@]}"; do
	one_path "$p"
done
assert_nothing_left "the FUSE bounds checks"
