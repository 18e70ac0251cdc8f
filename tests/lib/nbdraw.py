# SPDX-License-Identifier: GPL-2.0-or-later
"""A raw NBD client for tests that must misbehave: no libnbd, just
sockets, so a test can send what a well-behaved client never would.

The first part (connect, recv_exact, handshake, request,
read_simple_reply) is the original small API; the rest adds what the
hostile tests need: option haggling piece by piece, structured replies,
"did the server hang up" checks, and Client, a small well-behaved client
that writes and reads back."""
import json
import os
import resource
import socket
import struct
import subprocess
import time

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REP_MAGIC = 0x3E889045565A9
REQ_MAGIC = 0x25609513
SIMPLE_MAGIC = 0x67446698
STRUCT_MAGIC = 0x668E33EF
OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_INFO, OPT_GO = 1, 2, 3, 6, 7
OPT_STRUCTURED_REPLY = 8
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH = 0, 1, 2, 3
CMD_TRIM, CMD_CACHE, CMD_WRITE_ZEROES, CMD_BLOCK_STATUS = 4, 5, 6, 7
CMD_FLAG_FUA, CMD_FLAG_NO_HOLE, CMD_FLAG_DF = 1, 2, 4
CMD_FLAG_REQ_ONE, CMD_FLAG_FAST_ZERO = 8, 16
REP_ACK, REP_SERVER, REP_INFO = 1, 2, 3
REP_ERR_UNSUP, REP_ERR_POLICY, REP_ERR_INVALID = 0x80000001, 0x80000002, 0x80000003
REP_ERR_UNKNOWN, REP_ERR_TOO_BIG = 0x80000006, 0x80000009
INFO_EXPORT, INFO_BLOCK_SIZE = 0, 3
REPLY_FLAG_DONE = 1
REPLY_TYPE_NONE, REPLY_TYPE_OFFSET_DATA, REPLY_TYPE_OFFSET_HOLE = 0, 1, 2
REPLY_TYPE_ERROR = 0x8001
EPERM, EIO, ENOMEM, EINVAL, ENOSPC, EOVERFLOW = 1, 5, 12, 22, 28, 75


