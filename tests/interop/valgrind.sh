#!/bin/bash
# lloop-test: engine-independent
# lloop serve under valgrind memcheck, driven by real clients: nbdinfo
# (--list, --map), qemu-io (aligned, unaligned and FUA writes read back,
# write-zeroes, discard, flush), nbdsh (every command, and refused ones),
# nbdcopy in and out, and a raw client breaking the protocol.  Then SIGTERM:
# the exit status must be 0, not valgrind's 99, and valgrind must report
# 0 errors, definite leaks counting as errors.
#
# Always the threads engine: valgrind 3.19 runs io_uring_enter as a
# synchronous syscall, holding the lock that serialises the guest's
# threads, so a worker waiting in io_uring_enter stops every other thread
# and the daemon never gets to listen.  The engine is therefore not what
# this test is about; it runs once.
. "$(dirname "$0")/lib.sh"
need valgrind nbdinfo qemu-io nbdcopy cmp
need_pynbd
need_lloop
describe "memcheck-clean serve (threads engine) under nbdinfo, qemu-io, nbdsh, nbdcopy"

# valgrind cannot run a binary built with a sanitizer runtime
if grep -qaE '__(asan|tsan|msan)_init' "$LLOOP"; then
	skip "$LLOOP is built with a sanitizer; valgrind needs a plain build"
fi

MB=$((1 << 20))
img=$T/disk.img
truncate -s 16M "$img"
sock=$T/nbd.sock
pidfile=$T/server.pid
vglog=$T/valgrind.log
SERVER_LOG=$T/server.log

log "starting lloop serve under valgrind"
valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite --track-fds=no --vgdb=no \
	--log-file="$vglog" \
	"$LLOOP" serve --engine threads --no-mlock --threads 2 \
	--buffer-memory 8M --listen "unix:$sock" --pidfile "$pidfile" \
	--control "$T/control.sock" mem=memory:64M "file=$img" \
	</dev/null >"$SERVER_LOG" 2>&1 &
vpid=$!
track_pid "$vpid"
# valgrind is slow to start on a loaded machine: be patient
for ((i = 0; i < 1200; i++)); do
	[ -s "$pidfile" ] && break
	kill -0 "$vpid" 2>/dev/null || {
		cat "$vglog" >&2
		fail "lloop under valgrind exited before listening"
	}
	sleep 0.1
done
[ -s "$pidfile" ] || fail "lloop under valgrind did not listen within 120 s"
assert_eq "$(tr -d ' \n' <"$pidfile")" "$vpid" "pid in the pidfile"
MEM="nbd+unix:///mem?socket=$sock"
FILE="nbd+unix:///file?socket=$sock"

log "nbdinfo: handshake, list, block status"
nbdinfo "$MEM" | grep -q 'export-size: 67108864' || fail "nbdinfo mem"
nbdinfo --list "nbd+unix:///?socket=$sock" | grep -q 'export="file"' ||
	fail "nbdinfo --list"
nbdinfo --map "$FILE" >/dev/null || fail "nbdinfo --map"

log "qemu-io: aligned, unaligned and FUA writes read back; zeroes, discard"
qemu-io -f raw \
	-c 'write -P 0xab 0 1M' -c 'read -P 0xab 0 1M' \
	-c 'write -P 0x5a 4097 3000' -c 'read -P 0x5a 4097 3000' \
	-c 'read -P 0xab 4096 1' -c 'read -P 0xab 7097 1' \
	-c 'write -f -P 0x11 2M 64k' -c 'read -P 0x11 2M 64k' \
	-c 'write -z 1M 1M' -c 'read -P 0 1M 1M' \
	-c 'discard 2M 64k' -c 'flush' \
	"$FILE" >"$T/qemu-io.out" 2>&1 || {
	cat "$T/qemu-io.out" >&2
	fail "qemu-io failed"
}
! grep -q 'Pattern verification failed' "$T/qemu-io.out" ||
	fail "qemu-io read back the wrong data"

