"""Every NBD command and flag against lloop, through the libnbd Python binding
(the module nbdsh is built on).  Run with /usr/bin/python3:

    nbdsh_commands.py URI IMAGE_PATH DATA_PATH

IMAGE_PATH is the 48 MiB sparse file behind URI; DATA_PATH holds the 1 MiB
of data written into it at 4 MiB (the rest of the image is a hole).
"""

import errno
import os
import sys

import nbd

URI, IMAGE, DATA = sys.argv[1], sys.argv[2], sys.argv[3]
M = 1 << 20
SIZE = 48 * M
BIG_OFF = 16 * M
DATA_OFF = 4 * M
MAXLEN = 32 * M
data = open(DATA, "rb").read()
assert len(data) == M


def step(msg):
    print("---", msg, flush=True)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s: expected %r, got %r" % (what, want, got))


def expect_error(what, errnos, fn, *args, **kw):
    """fn must fail with an nbd.Error whose errno is in errnos."""
    try:
        fn(*args, **kw)
    except nbd.Error as e:
        if e.errnum not in errnos:
            raise AssertionError("%s: expected errno %s, got %s (%s)" % (
                what, "/".join(errno.errorcode[x] for x in errnos),
                errno.errorcode.get(e.errnum, e.errnum), e.string))
        print("    %s -> %s as expected" % (what, errno.errorcode[e.errnum]))
        return
    raise AssertionError("%s: succeeded, expected an error" % what)


def connect(structured=True, strict=None, meta=True):
    h = nbd.NBD()
    if not structured:
        h.set_request_structured_replies(False)
    if meta:
        h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    if strict is not None:
        h.set_strict_mode(strict)
    h.connect_uri(URI)
    return h


def extents(h, count, offset, flags=0):
    """Return the base:allocation entries of one BLOCK_STATUS as
    [(offset, length, flags)]."""
    out = []

    def cb(metacontext, off, entries, err):
        eq(metacontext, nbd.CONTEXT_BASE_ALLOCATION, "metacontext")
        eq(off, offset, "extent callback offset")
        check(len(entries) % 2 == 0, "odd entries list %r" % entries)
        o = off
        for i in range(0, len(entries), 2):
            out.append((o, entries[i], entries[i + 1]))
            o += entries[i]
        return 0

    h.block_status(count, offset, cb, flags)
    check(out, "no extents returned")
    return out


def merged_map(h, start, end):
    """Walk [start, end) with BLOCK_STATUS and merge adjacent equal extents."""
    res = []
    off = start
    while off < end:
        ext = extents(h, end - off, off)
        for o, ln, fl in ext:
            check(ln > 0, "zero-length extent at %d" % o)
            if o >= end:
                break
            ln = min(ln, end - o)
            if res and res[-1][2] == fl and res[-1][0] + res[-1][1] == o:
                res[-1] = (res[-1][0], res[-1][1] + ln, fl)
            else:
                res.append((o, ln, fl))
        off = ext[-1][0] + ext[-1][1]
    return res


h = connect()

step("negotiated features and flags")
check(h.get_structured_replies_negotiated(), "structured replies not negotiated")
check(h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION), "base:allocation not negotiated")
eq(h.get_size(), SIZE, "export size")
eq(h.is_read_only(), False, "is_read_only")
for name in ["can_flush", "can_fua", "can_trim", "can_zero", "can_fast_zero",
             "can_cache", "can_df", "can_multi_conn"]:
    eq(getattr(h, name)(), True, name)
eq(h.get_block_size(nbd.SIZE_MINIMUM), 1, "minimum block size")
eq(h.get_block_size(nbd.SIZE_PREFERRED), 4096, "preferred block size")
eq(h.get_block_size(nbd.SIZE_MAXIMUM), MAXLEN, "maximum block size")

step("block status of the sparse image: hole (3), data (0), hole (3)")
eq(merged_map(h, 0, SIZE),
   [(0, DATA_OFF, 3), (DATA_OFF, M, 0), (DATA_OFF + M, SIZE - DATA_OFF - M, 3)],
   "base:allocation map")
