"""Raw-socket checks of lloop's fixed-newstyle handshake (things libnbd and
qemu never send or never show): NBD_OPT_EXPORT_NAME with and without
NO_ZEROES, exact transmission-flag bits, OPT_LIST, OPT_INFO/GO replies
(NBD_INFO_EXPORT, BLOCK_SIZE), unknown options and export names,
OPT_ABORT (also with data past the option limit), STRUCTURED_REPLY,
LIST/SET_META_CONTEXT, an unknown command.

    handshake.py rw PORT    (alpha=memory:16M, the default, and beta=memory:8M)
    handshake.py ro PORT    (one read-only export of 4 MiB)
"""

import os
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from nbdraw import recv_exact  # noqa: E402

MODE, PORT = sys.argv[1], int(sys.argv[2])
M = 1 << 20

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPLY_MAGIC = 0x3E889045565A9
REQ_MAGIC = 0x25609513
SIMPLE_MAGIC = 0x67446698
STRUCT_MAGIC = 0x668E33EF

OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_INFO, OPT_GO = 1, 2, 3, 6, 7
OPT_STRUCTURED_REPLY, OPT_LIST_META, OPT_SET_META = 8, 9, 10
REP_ACK, REP_SERVER, REP_INFO, REP_META = 1, 2, 3, 4
ERR_UNSUP, ERR_INVALID, ERR_UNKNOWN = 0x80000001, 0x80000003, 0x80000006
INFO_EXPORT, INFO_NAME, INFO_DESCRIPTION, INFO_BLOCK_SIZE = 0, 1, 2, 3

F_HAS_FLAGS, F_READ_ONLY, F_FLUSH, F_FUA = 0x1, 0x2, 0x4, 0x8
F_TRIM, F_WZ, F_DF, F_MULTI, F_CACHE, F_FAST_ZERO = 0x20, 0x40, 0x80, 0x100, 0x400, 0x800
RW_FLAGS = F_HAS_FLAGS | F_FLUSH | F_FUA | F_TRIM | F_WZ | F_MULTI | F_CACHE | F_FAST_ZERO
CMD_READ, CMD_WRITE, CMD_DISC = 0, 1, 2


def step(msg):
    print("---", msg, flush=True)


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s: expected %r, got %r" % (what, want, got))


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def greet(port, no_zeroes=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    magic, opt, hflags = struct.unpack(">QQH", recv_exact(s, 18))
    eq(magic, NBDMAGIC, "greeting magic")
    eq(opt, IHAVEOPT, "newstyle magic")
    check(hflags & 1, "handshake flags lack FIXED_NEWSTYLE: %#x" % hflags)
    check(hflags & 2, "handshake flags lack NO_ZEROES: %#x" % hflags)
    s.sendall(struct.pack(">I", 1 | (2 if no_zeroes else 0)))
    return s


def send_opt(s, opt, data=b""):
    s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)


def recv_rep(s, opt):
    magic, ropt, rtype, ln = struct.unpack(">QIII", recv_exact(s, 20))
    eq(magic, REPLY_MAGIC, "option reply magic")
    eq(ropt, opt, "option echoed in the reply")
    return rtype, recv_exact(s, ln)


def name_data(name, infos=()):
    n = name.encode()
    return struct.pack(">I", len(n)) + n + struct.pack(">H", len(infos)) + \
        b"".join(struct.pack(">H", i) for i in infos)


def go(s, name, opt=OPT_GO, infos=(INFO_BLOCK_SIZE, INFO_NAME, INFO_DESCRIPTION)):
    """Returns (final reply type, {info type: payload})."""
    send_opt(s, opt, name_data(name, infos))
    infos_got = {}
    while True:
        rtype, data = recv_rep(s, opt)
        if rtype == REP_INFO:
            (it,) = struct.unpack(">H", data[:2])
            infos_got[it] = data[2:]
            continue
        return rtype, infos_got


def simple_read(s, handle, offset, length):
    s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_READ, handle, offset, length))
    magic, err, h = struct.unpack(">IIQ", recv_exact(s, 16))
    eq(magic, SIMPLE_MAGIC, "simple reply magic")
    eq(h, handle, "reply handle")
    if err == 0:
        return recv_exact(s, length)
    return err


def disc(s):
    s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_DISC, 99, 0, 0))
    s.settimeout(10)
    eq(s.recv(1), b"", "server closes after NBD_CMD_DISC")
    s.close()


