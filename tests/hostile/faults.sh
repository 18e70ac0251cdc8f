#!/bin/bash
# --inject-fault, the fault-injecting backend wrapper, seen by real clients
# (libnbd through /usr/bin/python3; the kernel loop driver over FUSE):
#  1. a malformed --inject-fault value: exit status 2 and one line naming
#     the option (serve and attach); serve --help documents it;
#  2. one client at a time, on a file and a memory export, with structured
#     replies and without: a model of the rules predicts every request; the
#     chosen reads, writes, flushes, trims, zeroes, caches and block status
#     get exactly NBD_EIO / NBD_ENOSPC, all others succeed; a short write
#     lands half and answers EIO, a short read answers EIO; the image reads
#     back what the model says; the log has one line per fault naming the
#     operation, offset, length and errno, and no other fault lines;
#  3. many faults under load: pipelined clients on both exports, about a
#     third of the requests failing, the totals exact, every block as its
#     write's answer says; the daemon serves on and stops with exit 0;
#  4. (root, FUSE, loop) lloop attach with range rules: the chosen blocks
#     of /dev/loopN fail (short ones too), the others read back.
. "$(dirname "$0")/../interop/lib.sh"
need truncate dd cmp
need_pynbd
describe "--inject-fault: EIO/ENOSPC/short on chosen requests only, via libnbd and the loop device"

LLOOP_ARGS=(--engine "$LLOOP_ENGINE")

# ---- 1. usage errors ------------------------------------------------------
log "malformed --inject-fault values: exit 2, one line naming the option"
bad_values=(bogus read read:EIO read:EIO:0 read:EIO:-1 read:EIO:x
	read:EBOGUS:1 bogus:EIO:1 flush:short:1 trim:short:2 read::1 :EIO:1
	read:EIO:1: read:EIO:1:5M-1M read:EIO:1:junk read:EIO:1:1M-2M:3)
for v in "${bad_values[@]}"; do
	for cmd in serve attach; do
		rc=0
		"$LLOOP" "$cmd" "${LLOOP_ARGS[@]}" --inject-fault "$v" memory:1M \
			>"$T/usage.out" 2>"$T/usage.err" </dev/null || rc=$?
		assert_eq "$rc" 2 "exit status of lloop $cmd --inject-fault '$v'"
		assert_eq "$(wc -l <"$T/usage.err")" 1 "stderr lines of lloop $cmd --inject-fault '$v' ($(cat "$T/usage.err"))"
		grep -qF -- "--inject-fault $v:" "$T/usage.err" ||
			fail "lloop $cmd --inject-fault '$v' said '$(cat "$T/usage.err")', not naming the option and value"
		[ ! -s "$T/usage.out" ] || fail "lloop $cmd --inject-fault '$v' wrote to stdout"
	done
done
many=()
for i in $(seq 17); do many+=(--inject-fault "read:EIO:$i"); done
rc=0
"$LLOOP" serve "${LLOOP_ARGS[@]}" "${many[@]}" memory:1M >/dev/null 2>"$T/usage.err" </dev/null || rc=$?
assert_eq "$rc" 2 "exit status with 17 --inject-fault rules"
grep -q -- '--inject-fault read:EIO:17: too many rules' "$T/usage.err" ||
	fail "17 rules: $(cat "$T/usage.err")"
help=$("$LLOOP" serve --help)
grep -q -- '--inject-fault OP:ERRNO:EVERY_N' <<<"$help" ||
	fail "lloop serve --help does not document --inject-fault"
log "${#bad_values[@]} bad values refused by serve and attach"

# ---- the model: which request each rule fails ------------------------------
cat >"$T/model.py" <<'EOF'
import errno, os, random, re, sys, threading
import nbd

M = 1 << 20
OPS = ("read", "write", "flush", "trim", "zero", "cache", "extents")
WIRE = {"EIO": errno.EIO, "ENOSPC": errno.ENOSPC, "short": errno.EIO}


def size(s):
    m = re.fullmatch(r"(\d+)([KMG]?)", s)
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]


class Rule:
    def __init__(self, text):
        f = text.split(":")
        self.ops = OPS if f[0] == "all" else (f[0],)
        if f[1] == "short":
            self.ops = tuple(o for o in self.ops if o in ("read", "write"))
        self.err, self.every = f[1], int(f[2])
        self.range = tuple(map(size, f[3].split("-"))) if len(f) > 3 else None
        self.seen = dict.fromkeys(OPS, 0)


