# SPDX-License-Identifier: GPL-2.0-or-later
"""Crash consistency for crash.sh: a driver that starts lloop serve,
writes to it, kills it, restarts it and checks what survived.

    crash.py LLOOP ENGINE DIR ROUNDS

Each round: lloop serves DIR/crash.img (--cache none and writeback in
turn) on a unix socket; two writer connections each keep up to 32 writes
of 4 KiB to 256 KiB in flight on their half of the image, never two
overlapping writes in flight at once (so the order of the writes to a
block is the order they were sent); one write in five has FUA, and a
FLUSH goes every 12 writes.  Each writer journals, in order, each write
sent, each reply, each flush sent and each flush reply.  After a random
100-1100 ms lloop gets SIGKILL; the writers see it go; lloop restarts on
the same image, listen socket and control socket path, and the whole
image is read back through it.  Then, after the rounds, four writers and
a SIGTERM: lloop must exit 0 and every acknowledged write must be there.

Every 4 KiB block written holds 128 copies of the 32-byte record
    b"LLCRASH!" | block (u64 LE) | write id (u64 LE) | block ^ id ^ K (u64 LE)

A block must hold, of the writes sent to it, the last one that was
durable -- its reply came before the last acknowledged FLUSH was sent,
or it had FUA and was acknowledged -- or a later one.  A block no durable
write reached may hold what it held before (as the previous check read
it) or any write sent to it.  After SIGTERM every acknowledged write
counts as durable.  Nothing may hold a record of another block or of a
write never sent there, and blocks not written must not change.
"""
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import nbdraw as N  # noqa: E402

from blockrec import BS, Records  # noqa: E402

DEPTH = 32
SIZES = (1, 1, 2, 4, 8, 16, 32, 64)  # blocks
REC = Records(b"LLCRASH!")
payload = REC.payload


# ---- the writer ----

def write(sock, first, nblocks, wid_base, seed, max_seconds, ready, out):
    """one writer connection; puts (status, journal) in out: status 0
    when the server went, 1 on an error reply, 2 when still connected
    after max_seconds"""
    rnd = random.Random(seed)
    ev = []
    busy = set()  # blocks under a write in flight
    inflight = {}  # cookie -> ("W", wid, first, n) | ("F", fid)
    s = N.connect(sock, 30)
    N.greet(s)
    info = N.go(s)
    assert isinstance(info, dict), "GO refused: %r" % (info,)
    ready.set()
    cookie = wid = fid = 0
    writes = 0
    errors = []
    gone = None
    start = time.monotonic()

    def take_reply():
        err, c = N.read_simple_reply(s)
        what = inflight.pop(c)
        if what[0] == "W":
            for b in range(what[2], what[2] + what[3]):
                busy.discard(b)
            ev.append(["A", what[1]] if not err else ["E", what[1], err])
        else:
            ev.append(["FA", what[1]] if not err else ["FE", what[1], err])
        if err:
            errors.append("%s %#x: error %d" % (what[0], what[1], err))

    try:
        while time.monotonic() - start < max_seconds and not errors:
            while len(inflight) < DEPTH:
                cookie += 1
                if writes and writes % 12 == 0 and not any(
                        w[0] == "F" and w[1] == fid for w in inflight.values()):
                    fid += 1
                    inflight[cookie] = ("F", fid)
                    ev.append(["F", fid])
                    writes += 1
                    s.sendall(N.request(N.CMD_FLUSH, cookie, 0, 0))
                    continue
                n = rnd.choice(SIZES)
                for _ in range(8):
                    b0 = first + rnd.randrange(nblocks - n + 1)
                    if busy.isdisjoint(range(b0, b0 + n)):
                        break
                else:
                    cookie -= 1
                    break
                wid += 1
                w = wid_base + wid
                fua = rnd.random() < 0.2
                busy.update(range(b0, b0 + n))
                inflight[cookie] = ("W", w, b0, n)
                ev.append(["W", w, b0, n, 1 if fua else 0])
                writes += 1
                s.sendall(N.request(N.CMD_WRITE, cookie, b0 * BS, n * BS,
                                    N.CMD_FLAG_FUA if fua else 0) + payload(b0, n, w))
            take_reply()
    except (EOFError, ConnectionResetError, BrokenPipeError) as e:
        gone = e
    # replies that arrived before the server went
    if gone is not None:
        s.settimeout(5)
        try:
            while inflight:
                take_reply()
        except (EOFError, ConnectionResetError, BrokenPipeError, socket.timeout, OSError):
            pass
    s.close()
    acks = sum(1 for e in ev if e[0] == "A")
    print("    writer %#x: %d writes sent, %d acknowledged, %d flushes acknowledged, "
          "%.1f s; %s" % (wid_base, sum(1 for e in ev if e[0] == "W"), acks,
                          sum(1 for e in ev if e[0] == "FA"), time.monotonic() - start,
                          "server gone (%s)" % type(gone).__name__ if gone
                          else "still connected"), flush=True)
    if errors:
        print("    writer: error replies: %s" % "; ".join(errors[:5]))
    out.append((1 if errors else 0 if gone is not None else 2, ev))


