#!/bin/bash
# qemu-io against lloop: unaligned writes (-P patterns, write -z, concurrent
# aio writes sharing 4 KiB blocks) read back with -P checks, over a file image
# with the default O_DIRECT cache, with --cache=writeback, and over memory:.
. "$(dirname "$0")/lib.sh"
need qemu-io qemu-img od cmp truncate
describe "qemu-io unaligned pattern writes/reads: file (O_DIRECT), file (--cache=writeback), memory:"

SIZE=8388608

# "pattern offset length" (pattern 0z = write zeroes), applied in order
OPS=(
	"0x44 0 1"
	"0x11 1000 512"
	"0x22 4095 3"
	"0x33 123457 70000"
	"0x55 8388607 1"
	"0x66 2097159 1048589"
	"0x77 1200 100"
	"0z 123500 1000"
)
# issued as concurrent aio writes: distinct ranges inside the same 4 KiB blocks
AIO=(
	"0x81 16384 100"
	"0x82 16484 100"
	"0x83 16584 4000"
	"0x84 20584 50"
	"0x85 20734 7"
	"0x86 20741 4096"
)
# "pattern offset length" expected afterwards
CHECKS=(
	"0x44 0 1"
	"0x00 1 999"
	"0x11 1000 200"
	"0x77 1200 100"
	"0x11 1300 212"
	"0x00 1512 2583"
	"0x22 4095 3"
	"0x00 4098 12286"
	"0x81 16384 100"
	"0x82 16484 100"
	"0x83 16584 4000"
	"0x84 20584 50"
	"0x00 20634 100"
	"0x85 20734 7"
	"0x86 20741 4096"
	"0x00 24837 98620"
	"0x33 123457 43"
	"0x00 123500 1000"
	"0x33 124500 68957"
	"0x00 193457 1903702"
	"0x66 2097159 1048589"
	"0x00 3145748 5242859"
	"0x55 8388607 1"
)

# Expected image built locally from the same op lists.
make_expected() {
	"$PY" - "$1" "$SIZE" "${OPS[@]}" "${AIO[@]}" <<'EOF'
import sys
path, size = sys.argv[1], int(sys.argv[2])
buf = bytearray(size)
for op in sys.argv[3:]:
    pat, off, ln = op.split()
    off, ln = int(off), int(ln)
    b = 0 if pat == "0z" else int(pat, 16)
    buf[off:off + ln] = bytes([b]) * ln
open(path, "wb").write(buf)
EOF
}

qio() {
	local out rc=0
	out=$(qemu-io -f raw "$@" 2>&1) || rc=$?
	printf '%s\n' "$out" | grep -v -e "ops; " -e '^wrote ' -e '^read ' || :
	[ "$rc" = 0 ] || fail "qemu-io exited with status $rc"
	if grep -qi -e 'fail' -e 'error' <<<"$out"; then
		fail "qemu-io reported an error"
	fi
}

read_cmds() {
	local c p o l
	for c in "${CHECKS[@]}"; do
		read -r p o l <<<"$c"
		echo -c
		echo "read -P $p $o $l"
	done
}

run_case() {
	local label=$1 image=$2
	shift 2
	log "case $label: $image $*"
	start_server "$@" "$image"
	local uri
	uri=$(nbd_uri)

	local args=() c p o l
	for c in "${OPS[@]}"; do
		read -r p o l <<<"$c"
		if [ "$p" = 0z ]; then
			args+=(-c "write -z $o $l")
		else
			args+=(-c "write -P $p $o $l")
		fi
	done
	for c in "${AIO[@]}"; do
		read -r p o l <<<"$c"
		args+=(-c "aio_write -P $p $o $l")
	done
	args+=(-c "aio_flush" -c "flush")
	mapfile -t rargs < <(read_cmds)
	# writes then checks on one connection
	qio "${args[@]}" "${rargs[@]}" "$uri"
	# checks again on a fresh connection
	qio "${rargs[@]}" "$uri"
	# whole-image comparison through qemu's NBD client
	qemu-img compare -q -f raw -F raw "$T/expected.img" "$uri" ||
		fail "$label: qemu-img compare expected vs export differs"
	stop_server

	if [ "$image" != "${image#memory:}" ]; then
		return 0
	fi
	log "$label: checking the image file on disk"
	assert_eq "$(stat -c %s "$image")" "$SIZE" "$label: file size"
	cmp "$T/expected.img" "$image" || fail "$label: image file differs from expected"
	assert_eq "$(od -An -tx1 -j 4095 -N 3 "$image" | tr -s ' ')" " 22 22 22" \
		"$label: od at 4095"
	assert_eq "$(od -An -tx1 -j 123499 -N 2 "$image" | tr -s ' ')" " 33 00" \
		"$label: od at 123499"
	assert_eq "$(od -An -tx1 -j 20733 -N 2 "$image" | tr -s ' ')" " 00 85" \
		"$label: od at 20733"
}

make_expected "$T/expected.img"

truncate -s "$SIZE" "$T/direct.img"
run_case "file O_DIRECT" "$T/direct.img"

truncate -s "$SIZE" "$T/writeback.img"
run_case "file writeback" "$T/writeback.img" --cache writeback

run_case "memory" "memory:8M"

echo "qemu_io: ok"