def connect(addr, timeout=None):
    """addr: ("127.0.0.1", port) or a unix socket path"""
    if isinstance(addr, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if timeout is not None:
        s.settimeout(timeout)
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


# ---- option haggling, piece by piece ----

def greet(s, client_flags=3):
    """read the greeting, send client_flags; returns the handshake flags"""
    magic, opt, hflags = struct.unpack(">QQH", recv_exact(s, 18))
    assert magic == NBDMAGIC and opt == IHAVEOPT, "bad greeting"
    s.sendall(struct.pack(">I", client_flags))
    return hflags


def option(opt, data=b"", length=None):
    """an option header (with a length of our choosing) and its data"""
    return struct.pack(">QII", IHAVEOPT, opt,
                       len(data) if length is None else length) + data


def go_data(name=b"", infos=()):
    return struct.pack(">I", len(name)) + name + struct.pack(">H", len(infos)) + \
        b"".join(struct.pack(">H", i) for i in infos)


def recv_option_reply(s):
    """returns (opt, reply type, data)"""
    magic, opt, rtype, rlen = struct.unpack(">QIII", recv_exact(s, 20))
    assert magic == REP_MAGIC, "bad option reply magic 0x%x" % magic
    return opt, rtype, recv_exact(s, rlen)


def go(s, name=b"", opt=OPT_GO):
    """OPT_GO (or OPT_INFO) asking for block sizes.  Returns a dict
    {"size", "flags", "min", "pref", "max"} on ACK, or the error reply
    type (an int) when refused."""
    s.sendall(option(opt, go_data(name, (INFO_BLOCK_SIZE,))))
    info = {}
    while True:
        ropt, rtype, data = recv_option_reply(s)
        assert ropt == opt, "reply to option %d, expected %d" % (ropt, opt)
        if rtype == REP_ACK:
            return info
        if rtype & 0x80000000:
            return rtype
        if rtype == REP_INFO:
            (it,) = struct.unpack(">H", data[:2])
            if it == INFO_EXPORT:
                info["size"], info["flags"] = struct.unpack(">QH", data[2:12])
            elif it == INFO_BLOCK_SIZE:
                info["min"], info["pref"], info["max"] = \
                    struct.unpack(">III", data[2:14])


# ---- transmission ----

def read_reply(s, structured=False, read_len=0, read_offset=0, simple_ok=True):
    """One whole reply.  Returns (error, cookie, data): data is the read
    payload (bytes, holes filled with zeros) for a successful read of
    read_len bytes at read_offset, else b"".  With structured=True it
    reads chunks until the DONE flag; an error chunk gives its error.
    simple_ok=False: a simple reply is a protocol error (a READ's reply
    once structured replies are negotiated)."""
    magic = struct.unpack(">I", recv_exact(s, 4))[0]
    if magic == SIMPLE_MAGIC:
        assert simple_ok, "a simple reply where only a structured one is allowed"
        err, cookie = struct.unpack(">IQ", recv_exact(s, 12))
        data = recv_exact(s, read_len) if (err == 0 and read_len) else b""
        return err, cookie, data
    assert magic == STRUCT_MAGIC and structured, "bad reply magic 0x%x" % magic
    buf = None
    err = 0
    while True:
        flags, typ, cookie, ln = struct.unpack(">HHQI", recv_exact(s, 16))
        payload = recv_exact(s, ln)
        if typ == REPLY_TYPE_OFFSET_DATA:
            buf = buf if buf is not None else bytearray(read_len)
            (off,) = struct.unpack(">Q", payload[:8])
            at = off - read_offset
            buf[at:at + ln - 8] = payload[8:]
        elif typ == REPLY_TYPE_OFFSET_HOLE:
            buf = buf if buf is not None else bytearray(read_len)
        elif typ & 0x8000:
            err = struct.unpack(">I", payload[:4])[0]
        if flags & REPLY_FLAG_DONE:
            break
        magic = struct.unpack(">I", recv_exact(s, 4))[0]
        assert magic == STRUCT_MAGIC, "bad chunk magic 0x%x" % magic
    return err, cookie, bytes(buf) if (buf is not None and not err) else b""


def closed_by_peer(s, timeout=10.0):
    """True when the server hangs up (EOF or reset) within timeout having
    sent nothing more; raises if it sends bytes; False on timeout."""
    s.settimeout(timeout)
    try:
        data = s.recv(4096)
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    if data:
        raise AssertionError("server sent %r instead of hanging up" % data[:64])
    return True


def close_reset(s):
    """close with an RST (SO_LINGER 0) instead of a FIN"""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def raise_nofile(want):
    """raise RLIMIT_NOFILE's soft limit towards want; returns the new one"""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return soft


class Client:
    """A well-behaved client: GO, then one request at a time."""

    def __init__(self, addr, name=b"", structured=False, timeout=30.0):
        self.s = connect(addr, timeout)
        greet(self.s)
        self.structured = structured
        if structured:
            self.s.sendall(option(OPT_STRUCTURED_REPLY))
            _, rtype, _ = recv_option_reply(self.s)
            assert rtype == REP_ACK, "STRUCTURED_REPLY refused: 0x%x" % rtype
        info = go(self.s, name)
        if not isinstance(info, dict):
            raise RuntimeError("GO refused: 0x%x" % info)
        self.size, self.flags = info["size"], info["flags"]
        self.max_payload = info.get("max", 32 << 20)
        self.cookie = 0

    def cmd(self, typ, offset, length, data=b"", flags=0):
        """send one request, return (error, data)"""
        self.cookie += 1
        self.s.sendall(request(typ, self.cookie, offset, length, flags) + data)
        err, cookie, got = read_reply(self.s, self.structured,
                                      length if typ == CMD_READ else 0, offset)
        assert cookie == self.cookie, "reply cookie %d, expected %d" % (
            cookie, self.cookie)
        return err, got

    def write(self, offset, data, flags=0):
        err, _ = self.cmd(CMD_WRITE, offset, len(data), data, flags)
        return err

    def read(self, offset, length, flags=0):
        err, data = self.cmd(CMD_READ, offset, length, flags=flags)
        if err:
            raise OSError(err, "read %d+%d: error %d" % (offset, length, err))
        return data

    def flush(self):
        return self.cmd(CMD_FLUSH, 0, 0)[0]

    def disconnect(self):
        self.s.sendall(request(CMD_DISC, 0, 0, 0))
        closed_by_peer(self.s)
        self.s.close()


def check_serves(addr, offset, length=65536, name=b""):
    """A fresh well-behaved connection writes random bytes at offset and
    reads them back.  Raises unless the server serves."""
    c = Client(addr, name)
    data = os.urandom(length)
    err = c.write(offset, data)
    if err:
        raise AssertionError("a good client's write at %d failed: %d" % (offset, err))
    got = c.read(offset, length)
    if got != data:
        raise AssertionError("a good client read back other data at %d" % offset)
    c.disconnect()


def wait_for(pred, timeout, step=0.1):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)



def lloop_stats(lloop, ctl):
    """lloop stats --json of the server whose control socket is ctl"""
    out = subprocess.run([lloop, "stats", "--json", "--control", ctl],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def pool_leftovers(lloop, ctl):
    """None once no connection and no pool request is in use, else what is"""
    s = lloop_stats(lloop, ctl)
    conns = s["connections"]["current"]
    reqs = sum(w["requests_in_use"] for w in s["workers"])
    bufs = sum(w["buffer_in_use"] for w in s["workers"])
    if conns == 0 and reqs == 0 and bufs == 0:
        return None
    return "connections %d, requests in use %d, buffer bytes in use %d" % (
        conns, reqs, bufs)
