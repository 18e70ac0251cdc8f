# SPDX-License-Identifier: GPL-2.0-or-later
"""Malformed clients against lloop serve, one case at a time.  Each case
checks the answer the NBD protocol (doc/proto.md) prescribes: an error
reply with the right code on a connection that then goes on, or a hard
disconnect with nothing sent; and after each case a well-behaved client
on a fresh connection writes and reads back its data, and the daemon's
stats show no connection slot or pool request left behind.

    malformed.py PORT LLOOP CONTROL_SOCKET

The server: export '' = memory:64M, export 'other' = memory:1M, started
with --buffer-memory 4M (so a maximum payload of 2 MiB).
"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import nbdraw as N  # noqa: E402

PORT, LLOOP, CTL = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ADDR = ("127.0.0.1", PORT)
M = 1 << 20
SIZE = 64 * M
MAXP = 2 * M
OFF_PAT = 60 * M  # a region holding a known pattern, for "nothing written"
PATTERN = bytes(range(256)) * 256  # 64 KiB
failures = []


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s: expected %r, got %r" % (what, want, got))


def stats():
    return N.lloop_stats(LLOOP, CTL)


def leftovers():
    return N.pool_leftovers(LLOOP, CTL)


def conn():
    return N.connect(ADDR, 10)


def opened(structured=False, name=b""):
    """a connection in transmission phase"""
    s = conn()
    N.greet(s)
    if structured:
        s.sendall(N.option(N.OPT_STRUCTURED_REPLY))
        eq(N.recv_option_reply(s)[1], N.REP_ACK, "STRUCTURED_REPLY")
    info = N.go(s, name)
    assert isinstance(info, dict), "GO refused: %#x" % info
    return s


def hung_up(s, what):
    if not N.closed_by_peer(s, 10):
        raise AssertionError("%s: the server neither answered nor hung up in 10 s" % what)
    s.close()


def reply(s, cookie, structured=False, read_len=0, read_offset=0):
    """read_len > 0 means a READ: with structured replies negotiated its
    reply, error or not, must be structured (proto.md)"""
    err, c, data = N.read_reply(s, structured, read_len, read_offset,
                                simple_ok=not (structured and read_len))
    eq(c, cookie, "reply cookie")
    return err, data


def still_works(s, cookie, structured=False):
    """the same connection still answers a good read of the pattern"""
    s.sendall(N.request(N.CMD_READ, cookie, OFF_PAT, 4096))
    err, data = reply(s, cookie, structured, 4096, OFF_PAT)
    eq(err, 0, "a good read after the bad request")
    eq(data, PATTERN[:4096], "data of the good read after the bad request")


# ---- the cases ----

def wrong_magic():
    # client flags with unknown bits: the server MUST drop the connection
    s = conn()
    N.greet(s, 0x1 | 0x2 | 0x40)
    hung_up(s, "unknown client flags")
    # option magic that is not IHAVEOPT
    s = conn()
    N.greet(s)
    s.sendall(struct.pack(">QII", 0x4948415645FFFFFF, N.OPT_GO, 0))
    hung_up(s, "bad option magic")
    # request magic that is not NBD_REQUEST_MAGIC, after a good request
    s = opened()
    still_works(s, 1)
    s.sendall(struct.pack(">IHHQQI", 0x25609514, 0, N.CMD_READ, 2, 0, 4096))
    hung_up(s, "bad request magic")


def truncated_header():
    # half the client flags, then close
    s = conn()
    N.recv_exact(s, 18)
    s.sendall(b"\0\0")
    s.close()
    # 10 of an option header's 16 bytes, then close
    s = conn()
    N.greet(s)
    s.sendall(N.option(N.OPT_GO, N.go_data())[:10])
    s.close()
    # an option that announces 100 bytes and sends 40
    s = conn()
    N.greet(s)
    s.sendall(N.option(N.OPT_GO, b"\0" * 40, length=100))
    s.close()
    # 20 of a request header's 28 bytes, then close
    s = opened()
    s.sendall(N.request(N.CMD_READ, 1, 0, 4096)[:20])
    s.close()
    # the same, closed with a reset
    s = opened()
    s.sendall(N.request(N.CMD_WRITE, 1, 0, 4096)[:13])
    N.close_reset(s)
    # a header in three pieces with pauses is one request, not garbage
    s = opened()
    hdr = N.request(N.CMD_READ, 77, OFF_PAT, 4096)
    for piece in (hdr[:3], hdr[3:17], hdr[17:]):
        s.sendall(piece)
        time.sleep(0.3)
    err, data = reply(s, 77, read_len=4096, read_offset=OFF_PAT)
    eq((err, data), (0, PATTERN[:4096]), "a request header sent in pieces")
    s.close()


def option_too_long():
    # a GO whose length is over the bound (8 KiB): the payload is read
    # past and refused with NBD_REP_ERR_TOO_BIG; the haggling goes on
    s = conn()
    N.greet(s)
    s.sendall(N.option(N.OPT_GO, N.go_data(b"x" * 20000)))
    opt, rtype, _ = N.recv_option_reply(s)
    eq((opt, rtype), (N.OPT_GO, N.REP_ERR_TOO_BIG), "reply to a 20 kB OPT_GO")
    # an unknown option of 1 MiB: the same
    s.sendall(N.option(0x4242, os.urandom(M)))
    opt, rtype, _ = N.recv_option_reply(s)
    eq((opt, rtype), (0x4242, N.REP_ERR_TOO_BIG), "reply to a 1 MiB unknown option")
    info = N.go(s)
    assert isinstance(info, dict), "GO after refused options: %#x" % info
    still_works(s, 3)
    s.close()
    # a length of 4 GiB - 1 with little behind it, then close
    s = conn()
    N.greet(s)
    s.sendall(N.option(N.OPT_INFO, b"\0" * 1000, length=0xFFFFFFFF))
    time.sleep(0.2)
    s.close()
    # EXPORT_NAME cannot answer an error: a name over the bound hangs up
    s = conn()
    N.greet(s)
    s.sendall(N.option(N.OPT_EXPORT_NAME, b"n" * 10000))
    hung_up(s, "EXPORT_NAME of 10000 bytes")
    # an option inside the bound with lengths inside it that lie
    s = conn()
    N.greet(s)
    s.sendall(N.option(N.OPT_GO, struct.pack(">I", 0xFFFFFFF0) + b"\0\0"))
    eq(N.recv_option_reply(s)[1], N.REP_ERR_INVALID, "GO whose name length overruns the option")
    s.sendall(N.option(N.OPT_GO, struct.pack(">I", 0) + struct.pack(">H", 30000)))
    eq(N.recv_option_reply(s)[1], N.REP_ERR_INVALID, "GO whose info count overruns the option")
    s.sendall(N.option(9, struct.pack(">II", 0, 5) + struct.pack(">I", 0x7FFFFFFF)))
    eq(N.recv_option_reply(s)[1], N.REP_ERR_INVALID, "LIST_META_CONTEXT whose queries overrun")
    s.sendall(N.option(N.OPT_LIST, b"junk"))
    eq(N.recv_option_reply(s)[1], N.REP_ERR_INVALID, "LIST with data")
    assert isinstance(N.go(s), dict), "GO after lying options"
    s.close()


def no_such_export():
    s = conn()
    N.greet(s)
    eq(N.go(s, b"no-such-export"), N.REP_ERR_UNKNOWN, "OPT_GO of an unknown export")
    eq(N.go(s, b"no-such-export", N.OPT_INFO), N.REP_ERR_UNKNOWN, "OPT_INFO of an unknown export")
    eq(N.go(s, b"other\0x"), N.REP_ERR_INVALID, "OPT_GO of a name with a NUL")
    info = N.go(s, b"other")
    assert isinstance(info, dict) and info["size"] == M, "GO 'other' after the refusals: %r" % info
    s.close()
    s = conn()
    N.greet(s)
    s.sendall(N.option(N.OPT_EXPORT_NAME, b"no-such-export"))
    hung_up(s, "EXPORT_NAME of an unknown export")


def request_before_go():
    # a transmission request during option haggling is no option
    s = conn()
    N.greet(s)
    s.sendall(N.request(N.CMD_WRITE, 1, 0, 4096) + b"\xee" * 4096)
    hung_up(s, "a write request before GO")
    s = conn()
    N.greet(s)
    s.sendall(N.request(N.CMD_DISC, 1, 0, 0))
    hung_up(s, "a disconnect request before GO")
    # and even before the client flags: the request's first 4 bytes are
    # taken as flags with unknown bits
    s = conn()
    N.recv_exact(s, 18)
    s.sendall(N.request(N.CMD_READ, 1, 0, 4096))
    hung_up(s, "a read request in place of the client flags")


def unknown_command():
    for structured in (False, True):
        s = opened(structured)
        for i, typ in enumerate((0x55, 8, 0xFFFF)):
            s.sendall(N.request(typ, 10 + i, 0, 4096))
            err, _ = reply(s, 10 + i, structured)
            eq(err, N.EINVAL, "unknown command %#x (structured %s)" % (typ, structured))
        # block status without a negotiated meta context is one too
        s.sendall(N.request(N.CMD_BLOCK_STATUS, 20, 0, 4096))
        eq(reply(s, 20, structured)[0], N.EINVAL, "BLOCK_STATUS without SET_META_CONTEXT")
        still_works(s, 21, structured)
        s.close()


def unknown_flags():
    for structured in (False, True):
        s = opened(structured)
        cases = [
            (N.CMD_READ, 0x8000, 4096, b""),
            (N.CMD_READ, N.CMD_FLAG_REQ_ONE, 4096, b""),
            (N.CMD_WRITE, 0x0100, 4096, b"\xee" * 4096),
            (N.CMD_WRITE, N.CMD_FLAG_NO_HOLE, 8192, b"\xee" * 8192),
            (N.CMD_FLUSH, 0x4000, 0, b""),
            (N.CMD_TRIM, N.CMD_FLAG_DF, 4096, b""),
            (N.CMD_WRITE_ZEROES, N.CMD_FLAG_DF, 4096, b""),
        ]
        if not structured:  # DF needs structured replies
            cases.append((N.CMD_READ, N.CMD_FLAG_DF, 4096, b""))
        for i, (typ, flags, ln, data) in enumerate(cases):
            off = OFF_PAT if ln else 0
            s.sendall(N.request(typ, 100 + i, off, ln, flags) + data)
            err, _ = reply(s, 100 + i, structured, ln if typ == N.CMD_READ else 0, off)
            eq(err, N.EINVAL, "command %d with flags %#x (structured %s)" % (typ, flags, structured))
        still_works(s, 200, structured)
        s.close()


def offset_overflow():
    wrap = (1 << 64) - 4096
    for structured in (False, True):
        s = opened(structured)
        s.sendall(N.request(N.CMD_READ, 1, wrap, 8192))
        eq(reply(s, 1, structured, 8192)[0], N.EINVAL, "read at 2^64-4096 + 8192")
        s.sendall(N.request(N.CMD_WRITE, 2, wrap, 8192) + b"\xee" * 8192)
        eq(reply(s, 2)[0], N.ENOSPC, "write at 2^64-4096 + 8192")
        s.sendall(N.request(N.CMD_WRITE, 3, (1 << 64) - 1, 1, N.CMD_FLAG_FUA) + b"\xee")
        eq(reply(s, 3)[0], N.ENOSPC, "write of 1 byte at 2^64-1")
        s.sendall(N.request(N.CMD_TRIM, 4, wrap, 8192))
        eq(reply(s, 4)[0], N.EINVAL, "trim at 2^64-4096 + 8192")
        s.sendall(N.request(N.CMD_WRITE_ZEROES, 5, wrap, 8192))
        eq(reply(s, 5)[0], N.ENOSPC, "write zeroes at 2^64-4096 + 8192")
        s.sendall(N.request(N.CMD_CACHE, 6, wrap, 8192))
        eq(reply(s, 6)[0], N.EINVAL, "cache at 2^64-4096 + 8192")
        s.sendall(N.request(N.CMD_READ, 7, SIZE - 4096, 8192))
        eq(reply(s, 7, structured, 8192)[0], N.EINVAL, "read across the end")
        s.sendall(N.request(N.CMD_WRITE, 8, SIZE, 4096) + b"\xee" * 4096)
        eq(reply(s, 8)[0], N.ENOSPC, "write at the end")
        still_works(s, 9, structured)
        # nothing landed at the wrapped-around offsets
        s.sendall(N.request(N.CMD_READ, 10, 0, 4096))
        eq(reply(s, 10, structured, 4096)[1], bytes(4096), "offset 0 after the wrapping requests")
        s.close()


def over_max_payload():
    for structured in (False, True):
        s = opened(structured)
        s.sendall(N.request(N.CMD_READ, 1, 0, MAXP + 1))
        eq(reply(s, 1, structured, MAXP + 1)[0], N.EINVAL, "read of max payload + 1")
        s.sendall(N.request(N.CMD_READ, 2, 0, 0xFFFFFFFF))
        eq(reply(s, 2, structured, 0xFFFFFFFF)[0], N.EINVAL, "read of 4 GiB - 1")
        # the write's payload is on the wire: read past, refused, go on
        s.sendall(N.request(N.CMD_WRITE, 3, 0, MAXP + 4096) + b"\xee" * (MAXP + 4096))
        eq(reply(s, 3)[0], N.EINVAL, "write of max payload + 4096")
        still_works(s, 4, structured)
        s.sendall(N.request(N.CMD_READ, 5, 0, 4096))
        eq(reply(s, 5, structured, 4096)[1], bytes(4096), "the refused write wrote nothing")
        # exactly the maximum is fine
        s.sendall(N.request(N.CMD_READ, 6, 0, MAXP))
        eq(reply(s, 6, structured, MAXP)[0], 0, "read of exactly the max payload")
        # commands without a payload may be longer (proto.md: SHOULD NOT fail)
        s.sendall(N.request(N.CMD_TRIM, 7, 0, 4 * MAXP))
        eq(reply(s, 7)[0], 0, "trim of 4x the max payload")
        s.close()
    # a write of 4 GiB - 1 announced, 1 MiB of it sent, then close
    s = opened()
    s.sendall(N.request(N.CMD_WRITE, 1, 0, 0xFFFFFFFF) + b"\xee" * M)
    time.sleep(0.2)
    s.close()


CASES = [
    ("wrong magic (client flags, option, request)", wrong_magic),
    ("truncated headers, then close; a header in pieces", truncated_header),
    ("option length over the bound; lying inner lengths", option_too_long),
    ("export that does not exist", no_such_export),
    ("transmission request before GO", request_before_go),
    ("unknown command", unknown_command),
    ("unknown and misplaced command flags", unknown_flags),
    ("offset + length overflowing 64 bits", offset_overflow),
    ("length over the maximum payload", over_max_payload),
]


def main():
    c = N.Client(ADDR)
    eq(c.size, SIZE, "export size")
    eq(c.max_payload, MAXP, "advertised maximum payload")
    eq(c.write(OFF_PAT, PATTERN), 0, "writing the pattern")
    c.disconnect()
    for i, (name, fn) in enumerate(CASES):
        print("--- case %d: %s" % (i + 1, name), flush=True)
        try:
            fn()
            N.check_serves(ADDR, (i + 1) * M)
            if not N.wait_for(lambda: leftovers() is None, 10):
                raise AssertionError("left behind after the case: %s" % leftovers())
            print("    ok; a good client wrote and read back 64 KiB; nothing left in use",
                  flush=True)
        except Exception as e:  # report every case, then fail
            print("    FAILED: %s: %s" % (type(e).__name__, e), flush=True)
            failures.append(name)
    if failures:
        sys.exit("malformed.py: %d case(s) failed: %s" % (len(failures), "; ".join(failures)))
    print("malformed.py: all %d cases passed" % len(CASES))


main()
