# SPDX-License-Identifier: GPL-2.0-or-later
"""Crash consistency of lloop attach, for crash_attach.sh: a driver that
attaches an image, writes to /dev/loopN, kills the daemon, cleans up,
attaches the image again and checks what survived.

    crash_attach.py LLOOP ENGINE DIR ROUNDS RECORDS

The driver makes itself a child subreaper, so that the daemon lloop
attach forks (and leaves) becomes its child: it reaps a killed daemon at
once and sees the exit status of one it sent SIGTERM.  Every device and
daemon it makes is appended to RECORDS ("DEV PID START LOOPINFO") for the
shell's clean-up, which runs even if this driver is killed.

Rounds alternate the default I/O path (FUSE passthrough: the kernel
writes the image itself) and --no-passthrough (every request through
lloop's engine), and, every two rounds, --cache none and writeback.
Each round: attach DIR/crash.img (32 MiB); four writer threads open the
device with O_DIRECT, each on its own quarter, and write 4-64 KiB at
random places, one write at a time, one in five with RWF_DSYNC (FUA),
an fdatasync (FLUSH) every 12 writes; after a random 20-1100 ms the
daemon (its pid from lloop list --json) gets SIGKILL.  Just before, lloop
stats must count at least one FLUSH per WRITERS fdatasyncs that returned
(each one was a FUSE FSYNC that reached the backend: a daemon answering
FSYNC without its backend fails here; a process kill cannot show it).
The engine path fails the writers' I/O with EIO; with passthrough plain
writes still reach the image (the kernel holds it), only FLUSH and FUA
fail, so the writers are stopped 200 ms after the kill.  Then: lloop
list says the daemon died; the device, held by the writers until then,
is freed (autoclear) once they close it; lloop detach reports the dead
daemon, exits 0 and leaves nothing (state files, device, process, FUSE
mount); the image file is read directly; the image is attached again and
read through the device (both must be the same bytes); lloop detach of
that one must end its daemon with exit status 0.

After the rounds, SIGTERM under load, three times: the writers holding
the device with a plain open (on each path): the daemon flushes and
unbinds the device but keeps serving until they close it (their I/O
keeps succeeding), then ends with exit status 0 and leaves nothing; the
writers holding it with O_EXCL (as a mounted file system claims it): the
daemon refuses to detach, says so in its log and serves on, and lloop
detach ends it once the device is released.  Every acknowledged write
must be there.

Every 4 KiB block written holds 128 copies of the 32-byte record
    b"LLATTCR!" | block (u64 LE) | write id (u64 LE) | block ^ id ^ K (u64 LE)
(the write id is the generation).  Every event (write sent, write
acknowledged, fdatasync called, fdatasync returned) takes a number from
one global counter, so that "acknowledged before that fdatasync was
called" holds across threads.  A block must hold, of the writes sent to
it, the last durable one -- acknowledged before the call of an
fdatasync that returned, or written with RWF_DSYNC and acknowledged --
or a later one.  A block no durable write reached may hold what it held
before or any write sent to it.  After SIGTERM every acknowledged write
counts as durable.  Nothing may hold a record of another block or of a
write never sent there, and blocks not written must not change.
"""
import ctypes
import errno
import fcntl
import itertools
import json
import mmap
import os
import random
import signal
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from blockrec import BS, Records  # noqa: E402

REC = Records(b"LLATTCR!")
record = REC.record
SIZE = 32 << 20
WRITERS = 4
SIZES = (1, 1, 1, 2, 4, 8, 16)  # blocks
FLUSH_EVERY = 12
PR_SET_CHILD_SUBREAPER = 36
LOOP_GET_STATUS64 = 0x4C05
# what the device may answer once its daemon is gone
GONE_ERRNOS = (errno.EIO, errno.ENOTCONN, errno.ENODEV, errno.ENXIO,
               errno.ESHUTDOWN)
# the test's own self-check (crash_attach.sh --self-check): expect the
# wrong write id in every durable block, which must make the check fail
SELF_CHECK = os.environ.get("CRASH_ATTACH_SELF_CHECK") == "1"


