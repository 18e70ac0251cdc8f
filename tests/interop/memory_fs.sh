#!/usr/bin/env bash
# An image in a memory file system (tmpfs) has no non-blocking I/O, so
# io_uring would hand each of its reads and writes to an io-wq thread.
# lloop's worker does those up to 64 KiB itself (stats: ops_on_worker)
# and hands on only the longer ones: counted here from the kernel's own
# io_uring:io_uring_submit_req tracepoint with perf.  The same mix of
# aligned, unaligned, FUA and long reads and writes, checked byte for byte
# against a model, on the tmpfs image and on one in the test directory
# (a disk file system: nothing done on the worker there).  With swap on
# the machine, nothing is done on the worker on tmpfs either.
. "$(dirname "$0")/lib.sh"
describe "tmpfs image: short reads and writes on the worker thread, data exact"
need_pynbd
[ -d /dev/shm ] && [ -w /dev/shm ] || skip "/dev/shm is not a writable tmpfs"
[ "$(stat -f -c %T /dev/shm)" = tmpfs ] || skip "/dev/shm is not a tmpfs"
[ "$(stat -f -c %T "$T")" != tmpfs ] ||
	skip "the test directory $T is a tmpfs too: no disk file system to compare"
"$PY" - <<'EOF' || skip "this kernel's tmpfs does non-blocking reads: io_uring needs no io-wq for it"
import os, sys, tempfile
with tempfile.NamedTemporaryFile(dir="/dev/shm") as f:
    f.write(b"x")
    f.flush()
    try:
        os.preadv(f.fileno(), [bytearray(1)], 0, os.RWF_NOWAIT)
    except OSError as e:
        sys.exit(0 if e.errno == 95 else 1)   # EOPNOTSUPP
sys.exit(1)
EOF
# with swap on the machine, a tmpfs page may be out on it: lloop then
# leaves every read and write to io_uring
SWAP=$(awk 'NR > 1' /proc/swaps | wc -l)

shm_dir
CTL=$T/ctl.sock

# mix URI IMG: random short and long reads and writes, aligned and not,
# some with FUA, each read compared with the model; then the whole export
# and the image file against the model.  Prints the number of short ops.
mix() {
	"$PY" - "$1" "$2" <<'EOF'
import os, random, sys
import nbd

uri, img = sys.argv[1:]
size = os.path.getsize(img)
model = bytearray(open(img, "rb").read())
h = nbd.NBD()
h.connect_uri(uri)
assert h.get_size() == size
rnd = random.Random(7)
short = 0
for i in range(1500):
    if i % 50 == 0:
        n = rnd.choice([256 << 10, 1 << 20])        # long: to io-wq
    elif i % 3 == 0:
        n = rnd.randint(1, 64 << 10)                # unaligned
    else:
        n = 4096 * rnd.randint(1, 16)
    off = rnd.randrange(0, size - n)
    if i % 3 != 0:
        off &= ~4095
    short += n <= 64 << 10
    if rnd.random() < 0.5:
        buf = os.urandom(n)
        h.pwrite(buf, off, nbd.CMD_FLAG_FUA if i % 7 == 0 else 0)
        model[off:off + n] = buf
    else:
        got = h.pread(n, off)
        if got != model[off:off + n]:
            sys.exit("read of %d at %d differs from what was written" % (n, off))
h.flush()
for off in range(0, size, 1 << 20):
    if h.pread(1 << 20, off) != model[off:off + (1 << 20)]:
        sys.exit("the export differs from the model at %d" % off)
h.shutdown()
if open(img, "rb").read() != model:
    sys.exit("the image file differs from what was written")
print(short)
EOF
}

# counted CMD...: run CMD with perf counting the server's io_uring
# submissions of READ_FIXED (4), WRITE_FIXED (5), READ (22), WRITE (23):
# their sum to $T/count, or nothing if perf gave no number.  (READ also
# carries the workers' wake-ups.)
counted() {
	count_submits "$SERVER_PID" "$T/counts" "$FILTER" -- "$@" >"$T/short" ||
		fail "the mix of reads and writes failed"
	awk '$1 ~ /^[0-9]+$/ { print $1 }' "$T/counts" >"$T/count"
	[ -s "$T/count" ] ||
		echo "note: perf did not count the ring's submissions: $(head -c 300 "$T/perf.txt")"
}

FILTER='opcode == 4 || opcode == 5 || opcode == 22 || opcode == 23'
PERF=1
perf stat -e io_uring:io_uring_submit_req --filter "$FILTER" true \
	>/dev/null 2>&1 || PERF=0
[ "$PERF" = 1 ] ||
	echo "note: perf cannot count io_uring:io_uring_submit_req here: the ring's own count is not checked"

for dir in "$SHM" "$T"; do
	img=$dir/img
	make_random "$img" 24
	fs=$(stat -f -c %T "$dir")
	log "image on $fs ($dir)"
	start_server_unix --control "$CTL" "$img"
	if [ "$PERF" = 1 ] && [ "$LLOOP_ENGINE" = uring ]; then
		counted mix "$(nbd_uri)" "$img"
		ring=$(cat "$T/count")
	else
		mix "$(nbd_uri)" "$img" >"$T/short" || fail "the mix of reads and writes failed"
		ring=
	fi
	short=$(cat "$T/short")
	worker=$(workers_sum "$CTL" ops_on_worker)
	echo "$fs: $short short reads and writes; ops on the worker $worker; file reads and writes through the ring ${ring:-(not counted)}"
	if [ "$fs" = tmpfs ] && [ "$LLOOP_ENGINE" = uring ] && [ "$SWAP" = 0 ]; then
		# each short request is at least one op (unaligned writes: more)
		[ "$worker" -ge "$short" ] ||
			fail "only $worker ops on the worker for $short short requests on tmpfs"
		# the long ones (30, in one piece each), the 24 final 1 MiB
		# reads and the wake-ups: far fewer than the short requests
		[ -z "$ring" ] || [ "$ring" -lt $((short / 4)) ] ||
			fail "$ring file reads and writes went through the ring for $short short requests on tmpfs"
	else
		assert_eq "$worker" 0 "ops on the worker, image on $fs, engine $LLOOP_ENGINE, $SWAP swap areas"
		[ -z "$ring" ] || [ "$ring" -ge "$short" ] ||
			fail "only $ring file reads and writes through the ring for $short requests on $fs"
	fi
	stop_server
	rm -f "$img"
done
