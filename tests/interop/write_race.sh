#!/bin/bash
# Writes in flight together that share a 4096-byte block must all land.
# An unaligned write to an O_DIRECT file is a read-modify-write of its edge
# blocks; any other write of the same block between its read and its write
# would be undone.  Through libnbd's asynchronous calls, each pair sent
# together and repeated: an unaligned write against an aligned write of its
# block, against a zero (punch, and NO_HOLE) of other bytes of the block,
# and two writes of the last whole block and the file's unaligned tail
# (page cache).  Each round checks every byte of the block.  Once on an
# ext4 (or whatever holds TMPDIR) file and once on a tmpfs one, where the
# zero is a hole punch.
. "$(dirname "$0")/lib.sh"
need truncate
need_pynbd
describe "writes sharing a block, sent together, all land (read-modify-write guard)"

shm_dir

race() {
	"$PY" - "$1" <<'EOF'
import sys
import nbd

ROUNDS = 300
B = 8192                      # a whole block, away from the others
SIZE = 10000000               # not a multiple of 4096: an unaligned tail
LAST = SIZE // 4096 * 4096    # 9998336, the aligned end
h = nbd.NBD()
h.connect_uri(sys.argv[1])
assert h.get_size() == SIZE, h.get_size()


def together(*cmds):
    """send every command before waiting for any"""
    cookies = [c() for c in cmds]
    for c in cookies:
        while h.aio_command_completed(c) is False:
            h.poll(-1)


def check(name, rnd, got, want_fn):
    bad = [i for i in range(len(got)) if not want_fn(i, got[i])]
    if bad:
        i = bad[0]
        sys.exit("%s, round %d: %d bytes wrong, first at +%d: 0x%02x"
                 % (name, rnd, len(bad), i, got[i]))


old = b"\x11" * 4096
for rnd in range(ROUNDS):
    # unaligned 10 bytes inside an aligned write of the whole block:
    # outside them the aligned data, inside them one write or the other
    h.pwrite(old, B)
    together(lambda: h.aio_pwrite(b"\x33" * 4096, B),
             lambda: h.aio_pwrite(b"\x44" * 10, B + 100))
    got = h.pread(4096, B)
    inner = got[100:110]
    if inner not in (b"\x33" * 10, b"\x44" * 10):
        sys.exit("aligned+unaligned, round %d: the 10 bytes are %r"
                 % (rnd, inner))
    check("aligned+unaligned", rnd, got,
          lambda i, v: 100 <= i < 110 or v == 0x33)

    # zero bytes 10..109 and write bytes 2000..2099 of one block
    for flags, name in ((0, "zero+write"),
                        (nbd.CMD_FLAG_NO_HOLE, "zero(NO_HOLE)+write")):
        h.pwrite(old, B)
        together(lambda: h.aio_zero(100, B + 10, flags=flags),
                 lambda: h.aio_pwrite(b"\x22" * 100, B + 2000))
        got = h.pread(4096, B)
        check(name, rnd, got,
              lambda i, v: v == (0 if 10 <= i < 110 else
                                 0x22 if 2000 <= i < 2100 else 0x11))

    # the last whole block: an unaligned write in it, and a write from
    # inside it to the end of the file (through the page cache)
    h.pwrite(b"\x11" * (SIZE - LAST + 4096), LAST - 4096)
    together(lambda: h.aio_pwrite(b"\xaa" * 100, LAST - 336),
             lambda: h.aio_pwrite(b"\xbb" * (SIZE - LAST + 136), LAST - 136))
    got = h.pread(SIZE - LAST + 4096, LAST - 4096)
    check("tail", rnd, got,
          lambda i, v: v == (0xaa if 3760 <= i < 3860 else
                             0xbb if i >= 3960 else 0x11))
h.shutdown()
print("%d rounds of each pair: every byte as written" % ROUNDS)
EOF
}

for dir in "$T" ${SHM:+"$SHM"}; do
	img=$dir/race.img
	truncate -s 10000000 "$img"
	log "image on $(findmnt -n -o FSTYPE -T "$dir") ($dir)"
	start_server_unix "$img"
	race "$(nbd_uri)" || fail "writes sharing a block lost data (image on $dir)"
	stop_server
	rm -f "$img"
done
[ -n "$SHM" ] || echo "note: /dev/shm not writable: the tmpfs half was not run"