# ---- the checker ----

def durable_writes(events, all_acked):
    """the set of write ids that must have survived"""
    fua = {}
    acked = []  # write ids in the order their replies came
    snap = {}  # flush id -> len(acked) when it was sent
    prefix = 0
    durable = set()
    for e in events:
        if e[0] == "W":
            fua[e[1]] = e[4]
        elif e[0] == "A":
            acked.append(e[1])
            if fua[e[1]] or all_acked:
                durable.add(e[1])
        elif e[0] == "F":
            snap[e[1]] = len(acked)
        elif e[0] == "FA":
            prefix = max(prefix, snap[e[1]])
    durable.update(acked[:prefix])
    return durable, set(acked)


def check(sock, state, all_acked, journals):
    """journals: event lists; state: block -> what the last check read
    (0 zeros, a write id, -1 torn), updated.  Returns True when intact."""
    writes_to = {}  # block -> [write ids in the order sent]
    durable, acked = set(), set()
    for events in journals:
        dur, ack = durable_writes(events, all_acked)
        durable |= dur
        acked |= ack
        for e in events:
            if e[0] == "W":
                for b in range(e[2], e[2] + e[3]):
                    writes_to.setdefault(b, []).append(e[1])
    c = N.Client(sock)
    nblocks = c.size // BS
    chunk = 2 << 20
    image = b"".join(c.read(off, min(chunk, c.size - off)) for off in range(0, c.size, chunk))
    c.disconnect()
    counts, bad, new_state = REC.judge(image, state, writes_to, durable, acked)
    print("    check: %d blocks; %d writes durable, %d acknowledged; %s" % (
        nblocks, len(durable), len(acked),
        ", ".join("%s %d" % kv for kv in counts.items() if kv[1])), flush=True)
    for x in bad[:20]:
        print("    LOST:", x)
    if bad:
        return False
    state.clear()
    state.update(new_state)
    return True


# ---- the driver ----

