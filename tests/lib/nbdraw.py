# SPDX-License-Identifier: GPL-2.0-or-later
"""A raw NBD client for tests that must misbehave: no libnbd, just
sockets, so a test can send what a well-behaved client never would."""
import socket
import struct

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REP_MAGIC = 0x3E889045565A9
REQ_MAGIC = 0x25609513
SIMPLE_MAGIC = 0x67446698
OPT_GO = 7
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH = 0, 1, 2, 3


def connect(addr):
    """addr: ("127.0.0.1", port) or a unix socket path"""
    if isinstance(addr, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect(addr)
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("server closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def handshake(s, name=b""):
    """fixed newstyle + NO_ZEROES + OPT_GO; returns (size, flags)"""
    magic, opt, hflags = struct.unpack(">QQH", recv_exact(s, 18))
    assert magic == NBDMAGIC and opt == IHAVEOPT, "bad greeting"
    s.sendall(struct.pack(">I", 3))
    payload = struct.pack(">I", len(name)) + name + struct.pack(">H", 0)
    s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, len(payload)) + payload)
    size = flags = None
    while True:
        magic, opt, rtype, rlen = struct.unpack(">QIII", recv_exact(s, 20))
        assert magic == REP_MAGIC, "bad option reply magic"
        data = recv_exact(s, rlen)
        if rtype == 1:  # ACK
            return size, flags
        if rtype == 3 and struct.unpack(">H", data[:2])[0] == 0:
            size, flags = struct.unpack(">QH", data[2:12])
        elif rtype & 0x80000000:
            raise RuntimeError("GO refused: 0x%x %r" % (rtype, data))


def request(typ, cookie, offset, length, flags=0):
    return struct.pack(">IHHQQI", REQ_MAGIC, flags, typ, cookie, offset, length)


def read_simple_reply(s):
    magic, err, cookie = struct.unpack(">IIQ", recv_exact(s, 16))
    assert magic == SIMPLE_MAGIC, "bad reply magic 0x%x" % magic
    return err, cookie
