# SPDX-License-Identifier: GPL-2.0-or-later
"""1,000 idle connections against lloop serve --max-connections LIMIT.

    idle.py PORT LLOOP CONTROL_SOCKET LIMIT

Opens 1,000 connections at once and sends nothing.  Exactly LIMIT of
them get the greeting; every other one is refused cleanly: closed with
nothing sent.  Half of those let in go on to OPT_GO and idle in the
transmission phase, the other half idle before sending their flags.
With all slots held a new client is refused too; once ten idle clients
close, new clients are served again at once.  In the end every slot is
back.  Prints "refused N" for the shell to match against the log.
"""
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import nbdraw as N  # noqa: E402

PORT, LLOOP, CTL, LIMIT = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
ADDR = ("127.0.0.1", PORT)
TOTAL = 1000
M = 1 << 20


def stats():
    out = subprocess.run([LLOOP, "stats", "--json", "--control", CTL],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["connections"]


def check(cond, msg):
    if not cond:
        sys.exit("idle.py: " + msg)


def greeting_or_refusal(s):
    """True: greeted; False: closed without a byte"""
    s.settimeout(30)
    try:
        data = s.recv(18, socket.MSG_WAITALL)
    except ConnectionResetError:
        return False
    if not data:
        return False
    check(len(data) == 18 and data[:8] == b"NBDMAGIC",
          "a connection got %r instead of a greeting or a clean refusal" % data)
    return True


def main():
    nofile = N.raise_nofile(TOTAL + 200)
    check(nofile >= TOTAL + 50, "RLIMIT_NOFILE is %d, cannot open %d sockets" % (nofile, TOTAL))
    before = stats()
    t0 = time.monotonic()
    socks = [N.connect(ADDR) for _ in range(TOTAL)]
    greeted, refused = [], 0
    for s in socks:
        if greeting_or_refusal(s):
            greeted.append(s)
        else:
            refused += 1
            s.close()
    print("%d connections opened in %.2f s: %d greeted, %d refused" % (
        TOTAL, time.monotonic() - t0, len(greeted), refused), flush=True)
    check(len(greeted) == LIMIT, "%d connections were let in, the limit is %d"
          % (len(greeted), LIMIT))
    # half go on into transmission and idle there
    for s in greeted[::2]:
        s.sendall(b"\0\0\0\3")
        info = N.go(s)
        check(isinstance(info, dict), "an idle client's GO was refused: %r" % (info,))
    st = stats()
    print("stats: %r" % st, flush=True)
    check(st["current"] == LIMIT, "stats show %d connections, expected %d" % (st["current"], LIMIT))
    check(st["refused"] - before["refused"] == refused,
          "stats count %d refusals, the clients saw %d" % (st["refused"] - before["refused"], refused))

    # full: a new client is refused as cleanly
    s = N.connect(ADDR)
    check(not greeting_or_refusal(s), "a client was let in over the limit")
    s.close()
    refused += 1

    # ten idle clients go (5 in each phase): new clients get in at once
    for s in greeted[:10]:
        s.close()
    del greeted[:10]
    t = time.monotonic()
    check(N.wait_for(lambda: stats()["current"] <= LIMIT - 10, 10),
          "closed connections still counted: %r" % stats())
    for i in range(10):
        N.check_serves(ADDR, i * M)
    print("after 10 idle clients closed: 10 new clients served in %.2f s"
          % (time.monotonic() - t), flush=True)
    # the 10 freed slots are in use again by nobody: the others still hold
    c = N.Client(ADDR)
    hold = [N.connect(ADDR) for _ in range(9)]
    check(all(greeting_or_refusal(x) for x in hold), "a freed slot was not reused")
    x = N.connect(ADDR)
    check(not greeting_or_refusal(x), "a client was let in over the limit after reuse")
    refused += 1
    x.close()
    # the idle transmission-phase clients still work after all this
    for i, s in enumerate(greeted[::2][:5]):
        s.sendall(N.request(N.CMD_WRITE, 1, 32 * M + i * 4096, 4096) + b"%04d" % i * 1024)
        err, cookie, _ = N.read_reply(s)
        check(err == 0 and cookie == 1, "an idle client's write failed (%d)" % err)
    c.disconnect()
    for s in greeted + hold:
        s.close()
    check(N.wait_for(lambda: stats()["current"] == 0, 15),
          "slots still held after every client closed: %r" % stats())
    print("all slots back; refused %d" % refused, flush=True)
    print("refused %d" % refused)


main()
