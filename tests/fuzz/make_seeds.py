#!/usr/bin/env python3
"""Seed corpora for the lloop fuzz targets (tests/fuzz/corpus/TARGET/).

    tests/fuzz/make_seeds.py            write the synthetic seeds
    tests/fuzz/make_seeds.py --capture  also record real clients (nbdinfo,
                                        nbdsh, qemu-io, nbdcopy) through a
                                        proxy in front of $LLOOP (default
                                        build/lloop) and write what they sent

Input formats (see the targets' headers):
  handshake     1 schedule byte, then the client's stream from its flags on
  transmission  1 config byte (bits 0-1 handshake variant, 2-3 export,
                4-7 schedule), then the requests after that handshake
  fuse          1 config byte (bits 0-1 export, bit 2 passthrough, bit 3
                the backing file is granted, 4-7 schedule), then messages:
                u32 little-endian length, bytes
  tls           1 schedule byte, 1 config byte (fuzz_tls.c), then the
                client's stream; after STARTTLS, raw ciphertext or the
                plaintext an in-process GnuTLS client seals
  fuse_uring    the fuse config byte, a ring config byte (bits 0-2 CPUs,
                3-4 enable_uring, 5-7 ring set-up faults), then messages:
                a control byte (bit 7 by /dev/fuse, bit 6 raw split,
                0-5 queue), u32 little-endian length, bytes

Seeds are named by what they hold: hs-*, tx-*, fuse-*, uring-*, tls-*;
cap-* were captured from a real client (tls-raw-cap-*: the first flight
of fuzz_tls's GnuTLS client, recorded with LLOOP_FUZZ_TLS_RECORD=FILE).  Running it again rewrites the same files.
"""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# ---- NBD ----------------------------------------------------------------
NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REQ_MAGIC = 0x25609513
C_FIXED, C_NO_ZEROES = 1, 2
(OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_PEEK_EXPORT, OPT_STARTTLS,
 OPT_INFO, OPT_GO, OPT_STRUCTURED_REPLY, OPT_LIST_META_CONTEXT,
 OPT_SET_META_CONTEXT, OPT_EXTENDED_HEADERS) = range(1, 12)
INFO_EXPORT, INFO_NAME, INFO_DESCRIPTION, INFO_BLOCK_SIZE = range(4)
(CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM, CMD_CACHE,
 CMD_WRITE_ZEROES, CMD_BLOCK_STATUS) = range(8)
F_FUA, F_NO_HOLE, F_DF, F_REQ_ONE, F_FAST_ZERO = 1, 2, 4, 8, 16
BASE_ALLOC = b"base:allocation"


def flags(f=C_FIXED | C_NO_ZEROES):
    return struct.pack(">I", f)


def opt(o, payload=b"", length=None):
    n = len(payload) if length is None else length
    return struct.pack(">QII", IHAVEOPT, o, n) + payload


def name(n):
    n = n.encode()
    return struct.pack(">I", len(n)) + n


def info_go(o, export, reqs=()):
    return opt(o, name(export) + struct.pack(">H", len(reqs)) +
               b"".join(struct.pack(">H", r) for r in reqs))


def meta(o, export, queries):
    q = b"".join(struct.pack(">I", len(x)) + x for x in queries)
    return opt(o, name(export) + struct.pack(">I", len(queries)) + q)


def req(cmd, off=0, length=0, fl=0, cookie=1, magic=REQ_MAGIC):
    return struct.pack(">IHHQQI", magic, fl, cmd, cookie, off, length)


def write(off, data, fl=0, cookie=2):
    return req(CMD_WRITE, off, len(data), fl, cookie) + data


DISC = req(CMD_DISC, cookie=99)
STRUCT = opt(OPT_STRUCTURED_REPLY)
SET_ALLOC = meta(OPT_SET_META_CONTEXT, "disk", [BASE_ALLOC])