def meta(s, opt, name, queries):
    n = name.encode()
    data = struct.pack(">I", len(n)) + n + struct.pack(">I", len(queries))
    for q in queries:
        data += struct.pack(">I", len(q)) + q.encode()
    send_opt(s, opt, data)
    got = []
    while True:
        rtype, d = recv_rep(s, opt)
        if rtype == REP_ACK:
            return got
        eq(rtype, REP_META, "meta context reply type")
        got.append((struct.unpack(">I", d[:4])[0], d[4:].decode()))


def main_rw():
    step("OPT_EXPORT_NAME 'beta' without NO_ZEROES: size, flags, 124 zero bytes")
    s = greet(PORT, no_zeroes=False)
    send_opt(s, OPT_EXPORT_NAME, b"beta")
    size, flags = struct.unpack(">QH", recv_exact(s, 10))
    eq(size, 8 * M, "export size")
    eq(flags, RW_FLAGS, "transmission flags of a writable export without structured replies "
       "(HAS_FLAGS|SEND_FLUSH|SEND_FUA|SEND_TRIM|SEND_WRITE_ZEROES|CAN_MULTI_CONN|SEND_CACHE|SEND_FAST_ZERO, no DF)")
    eq(recv_exact(s, 124), bytes(124), "reserved zeroes")
    eq(simple_read(s, 1, 0, 512), bytes(512), "read after EXPORT_NAME")
    disc(s)

    step("OPT_EXPORT_NAME '' with NO_ZEROES: the default export, no padding")
    s = greet(PORT)
    send_opt(s, OPT_EXPORT_NAME, b"")
    size, flags = struct.unpack(">QH", recv_exact(s, 10))
    eq(size, 16 * M, "default export size")
    eq(flags, RW_FLAGS, "transmission flags (default export)")
    eq(simple_read(s, 7, 16 * M - 4, 4), bytes(4), "read right after the 10-byte reply")
    step("an unknown command gets EINVAL and the connection goes on")
    s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, 0, 0x55, 8, 0, 0))
    magic, err, h = struct.unpack(">IIQ", recv_exact(s, 16))
    eq((magic, err, h), (SIMPLE_MAGIC, 22, 8), "reply to an unknown command")
    eq(simple_read(s, 9, 0, 1), b"\0", "read after the unknown command")
    disc(s)

    step("OPT_EXPORT_NAME with an unknown name: the server closes the connection")
    s = greet(PORT)
    send_opt(s, OPT_EXPORT_NAME, b"no-such-export")
    s.settimeout(10)
    try:
        data = s.recv(10)
    except ConnectionResetError:
        data = b""
    eq(data, b"", "bytes after EXPORT_NAME of an unknown export")
    s.close()

    step("unknown option -> ERR_UNSUP; OPT_LIST; OPT_INFO; OPT_GO with unknown/known names")
    s = greet(PORT)
    send_opt(s, 0x7777, b"junk")
    rtype, _ = recv_rep(s, 0x7777)
    eq(rtype, ERR_UNSUP, "reply to an unknown option")
    send_opt(s, OPT_LIST)
    names = []
    while True:
        rtype, data = recv_rep(s, OPT_LIST)
        if rtype == REP_ACK:
            break
        eq(rtype, REP_SERVER, "OPT_LIST reply type")
        (n,) = struct.unpack(">I", data[:4])
        names.append(data[4:4 + n].decode())
    eq(sorted(names), ["alpha", "beta"], "OPT_LIST names")
    rtype, infos = go(s, "no-such-export", OPT_INFO)
    eq(rtype, ERR_UNKNOWN, "OPT_INFO of an unknown export")
    rtype, infos = go(s, "beta", OPT_INFO)
    eq(rtype, REP_ACK, "OPT_INFO beta")
    check(INFO_EXPORT in infos, "OPT_INFO without NBD_INFO_EXPORT")
    eq(struct.unpack(">QH", infos[INFO_EXPORT]), (8 * M, RW_FLAGS), "NBD_INFO_EXPORT of beta")
    check(INFO_BLOCK_SIZE in infos, "no NBD_INFO_BLOCK_SIZE although requested")
    eq(struct.unpack(">III", infos[INFO_BLOCK_SIZE]), (1, 4096, 32 * M), "NBD_INFO_BLOCK_SIZE")
    if INFO_NAME in infos:
        eq(infos[INFO_NAME], b"beta", "NBD_INFO_NAME")
    rtype, infos = go(s, "no-such-export")
    eq(rtype, ERR_UNKNOWN, "OPT_GO of an unknown export")
    step("OPT_STRUCTURED_REPLY, LIST/SET_META_CONTEXT, then OPT_GO '' (DF now advertised)")
    send_opt(s, OPT_STRUCTURED_REPLY)
    eq(recv_rep(s, OPT_STRUCTURED_REPLY)[0], REP_ACK, "OPT_STRUCTURED_REPLY")



    ctx = meta(s, OPT_LIST_META, "", [])
    check("base:allocation" in [c[1] for c in ctx], "LIST_META_CONTEXT lacks base:allocation: %r" % ctx)
    eq(meta(s, OPT_SET_META, "", ["no-such:ctx"]), [], "SET_META_CONTEXT of an unknown context")
    ctx = meta(s, OPT_SET_META, "", ["base:allocation"])
    eq([c[1] for c in ctx], ["base:allocation"], "SET_META_CONTEXT base:allocation")
    rtype, infos = go(s, "")
    eq(rtype, REP_ACK, "OPT_GO ''")
    eq(struct.unpack(">QH", infos[INFO_EXPORT]), (16 * M, RW_FLAGS | F_DF),
       "NBD_INFO_EXPORT with structured replies (adds SEND_DF)")
    # a structured read reply
    s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_READ, 5, 4096, 4096))
    total = 0
    while True:
        magic, fl, typ, h, ln = struct.unpack(">IHHQI", recv_exact(s, 20))
        eq((magic, h), (STRUCT_MAGIC, 5), "structured reply header")
        payload = recv_exact(s, ln)
        if typ == 1:  # OFFSET_DATA
            eq(payload[8:], bytes(ln - 8), "data of a fresh export")
            total += ln - 8
        elif typ == 2:  # OFFSET_HOLE
            total += struct.unpack(">QI", payload)[1]
        else:
            eq(typ, 0, "structured read chunk type")
        if fl & 1:
            break
    eq(total, 4096, "bytes covered by the structured read")
    disc(s)

    step("OPT_ABORT gets an ACK, then the server closes")
    s = greet(PORT)
    send_opt(s, OPT_ABORT)
    rtype, _ = recv_rep(s, OPT_ABORT)
    eq(rtype, REP_ACK, "reply to OPT_ABORT")
    s.settimeout(10)
    eq(s.recv(1), b"", "connection after OPT_ABORT")
    s.close()

    # proto.md: a server SHOULD ignore an ABORT's data, not refuse it
    step("OPT_ABORT with 9000 bytes of data (past the option limit): an ACK, then the server closes")
    s = greet(PORT)
    send_opt(s, OPT_ABORT, b"A" * 9000)
    rtype, _ = recv_rep(s, OPT_ABORT)
    eq(rtype, REP_ACK, "reply to OPT_ABORT with 9000 bytes")
    s.settimeout(10)
    eq(s.recv(1), b"", "connection after OPT_ABORT with 9000 bytes")
    s.close()


def main_ro():
    step("read-only export: READ_ONLY set, no TRIM/WRITE_ZEROES/FUA")
    s = greet(PORT)
    send_opt(s, OPT_EXPORT_NAME, b"")
    size, flags = struct.unpack(">QH", recv_exact(s, 10))
    eq(size, 4 * M, "read-only export size")
    check(flags & F_HAS_FLAGS and flags & F_READ_ONLY, "READ_ONLY not set: %#x" % flags)
    check(not flags & (F_TRIM | F_WZ | F_FUA), "TRIM/WRITE_ZEROES/FUA advertised read-only: %#x" % flags)
    s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_WRITE, 3, 0, 4) + b"nope")
    magic, err, h = struct.unpack(">IIQ", recv_exact(s, 16))
    eq((magic, err, h), (SIMPLE_MAGIC, 1, 3), "write on a read-only export (EPERM)")
    eq(simple_read(s, 4, 0, 4), bytes(4), "read after the refused write")
    disc(s)


{"rw": main_rw, "ro": main_ro}[MODE]()
print("handshake.py (%s): all checks passed" % MODE)