class Fail(Exception):
    pass


# ---- the writers ----

class Load:
    """WRITERS threads writing to one O_DIRECT descriptor of DEV"""

    def __init__(self, dev, rnd_round, excl=False):
        self.fd = os.open(dev, os.O_RDWR | os.O_DIRECT | os.O_CLOEXEC |
                          (os.O_EXCL if excl else 0))
        self.seq = itertools.count(1)
        self.stop = threading.Event()
        self.gone = threading.Event()  # set just before the daemon is killed
        self.journals = [[] for _ in range(WRITERS)]
        self.errors = []  # errors while the daemon was alive
        self.stopped_by = [None] * WRITERS
        per = (SIZE // BS) // WRITERS
        self.threads = [threading.Thread(
            target=self.write, daemon=True,
            args=(w, w * per, per, (rnd_round << 32) | (w << 24),
                  rnd_round * 100 + w)) for w in range(WRITERS)]
        for t in self.threads:
            t.start()

    def write(self, w, first, nblocks, wid_base, seed):
        rnd = random.Random(seed)
        ev = self.journals[w]
        buf = mmap.mmap(-1, max(SIZES) * BS)  # page-aligned, for O_DIRECT
        view = memoryview(buf)
        wid = fid = 0
        try:
            while not self.stop.is_set():
                wid += 1
                if wid % FLUSH_EVERY == 0:
                    fid += 1
                    ev.append(("F", fid, next(self.seq)))
                    os.fdatasync(self.fd)
                    ev.append(("FA", fid, next(self.seq)))
                    continue
                n = rnd.choice(SIZES)
                b0 = first + rnd.randrange(nblocks - n + 1)
                w_id = wid_base + wid
                dsync = rnd.random() < 0.2
                buf[:n * BS] = b"".join(record(b, w_id) * (BS // 32)
                                        for b in range(b0, b0 + n))
                ev.append(("W", w_id, b0, n, dsync, next(self.seq)))
                if dsync:
                    got = os.pwritev(self.fd, [view[:n * BS]], b0 * BS,
                                     os.RWF_DSYNC)
                else:
                    got = os.pwrite(self.fd, view[:n * BS], b0 * BS)
                if got != n * BS:
                    raise Fail("a short write: %d of %d bytes" % (got, n * BS))
                ev.append(("A", w_id, next(self.seq)))
        except OSError as e:
            ev.append(("E", e.errno, next(self.seq)))
            self.stopped_by[w] = e.errno
            if not self.gone.is_set() or e.errno not in GONE_ERRNOS:
                self.errors.append("writer %d: %s%s" % (
                    w, e, "" if self.gone.is_set() else
                    " (the daemon was alive)"))
        except Fail as e:
            self.errors.append("writer %d: %s" % (w, e))
        finally:
            view.release()
            buf.close()

    def finish(self, what):
        """stop the writers, wait for them, close the device"""
        self.stop.set()
        for t in self.threads:
            t.join(30)
            if t.is_alive():
                raise Fail("a writer is still blocked in its I/O 30 s %s: "
                           "the device hangs" % what)
        os.close(self.fd)
        self.fd = -1

    def summary(self):
        ev = [e for j in self.journals for e in j]
        count = {k: sum(1 for e in ev if e[0] == k) for k in ("W", "A", "F", "FA")}
        dsync = sum(1 for e in ev if e[0] == "W" and e[4])
        ends = ",".join("EIO" if s == errno.EIO else
                        errno.errorcode.get(s, str(s)) if s else "stopped"
                        for s in self.stopped_by)
        return ("%d writes sent (%d with RWF_DSYNC), %d acknowledged, "
                "%d of %d fdatasync returned; writers ended: %s" % (
                    count["W"], dsync, count["A"], count["FA"], count["F"],
                    ends))


# ---- the checker ----

def durable_writes(journals, all_acked):
    """(durable write ids, acknowledged write ids): a write is durable
    when it was acknowledged before the call of an fdatasync that
    returned, or had RWF_DSYNC and was acknowledged (or, all_acked, was
    acknowledged at all)"""
    dsync = {}
    acked_at = {}  # write id -> number of its acknowledgement
    called = {}  # (writer, fdatasync id) -> number of the call
    last_call = 0  # of the last fdatasync that returned
    for w, j in enumerate(journals):
        for e in j:
            if e[0] == "W":
                dsync[e[1]] = e[4]
            elif e[0] == "A":
                acked_at[e[1]] = e[2]
            elif e[0] == "F":
                called[w, e[1]] = e[2]
            elif e[0] == "FA":
                last_call = max(last_call, called[w, e[1]])
    durable = {w for w, n in acked_at.items()
               if all_acked or dsync[w] or n < last_call}
    return durable, set(acked_at)


def check(image, state, journals, all_acked, label):
    """image: the bytes read back; state: block -> what the last check
    read (0 zeros, a write id, -1 torn), updated when intact.  Returns a
    list of what is wrong."""
    writes_to = {}  # block -> [write ids in the order sent]
    durable, acked = durable_writes(journals, all_acked)
    for j in journals:
        for e in j:
            if e[0] == "W":
                for b in range(e[2], e[2] + e[3]):
                    writes_to.setdefault(b, []).append(e[1])
    counts, bad, new_state = REC.judge(image, state, writes_to, durable,
                                       acked, SELF_CHECK)
    print("    check (%s): %d writes durable, %d acknowledged; %s" % (
        label, len(durable), len(acked),
        ", ".join("%s %d" % kv for kv in counts.items() if kv[1])),
        flush=True)
    for x in bad[:20]:
        print("    LOST:", x, flush=True)
    if not bad:
        state.clear()
        state.update(new_state)
    return bad


# ---- lloop and the kernel ----

def loopinfo(dev):
    """"lo_device lo_inode lo_file_name" of DEV, or None if unbound (the
    format of attach_lib.sh's _loopinfo)"""
    try:
        fd = os.open(dev, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        buf = bytearray(232)  # struct loop_info64
        fcntl.ioctl(fd, LOOP_GET_STATUS64, buf)
    except OSError:
        return None
    finally:
        os.close(fd)
    d, i = struct.unpack_from("QQ", buf, 0)
    return "%d %d %s" % (d, i, bytes(buf[56:120]).split(b"\0")[0].decode(
        errors="replace"))


def start_time(pid):
    try:
        st = open("/proc/%d/stat" % pid).read()
    except OSError:
        return ""
    return st.rsplit(")", 1)[1].split()[19]


class Lloop:
    def __init__(self, lloop, engine, d, records):
        self.lloop, self.engine, self.d = lloop, engine, d
        self.img = os.path.join(d, "crash.img")
        self.run = os.environ["LLOOP_RUNTIME_DIR"]
        self.records = records
        self.children = set()  # daemons not yet reaped
        self.log = os.path.join(d, "lloop.log")
        self.cache = "none"  # --cache of this round's attaches

    def cmd(self, *args, check=True, timeout=90):
        p = subprocess.run([self.lloop] + list(args), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
        with open(self.log, "a") as f:
            f.write("+ lloop %s: exit %d\n%s%s" % (" ".join(args), p.returncode,
                                                   p.stdout, p.stderr))
        if check and p.returncode:
            raise Fail("lloop %s: exit status %d: %s" % (
                " ".join(args), p.returncode, p.stderr.strip()))
        return p

    def listing(self):
        return json.loads(self.cmd("list", "--json").stdout)

    def attach(self, path):
        opts = ["--cache", self.cache]
        if path == "engine":
            opts.append("--no-passthrough")
        p = self.cmd("attach", "--engine", self.engine, *opts, self.img)
        dev = p.stdout.strip()
        if not dev.startswith("/dev/loop"):
            raise Fail("lloop attach printed %r" % dev)
        l = [a for a in self.listing() if a["device"] == dev]
        if len(l) != 1 or not l[0]["alive"] or l[0]["image"] != self.img:
            raise Fail("lloop list --json after attach: %r" % l)
        pid = l[0]["pid"]
        self.children.add(pid)
        with open(self.records, "a") as f:
            f.write("%s %d %s %s\n" % (dev, pid, start_time(pid),
                                       loopinfo(dev) or ""))
        if path == "engine" and l[0]["path"] != "engine":
            raise Fail("--no-passthrough: lloop list shows path %r"
                       % l[0]["path"])
        if path == "default" and l[0]["path"] != "passthrough":
            print("    note: the default path here is %r, not passthrough"
                  % l[0]["path"], flush=True)
        return dev, pid, loopinfo(dev)

    def ended(self, pid):
        """", and daemon PID died: ..." if it did, else """""
        status = self.reap(pid, 0)
        if status is None:
            return ""
        return "; and daemon %d ended: %s" % (pid, (
            "exit status %d" % os.WEXITSTATUS(status)) if os.WIFEXITED(status)
            else "signal %d" % os.WTERMSIG(status))

    def reap(self, pid, timeout):
        """wait for our child daemon PID; its wait status, or None"""
        end = time.monotonic() + timeout
        while True:
            got, status = os.waitpid(pid, os.WNOHANG)
            if got == pid:
                self.children.discard(pid)
                return status
            if time.monotonic() >= end:
                return None
            time.sleep(0.01)

    def leftovers(self, dev, ident, pid):
        """what of this attachment remains (empty: nothing)"""
        left = []
        files = sorted(os.listdir(os.path.join(self.run, "attach")))
        if files:
            left.append("files in %s/attach: %s" % (self.run, " ".join(files)))
        if os.path.exists("/proc/%d" % pid):
            left.append("daemon %d still exists" % pid)
        now = loopinfo(dev)
        if now is not None and now == ident:
            left.append("%s still bound (%s)" % (dev, now))
        if self.listing():
            left.append("lloop list --json is not []")
        mnt = subprocess.run(["findmnt", "-rn", "-t", "fuse.lloop", "-o",
                              "TARGET"], capture_output=True, text=True).stdout
        mine = [m for m in mnt.split() if m.startswith(self.run + "/")]
        if mine:
            left.append("FUSE mounts visible: %s" % " ".join(mine))
        return left

    def nothing_left(self, dev, ident, pid, what, secs=10):
        end = time.monotonic() + secs
        while True:
            left = self.leftovers(dev, ident, pid)
            if not left:
                return
            if time.monotonic() > end:
                raise Fail("%d s after %s: %s" % (secs, what, "; ".join(left)))
            time.sleep(0.1)

    def detach_live(self, dev, pid, ident):
        """lloop detach of a live daemon: exit 0, daemon status 0"""
        p = self.cmd("detach", dev)
        if p.stderr:
            raise Fail("lloop detach %s wrote %r" % (dev, p.stderr))
        status = self.reap(pid, 30)
        if status is None:
            raise Fail("daemon %d still runs 30 s after lloop detach" % pid)
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status):
            raise Fail("daemon %d ended with wait status %#x after lloop "
                       "detach, not exit 0" % (pid, status))
        self.nothing_left(dev, ident, pid, "lloop detach %s" % dev)

    def flushes_reached(self, pid, load):
        """every fdatasync that returned was a FLUSH that lloop's backend
        completed: the flush counter of lloop stats must be at least the
        number of them divided by WRITERS (the block layer may answer the
        fdatasyncs waiting at one time, at most one per writer, with one
        flush).  A daemon answering FSYNC without its backend fails it."""
        done = sum(1 for j in load.journals for e in list(j) if e[0] == "FA")
        p = self.cmd("stats", "--control", os.path.join(
            self.run, "attach", "%d.sock" % pid), "--json")
        flush = json.loads(p.stdout)["exports"][0]["ops"]["flush"]
        if flush["requests"] * WRITERS < done or flush["errors"]:
            raise Fail("%d fdatasyncs of the device returned, but lloop "
                       "stats counts %d flushes (%d errors)" % (
                           done, flush["requests"], flush["errors"]))
        return flush["requests"]

    def read_image(self):
        with open(self.img, "rb") as f:
            data = f.read()
        if len(data) != SIZE:
            raise Fail("the image file has %d bytes, not %d" % (len(data), SIZE))
        return data

    def read_device(self, path):
        """attach the image again, read it all through the device (O_DIRECT),
        detach"""
        dev, pid, ident = self.attach(path)
        fd = os.open(dev, os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC)
        buf = mmap.mmap(-1, 1 << 20)
        out = []
        try:
            for off in range(0, SIZE, len(buf)):
                n = os.preadv(fd, [buf], off)
                if n != len(buf):
                    raise Fail("%s: short read at %d: %d bytes" % (dev, off, n))
                out.append(bytes(buf))
        finally:
            os.close(fd)
            buf.close()
        self.detach_live(dev, pid, ident)
        return b"".join(out)

    def verify(self, state, load, all_acked, path):
        """the image, straight from the file and through a new device"""
        direct = self.read_image()
        through = self.read_device(path)
        if direct != through:
            diff = [b for b in range(SIZE // BS)
                    if direct[b * BS:(b + 1) * BS] != through[b * BS:(b + 1) * BS]]
            raise Fail("the device reads %d blocks differently from the image "
                       "file (first: block %d)" % (len(diff), diff[0]))
        bad = check(direct, state, load.journals, all_acked,
                    "image file = device, %s path" % path)
        if bad:
            raise Fail("%d blocks lost or wrong" % len(bad))

    def cleanup(self):
        for pid in list(self.children):
            for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 10)):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
                if self.reap(pid, wait) is not None:
                    break


# ---- the rounds ----

def kill_round(ll, r, path, rnd, state):
    dev, pid, ident = ll.attach(path)
    load = Load(dev, r)
    try:
        ms = rnd.randrange(20, 1100)
        time.sleep(ms / 1000)
        if load.errors:
            raise Fail("%s%s" % ("; ".join(load.errors), ll.ended(pid)))
        fl = ll.flushes_reached(pid, load)
        print("--- round %d (%s path, --cache %s, %s): SIGKILL of daemon %d "
              "after %d ms (%d flushes reached its backend)" % (
                  r, path, ll.cache, dev, pid, ms, fl), flush=True)
        load.gone.set()
        os.kill(pid, signal.SIGKILL)
        status = ll.reap(pid, 10)
        if status is None or not os.WIFSIGNALED(status):
            raise Fail("daemon %d not dead 10 s after SIGKILL" % pid)
        # the engine path fails the writers' I/O; passthrough writes go on
        time.sleep(0.2)
        load.finish("after the SIGKILL")
    finally:
        if load.fd >= 0:
            load.stop.set()
    print("    " + load.summary(), flush=True)
    if load.errors:
        raise Fail("; ".join(load.errors))
    if path == "engine" and all(s is None for s in load.stopped_by):
        raise Fail("no writer saw an I/O error after the engine path's "
                   "daemon was killed")
    # the writers have closed the device: autoclear frees it
    end = time.monotonic() + 5
    while loopinfo(dev) == ident:
        if time.monotonic() > end:
            raise Fail("%s still bound 5 s after its last user closed it "
                       "(autoclear)" % dev)
        time.sleep(0.02)
    l = [a for a in ll.listing() if a["device"] == dev]
    if len(l) != 1 or l[0]["alive"] or l[0]["pid"] != pid:
        raise Fail("lloop list --json after the kill: %r" % l)
    p = ll.cmd("detach", dev, check=False)
    want = "%s: its daemon (pid %d) had died; cleaned up" % (dev, pid)
    if p.returncode or p.stdout.strip() != want or p.stderr:
        raise Fail("lloop detach %s after the kill: exit %d, %r %r" % (
            dev, p.returncode, p.stdout, p.stderr))
    ll.nothing_left(dev, ident, pid, "lloop detach of the dead daemon's device")
    ll.verify(state, load, False, path)


def term_round(ll, r, path, excl, rnd, state):
    """SIGTERM under load; excl: the writers hold the device with O_EXCL
    (as a mounted file system claims it)"""
    dev, pid, ident = ll.attach(path)
    load = Load(dev, r, excl)
    how = "O_EXCL" if excl else "a plain open"
    try:
        ms = rnd.randrange(200, 1000)
        time.sleep(ms / 1000)
        print("--- SIGTERM under load (%s path, --cache %s, %s held with "
              "%s): daemon %d after %d ms" % (path, ll.cache, dev, how, pid,
                                              ms), flush=True)
        os.kill(pid, signal.SIGTERM)
        # documented: a plain opener: it flushes, unbinds the device and
        # serves until the last close; a claimed device: it refuses to
        # detach, says so in its log and serves on
        time.sleep(0.5)
        if load.errors or any(s is not None for s in load.stopped_by):
            raise Fail("the writers' I/O failed after SIGTERM, while they "
                       "held the device open: %s%s" % (
                           "; ".join(load.errors), ll.ended(pid)))
        got, status = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            ll.children.discard(pid)
            raise Fail("daemon %d ended (wait status %#x) while its device "
                       "was still open" % (pid, status))
        load.finish("after the SIGTERM")
    finally:
        if load.fd >= 0:
            load.stop.set()
    print("    " + load.summary(), flush=True)
    if load.errors:
        raise Fail("; ".join(load.errors))
    if excl:
        time.sleep(1)
        if ll.reap(pid, 0) is not None:
            raise Fail("daemon %d ended after a SIGTERM it refused (its "
                       "device was claimed)" % pid)
        logf = os.path.join(ll.run, "attach", "%d.log" % pid)
        if "not detaching" not in open(logf).read():
            raise Fail("daemon %d refused the SIGTERM without saying so in "
                       "%s" % (pid, logf))
        if loopinfo(dev) != ident:
            raise Fail("%s unbound after a refused SIGTERM" % dev)
        print("    daemon %d refused to detach a claimed device, serves on; "
              "lloop detach once it is released" % pid, flush=True)
        ll.detach_live(dev, pid, ident)
    else:
        status = ll.reap(pid, 30)
        if status is None:
            raise Fail("daemon %d still runs 30 s after SIGTERM and the "
                       "last close of its device" % pid)
        print("    daemon %d: %s" % (pid, "exit status %d" % os.WEXITSTATUS(
            status) if os.WIFEXITED(status) else "wait status %#x" % status),
            flush=True)
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status):
            raise Fail("daemon %d ended with wait status %#x after SIGTERM, "
                       "not exit 0" % (pid, status))
        ll.nothing_left(dev, ident, pid, "SIGTERM and the last close")
    ll.verify(state, load, True, path)


def run(lloop, engine, d, rounds, records):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0:
        print("FAIL: PR_SET_CHILD_SUBREAPER: %s"
              % os.strerror(ctypes.get_errno()))
        return 1
    ll = Lloop(lloop, engine, d, records)
    with open(ll.img, "wb") as f:
        f.truncate(SIZE)
    rnd = random.Random()
    state = {}
    t0 = time.monotonic()
    try:
        for r in range(1, rounds + 1):
            ll.cache = "none" if (r - 1) // 2 % 2 == 0 else "writeback"
            kill_round(ll, r, "default" if r % 2 else "engine", rnd, state)
        for i, (path, excl) in enumerate((("default", False),
                                          ("engine", False),
                                          ("default", True))):
            ll.cache = "writeback" if i == 1 else "none"
            term_round(ll, rounds + 1 + i, path, excl, rnd, state)
        print("--- %d SIGKILL rounds and 3 SIGTERM rounds in %.1f s" % (
            rounds, time.monotonic() - t0), flush=True)
    except (Fail, OSError, subprocess.TimeoutExpired) as e:
        print("FAIL: %s" % e, flush=True)
        try:
            for name in sorted(os.listdir(os.path.join(ll.run, "attach"))):
                if name.endswith(".log"):
                    lines = open(os.path.join(ll.run, "attach", name)).read()
                    print("--- %s:\n%s" % (name, lines[-2000:]), flush=True)
        except OSError:
            pass
        return 1
    finally:
        ll.cleanup()
    return 0


def main():
    # the shell's clean-up sends SIGTERM: end (and clean up) with it
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    lloop, engine, d, rounds, records = sys.argv[1:6]
    sys.exit(run(lloop, engine, d, int(rounds), records))


main()