def handshake_seeds():
    s = {}
    s["hs-abort"] = flags() + opt(OPT_ABORT)
    s["hs-list"] = flags() + opt(OPT_LIST) + opt(OPT_ABORT)
    s["hs-list-data"] = flags() + opt(OPT_LIST, b"x") + opt(OPT_ABORT)
    s["hs-info-all"] = (flags() + info_go(OPT_INFO, "disk", (INFO_NAME,
                        INFO_DESCRIPTION, INFO_BLOCK_SIZE, INFO_EXPORT)) +
                        opt(OPT_ABORT))
    s["hs-info-missing"] = (flags() + info_go(OPT_INFO, "nope") +
                            info_go(OPT_INFO, "") + opt(OPT_ABORT))
    s["hs-info-short"] = flags() + opt(OPT_INFO, b"\0\0") + opt(OPT_ABORT)
    s["hs-go-read"] = (flags() + info_go(OPT_GO, "disk", (INFO_BLOCK_SIZE,))
                       + req(CMD_READ, 0, 512) + DISC)
    s["hs-go-default"] = (flags() + info_go(OPT_GO, "") +
                          write(4096, b"\xab" * 512) + DISC)
    s["hs-go-ro-write"] = (flags() + info_go(OPT_GO, "ro") +
                           write(0, b"\1" * 16) + req(CMD_TRIM, 0, 4096) +
                           DISC)
    s["hs-go-file"] = (flags() + STRUCT + info_go(OPT_GO, "file") +
                       write(100, b"\2" * 5000) + req(CMD_READ, 0, 8192) +
                       DISC)
    s["hs-export-name"] = (flags(C_FIXED) + opt(OPT_EXPORT_NAME, b"disk") +
                           req(CMD_FLUSH) + DISC)
    s["hs-export-name-nz"] = (flags() + opt(OPT_EXPORT_NAME, b"") +
                              req(CMD_READ, 0, 4096))
    s["hs-export-name-unknown"] = flags() + opt(OPT_EXPORT_NAME, b"nope")
    s["hs-structured"] = (flags() + STRUCT + STRUCT +
                          opt(OPT_STRUCTURED_REPLY, b"x") + opt(OPT_ABORT))
    s["hs-meta-list"] = (flags() + meta(OPT_LIST_META_CONTEXT, "disk", []) +
                         meta(OPT_LIST_META_CONTEXT, "disk",
                              [b"base:", b"qemu:dirty-bitmap:x"]) +
                         opt(OPT_ABORT))
    s["hs-meta-set-go"] = (flags() + STRUCT + SET_ALLOC +
                           info_go(OPT_GO, "disk") +
                           req(CMD_BLOCK_STATUS, 0, 65536) + DISC)
    s["hs-meta-set-unstructured"] = (flags() + SET_ALLOC + opt(OPT_ABORT))
    s["hs-meta-bad"] = (flags() + STRUCT +
                        opt(OPT_SET_META_CONTEXT,
                            name("disk") + struct.pack(">II", 2, 100)) +
                        opt(OPT_ABORT))
    s["hs-starttls"] = flags() + opt(OPT_STARTTLS) + opt(OPT_ABORT)
    s["hs-extended-headers"] = (flags() + opt(OPT_EXTENDED_HEADERS) +
                                opt(OPT_PEEK_EXPORT) + opt(99, b"abc") +
                                opt(OPT_ABORT))
    s["hs-too-big"] = (flags() + opt(OPT_INFO, b"\0" * 9000) +
                       opt(OPT_ABORT))
    s["hs-bad-magic"] = flags() + b"IHAVEOPX" + struct.pack(">II", 3, 0)
    s["hs-bad-flags"] = flags(0x80000001)
    s["hs-no-fixed"] = flags(0)
    out = {}
    for i, (k, v) in enumerate(sorted(s.items())):
        # mostly in order; every third under a shuffled schedule
        out[k] = bytes([0 if i % 3 else 0x5a]) + v
    return out


# tls: schedule byte, config byte (fuzz_tls.c), [tamper: u16 BE offset,
# xor byte], then the stream; after STARTTLS's ACK plaintext for the
# in-process client (bit 1) or raw ciphertext
T_REQUIRE, T_CLIENT, T_X509, T_TLS12, T_BYE, T_TAMPER = (1, 2, 4, 8, 16, 32)
T_WRONG_KEY, T_UNKNOWN_USER = 1 << 6, 2 << 6
STARTTLS = opt(OPT_STARTTLS)


