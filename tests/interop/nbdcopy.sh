#!/bin/bash
# nbdcopy against lloop: file -> nbd, nbd -> file, nbd -> nbd between two
# exports of one server, pipes, multi-connection copies, and a sparse source
# copied over existing data (zeroing via WRITE_ZEROES/TRIM + block status).
. "$(dirname "$0")/lib.sh"
need nbdcopy cmp truncate dd sha256sum
describe "nbdcopy file<->nbd, nbd->nbd, pipes, sparse source; cmp everything"

MB=$((1 << 20))
src=$T/src.img
make_random "$src" 32
img=$T/a.img
truncate -s 32M "$img"
start_server "a=$img" "b=memory:32M"
A=$(nbd_uri a)
B=$(nbd_uri b)

log "file -> nbd (4 connections, --flush), nbd -> file"
nbdcopy --flush --connections=4 "$src" "$A" || fail "nbdcopy file -> nbd failed"
nbdcopy "$A" "$T/out1.img" || fail "nbdcopy nbd -> file failed"
cmp "$src" "$T/out1.img" || fail "round trip 1 differs"

log "nbd -> stdout and stdin -> nbd"
assert_eq "$(nbdcopy "$A" - | sha256sum | cut -d' ' -f1)" \
	"$(sha256sum <"$src" | cut -d' ' -f1)" "sha256 of nbd -> stdout"
nbdcopy - "$B" <"$src" || fail "nbdcopy stdin -> nbd failed"
nbdcopy "$B" "$T/out1b.img" || fail "nbdcopy nbd(b) -> file failed"
cmp "$src" "$T/out1b.img" || fail "stdin -> memory export round trip differs"

log "sparse source over existing data"
sp=$T/sparse.img
truncate -s 32M "$sp"
dd if=/dev/urandom of="$sp" bs=1M seek=3 count=1 conv=notrunc status=none
dd if=/dev/urandom of="$sp" bs=4096 seek=$((20 * 256)) count=1 conv=notrunc status=none
dd if=/dev/urandom of="$sp" bs=1 seek=$((25 * MB + 12345)) count=777 conv=notrunc status=none
dd if=/dev/urandom of="$sp" bs=64K seek=$((32 * 16 - 1)) count=1 conv=notrunc status=none
nbdcopy "$sp" "$A" || fail "nbdcopy sparse file -> nbd failed"
nbdcopy "$A" "$T/out2.img" || fail "nbdcopy nbd -> file (sparse) failed"
cmp "$sp" "$T/out2.img" || fail "sparse round trip differs"

log "nbd -> nbd between exports a and b (b holds random data before)"
nbdcopy --connections=2 "$A" "$B" || fail "nbdcopy nbd -> nbd failed"
nbdcopy "$B" "$T/out3.img" || fail "nbdcopy nbd(b) -> file failed"
cmp "$sp" "$T/out3.img" || fail "nbd -> nbd copy differs"

log "single connection, small requests (--request-size=65536), data ending unaligned"
head -c $((5 * MB + 4321)) /dev/urandom >"$T/odd-full.img"
truncate -s 32M "$T/odd-full.img"
nbdcopy --connections=1 --request-size=65536 "$T/odd-full.img" "$B" ||
	fail "nbdcopy with small requests failed"
nbdcopy --connections=1 --request-size=65536 "$B" "$T/out4.img" ||
	fail "nbdcopy out with small requests failed"
cmp "$T/odd-full.img" "$T/out4.img" || fail "small-request copy differs"

stop_server
log "checking the image file on disk"
cmp "$sp" "$img" || fail "image file differs from the sparse source"

echo "nbdcopy: ok"