class Export:
    """what the server's injector will do, request by request, and what
    the image must hold"""

    def __init__(self, uri, spec, rules, size):
        self.uri, self.spec, self.size = uri, spec, size
        self.rules = [Rule(r) for r in rules]
        self.image = bytearray(size)
        self.log = []  # the fault lines the server must print

    def predict(self, op, off, ln):
        hit = None
        for r in self.rules:
            if op not in r.ops:
                continue
            if r.range and not (ln and off < r.range[1] and off + ln > r.range[0]):
                continue
            r.seen[op] += 1
            if hit is None and r.seen[op] % r.every == 0:
                hit = (r, r.seen[op])
        return hit


def cut_of(off, ln):
    # the injector's cut: half, on the alignment of an aligned request;
    # the tests use 4 KiB-aligned requests of 8 KiB multiples, or odd
    # offsets, for which that is len/2 whatever the alignment up to 4 KiB
    assert off % 2 or (off % 4096 == 0 and ln % 8192 == 0), (off, ln)
    return ln // 2


def do(ex, h, op, off=0, ln=0, data=None, flags=0):
    """one request; checks its answer against the model, returns the data
    of a read (None if it failed as predicted)"""
    if op == "flush":
        off = ln = 0  # a flush has no range
    hit = ex.predict(op, off, ln)
    want = WIRE[hit[0].err] if hit else 0
    try:
        if op == "read":
            got = h.pread(ln, off, flags)
        elif op == "write":
            h.pwrite(data, off, flags)
        elif op == "flush":
            h.flush()
        elif op == "trim":
            h.trim(ln, off)
        elif op == "zero":
            h.zero(ln, off, flags)
        elif op == "cache":
            h.cache(ln, off)
        elif op == "extents":
            h.block_status(ln, off, lambda *a: 0)
        err = 0
    except nbd.Error as e:
        err = e.errnum
    what = "%s %s #%d at %d+%d" % (ex.spec, op, hit[1] if hit else 0, off, ln)
    if err != want:
        sys.exit("FAIL: %s: the client got %s, the rules say %s" %
                 (what, errno.errorcode.get(err, "success"),
                  errno.errorcode.get(want, "success")))
    if hit:
        r, n = hit
        line = "inject-fault: %s: %s #%d at %d+%d: " % (ex.spec, op, n, off, ln)
        if r.err == "short":
            line += "short, %d bytes done" % cut_of(off, ln)
            if op == "write":
                c = cut_of(off, ln)
                ex.image[off:off + c] = data[:c]
        else:
            line += r.err
        ex.log.append(line)
        return None
    if op == "write":
        ex.image[off:off + ln] = data
    elif op == "zero":
        ex.image[off:off + ln] = bytes(ln)
    elif op == "read":
        if got != ex.image[off:off + ln]:
            sys.exit("FAIL: %s: read back differs from what was written" % what)
        return got
    return None


def read_back(ex, h, start, end, chunk=M):
    """the whole range through reads the rules may fail: a failed one is
    asked again, as many times as the rules predict"""
    off = start
    while off < end:
        ln = min(chunk, end - off)
        for _ in range(50):
            if do(ex, h, "read", off, ln) is not None:
                break
        else:
            sys.exit("FAIL: read at %d never succeeded" % off)
        off += ln


def connect(uri, structured=True):
    h = nbd.NBD()
    h.set_request_structured_replies(structured)
    h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    h.connect_uri(uri)
    return h