def tls_seeds():
    s = {}
    inside = (STRUCT + SET_ALLOC + info_go(OPT_GO, "disk", (INFO_NAME,)) +
              write(4096, b"\x5a" * 4096) + req(CMD_READ, 0, 8192) +
              req(CMD_BLOCK_STATUS, 0, 65536) + req(CMD_FLUSH) +
              req(CMD_TRIM, 0, 4096) + DISC)
    s["tls-psk13-go"] = (0, T_REQUIRE | T_CLIENT,
                         flags() + STARTTLS + inside)
    s["tls-psk12-go"] = (0, T_CLIENT | T_TLS12 | T_BYE,
                         flags() + STARTTLS + inside)
    s["tls-x509-13-go"] = (0x5a, T_CLIENT | T_X509,
                           flags() + STARTTLS + inside)
    s["tls-x509-12-list"] = (0, T_REQUIRE | T_CLIENT | T_X509 | T_TLS12,
                             flags() + STARTTLS + opt(OPT_LIST) +
                             info_go(OPT_INFO, "file", (INFO_DESCRIPTION,))
                             + opt(OPT_STARTTLS) + opt(OPT_STARTTLS, b"x") +
                             opt(OPT_EXPORT_NAME, b"file") +
                             req(CMD_READ, 0, 65536) +
                             req(CMD_READ, 65536, 65536) + DISC)
    s["tls-big-read"] = (3, T_CLIENT,
                         flags() + STARTTLS + STRUCT + info_go(OPT_GO, "disk")
                         + req(CMD_READ, 0, 131072) + write(0, b"\1" * 65536)
                         + req(CMD_READ, 0, 131072))
    s["tls-require-plain"] = (0, T_REQUIRE,
                              flags() + opt(OPT_LIST) +
                              info_go(OPT_GO, "disk") + STRUCT +
                              opt(OPT_INFO, b"\0" * 9000) +
                              opt(OPT_STARTTLS, b"x") + opt(OPT_ABORT))
    s["tls-require-export-name"] = (0, T_REQUIRE, flags() +
                                    opt(OPT_EXPORT_NAME, b"disk") +
                                    req(CMD_READ, 0, 512))
    s["tls-on-plain-go"] = (0, 0, flags() + info_go(OPT_GO, "disk") +
                            req(CMD_READ, 0, 512) + DISC)
    s["tls-require-then-tls"] = (0, T_REQUIRE | T_CLIENT,
                                 flags() + info_go(OPT_INFO, "disk") +
                                 STARTTLS + opt(OPT_EXPORT_NAME, b"disk") +
                                 req(CMD_FLUSH) + DISC)
    s["tls-wrong-key"] = (0, T_CLIENT | T_WRONG_KEY,
                          flags() + STARTTLS + info_go(OPT_GO, "disk"))
    s["tls-unknown-user"] = (0, T_REQUIRE | T_CLIENT | T_UNKNOWN_USER,
                             flags() + STARTTLS + info_go(OPT_GO, "disk"))
    s["tls-raw-garbage"] = (0, 0, flags() + STARTTLS +
                            b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00")
    s["tls-raw-eof"] = (0, T_REQUIRE, flags() + STARTTLS)
    out = {}
    for k, (sched, cfg, stream) in s.items():
        out[k] = bytes([sched, cfg]) + stream
    # the client's ciphertext cut or corrupted at a few places
    for at in (5, 60, 300, 700):
        out["tls-tamper-%d" % at] = (bytes([0, T_CLIENT | T_TAMPER]) +
                                     struct.pack(">HB", at, 0x40) +
                                     s["tls-psk13-go"][2])
    return out


def tx_config(variant, export=0, sched=0):
    return bytes([variant | export << 2 | sched << 4])


def transmission_seeds():
    s = {}
    mixed = (write(0, b"\x11" * 4096, cookie=1) +
             req(CMD_READ, 0, 4096, cookie=2) +
             req(CMD_FLUSH, cookie=3) +
             write(8192, b"\x22" * 1000, F_FUA, cookie=4) +
             req(CMD_TRIM, 0, 65536, cookie=5) +
             req(CMD_WRITE_ZEROES, 4096, 8192, cookie=6) +
             req(CMD_WRITE_ZEROES, 0, 4096, F_NO_HOLE, cookie=7) +
             req(CMD_WRITE_ZEROES, 0, 4096, F_FAST_ZERO, cookie=8) +
             req(CMD_CACHE, 0, 1 << 20, cookie=9) +
             req(CMD_BLOCK_STATUS, 0, 1 << 20, cookie=10) +
             req(CMD_BLOCK_STATUS, 0, 1 << 20, F_REQ_ONE, cookie=11) +
             req(CMD_READ, 512, 100, F_DF, cookie=12) + DISC)
    for v in range(4):
        s["tx-mixed-v%d" % v] = tx_config(v) + mixed
    s["tx-mixed-file"] = tx_config(0, 2) + mixed
    s["tx-mixed-file-sched"] = tx_config(0, 2, 7) + mixed
    s["tx-mixed-ro"] = tx_config(0, 1) + mixed
    s["tx-unaligned-file"] = tx_config(3, 2, 3) + (
        write(1, b"\x33" * 10) + write(4090, b"\x44" * 20, cookie=3) +
        write(4096 * 64 + 1000, b"\x55" * 1536, cookie=4) +
        req(CMD_READ, 4095, 2, cookie=5) +
        req(CMD_READ, 256 * 1024, 1536, cookie=6) + DISC)
    s["tx-pipeline"] = tx_config(0, 0, 5) + b"".join(
        req(CMD_READ, 4096 * i, 65536, cookie=i) for i in range(16)) + DISC
    s["tx-big-writes"] = tx_config(1, 2, 9) + b"".join(
        write(65536 * i + 512, bytes([i]) * 16384, cookie=i)
        for i in range(3))
    s["tx-bad-magic"] = tx_config(0) + req(CMD_READ, 0, 512, magic=0x25609514)
    s["tx-unknown-cmd"] = tx_config(0) + req(99, 0, 512) + req(
        CMD_READ, 0, 512, fl=0x8000) + DISC
    s["tx-bad-flags"] = tx_config(1) + (
        req(CMD_READ, 0, 512, F_DF) + req(CMD_FLUSH, 0, 0, F_NO_HOLE) +
        req(CMD_BLOCK_STATUS, 0, 512) + req(CMD_FLUSH, 1, 1) + DISC)
    s["tx-overflow"] = tx_config(0) + (
        req(CMD_READ, 0xFFFFFFFFFFFFFE00, 0x400) +
        write(0xFFFFFFFFFFFFF000, b"\0" * 0x1000) +
        req(CMD_TRIM, 1 << 20, 1) + req(CMD_WRITE_ZEROES, (1 << 20) - 1, 2) +
        req(CMD_READ, 0, 0) + DISC)
    s["tx-too-long"] = tx_config(0) + (
        req(CMD_READ, 0, 64 << 20) + write(0, b"\0" * (128 * 1024 + 1)) +
        req(CMD_FLUSH) + DISC)
    s["tx-short-write"] = tx_config(0) + req(CMD_WRITE, 0, 4096) + b"x" * 100
    s["tx-disc-then-more"] = tx_config(0) + DISC + req(CMD_READ, 0, 512)
    s["tx-eof-mid-header"] = tx_config(0) + req(CMD_FLUSH)[:13]
    return s


# ---- FUSE ---------------------------------------------------------------
(FUSE_LOOKUP, FUSE_FORGET, FUSE_GETATTR, FUSE_SETATTR) = (1, 2, 3, 4)
FUSE_MKDIR, FUSE_OPEN, FUSE_READ, FUSE_WRITE, FUSE_STATFS = 9, 14, 15, 16, 17
FUSE_RELEASE, FUSE_FSYNC, FUSE_FLUSH, FUSE_INIT = 18, 20, 25, 26
FUSE_INTERRUPT, FUSE_DESTROY, FUSE_BATCH_FORGET = 36, 38, 42
FUSE_FALLOCATE = 43
FATTR_SIZE = 1 << 3
INIT_FLAGS = (1 << 0) | (1 << 5) | (1 << 15) | (1 << 22)  # ASYNC_READ...
INIT_EXT = 1 << 30
PASSTHROUGH2 = 1 << 5  # flags2
FALLOC_KEEP, FALLOC_PUNCH, FALLOC_ZERO = 1, 2, 0x10


class Fuse:
    def __init__(self):
        self.unique = 0

    def msg(self, opcode, args=b"", nodeid=1, length=None):
        self.unique += 2
        n = 40 + len(args) if length is None else length
        h = struct.pack("<IIQQIIIHH", n, opcode, self.unique, nodeid,
                        0, 0, 0, 0, 0)
        m = h + args
        return struct.pack("<I", len(m)) + m

    def init(self, minor=38, fl=INIT_FLAGS, flags2=0):
        return self.msg(FUSE_INIT, struct.pack("<IIII", 7, minor, 131072, fl)
                        + struct.pack("<I", flags2) + b"\0" * 44, nodeid=0)

    def read(self, off, size):
        return self.msg(FUSE_READ, struct.pack("<QQIIQII", 1, off, size, 0,
                                               0, 0x8002, 0))

    def write(self, off, data):
        return self.msg(FUSE_WRITE, struct.pack("<QQIIQII", 1, off,
                                                len(data), 0, 0, 0x8002, 0)
                        + data)

    def setattr(self, valid, size):
        a = struct.pack("<IIQQQQQQIIIIIIII", valid, 0, 1, size, 0, 0, 0, 0,
                        0, 0, 0, 0, 0, 0, 0, 0)
        return self.msg(FUSE_SETATTR, a)

    def fallocate(self, off, length, mode):
        return self.msg(FUSE_FALLOCATE, struct.pack("<QQQII", 1, off, length,
                                                    mode, 0))

    def open(self, fl):
        return self.msg(FUSE_OPEN, struct.pack("<II", fl, 0))


def fuse_cfg(export=0, passthrough=0, sched=0, granted=0):
    return bytes([export | passthrough << 2 | granted << 3 | sched << 4])


def fuse_seeds():
    s = {}
    f = Fuse()
    everything = (f.init() + f.msg(FUSE_LOOKUP, b"x\0") +
                  f.msg(FUSE_GETATTR, b"\0" * 16) +
                  f.setattr(FATTR_SIZE, 1 << 20) + f.setattr(0, 0) +
                  f.open(2) + f.read(0, 4096) + f.write(4096, b"\xaa" * 4096)
                  + f.write(10, b"\xbb" * 100) + f.read(10, 100) +
                  f.msg(FUSE_FSYNC, struct.pack("<QII", 1, 1, 0)) +
                  f.msg(FUSE_FLUSH, struct.pack("<QIIQ", 1, 0, 0, 0)) +
                  f.fallocate(0, 8192, FALLOC_PUNCH | FALLOC_KEEP) +
                  f.fallocate(0, 4096, FALLOC_ZERO | FALLOC_KEEP) +
                  f.fallocate(0, 4096, 0) + f.fallocate(0, 4096, 0x20) +
                  f.msg(FUSE_STATFS) +
                  f.msg(FUSE_FORGET, struct.pack("<Q", 1)) +
                  f.msg(FUSE_BATCH_FORGET, struct.pack("<IIQQ", 1, 0, 1, 1)) +
                  f.msg(FUSE_INTERRUPT, struct.pack("<Q", 4)) +
                  f.msg(FUSE_MKDIR, b"\0" * 8 + b"d\0") +
                  f.msg(FUSE_RELEASE, struct.pack("<QIIQ", 1, 0, 0, 0)) +
                  f.msg(FUSE_DESTROY, nodeid=0))
    s["fuse-all-disk"] = fuse_cfg(0) + everything
    s["fuse-all-ro"] = fuse_cfg(1) + everything
    s["fuse-all-file"] = fuse_cfg(2, 0, 6) + everything
    s["fuse-passthrough"] = fuse_cfg(2, 1) + (
        f.init(40, INIT_FLAGS | INIT_EXT, PASSTHROUGH2) + f.open(2) +
        f.open(0) + f.read(0, 512))
    s["fuse-init-old"] = fuse_cfg(0) + f.init(12) + f.read(0, 4096)
    s["fuse-init-bad-major"] = fuse_cfg(0) + f.msg(
        FUSE_INIT, struct.pack("<IIII", 6, 1, 0, 0), nodeid=0)
    s["fuse-init-short"] = fuse_cfg(0) + f.msg(
        FUSE_INIT, struct.pack("<II", 7, 38), nodeid=0)
    s["fuse-read-edges"] = fuse_cfg(2, 0, 11) + f.init() + (
        f.read((256 << 10) + 1000, 4096) + f.read(1 << 40, 10) +
        f.read(0, (1 << 20) + 4096) + f.read(4095, 2))
    s["fuse-write-edges"] = fuse_cfg(2, 0, 3) + f.init() + (
        f.write((256 << 10) + 1000, b"\1" * 536) +
        f.write((256 << 10) + 1000, b"\1" * 537) + f.write(1, b"\2" * 8190) +
        f.write(0, b"") + f.msg(FUSE_WRITE, struct.pack(
            "<QQIIQII", 1, 0, 100, 0, 0, 0, 0) + b"short"))
    s["fuse-write-big"] = fuse_cfg(0, 0, 2) + f.init() + f.write(
        0, b"\3" * 16384) + f.read(0, 16384)
    s["fuse-malformed"] = fuse_cfg(0) + f.init() + (
        f.msg(FUSE_GETATTR, length=1000) + struct.pack("<I", 10) +
        b"\0" * 10 + struct.pack("<I", 0) + f.msg(FUSE_OPEN, b"\0\0"))
    s["fuse-setattr-resize"] = fuse_cfg(1) + f.init() + f.setattr(
        FATTR_SIZE, 12345) + f.open(1)
    # regression input: two OPENs before the first one's
    # FUSE_DEV_IOC_BACKING_OPEN is done each opened a backing file
    s["crash-passthrough-two-opens"] = fuse_cfg(2, 1) + (
        f.init(40, INIT_FLAGS | INIT_EXT, PASSTHROUGH2) + f.open(2) +
        f.open(2))
    s["fuse-passthrough-granted"] = fuse_cfg(2, 1, 0, 1) + (
        f.init(40, INIT_FLAGS | INIT_EXT, PASSTHROUGH2) + f.open(2) +
        f.read(0, 512) + f.msg(FUSE_RELEASE, struct.pack("<QIIQ", 1, 0, 0, 0))
        + f.open(0) + f.open(2) + f.msg(FUSE_DESTROY, nodeid=0))
    s["fuse-passthrough-granted-sched"] = fuse_cfg(2, 1, 5, 1) + (
        f.init(40, INIT_FLAGS | INIT_EXT, PASSTHROUGH2) + f.open(2) +
        f.open(2) + f.open(0) + f.write(0, b"\7" * 512) +
        f.msg(FUSE_RELEASE, struct.pack("<QIIQ", 1, 0, 0, 0)) + f.open(2))
    return s


# ---- FUSE over io_uring ---------------------------------------------------
URING2 = 1 << 9  # FUSE_OVER_IO_URING, bit 41: in flags2
BY_DEV, RAW = 0x80, 0x40


def uring_cfg(cpus=2, enable=0, setup_einval=0, setup_fail=0, refuse=0):
    return bytes([cpus | enable << 3 | setup_einval << 5 | setup_fail << 6 |
                  refuse << 7])


def ring(m, ctl=0):
    """a Fuse message (u32 length + bytes) with its control byte"""
    return bytes([ctl]) + m


def ring_raw(m, op_in, payload_sz, ctl=0):
    body = m[4:]
    raw = bytes([op_in]) + struct.pack("<I", payload_sz) + body
    return bytes([ctl | RAW]) + struct.pack("<I", len(raw)) + raw


def uring_seeds():
    s = {}
    f = Fuse()

    def init(minor=42, flags2=URING2):
        return ring(f.init(minor, INIT_FLAGS | INIT_EXT, flags2), BY_DEV)

    def release(q=0):
        return ring(f.msg(FUSE_RELEASE, struct.pack("<QIIQ", 1, 0, 0, 0)), q)

    def everything(q=0):
        return (ring(f.msg(FUSE_LOOKUP, b"x\0"), q) +
                ring(f.msg(FUSE_GETATTR, b"\0" * 16), q + 1) +
                ring(f.setattr(FATTR_SIZE, 1 << 20), q) +
                ring(f.setattr(0, 0), q + 1) + ring(f.open(2), q) +
                ring(f.read(0, 4096), q + 1) +
                ring(f.write(4096, b"\xaa" * 4096), q) +
                ring(f.write(10, b"\xbb" * 100), q + 1) +
                ring(f.read(10, 100), q) +
                ring(f.msg(FUSE_FSYNC, struct.pack("<QII", 1, 1, 0)), q) +
                ring(f.msg(FUSE_FLUSH, struct.pack("<QIIQ", 1, 0, 0, 0)), q) +
                ring(f.fallocate(0, 8192, FALLOC_PUNCH | FALLOC_KEEP), q + 1) +
                ring(f.fallocate(0, 4096, FALLOC_ZERO | FALLOC_KEEP), q) +
                ring(f.fallocate(0, 4096, 0), q) +
                ring(f.fallocate(0, 4096, 0x20), q + 1) +
                ring(f.msg(FUSE_STATFS), q) +
                ring(f.msg(FUSE_FORGET, struct.pack("<Q", 1)), BY_DEV) +
                ring(f.msg(FUSE_BATCH_FORGET, struct.pack("<IIQQ", 1, 0, 1,
                                                          1)), BY_DEV) +
                ring(f.msg(FUSE_INTERRUPT, struct.pack("<Q", 4)), BY_DEV) +
                ring(f.msg(FUSE_MKDIR, b"\0" * 8 + b"d\0"), q) +
                ring(f.msg(99, b"\0" * 16), q + 1) + release(q) +
                ring(f.msg(FUSE_DESTROY, nodeid=0), q))

    s["uring-all-disk"] = fuse_cfg(0) + uring_cfg(2) + init() + everything()
    s["uring-all-ro"] = fuse_cfg(1) + uring_cfg(2) + init() + everything()
    s["uring-all-file"] = (fuse_cfg(2, 0, 6) + uring_cfg(3) + init() +
                           everything(1))
    s["uring-all-sched"] = (fuse_cfg(0, 0, 9) + uring_cfg(2) + init() +
                            everything())
    s["uring-one-cpu"] = (fuse_cfg(0, 0, 4) + uring_cfg(1) + init() +
                          everything())
    # 4 queues: the pool holds one entry each, not two; 7: none at all
    s["uring-4-cpus"] = (fuse_cfg(2, 0, 3) + uring_cfg(4) + init() +
                         everything(2))
    s["uring-7-cpus"] = fuse_cfg(0) + uring_cfg(7) + init() + everything()
    s["uring-cpus-unparsable"] = (fuse_cfg(0) + uring_cfg(0) + init() +
                                  everything())
    s["uring-enable-n"] = (fuse_cfg(0) + uring_cfg(2, 1) + init() +
                           ring(f.read(0, 512)) +
                           ring(f.msg(FUSE_DESTROY, nodeid=0)))
    s["uring-enable-absent"] = (fuse_cfg(0) + uring_cfg(2, 2) + init() +
                                ring(f.read(0, 512)))
    s["uring-enable-denied"] = (fuse_cfg(0) + uring_cfg(2, 3) + init() +
                                ring(f.read(0, 512)))
    s["uring-setup-einval"] = (fuse_cfg(0) + uring_cfg(2, 0, 1) + init() +
                               everything())
    s["uring-setup-fail"] = (fuse_cfg(0) + uring_cfg(2, 0, 0, 1) + init() +
                             ring(f.read(0, 512)) +
                             ring(f.write(0, b"x" * 512)))
    s["uring-refuse-register"] = (fuse_cfg(0) + uring_cfg(3, 0, 0, 0, 1) +
                                  init() + everything())
    s["uring-old-kernel"] = (fuse_cfg(0) + uring_cfg(2) + init(41, 0) +
                             ring(f.read(0, 512)) + ring(f.open(2)))
    s["uring-no-init-ext"] = (fuse_cfg(0) + uring_cfg(2) +
                              ring(f.init(42, INIT_FLAGS, 0), BY_DEV) +
                              ring(f.read(0, 512)))
    s["uring-passthrough"] = (
        fuse_cfg(2, 1, 0, 1) + uring_cfg(2) +
        init(42, URING2 | PASSTHROUGH2) + ring(f.open(2)) +
        ring(f.open(2), 1) + ring(f.read(0, 512)) + release(1) +
        ring(f.open(0)) + ring(f.msg(FUSE_DESTROY, nodeid=0)))
    s["uring-passthrough-denied"] = (
        fuse_cfg(2, 1, 3, 0) + uring_cfg(2) +
        init(42, URING2 | PASSTHROUGH2) + ring(f.open(2)) +
        ring(f.open(2), 1) + ring(f.write(0, b"p" * 4096)) + release())
    s["uring-write-big"] = (
        fuse_cfg(2, 0, 2) + uring_cfg(1) + init() +
        ring(f.write(0, b"\3" * (1 << 20))) + ring(f.read(0, 1 << 20)) +
        ring(f.write(1, b"\4" * 8190)) + ring(f.read(4095, 2)))
    s["uring-edges"] = (
        fuse_cfg(2, 0, 11) + uring_cfg(2) + init() +
        ring(f.read((256 << 10) + 1000, 4096)) + ring(f.read(1 << 40, 10)) +
        ring(f.read(0, (1 << 20) + 4096)) +
        ring(f.write((256 << 10) + 1000, b"\1" * 537), 1) +
        ring(f.write(0, b"")) + ring(f.setattr(FATTR_SIZE, 12345)))
    s["uring-raw"] = (
        fuse_cfg(0) + uring_cfg(2) + init() +
        ring_raw(f.write(0, b"\5" * 512), 40, 100) +
        ring_raw(f.write(0, b"\5" * 512), 40, (1 << 20) + 1) +
        ring_raw(f.write(0, b"\5" * 512), 8, 512) +
        ring_raw(f.read(0, 512), 200, 0) +
        ring_raw(f.msg(FUSE_GETATTR, b"\0" * 16, length=1000), 16, 0) +
        ring_raw(f.msg(FUSE_GETATTR, b"\0" * 16, length=10), 16, 0) +
        ring_raw(f.open(2), 2, 0) + ring(struct.pack("<I", 10) + b"\0" * 10))
    s["uring-init-by-ring"] = (
        fuse_cfg(0) + uring_cfg(2) + init() +
        ring(f.init(42, INIT_FLAGS | INIT_EXT, URING2)) + ring(f.read(0, 512)))
    s["uring-forget-by-ring"] = (
        fuse_cfg(0) + uring_cfg(2) + init() +
        ring(f.msg(FUSE_FORGET, struct.pack("<Q", 1))) +
        ring(f.msg(FUSE_INTERRUPT, struct.pack("<Q", 4)), 1) +
        ring(f.msg(FUSE_STATFS)))
    s["uring-mixed-routes"] = (
        fuse_cfg(0, 0, 7) + uring_cfg(2) + init() +
        ring(f.read(0, 512), BY_DEV) + ring(f.read(512, 512)) +
        ring(f.write(0, b"m" * 4096), BY_DEV) +
        ring(f.write(0, b"n" * 4096), 1) +
        ring(f.msg(FUSE_FSYNC, struct.pack("<QII", 1, 1, 0)), BY_DEV) +
        ring(f.msg(FUSE_DESTROY, nodeid=0)))
    # regression inputs: the ring set up at the start but never granted
    # (INIT failed, or never came) kept the session alive after unmount
    s["crash-uring-init-fails"] = (
        fuse_cfg(0) + uring_cfg(2) +
        ring(f.msg(FUSE_INIT, struct.pack("<IIII", 6, 42, 0, INIT_EXT),
                   nodeid=0), BY_DEV) + ring(f.read(0, 512)))
    s["crash-uring-no-init"] = fuse_cfg(0) + uring_cfg(2)
    s["crash-uring-init-short-destroy"] = (
        fuse_cfg(0, 0, 3) + uring_cfg(1) +
        ring(f.msg(FUSE_INIT, struct.pack("<II", 7, 42), nodeid=0), BY_DEV) +
        ring(f.msg(FUSE_DESTROY, nodeid=0), BY_DEV))
    # regression input: a second INIT took the ring again and registered
    # the entries the kernel held already (and armed the eventfd twice)
    s["crash-uring-two-inits"] = (
        fuse_cfg(0) + uring_cfg(2) + init() + ring(f.read(0, 512)) +
        init() + ring(f.read(0, 512), 1))
    # regression input: DESTROY came by /dev/fuse while a LOOKUP the
    # kernel had put in an entry waited in the ring's CQ, not yet reaped;
    # the ring was exited, that LOOKUP left unanswered
    s["crash-uring-destroy-unreaped"] = (
        fuse_cfg(0, 0, 2) + uring_cfg(1) + init() +
        ring(f.msg(FUSE_LOOKUP, b"x\0")) +
        ring(f.msg(FUSE_DESTROY, nodeid=0), BY_DEV))
    return s


# ---- capture from real clients -------------------------------------------
class Proxy:
    """Unix-socket proxy that records what each client sends."""

    def __init__(self, listen_path, server_path):
        self.server_path = server_path
        self.streams = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(listen_path)
        self.sock.listen(16)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.server_path)
            rec = bytearray()
            self.streams.append(rec)
            threading.Thread(target=self.pipe, args=(c, s, rec),
                             daemon=True).start()
            threading.Thread(target=self.pipe, args=(s, c, None),
                             daemon=True).start()

    @staticmethod
    def pipe(a, b, rec):
        try:
            while True:
                d = a.recv(1 << 20)
                if not d:
                    break
                if rec is not None:
                    rec += d
                b.sendall(d)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def split_transmission(stream):
    """(variant, requests) of a client stream, or None: the requests are
    what follows the option after which a request magic comes."""
    at, structured, meta_set, exp_name = 4, False, False, False
    while len(stream) - at >= 16:
        magic, o, n = struct.unpack(">QII", stream[at:at + 16])
        if magic != IHAVEOPT:
            return None
        at += 16 + n
        structured |= o == OPT_STRUCTURED_REPLY
        meta_set |= o == OPT_SET_META_CONTEXT
        exp_name = o == OPT_EXPORT_NAME
        if stream[at:at + 4] == struct.pack(">I", REQ_MAGIC):
            if exp_name:
                v = 2
            elif structured:
                v = 0 if meta_set else 3
            else:
                v = 1
            return v, stream[at:]
    return None


