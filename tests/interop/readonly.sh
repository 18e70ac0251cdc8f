#!/bin/bash
# --read-only: READ_ONLY flag set, no TRIM/WRITE_ZEROES/FUA advertised; writes,
# trims and zeroes refused with EPERM (libnbd, strict mode off so the server
# sees them) and by qemu-io/qemu-img; reads work; the file is unchanged.
. "$(dirname "$0")/lib.sh"
need qemu-io qemu-img sha256sum
need_pynbd
describe "--read-only: EPERM for write/trim/zero (libnbd), qemu-io/qemu-img refused, reads OK"

img=$T/ro.img
"$PY" -c 'import sys; sys.stdout.buffer.write(b"\x5a" * (4 << 20))' >"$img"
dd if=/dev/urandom of="$img" bs=4096 seek=100 count=1 conv=notrunc status=none
before=$(sha256sum <"$img")

start_server --read-only "$img"
uri=$(nbd_uri)

log "libnbd: flags, reads, refused writes"
"$PY" - "$uri" "$img" <<'EOF2' || fail "libnbd read-only checks failed"
import errno, sys
import nbd
uri, path = sys.argv[1], sys.argv[2]
content = open(path, "rb").read()

def eq(got, want, what):
    if got != want:
        sys.exit("%s: expected %r, got %r" % (what, want, got))

h = nbd.NBD()
h.set_strict_mode(0)  # let the writes reach the server
h.connect_uri(uri)
eq(h.is_read_only(), True, "is_read_only")
eq(h.can_trim(), False, "can_trim")
eq(h.can_zero(), False, "can_zero")
eq(h.can_fua(), False, "can_fua")
eq(h.get_size(), 4 << 20, "size")
eq(h.pread(4096, 409600), content[409600:413696], "read of the random block")
eq(h.pread(3, 409599), content[409599:409602], "unaligned read")

def refused(what, fn, *args):
    try:
        fn(*args)
    except nbd.Error as e:
        eq(errno.errorcode.get(e.errnum, e.errnum), "EPERM", what + " errno")
        print("    %s -> EPERM" % what)
    else:
        sys.exit("%s succeeded on a read-only export" % what)
    eq(h.pread(8, 409600), content[409600:409608], "read after " + what)

refused("pwrite", h.pwrite, b"\x00" * 4096, 0)
refused("unaligned pwrite", h.pwrite, b"\x01" * 100, 4000)
refused("pwrite FUA", h.pwrite, b"\x00" * 512, 0, nbd.CMD_FLAG_FUA)
refused("trim", h.trim, 65536, 0)
refused("zero", h.zero, 65536, 0)
refused("zero NO_HOLE", h.zero, 512, 4096, nbd.CMD_FLAG_NO_HOLE)
eq(h.pread(4 << 20, 0), content, "whole export after refused writes")
h.shutdown()
print("libnbd read-only checks ok")
EOF2

log "qemu-io: reads work, writes refused"
qemu-io -f raw -r -c 'read -P 0x5a 0 409600' -c 'read -P 0x5a 413696 3780608' "$uri" ||
	fail "qemu-io reads on the read-only export failed"
rc=0
qemu-io -f raw -c 'write -P 0x11 0 4096' "$uri" >"$T/qio.out" 2>&1 || rc=$?
cat "$T/qio.out"
[ "$rc" != 0 ] || fail "qemu-io write on a read-only export exited 0"
rc=0
qemu-io -f raw -c 'write -z 0 4096' "$uri" >"$T/qio.out" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "qemu-io write -z on a read-only export exited 0"
rc=0
qemu-img convert -n -f raw -O raw "$img" "$uri" >"$T/qimg.out" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "qemu-img convert into a read-only export exited 0"

stop_server
assert_eq "$(sha256sum <"$img")" "$before" "image content after the read-only run"
echo "readonly: ok"