# unaligned start, straddling the hole/data boundary
ext = extents(h, 2000, DATA_OFF - 1000)
eq(ext[0], (DATA_OFF - 1000, 1000, 3), "first extent at 4M-1000")
check(len(ext) >= 2 and ext[1][0] == DATA_OFF and ext[1][2] == 0 and ext[1][1] >= 1000,
      "second extent at 4M should be data of >= 1000 bytes: %r" % ext)
# the last data byte, then the first hole byte after it
eq(extents(h, 1, DATA_OFF + M - 1, nbd.CMD_FLAG_REQ_ONE),
   [(DATA_OFF + M - 1, 1, 0)], "1-byte status of the last data byte")
eq(extents(h, 1, DATA_OFF + M, nbd.CMD_FLAG_REQ_ONE)[0][2], 3,
   "status of the first byte after the data")

step("block status with REQ_ONE: exactly one extent")
ext = extents(h, 2000, DATA_OFF - 1000, nbd.CMD_FLAG_REQ_ONE)
eq(ext, [(DATA_OFF - 1000, 1000, 3)], "REQ_ONE extents at 4M-1000")
ext = extents(h, SIZE, 0, nbd.CMD_FLAG_REQ_ONE)
eq(ext, [(0, DATA_OFF, 3)], "REQ_ONE extents over the whole image")
ext = extents(h, 3 * M, DATA_OFF + 4096, nbd.CMD_FLAG_REQ_ONE)
eq(ext, [(DATA_OFF + 4096, M - 4096, 0)], "REQ_ONE extents from inside the data")

step("pread: data and holes")
eq(h.pread(M, DATA_OFF), data, "pread of the data region")
eq(h.pread(4096, 0), bytes(4096), "pread of a hole")
eq(h.pread(3000, DATA_OFF - 1000), bytes(1000) + data[:2000], "pread across hole/data")
eq(h.pread(1, SIZE - 1), b"\0", "pread of the last byte")

step("pread with DF: one chunk covering the whole request")
for off, ln in [(DATA_OFF - 65536, 131072), (DATA_OFF + 1, 4095), (0, 65536),
                (DATA_OFF, M)]:
    chunks = []

    def chunk(sub, o, status, err):
        chunks.append((o, len(sub), status))
        return 0

    buf = h.pread_structured(ln, off, chunk, nbd.CMD_FLAG_DF)
    check(len(chunks) == 1, "DF read %d@%d: %d chunks %r" % (ln, off, len(chunks), chunks))
    eq((chunks[0][0], chunks[0][1]), (off, ln), "DF chunk range")
    want = bytes(max(0, min(DATA_OFF, off + ln) - off))
    want += data[max(0, off - DATA_OFF):max(0, off + ln - DATA_OFF)]
    want += bytes(ln - len(want))
    eq(buf, want, "DF read %d@%d content" % (ln, off))
