# SPDX-License-Identifier: GPL-2.0-or-later
"""Abusive clients against lloop serve: the I/O paths, not the parser.

    abuse.py PORT LLOOP CONTROL_SOCKET SERVER_PID

The server: one file export of 1 GiB, --threads 2, default pools (64 MiB
of buffers and 128 requests per worker, 32 MiB maximum payload).

1. writes whose payload stops short, then the socket closes (FIN, RST):
   the daemon goes on and the partial write is not applied;
2. clients that close with 100 requests in flight (FIN, RST, half-close):
   the daemon goes on, and every slot and pool request comes back;
3. at the same time, for about 30 s:
   - 8 slowloris clients that send their handshake one byte a second,
     then a read (lloop has no handshake timeout: each holds one
     connection slot, bounded by --max-connections, and is served
     correctly in the end),
   - 4 clients (two per worker) that announce 32 MiB writes and send the
     payload one byte a second,
   - 4 clients (two per worker) that flood 1 MiB reads and never read a
     reply,
   while a well-behaved client must be served every few seconds (each
   attempt within 45 s) and the daemon's VmRSS stays within 8 MiB of
   where it started.  The stalled clients hold pool memory; lloop must
   not let them starve the others.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import nbdraw as N  # noqa: E402

PORT, LLOOP, CTL, PID = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
ADDR = ("127.0.0.1", PORT)
M = 1 << 20
PAT_OFF = 900 * M
PATTERN = os.urandom(4 * M)
GOOD_TIMEOUT = 45
RSS_SLACK_KB = 8 * 1024
failures = []


def step(msg):
    print("---", msg, flush=True)


def stats():
    return N.lloop_stats(LLOOP, CTL)


def leftovers():
    return N.pool_leftovers(LLOOP, CTL)


def rss_kb():
    for line in open("/proc/%d/status" % PID):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def settled(what):
    if not N.wait_for(lambda: leftovers() is None, 15):
        raise AssertionError("%s: still in use 15 s later: %s" % (what, leftovers()))


def opened():
    s = N.connect(ADDR, 30)
    N.greet(s)
    info = N.go(s)
    check(isinstance(info, dict), "GO refused: %r" % (info,))
    return s


def pattern_intact(what):
    c = N.Client(ADDR)
    got = c.read(PAT_OFF, len(PATTERN) // 2) + c.read(PAT_OFF + len(PATTERN) // 2,
                                                      len(PATTERN) // 2)
    c.disconnect()
    check(got == PATTERN, "%s: the pattern region changed" % what)


def case(name, fn, serve_at):
    step(name)
    try:
        fn()
        N.check_serves(ADDR, serve_at)
        settled(name)
        print("    ok; a good client wrote and read back 64 KiB; nothing left in use",
              flush=True)
    except Exception as e:
        print("    FAILED: %s: %s" % (type(e).__name__, e), flush=True)
        failures.append(name)


# ---- 1. short payloads ----

def short_payload():
    ends = [
        ("1 MiB write, 100 KiB sent, FIN", M, 100 * 1024, socket.socket.close),
        ("1 MiB write, 100 KiB sent, RST", M, 100 * 1024, N.close_reset),
        ("4 KiB write, header only, FIN", 4096, 0, socket.socket.close),
        ("4 MiB write, all but 1 byte, RST", 4 * M, 4 * M - 1, N.close_reset),
        ("32 MiB write, 31 MiB sent, half-close then FIN", 32 * M, 31 * M, None),
    ]
    for what, ln, sent, end in ends:
        s = opened()
        s.sendall(N.request(N.CMD_WRITE, 1, PAT_OFF, ln) + b"\xee" * sent)
        time.sleep(0.2)  # let the server take what was sent
        if end is None:
            s.shutdown(socket.SHUT_WR)
            check(N.closed_by_peer(s, 10), "%s: no hang-up after the half-close" % what)
            s.close()
        else:
            end(s)
        print("    %s" % what, flush=True)
    settled("short payloads")
    pattern_intact("after the short payloads")


# ---- 2. closing with 100 requests in flight ----

def in_flight_close():
    ends = [("FIN", socket.socket.close), ("RST", N.close_reset),
            ("half-close", lambda s: s.shutdown(socket.SHUT_WR) or s.close())]
    for rnd in range(6):
        name, end = ends[rnd % 3]
        s = opened()
        reqs = []
        for i in range(100):
            off = (rnd * 100 + i) * 256 * 1024
            kind = i % 5
            if kind == 0:
                reqs.append(N.request(N.CMD_READ, i, off, M))
            elif kind == 1:
                reqs.append(N.request(N.CMD_WRITE, i, off, 65536, N.CMD_FLAG_FUA)
                            + os.urandom(65536))
            elif kind == 2:
                reqs.append(N.request(N.CMD_FLUSH, i, 0, 0))
            elif kind == 3:
                reqs.append(N.request(N.CMD_WRITE, i, off + 512, 4096 + 512)
                            + os.urandom(4096 + 512))  # unaligned: read-modify-write
            else:
                reqs.append(N.request(N.CMD_READ, i, off + 100, 256 * 1024))
        s.sendall(b"".join(reqs))
        if rnd >= 3:
            time.sleep(0.05)  # some of them done and their replies queued
        end(s)
        print("    round %d: 100 requests, then %s" % (rnd + 1, name), flush=True)
    settled("closing with requests in flight")
    pattern_intact("after the in-flight closes")


# ---- 3. stalled clients, with others served meanwhile ----

class Stalled:
    def __init__(self):
        self.stop = threading.Event()
        self.errors = []
        self.threads = []
        self.slow_ok = 0
        self.flood_sent = {}
        self.lock = threading.Lock()

    def start(self, fn, *args):
        t = threading.Thread(target=self.guard, args=(fn,) + args, daemon=True)
        t.start()
        self.threads.append(t)

    def guard(self, fn, *args):
        try:
            fn(*args)
        except Exception as e:
            with self.lock:
                self.errors.append("%s%r: %s: %s" % (fn.__name__, args, type(e).__name__, e))

    def slowloris(self, i):
        """the handshake one byte a second, then a read of the pattern"""
        s = N.connect(ADDR, 120)
        N.recv_exact(s, 18)
        msg = b"\0\0\0\3" + N.option(N.OPT_GO, N.go_data())
        for b in msg:
            if self.stop.is_set():
                s.close()
                return
            s.sendall(bytes([b]))
            time.sleep(1)
        while True:
            opt, rtype, data = N.recv_option_reply(s)
            if rtype == N.REP_ACK:
                break
            check(not rtype & 0x80000000, "slowloris %d: GO refused %#x" % (i, rtype))
        off = PAT_OFF + i * 4096
        s.sendall(N.request(N.CMD_READ, 5, off, 4096))
        err, cookie, data = N.read_reply(s, False, 4096, off)
        check(err == 0 and data == PATTERN[i * 4096:(i + 1) * 4096],
              "slowloris %d: its read after the slow handshake failed (%d)" % (i, err))
        s.close()
        with self.lock:
            self.slow_ok += 1

    def slow_payload(self, i):
        """a 32 MiB write whose payload comes one byte a second"""
        s = opened()
        s.sendall(N.request(N.CMD_WRITE, 1, 200 * M + i * 32 * M, 32 * M))
        try:
            while not self.stop.is_set():
                s.sendall(b"\xee")
                time.sleep(1)
        except (BrokenPipeError, ConnectionResetError):
            print("    slow-payload client %d: closed by the server" % i, flush=True)
        s.close()

    def flood(self, i):
        """1 MiB reads as fast as the socket takes them, no reply read"""
        s = opened()
        s.settimeout(1)
        n = 0
        try:
            while not self.stop.is_set():
                s.sendall(N.request(N.CMD_READ, n, (n % 512) * M, M))
                n += 1
                self.flood_sent[i] = n
        except socket.timeout:
            # the socket is full: the server stopped reading us
            self.stop.wait()
        except (BrokenPipeError, ConnectionResetError):
            print("    non-reading client %d: closed by the server after %d requests"
                  % (i, n), flush=True)
        N.close_reset(s)


def stalled_clients():
    st = Stalled()
    rss0 = rss_kb()
    rss_max = rss0
    print("    VmRSS before: %d kB" % rss0, flush=True)
    for i in range(8):
        st.start(st.slowloris, i)
    for i in range(4):
        st.start(st.slow_payload, i)
    for i in range(4):
        st.start(st.flood, i)
    t0 = time.monotonic()
    served = 0
    worst = 0.0
    attempt = 0
    # about 30 s: the slowloris handshakes take 26 s
    while time.monotonic() - t0 < 32 or (st.slow_ok < 8 and time.monotonic() - t0 < 90):
        time.sleep(2)
        attempt += 1
        t = time.monotonic()
        try:
            c = N.Client(ADDR, timeout=GOOD_TIMEOUT)
            data = os.urandom(65536)
            check(c.write(400 * M + attempt * 65536, data) == 0, "good write failed")
            check(c.read(400 * M + attempt * 65536, 65536) == data, "good read-back differs")
            c.disconnect()
            served += 1
            worst = max(worst, time.monotonic() - t)
        except Exception as e:
            st.stop.set()
            raise AssertionError("a well-behaved client was not served within %d s "
                                 "while stalled clients held the pool (%s: %s)"
                                 % (GOOD_TIMEOUT, type(e).__name__, e))
        finally:
            rss_max = max(rss_max, rss_kb())
        print("    %4.1f s: well-behaved client %d served in %.2f s; VmRSS %d kB; "
              "non-readers' requests taken: %s" % (
                  time.monotonic() - t0, attempt, time.monotonic() - t, rss_kb(),
                  sorted(st.flood_sent.values())), flush=True)
    st.stop.set()
    for t in st.threads:
        t.join(30)
    print("    %d well-behaved clients served, the slowest in %.2f s; "
          "%d/8 slowloris handshakes done and served" % (served, worst, st.slow_ok), flush=True)
    print("    VmRSS before %d kB, highest %d kB, after %d kB" % (rss0, rss_max, rss_kb()),
          flush=True)
    check(not st.errors, "stalled clients: %s" % "; ".join(st.errors))
    check(st.slow_ok == 8, "only %d of 8 slowloris clients were served" % st.slow_ok)
    check(rss_max - rss0 < RSS_SLACK_KB,
          "VmRSS grew by %d kB with stalled clients (limit %d)" % (rss_max - rss0, RSS_SLACK_KB))
    settled("stalled clients")
    pattern_intact("after the stalled clients")


def main():
    c = N.Client(ADDR)
    check(c.write(PAT_OFF, PATTERN[:2 * M]) == 0 and
          c.write(PAT_OFF + 2 * M, PATTERN[2 * M:]) == 0, "writing the pattern")
    c.flush()
    c.disconnect()
    case("writes whose payload stops short, then the socket closes", short_payload, 1 * M)
    case("clients closing with 100 requests in flight", in_flight_close, 2 * M)
    case("slowloris, slow payloads and non-reading clients, others served meanwhile",
         stalled_clients, 3 * M)
    if failures:
        sys.exit("abuse.py: %d case(s) failed: %s" % (len(failures), "; ".join(failures)))
    print("abuse.py: all cases passed")


main()