class Server:
    def __init__(self, lloop, engine, d):
        self.lloop, self.engine, self.d = lloop, engine, d
        self.sock = os.path.join(d, "crash.sock")
        self.ctl = os.path.join(d, "ctl.sock")
        # CRASH_IMAGE: another backend's image (rbd:POOL/IMAGE, 32 MiB),
        # CRASH_OPTS: the options it needs
        self.img = os.environ.get("CRASH_IMAGE") or os.path.join(d, "crash.img")
        self.extra = os.environ.get("CRASH_OPTS", "").split()
        # an rbd: image stays locked by a killed server until its watch
        # lapses (osd_client_watch_timeout): a restart is refused till then
        self.retry = float(os.environ.get("CRASH_START_RETRY", "0"))
        self.log = open(os.path.join(d, "server.log"), "a")
        self.proc = None

    def start(self, *opts):
        end = time.monotonic() + self.retry
        while True:
            try:
                return self.start_once(*opts)
            except RuntimeError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.5)

    def start_once(self, *opts):
        opts = tuple(self.extra) + opts
        self.log.write("+ lloop serve %s\n" % " ".join(opts))
        self.log.flush()
        pidfile = os.path.join(self.d, "server.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        self.proc = subprocess.Popen(
            [self.lloop, "serve", "--engine", self.engine, "--listen", "unix:" + self.sock,
             "--control", self.ctl, "--buffer-memory", "8M", "--pidfile", pidfile]
            + list(opts) + [self.img],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        # the pidfile, not a connect: a killed server's listening socket
        # can outlive it for a moment (its io_uring is torn down late)
        end = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("lloop exited with status %d at start" % self.proc.returncode)
            try:
                if open(pidfile).read().strip() == str(self.proc.pid):
                    return
            except OSError:
                pass
            if time.monotonic() > end:
                raise RuntimeError("lloop wrote no pidfile within 20 s")
            time.sleep(0.01)

    def kill(self, sig):
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(30)
        finally:
            self.proc = None

    def tail(self):
        self.log.flush()
        return open(self.log.name).read().splitlines()[-15:]


def writers(srv, n, rnd_round, max_seconds):
    per = (srv.size // BS) // n
    threads, outs, readies = [], [], []
    for w in range(n):
        ready, out = threading.Event(), []
        t = threading.Thread(target=write, daemon=True, args=(
            srv.sock, w * per, per, (rnd_round << 32) | (w << 24), rnd_round * 100 + w,
            max_seconds, ready, out))
        t.start()
        threads.append(t)
        outs.append(out)
        readies.append(ready)
    for r in readies:
        if not r.wait(20):
            raise RuntimeError("a writer did not get into transmission in 20 s")
    return threads, outs


def collect(threads, outs):
    journals = []
    for t, out in zip(threads, outs):
        t.join(60)
        if t.is_alive() or not out:
            raise RuntimeError("a writer did not end")
        status, ev = out[0]
        if status:
            raise RuntimeError("a writer ended with status %d (%s)" % (
                status, "error replies" if status == 1 else "it never saw the server go"))
        journals.append(ev)
    return journals


def run(lloop, engine, d, rounds):
    srv = Server(lloop, engine, d)
    srv.size = 32 << 20
    if not os.environ.get("CRASH_IMAGE"):
        with open(srv.img, "wb") as f:
            f.truncate(srv.size)
    rnd = random.Random()
    state = {}
    try:
        for r in range(1, rounds + 1):
            cache = "writeback" if r % 2 == 0 else "none"
            srv.start("--cache", cache)
            threads, outs = writers(srv, 2, r, 30)
            ms = rnd.randrange(100, 1100)
            time.sleep(ms / 1000)
            print("--- round %d (--cache %s): SIGKILL after %d ms" % (r, cache, ms), flush=True)
            srv.kill(signal.SIGKILL)
            journals = collect(threads, outs)
            srv.start()
            ok = check(srv.sock, state, False, journals)
            rc = srv.kill(signal.SIGTERM)
            if not ok or rc:
                raise RuntimeError("acknowledged writes lost" if not ok else
                                   "lloop exited with status %d after SIGTERM" % rc)
        print("--- SIGTERM under load from 4 connections (--cache writeback)", flush=True)
        srv.start("--cache", "writeback")
        threads, outs = writers(srv, 4, rounds + 1, 30)
        time.sleep(1)
        rc = srv.kill(signal.SIGTERM)
        print("    lloop exited with status %d after SIGTERM" % rc, flush=True)
        journals = collect(threads, outs)
        if rc:
            raise RuntimeError("lloop exited with status %d after SIGTERM, not 0" % rc)
        srv.start()
        if not check(srv.sock, state, True, journals):
            raise RuntimeError("acknowledged writes lost after SIGTERM")
        rc = srv.kill(signal.SIGTERM)
        if rc:
            raise RuntimeError("lloop exited with status %d after SIGTERM" % rc)
    except Exception as e:
        print("FAIL: %s" % e, flush=True)
        print("--- last lines of the server log:\n" + "\n".join(srv.tail()), flush=True)
        return 1
    finally:
        if srv.proc:
            srv.kill(signal.SIGKILL)
    return 0


def main():
    # the shell's clean-up sends SIGTERM: end the server with us
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    lloop, engine, d, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    sys.exit(run(lloop, engine, d, rounds))


main()