# without DF the server may split the reply; the content must still be right
eq(h.pread_structured(2 * M, DATA_OFF - M // 2, lambda *a: 0),
   bytes(M // 2) + data + bytes(M // 2), "structured read without DF")

step("pwrite (unaligned) and pwrite with FUA")
pat1 = bytes((i * 7 + 3) & 0xff for i in range(5000))
h.pwrite(pat1, DATA_OFF + 100)
eq(h.pread(5000, DATA_OFF + 100), pat1, "pwrite read back")
eq(h.pread(100, DATA_OFF), data[:100], "bytes before the unaligned write")
eq(h.pread(100, DATA_OFF + 5100), data[5100:5200], "bytes after the unaligned write")
pat2 = b"\xa5" * 777
h.pwrite(pat2, 12345, nbd.CMD_FLAG_FUA)
eq(h.pread(777, 12345), pat2, "FUA pwrite read back")
eq(h.pread(2, 12344), b"\0\xa5", "byte before the FUA write")
big = os.urandom(MAXLEN)
h.pwrite(big, BIG_OFF)  # a maximum-size write is accepted
eq(h.pread(MAXLEN, BIG_OFF) == big, True, "maximum-size write/read round trip")

step("flush")
h.flush()

step("trim (aligned and unaligned): neighbouring bytes survive")
h.pwrite(b"\xaa" * 65536, 8 * M)
h.trim(10000, 8 * M + 100)
h.trim(65536, 9 * M)
after = h.pread(65536, 8 * M)
eq(after[:100], b"\xaa" * 100, "bytes before the trimmed range")
eq(after[10100:], b"\xaa" * (65536 - 10100), "bytes after the trimmed range")
check(all(b in (0, 0xaa) for b in after[100:10100]), "trimmed range holds foreign data")
h.trim(4096, 8 * M + 65536, nbd.CMD_FLAG_FUA)

step("write zeroes: plain, NO_HOLE, FUA")
h.pwrite(b"\xbb" * 65536, 10 * M)
h.zero(10000, 10 * M + 100)
eq(h.pread(10200, 10 * M), b"\xbb" * 100 + bytes(10000) + b"\xbb" * 100,
   "zero (no flags) read back")
h.zero(5000, 10 * M + 20000, nbd.CMD_FLAG_NO_HOLE)
eq(h.pread(5002, 10 * M + 19999), b"\xbb" + bytes(5000) + b"\xbb", "zero NO_HOLE read back")
h.zero(1, 10 * M + 30000, nbd.CMD_FLAG_FUA)
eq(h.pread(3, 10 * M + 29999), b"\xbb\0\xbb", "1-byte zero with FUA")
h.pwrite(b"\xbb" * (2 * M), 12 * M)
h.zero(M, 12 * M)  # aligned: may punch a hole
eq(h.pread(2 * M, 12 * M), bytes(M) + b"\xbb" * M, "aligned 1 MiB zero")
h.zero(M, 12 * M + M, nbd.CMD_FLAG_NO_HOLE)
eq(h.pread(M, 12 * M + M), bytes(M), "aligned 1 MiB zero with NO_HOLE")

step("write zeroes with FAST_ZERO: succeeds (and zeroes) or fails with ENOTSUP")
for flags, name in [(nbd.CMD_FLAG_FAST_ZERO, "FAST_ZERO"),
                    (nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_NO_HOLE, "FAST_ZERO|NO_HOLE")]:
    h.pwrite(b"\xcc" * 65536, 11 * M)
    try:
        h.zero(65536, 11 * M, flags)
        eq(h.pread(65536, 11 * M), bytes(65536), "%s zeroed range" % name)
        print("    %s: zeroed" % name)
    except nbd.Error as e:
        eq(e.errnum, errno.ENOTSUP, "%s error" % name)
        eq(h.pread(65536, 11 * M), b"\xcc" * 65536, "%s refused: data unchanged" % name)
        print("    %s: ENOTSUP" % name)
    # the connection goes on
    eq(h.pread(4, DATA_OFF + 100), pat1[:4], "read after %s" % name)

step("cache")
h.cache(65536, 0)
h.cache(12345, DATA_OFF + 7)
h.cache(1, SIZE - 1)

step("many requests in flight on one connection")
bufs = []
cookies = []
for i in range(64):
    b = nbd.Buffer.from_bytearray(bytearray([i + 1]) * 4099)
    cookies.append(h.aio_pwrite(b, 13 * M + i * 4099))
    bufs.append(b)
while h.aio_in_flight() > 0:
    h.poll(-1)
for c in cookies:
    check(h.aio_command_completed(c), "aio write %d not completed" % c)
rbufs = []
for i in range(64):
    b = nbd.Buffer(4099)
    rbufs.append((h.aio_pread(b, 13 * M + i * 4099), b, i))
while h.aio_in_flight() > 0:
    h.poll(-1)
for c, b, i in rbufs:
    check(h.aio_command_completed(c), "aio read not completed")
    eq(bytes(b.to_bytearray()), bytes([i + 1]) * 4099, "aio block %d" % i)

step("a second connection sees flushed writes (multi-conn)")
h.pwrite(b"multi-conn", 14 * M + 3)
h.flush()
h2 = connect()
eq(h2.pread(10, 14 * M + 3), b"multi-conn", "read on the second connection")
h2.pwrite(b"other-conn", 14 * M + 20)
h2.flush()
eq(h.pread(10, 14 * M + 20), b"other-conn", "read of the second connection's write")
h2.shutdown()

step("errors, each followed by a good request on the same connection")
h.shutdown()
h = connect(strict=0)
expect_error("read past the end", (errno.EINVAL,), h.pread, 512, SIZE - 256)
eq(h.pread(4, DATA_OFF + 100), pat1[:4], "read after out-of-range read")
expect_error("read at the end", (errno.EINVAL,), h.pread, 1, SIZE)
eq(h.pread(4, DATA_OFF + 100), pat1[:4], "read after read at the end")
expect_error("write past the end", (errno.ENOSPC,), h.pwrite, b"x" * 512, SIZE - 256)
h.pwrite(b"good", 15 * M)
eq(h.pread(4, 15 * M), b"good", "write after out-of-range write")
eq(h.pread(256, SIZE - 256), big[-256:], "out-of-range write changed nothing")
expect_error("oversized read", (errno.EINVAL,), h.pread, MAXLEN + 1, 0)
eq(h.pread(4, 15 * M), b"good", "read after oversized read")
expect_error("oversized write", (errno.EINVAL,), h.pwrite, b"\x01" * (MAXLEN + 1), 0)
eq(h.pread(4, 15 * M), b"good", "read after oversized write")
eq(h.pread(4, 0), bytes(4), "oversized write changed nothing")
h.flush()
h.shutdown()

step("structured replies off: no block status, no DF, plain reads/writes work")
h = connect(structured=False, strict=0)
eq(h.get_structured_replies_negotiated(), False, "structured replies negotiated")
eq(h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION), False, "base:allocation without structured replies")
eq(h.can_df(), False, "can_df without structured replies")
eq(h.can_multi_conn(), True, "can_multi_conn without structured replies")
try:
    h.block_status(4096, 0, lambda *a: 0)
except nbd.Error as e:
    print("    block_status refused:", e.string)
else:
    raise AssertionError("block_status succeeded without structured replies")
eq(h.pread(5000, DATA_OFF + 100), pat1, "simple-reply read")
eq(h.pread(2 * M, DATA_OFF - M // 2)[M // 2 + 5100:M // 2 + 5200], data[5100:5200],
   "simple-reply large read")
h.pwrite(b"simple", 15 * M + 10, nbd.CMD_FLAG_FUA)
eq(h.pread(6, 15 * M + 10), b"simple", "simple-reply write")
expect_error("simple: read past the end", (errno.EINVAL,), h.pread, 512, SIZE - 256)
eq(h.pread(6, 15 * M + 10), b"simple", "simple: read after error")
expect_error("simple: write past the end", (errno.ENOSPC,), h.pwrite, b"x" * 512, SIZE - 256)
eq(h.pread(6, 15 * M + 10), b"simple", "simple: read after write error")
expect_error("simple: oversized read", (errno.EINVAL,), h.pread, MAXLEN + 1, 0)
eq(h.pread(6, 15 * M + 10), b"simple", "simple: read after oversized read")
h.zero(4, 15 * M + 10)
eq(h.pread(6, 15 * M + 10), b"\0\0\0\0le", "simple: zero")
h.flush()
h.shutdown()

step("every extent reported as ZERO reads as zeros; DATA extents are written ranges")
h = connect()
zero_bytes = 0
for o, ln, fl in merged_map(h, 0, SIZE):
    check(fl in (0, 1, 2, 3), "unexpected base:allocation flags %d at %d" % (fl, o))
    if fl & 2:
        pos = o
        while pos < o + ln:
            n = min(MAXLEN, o + ln - pos)
            check(h.pread(n, pos) == bytes(n), "extent %d+%d flagged ZERO is not zero" % (o, ln))
            pos += n
        zero_bytes += ln
check(zero_bytes > 0, "no zero extents left in the image")
# the maximum-size write is data
eq(extents(h, 4096, BIG_OFF + 4096, nbd.CMD_FLAG_REQ_ONE)[0][2], 0, "status of written data")
h.shutdown()

step("option-mode: export info without connecting")
h = nbd.NBD()
h.set_opt_mode(True)
h.connect_uri(URI)
h.opt_info()
eq(h.get_size(), SIZE, "opt_info size")
h.opt_abort()

print("nbdsh_commands.py: all checks passed")