def capture():
    lloop = os.environ.get("LLOOP", os.path.join(HERE, "../../build/lloop"))
    py = "/usr/bin/python3"
    out = {}
    with tempfile.TemporaryDirectory() as d:
        srv_sock, px_sock = d + "/srv.sock", d + "/px.sock"
        img = d + "/src.img"
        with open(img, "wb") as f:
            f.write(bytes(range(256)) * 160)
        srv = subprocess.Popen([lloop, "serve", "--no-mlock", "-t", "1",
                                "--listen", "unix:" + srv_sock,
                                "--control", d + "/ctl.sock",
                                "disk=memory:1M", "file=memory:256K"],
                               stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                if os.path.exists(srv_sock):
                    break
                time.sleep(0.1)
            px = Proxy(px_sock, srv_sock)
            uri = "nbd+unix:///disk?socket=" + px_sock
            nbdsh = ("h.pwrite(b'\\x5a' * 8192, 4096)\n"
                     "h.pwrite(b'\\x5b' * 512, 0, nbd.CMD_FLAG_FUA)\n"
                     "h.pread(4096, 0)\n"
                     "h.flush()\n"
                     "h.trim(65536, 65536)\n"
                     "h.zero(4096, 131072)\n"
                     "h.zero(4096, 0, nbd.CMD_FLAG_NO_HOLE)\n"
                     "h.cache(65536, 0)\n"
                     "h.block_status(1 << 20, 0, lambda *a: 0)\n")
            clients = {
                "cap-nbdinfo": ["nbdinfo", uri],
                "cap-nbdinfo-list": ["nbdinfo", "--list",
                                     "nbd+unix://?socket=" + px_sock],
                "cap-nbdinfo-map": ["nbdinfo", "--map", uri],
                "cap-nbdsh": [py, "-m", "nbd", "--base-allocation", "-u", uri,
                              "-c", nbdsh],
                "cap-qemu-io": ["qemu-io", "-f", "raw",
                                "-c", "write -P 0xab 0 16k",
                                "-c", "read -P 0xab 0 16k",
                                "-c", "write -z 64k 64k",
                                "-c", "discard 128k 64k",
                                "-c", "flush", uri],
                "cap-nbdcopy": ["nbdcopy", img, uri],
            }
            for k, argv in clients.items():
                n = len(px.streams)
                r = subprocess.run(argv, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, timeout=60)
                if r.returncode:
                    print("%s failed: %s" % (k, r.stderr.decode()[-300:]),
                          file=sys.stderr)
                    continue
                time.sleep(0.2)
                for i, st in enumerate(px.streams[n:n + 1]):
                    st = bytes(st)
                    out["handshake/hs-" + k] = b"\0" + st
                    t = split_transmission(st)
                    if t and len(t[1]) > 28:
                        v, reqs = t
                        out["transmission/tx-" + k] = (bytes([v]) + reqs)
        finally:
            srv.terminate()
            srv.wait()
    return out


def main():
    files = {}
    for k, v in handshake_seeds().items():
        files["handshake/" + k] = v
    for k, v in transmission_seeds().items():
        files["transmission/" + k] = v
    for k, v in fuse_seeds().items():
        files["fuse/" + k] = v
    for k, v in uring_seeds().items():
        files["fuse_uring/" + k] = v
    for k, v in tls_seeds().items():
        files["tls/" + k] = v
    if "--capture" in sys.argv[1:]:
        files.update(capture())
    for k, v in sorted(files.items()):
        path = os.path.join(CORPUS, k)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(v)
        print("%-45s %7d bytes" % (k, len(v)))


if __name__ == "__main__":
    main()