# ---- sequential: every request predicted ----------------------------------
def sequential(ex, seed):
    """random requests over [0, 26M); trims only in [28M, 32M), which is
    never read back (a trim may leave the data or zeroes)"""
    rnd = random.Random(seed)
    for structured in (True, False):
        h = connect(ex.uri, structured)
        assert h.get_structured_replies_negotiated() == structured
        for i in range(400):
            op = rnd.choice(("write",) * 6 + ("read",) * 6 +
                            ("flush", "trim", "zero", "cache", "extents") * 2)
            if rnd.random() < 0.25:  # unaligned: odd offset, any length
                off = rnd.randrange(0, 26 * M - 70000) | 1
                ln = rnd.randrange(2, 65536)
            else:
                off = 4096 * rnd.randrange(0, 26 * M // 4096 - 16)
                ln = 8192 * rnd.randrange(1, 9)
            if rnd.random() < 0.1:  # the range rule of writes: 24M-25M
                off = 24 * M - 8192 + 4096 * rnd.randrange(0, 260)
                ln = 8192
            if op == "trim":
                off = 28 * M + 4096 * rnd.randrange(0, 1000)
            if op == "extents" and not structured:
                op = "cache"  # block status needs structured replies
            flags = 0
            if op == "write" and rnd.random() < 0.3:
                flags = nbd.CMD_FLAG_FUA
            if op == "zero" and rnd.random() < 0.5:
                flags = nbd.CMD_FLAG_NO_HOLE
            data = None
            if op == "write":
                data = bytes([rnd.randrange(1, 256)]) * ln
            do(ex, h, op, off, ln, data, flags)
        read_back(ex, h, 0, 26 * M)
        h.shutdown()


# ---- load: pipelined clients, outcomes checked afterwards ------------------
BLOCK = 8192
NBLK = 1024  # blocks per connection


def pipeline(h, cmds, results, depth=32):
    """cmds with depth in flight; results[i]: (errno or 0, data of a read)"""
    pending = {}
    nxt = 0
    while nxt < len(cmds) or pending:
        while nxt < len(cmds) and len(pending) < depth:
            kind, off, x = cmds[nxt]
            if kind == "write":
                buf = nbd.Buffer.from_bytearray(x)
                c = h.aio_pwrite(buf, off)
            elif kind == "read":
                buf = nbd.Buffer(x)
                c = h.aio_pread(buf, off)
            else:
                buf = None
                c = h.aio_flush()
            pending[c] = (nxt, buf)
            nxt += 1
        h.poll(-1)
        while pending:
            c = h.aio_peek_command_completed()
            if c <= 0:
                break
            i, buf = pending.pop(c)
            try:
                h.aio_command_completed(c)
                results[i] = (0, buf.to_bytearray() if cmds[i][0] == "read" else None)
            except nbd.Error as e:
                results[i] = (e.errnum, None)


def run_all(jobs):
    """each job (export, cmds) on its own connection, all at once"""
    results = [[None] * len(cmds) for _, cmds in jobs]
    handles = [connect(ex.uri) for ex, _ in jobs]
    threads = [threading.Thread(target=pipeline, args=(h, cmds, r))
               for h, (_, cmds), r in zip(handles, jobs, results)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for h in handles:
        h.shutdown()
    for r in results:
        if None in r:
            sys.exit("FAIL: a pipelined request got no answer")
    return results


def count_outcome(ex, op, err):
    ex.outcomes[(op, err)] = ex.outcomes.get((op, err), 0) + 1


def load(exports, base, conns=2):
    """conns connections per export, each writing NBLK blocks of its own
    (a flush every 64 writes), then reading them back, 32 in flight"""
    wjobs, rjobs = [], []
    for ex in exports:
        ex.outcomes = {}
        for c in range(conns):
            start = base + c * NBLK * BLOCK
            cmds = []
            for b in range(NBLK):
                cmds.append(("write", start + b * BLOCK,
                             bytearray(os.urandom(8) * (BLOCK // 8))))
                if b % 64 == 63:
                    cmds.append(("flush", 0, None))
            wjobs.append((ex, cmds))
            rjobs.append((ex, [("read", start + b * BLOCK, BLOCK)
                               for b in range(NBLK)]))
    for (ex, cmds), res in zip(wjobs, run_all(wjobs)):
        for (kind, off, data), (err, _) in zip(cmds, res):
            count_outcome(ex, kind, err)
            if kind != "write":
                continue
            # the answer says what is on the image
            if err == 0:
                ex.image[off:off + BLOCK] = data
            elif err == errno.EIO:  # short: the first half landed
                ex.image[off:off + BLOCK // 2] = data[:BLOCK // 2]
            elif err != errno.ENOSPC:
                sys.exit("FAIL: a write got %s" % errno.errorcode[err])
    for (ex, cmds), res in zip(rjobs, run_all(rjobs)):
        for (kind, off, _), (err, got) in zip(cmds, res):
            count_outcome(ex, kind, err)
            if err == 0 and got != ex.image[off:off + BLOCK]:
                sys.exit("FAIL: %s: block at %d does not hold what its "
                         "write's answer says" % (ex.spec, off))
            if err not in (0, errno.EIO):
                sys.exit("FAIL: a read got %s" % errno.errorcode[err])
    for ex in exports:
        # the rules, whatever the order, give these outcomes for these
        # numbers of requests; predicting them also brings the model's
        # counters level with the server's
        want, totals = {}, {}
        for (op, _), n in ex.outcomes.items():
            totals[op] = totals.get(op, 0) + n
        for op, n in totals.items():
            for _ in range(n):
                hit = ex.predict(op, 0, BLOCK)
                e = WIRE[hit[0].err] if hit else 0
                want[(op, e)] = want.get((op, e), 0) + 1
        if want != ex.outcomes:
            sys.exit("FAIL: %s: outcomes %s, the rules give %s" %
                     (ex.spec, sorted(ex.outcomes.items()), sorted(want.items())))
        ex.load_faults = sum(n for (op, e), n in want.items() if e)
        print("%s: %d requests in flight together, %d failed as the rules "
              "say: %s" % (ex.spec, sum(want.values()), ex.load_faults,
                           ", ".join("%s %s x%d" % (op, errno.errorcode.get(e, "ok"), n)
                                     for (op, e), n in sorted(want.items()))))


def main():
    mode, out = sys.argv[1], sys.argv[2]
    exports = []
    for arg in sys.argv[3:]:
        uri, spec, rules = arg.split("|")
        exports.append(Export(uri, spec, rules.split(","), 64 * M))
    faults = 0
    for k, ex in enumerate(exports):
        if mode == "sequential":
            sequential(ex, 1000 + k)
            print("%s: %d faults, each on the request the rules chose" %
                  (ex.spec, len(ex.log)))
    if mode == "load":
        load(exports, 32 * M)
        for ex in exports:
            # the daemon serves on: everything reads back, faults predicted
            h = connect(ex.uri)
            read_back(ex, h, 32 * M, 48 * M)
            h.shutdown()
            faults += ex.load_faults
    with open(out + "/expected.log", "w") as f:
        for ex in exports:
            f.writelines(l + "\n" for l in ex.log)
    with open(out + "/faults", "w") as f:
        f.write("%d\n" % (faults + sum(len(ex.log) for ex in exports)))
    for k, ex in enumerate(exports):
        with open(out + "/expect%d.img" % k, "wb") as f:
            f.write(ex.image)


main()
EOF

# fault lines of a server log, without the "lloop: warning: " prefix
fault_lines() {
	sed -n 's/^lloop: warning: \(inject-fault: .*\)$/\1/p' "$1"
}

# ---- 2. sequential, every request predicted -------------------------------
img=$T/disk.img
truncate -s 64M "$img"
RULES=read:EIO:3,read:short:5,write:ENOSPC:4,write:short:7,write:EIO:1:24M-25M,flush:EIO:2,trim:ENOSPC:3,zero:EIO:3,cache:EIO:2,extents:EIO:2
fault_args=()
IFS=, read -ra rl <<<"$RULES"
for r in "${rl[@]}"; do fault_args+=(--inject-fault "$r"); done

start_server "${fault_args[@]}" disk="$img" mem=memory:64M
grep -qF "$img: injecting faults (a testing tool; one warning per fault): read:EIO:3, read:short:5, write:ENOSPC:4, write:short:7, write:EIO:1:25165824-26214400, flush:EIO:2" "$SERVER_LOG" ||
	fail "the server log does not say that faults are injected, and which"
log "sequential requests with structured replies and without, on a file and a memory export"
mkdir "$T/seq"
"$PY" "$T/model.py" sequential "$T/seq" \
	"$(nbd_uri disk)|$img|$RULES" "$(nbd_uri mem)|memory:64M|$RULES" ||
	fail "the clients did not see exactly the faults the rules choose"
kill -0 "$SERVER_PID" || fail "the server died"
fault_lines "$SERVER_LOG" | sort >"$T/seen.log"
sort "$T/seq/expected.log" >"$T/want.log"
if ! cmp -s "$T/seen.log" "$T/want.log"; then
	diff "$T/want.log" "$T/seen.log" | head -n 20 >&2
	fail "the server's fault lines differ from the faults the clients saw ($(wc -l <"$T/seen.log") vs $(wc -l <"$T/want.log"))"
fi
for k in "read #" "write #" "flush #" "trim #" "zero #" "cache #" "extents #" ": EIO" ": ENOSPC" "short, "; do
	grep -qF "$k" "$T/want.log" || fail "no fault of kind '$k' was exercised"
done
log "$(wc -l <"$T/want.log") fault lines, each naming operation, offset, length and errno, as predicted"
stop_server
# [0, 26M) is where the writes and zeroes went; the trims' range is not known
cmp -n $((26 << 20)) "$T/seq/expect0.img" "$img" ||
	fail "the image file does not hold what the answers to the writes say"
log "the image file holds what the clients' answers say"

# ---- 3. load: many faults, pipelined --------------------------------------
LOAD_RULES=read:EIO:3,write:ENOSPC:5,write:short:7,flush:EIO:2
fault_args=()
IFS=, read -ra rl <<<"$LOAD_RULES"
for r in "${rl[@]}"; do fault_args+=(--inject-fault "$r"); done
img2=$T/load.img
truncate -s 64M "$img2"
start_server "${fault_args[@]}" disk="$img2" mem=memory:64M
log "4 pipelined clients (2 per export), 32 requests in flight each, then a read-back"
mkdir "$T/load"
"$PY" "$T/model.py" load "$T/load" \
	"$(nbd_uri disk)|$img2|$LOAD_RULES" "$(nbd_uri mem)|memory:64M|$LOAD_RULES" ||
	fail "under load the faults were not as the rules say"
kill -0 "$SERVER_PID" || fail "the server died under the faults"
n=$(fault_lines "$SERVER_LOG" | wc -l)
assert_eq "$n" "$(cat "$T/load/faults")" "fault lines in the log under load"
bad=$(fault_lines "$SERVER_LOG" | grep -cvE '^inject-fault: [^ ]+: (read|write|flush) #[0-9]+ at [0-9]+\+[0-9]+: (EIO|ENOSPC|short, [0-9]+ bytes done)$' || :)
assert_eq "$bad" 0 "malformed fault lines under load"
stop_server
cmp "$T/load/expect0.img" "$img2" ||
	fail "after the load the image file does not hold what the answers say"
log "$n faults under load, all as predicted; the server served on and stopped cleanly"

# ---- 4. the FUSE frontend, through the loop device --------------------------
if [ "$(id -u)" != 0 ] || [ ! -c /dev/fuse ] || [ ! -c /dev/loop-control ] ||
	! command -v losetup >/dev/null || ! command -v findmnt >/dev/null; then
	echo "note: part 4 (lloop attach) not run: needs root, /dev/fuse, the loop driver, losetup and findmnt"
	echo "faults: ok"
	exit 0
fi
. "$REPO/tests/attach/attach_lib.sh"
K=1024
B1=$((1 * K * K)) B2=$((2 * K * K)) B3=$((3 * K * K)) B4=$((4 * K * K))
attach memory:16M \
	--inject-fault "read:EIO:1:$B1-$((B1 + 4096))" \
	--inject-fault "write:ENOSPC:1:$B2-$((B2 + 4096))" \
	--inject-fault "read:short:1:$B3-$((B3 + 4096))" \
	--inject-fault "write:short:1:$B4-$((B4 + 4096))"
DEV=$ATTACH_DEV
head -c $((8 * K * K)) /dev/urandom >"$T/pattern"

# ddio read|write OFF LEN: one O_DIRECT dd of LEN bytes at OFF
ddio() {
	if [ "$1" = write ]; then
		dd if="$T/pattern" of="$DEV" bs=1M iflag=skip_bytes,count_bytes \
			oflag=direct,seek_bytes skip="$2" seek="$2" count="$3" \
			conv=notrunc status=none
	else
		dd if="$DEV" of="$T/back" bs=1M iflag=direct,skip_bytes,count_bytes \
			oflag=seek_bytes skip="$2" seek="$2" count="$3" \
			conv=notrunc status=none
	fi
}
ddio write 0 "$B2" || fail "write of [0, 2M) failed"
ddio write $((B2 + 4096)) $((B4 - B2 - 4096)) || fail "write of (2M, 4M) failed"
ddio write $((B4 + 4096)) $((4 * K * K - 4096)) || fail "write of (4M, 8M) failed"
! ddio write "$B2" 4096 2>/dev/null || fail "the write at 2M (ENOSPC) succeeded"
! ddio write "$B4" 4096 2>/dev/null || fail "the short write at 4M was reported as a success"
truncate -s $((8 * K * K)) "$T/back"
ddio read 0 "$B1" || fail "read of [0, 1M) failed"
ddio read $((B1 + 4096)) $((B3 - B1 - 4096)) || fail "read of (1M, 3M) failed"
ddio read $((B3 + 4096)) $((5 * K * K - 4096)) || fail "read of (3M, 8M) failed"
! ddio read "$B1" 4096 2>/dev/null || fail "the read at 1M (EIO) succeeded"
! ddio read "$B3" 4096 2>/dev/null || fail "the short read at 3M was reported as a success"
"$PY" - "$T/pattern" "$T/expect" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
M = 1 << 20
b[M:M + 4096] = bytes(4096)             # never read: compared as zeroes
b[2 * M:2 * M + 4096] = bytes(4096)     # the failed write left zeroes
b[3 * M:3 * M + 4096] = bytes(4096)     # never read
b[4 * M + 2048:4 * M + 4096] = bytes(2048)  # the short write: half landed
open(sys.argv[2], "wb").write(b)
EOF
cmp "$T/expect" "$T/back" || fail "$DEV does not read back what was written around the faults"
for want in "read #1 at $B1+4096: EIO" "write #1 at $B2+4096: ENOSPC" \
	"read #1 at $B3+4096: short, 2048 bytes done" "write #1 at $B4+4096: short, 2048 bytes done"; do
	grep -qF "inject-fault: memory:16M: $want" "$RUN/attach/$ATTACH_PID.log" ||
		fail "the attach log has no line '$want'"
done
log "the loop device fails the chosen blocks (short ones too) and reads back the rest"
# a buffered write into the failing block: write(2) succeeds, the page
# cache's write-back fails later, and nobody has seen that yet (dd's own
# last partial block above went that way too: O_DIRECT is off for it).
# The flush before detach finds it: detach must fail and say so.
dd if="$T/pattern" of="$DEV" bs=4096 seek=$((B2 / 4096)) count=1 conv=notrunc status=none ||
	fail "the buffered write at 2M failed at once; it was to fail at write-back"
rc=0
timeout 90 "$LLOOP" detach "$DEV" >/dev/null 2>"$T/detach.err" || rc=$?
echo "lloop detach after a failed write-back: exit $rc: $(cat "$T/detach.err")"
[ "$rc" = 1 ] || fail "lloop detach exited $rc though a write-back to the device had failed"
grep -q "flush before detach failed" "$T/detach.err" ||
	fail "lloop detach does not say that the flush failed: $(cat "$T/detach.err")"
assert_nothing_left "lloop detach"

# errors the kernel's FUSE takes otherwise than the backend meant them:
# ENOSYS on FSYNC would turn fsync off for good, unseen, from the first
# one on; a code past 511 (ENOTSUPP, 524) is a reply the kernel refuses,
# and the read would never end.  Both reach the device as EIO.
attach memory:16M --inject-fault "flush:ENOSYS:1" \
	--inject-fault "read:ENOTSUPP:1:$B1-$((B1 + 4096))"
DEV=$ATTACH_DEV
for i in 1 2; do
	! dd if="$T/pattern" of="$DEV" bs=4096 count=1 oflag=direct conv=fsync,notrunc \
		status=none 2>"$T/fsync.err" ||
		fail "fsync #$i of $DEV succeeded though every flush fails with ENOSYS"
	grep -q "Input/output error" "$T/fsync.err" ||
		fail "fsync #$i of $DEV: not EIO: $(cat "$T/fsync.err")"
done
dd if="$DEV" of=/dev/null bs=4096 count=1 skip=$((B1 / 4096)) iflag=direct \
	status=none 2>"$T/read.err" &
reader=$!
for _ in $(seq 100); do kill -0 "$reader" 2>/dev/null || break; sleep 0.2; done
kill -0 "$reader" 2>/dev/null &&
	fail "a read answered with ENOTSUPP (524) still waits after 20 s"
! wait "$reader" || fail "the read answered with ENOTSUPP (524) succeeded"
grep -q "Input/output error" "$T/read.err" ||
	fail "the read answered with ENOTSUPP: not EIO: $(cat "$T/read.err")"
log "ENOSYS on fsync and ENOTSUPP (524) on a read reach $DEV as EIO"
# its flush fails too, and so does the detach, saying so
rc=0
timeout 90 "$LLOOP" detach "$DEV" >/dev/null 2>"$T/detach.err" || rc=$?
[ "$rc" = 1 ] && grep -q "flush before detach failed" "$T/detach.err" ||
	fail "lloop detach with every flush failing: exit $rc: $(cat "$T/detach.err")"
assert_nothing_left "lloop detach"
echo "faults: ok"
