# SPDX-License-Identifier: GPL-2.0-or-later
"""Clients that never finish the NBD handshake (or its TLS handshake), for
tests/hostile/handshake_timeout.sh.

    handshake_timeout.py LIBDIR PORT TIMEOUT CASE [CERTDIR]

TIMEOUT is the server's --handshake-timeout; a client must be cut off no
sooner than TIMEOUT - 1 s (the timeout is honoured, not early) and within
TIMEOUT + 30 s (generous: the host is shared and slow).  Each case prints
one line and exits 0, or raises."""
import socket
import ssl
import struct
import sys
import time

sys.path.insert(0, sys.argv[1])
import nbdraw as n  # noqa: E402

OPT_STARTTLS = 5
port, timeout, case = int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
certdir = sys.argv[5] if len(sys.argv) > 5 else None
LATE = 30.0


def connect():
    s = n.connect(("127.0.0.1", port), timeout=60)
    return s, time.monotonic()


def cut_off(s, t0, what):
    """wait for the server to hang up; check when it did"""
    left = t0 + timeout + LATE - time.monotonic()
    assert n.closed_by_peer(s, max(left, 1.0)), \
        "%s: still connected %.0f s after a %.0f s handshake timeout" % (
            what, LATE, timeout)
    dt = time.monotonic() - t0
    assert dt >= timeout - 1.0, \
        "%s: cut off after %.1f s, before the %.0f s timeout" % (
            what, dt, timeout)
    print("%s: cut off after %.1f s" % (what, dt))


def starttls(s):
    s.sendall(n.option(OPT_STARTTLS))
    ropt, rtype, _ = n.recv_option_reply(s)
    assert rtype == n.REP_ACK, "STARTTLS: 0x%x" % rtype


def tls_wrap(s):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certdir + "/ca-cert.pem")
    ctx.load_cert_chain(certdir + "/client-cert.pem",
                        certdir + "/client-key.pem")
    return ctx.wrap_socket(s, server_hostname="127.0.0.1")


def read_works(s, cookie=1):
    s.sendall(n.request(n.CMD_READ, cookie, 0, 4096))
    err, c = n.read_simple_reply(s)
    assert err == 0 and c == cookie, (err, c)
    n.recv_exact(s, 4096)


if case == "silent":
    # reads the greeting, then says nothing
    s, t0 = connect()
    n.recv_exact(s, 18)
    cut_off(s, t0, "silent after the greeting")
elif case == "half-option":
    s, t0 = connect()
    n.greet(s)
    s.sendall(n.option(n.OPT_GO, n.go_data())[:8])
    cut_off(s, t0, "half an option header")
elif case == "drip":
    # keeps sending, one byte a second, an option that never ends: the
    # timeout counts from the connection, not from the last byte
    s, t0 = connect()
    n.greet(s)
    s.sendall(n.option(n.OPT_LIST, length=4000)[:16])
    s.settimeout(1.0)
    while True:
        try:
            s.sendall(b"\x00")
            data = s.recv(4096)
        except socket.timeout:
            assert time.monotonic() - t0 < timeout + LATE, \
                "drip: still connected %.0f s after the timeout" % LATE
            continue
        except (ConnectionResetError, BrokenPipeError):
            break
        assert not data, "drip: server sent %r" % data[:64]
        break
    dt = time.monotonic() - t0
    assert dt >= timeout - 1.0, "drip: cut off after %.1f s" % dt
    print("one byte a second: cut off after %.1f s" % dt)
elif case == "tls-silent":
    # STARTTLS acknowledged, then no ClientHello
    s, t0 = connect()
    n.greet(s)
    starttls(s)
    cut_off(s, t0, "STARTTLS then silence")
elif case == "tls-partial":
    # a TLS record header announcing 512 bytes that never come
    s, t0 = connect()
    n.greet(s)
    starttls(s)
    s.sendall(b"\x16\x03\x01\x02\x00" + b"\x01\x00\x01\xfc")
    cut_off(s, t0, "half a ClientHello")
elif case == "tls-no-go":
    # the TLS handshake completes, the NBD one does not
    s, t0 = connect()
    n.greet(s)
    starttls(s)
    t = tls_wrap(s)
    cut_off(t, t0, "TLS up, no GO")
elif case == "idle-after-go":
    # the timeout is for the handshake only: an idle client that finished
    # it keeps its connection
    s, t0 = connect()
    n.handshake(s)
    assert not n.closed_by_peer(s, timeout + 3), "cut off after GO"
    read_works(s)
    print("idle %.0f s after GO: still served" % (timeout + 3))
elif case == "tls-idle-after-go":
    s, t0 = connect()
    n.greet(s)
    starttls(s)
    t = tls_wrap(s)
    info = n.go(t)
    assert isinstance(info, dict), "GO over TLS: 0x%x" % info
    time.sleep(timeout + 3)
    read_works(t)
    print("idle %.0f s after GO over TLS: still served" % (timeout + 3))
elif case == "slot":
    # with --max-connections 1: the stalled client holds the only slot,
    # a second one is turned away; once the first is cut off, a third
    # gets in
    a, t0 = connect()
    n.recv_exact(a, 18)
    b, _ = connect()
    assert n.closed_by_peer(b, 20), "a second client got in over the limit"
    print("second client refused while the slot is held")
    cut_off(a, t0, "the slot holder")
    for _ in range(50):
        c, _ = connect()
        try:
            n.handshake(c)
            break
        except (AssertionError, EOFError, ConnectionResetError):
            c.close()  # the server may not have reaped the slot yet
            time.sleep(0.2)
    else:
        raise AssertionError("the slot was not freed")
    read_works(c)
    print("the freed slot serves a new client")
elif case == "no-timeout":
    # not cut off within TIMEOUT (here the wait, not the server's setting)
    s, t0 = connect()
    n.recv_exact(s, 18)
    assert not n.closed_by_peer(s, timeout), "cut off with no timeout"
    s.sendall(struct.pack(">I", 3))
    info = n.go(s)
    assert isinstance(info, dict), "GO after %.0f s: 0x%x" % (timeout, info)
    read_works(s)
    print("%.0f s of silence, not cut off, then served" % timeout)
else:
    raise SystemExit("unknown case " + case)