log "nbdsh: every command, and requests the server must refuse"
nbdsh --base-allocation -u "$MEM" -c '
buf = bytes(range(256)) * 64
h.pwrite(buf, 12345)
assert h.pread(len(buf), 12345) == buf
h.pwrite(buf, 4 << 20, nbd.CMD_FLAG_FUA)
h.flush()
h.trim(65536, 65536)
h.zero(8192, 1 << 20)
h.zero(8192, 2 << 20, nbd.CMD_FLAG_NO_HOLE)
assert h.pread(8192, 1 << 20) == bytes(8192)
h.cache(1 << 20, 0)
seen = []
h.block_status(1 << 20, 0, lambda ctx, off, ents, err: seen.append(ents))
assert seen
h.set_strict_mode(0)  # let the server refuse them, not libnbd
for bad in (lambda: h.pread(4096, (64 << 20) - 1024),
            lambda: h.pwrite(b"x" * 4096, 64 << 20)):
    try:
        bad()
        raise SystemExit("an out-of-range request succeeded")
    except nbd.Error:
        pass
assert h.pread(len(buf), 12345) == buf
' || fail "nbdsh commands"

log "nbdcopy: file -> nbd -> file"
make_random "$T/src.img" 4
nbdcopy "$T/src.img" "$FILE" || fail "nbdcopy in"
nbdcopy "$FILE" "$T/out.img" || fail "nbdcopy out"
cmp -n $((4 * MB)) "$T/src.img" "$T/out.img" || fail "nbdcopy round trip differs"

log "a raw client breaking the protocol"
"$PY" - "$sock" <<'EOF' || fail "raw client"
import socket, struct, sys
def conn():
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.settimeout(60)
    assert len(s.recv(18, socket.MSG_WAITALL)) == 18
    return s
s = conn()                                   # bad client flags
s.sendall(struct.pack(">I", 0x80000001))
assert s.recv(1) == b""
s = conn()                                   # bad option magic
s.sendall(struct.pack(">I", 3) + b"NOTMAGIC" + struct.pack(">II", 3, 0))
assert s.recv(1) == b""
s = conn()                                   # option too big, then abort
s.sendall(struct.pack(">I", 3) + struct.pack(">QII", 0x49484156454F5054,
          6, 100000) + b"\0" * 100000)
hdr = s.recv(20, socket.MSG_WAITALL)
assert struct.unpack(">I", hdr[12:16])[0] == (1 << 31) | 9, hdr
s.recv(struct.unpack(">I", hdr[16:20])[0], socket.MSG_WAITALL)
s.sendall(struct.pack(">QII", 0x49484156454F5054, 2, 0))
s.recv(20, socket.MSG_WAITALL)
s = conn()                                   # a write cut short
s.sendall(struct.pack(">I", 3) + struct.pack(">QII", 0x49484156454F5054,
          1, 3) + b"mem")
s.recv(10, socket.MSG_WAITALL)
s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 1, 1, 0, 65536) + b"x" * 100)
s.close()
EOF

log "SIGTERM"
kill -TERM "$vpid"
for ((i = 0; i < 1200; i++)); do
	kill -0 "$vpid" 2>/dev/null || break
	[ "$(ps -o stat= -p "$vpid" 2>/dev/null | cut -c1)" != Z ] || break
	sleep 0.1
done
rc=0
wait "$vpid" || rc=$?
summary=$(grep 'ERROR SUMMARY' "$vglog" | tail -n 1)
log "valgrind: ${summary#*== }"
grep -E 'definitely lost|in use at exit|All heap blocks' "$vglog" | sed 's/^==[0-9]*== */--- /'
if [ "$rc" != 0 ] || ! grep -q 'ERROR SUMMARY: 0 errors' "$vglog"; then
	echo "--- valgrind log:" >&2
	tail -n 60 "$vglog" >&2
	[ "$rc" != 99 ] || fail "valgrind found errors (exit status 99)"
	fail "lloop under valgrind exited with status $rc; ${summary:-no error summary}"
fi
log "clean: exit status 0, 0 errors"
