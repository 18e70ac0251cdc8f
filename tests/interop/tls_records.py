"""How lloop packs NBD replies into TLS records.  The client does the TLS
handshake itself through ssl.MemoryBIO, feeding the server's bytes to
OpenSSL one record at a time, so it knows each record's header (type,
length) and how much plaintext each one carried, and where in the reply
stream that plaintext lies.

Per phase (pipelined NBD_CMD_READs; simple replies on one connection,
structured replies on a second one) it checks the data against the image
file and asserts, over the application-data records that carried the
replies:
  - no record holds only reply headers (a 16-byte simple reply header or a
    28-byte OFFSET_DATA chunk header without any of the read's data): a
    server that seals each iovec piece on its own sends one per reply;
  - records <= ceil(plaintext / 16384) + replies: full records, plus at
    most one partial record per reply (the tail of what was queued when a
    send began).  A record per piece gives 2 per 4 KiB read, over this.

    tls_records.py PORT CA_CERT IMAGE
"""

import bisect
import math
import os
import ssl
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import nbdraw as nr  # noqa: E402

PORT, CAFILE, IMAGE = int(sys.argv[1]), sys.argv[2], sys.argv[3]
OPT_STARTTLS = 5
REC = 16384                    # the most plaintext one record carries
TYPE_APPDATA = 23
HDR_SIMPLE, HDR_CHUNK = 16, 20

with open(IMAGE, "rb") as f:
    IMG = f.read()


class TLSConn:
    """NBD over TLS with the records in view."""

    def __init__(self, structured):
        self.s = nr.connect(("127.0.0.1", PORT), timeout=120)
        nr.greet(self.s)
        self.s.sendall(nr.option(OPT_STARTTLS))
        opt, rtype, _ = nr.recv_option_reply(self.s)
        assert opt == OPT_STARTTLS and rtype == nr.REP_ACK, \
            "STARTTLS refused: 0x%x" % rtype
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)    # verifies
        ctx.load_verify_locations(CAFILE)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        self.inc, self.outb = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.outb,
                                server_hostname="localhost")
        self.raw = bytearray()      # ciphertext not yet given to OpenSSL
        self.plain = bytearray()    # plaintext not yet consumed
        self.rx = 0                 # plaintext received so far
        self.rd = 0                 # plaintext consumed so far
        self.counting = False
        self.recs = []              # (start, end) in the plaintext stream
        self.empty = 0              # records with no plaintext (tickets)
        self.hdrs = []              # (start, end) of reply headers
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                self.next_record()
        self.flush()
        assert self.tls.version() == "TLSv1.3", self.tls.version()
        if structured:
            self.send(nr.option(nr.OPT_STRUCTURED_REPLY))
            _, rtype, _ = self.option_reply()
            assert rtype == nr.REP_ACK, "STRUCTURED_REPLY: 0x%x" % rtype
        self.send(nr.option(nr.OPT_GO, nr.go_data()))
        while True:
            _, rtype, data = self.option_reply()
            assert not rtype & 0x80000000, "GO refused: 0x%x" % rtype
            if rtype == nr.REP_ACK:
                break
            if rtype == nr.REP_INFO and data[:2] == b"\0\0":
                self.size = struct.unpack(">Q", data[2:10])[0]
        assert self.size == len(IMG), "export size %d" % self.size
        self.structured = structured

    def flush(self):
        data = self.outb.read()
        if data:
            self.s.sendall(data)

    def send(self, data):
        self.tls.write(data)
        self.flush()

    def next_record(self):
        """one whole record from the socket into OpenSSL; its header"""
        while True:
            if len(self.raw) >= 5:
                typ, ver, ln = struct.unpack(">BHH", self.raw[:5])
                if len(self.raw) >= 5 + ln:
                    break
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise EOFError("server closed the connection")
            self.raw += chunk
        self.inc.write(bytes(self.raw[:5 + ln]))
        del self.raw[:5 + ln]
        return typ, ln

    def pump(self):
        """one record: the plaintext it carried goes to self.plain"""
        typ, _ = self.next_record()
        got = 0
        while True:
            try:
                d = self.tls.read(1 << 20)
            except ssl.SSLWantReadError:
                break
            if not d:
                raise EOFError("TLS closed by the server")
            self.plain += d
            got += len(d)
        self.flush()
        if self.counting:
            if typ == TYPE_APPDATA and got:
                self.recs.append((self.rx, self.rx + got))
            else:
                self.empty += 1     # a ticket or another handshake message
        self.rx += got

    def recv(self, n, hdr=False):
        while len(self.plain) < n:
            self.pump()
        if hdr:
            self.hdrs.append((self.rd, self.rd + n))
        self.rd += n
        data = bytes(self.plain[:n])
        del self.plain[:n]
        return data

    def option_reply(self):
        magic, opt, rtype, ln = struct.unpack(">QIII", self.recv(20))
        assert magic == nr.REP_MAGIC, "option reply magic 0x%x" % magic
        return opt, rtype, self.recv(ln)

    def reply(self, lengths, offsets):
        """one whole read reply: (cookie, data)"""
        magic = struct.unpack(">I", self.recv(4, hdr=True))[0]
        if magic == nr.SIMPLE_MAGIC:
            assert not self.structured, "simple reply to a structured read"
            self.hdrs[-1] = (self.hdrs[-1][0], self.hdrs[-1][0] + HDR_SIMPLE)
            err, cookie = struct.unpack(">IQ", self.recv(12))
            assert err == 0, "read %d: error %d" % (cookie, err)
            return cookie, self.recv(lengths[cookie])
        assert magic == nr.STRUCT_MAGIC and self.structured, \
            "reply magic 0x%x" % magic
        buf = None
        while True:
            start = self.hdrs[-1][0]
            flags, typ, cookie, ln = struct.unpack(">HHQI", self.recv(16))
            if typ == nr.REPLY_TYPE_OFFSET_DATA:
                off = struct.unpack(">Q", self.recv(8))[0]
                self.hdrs[-1] = (start, start + HDR_CHUNK + 8)
                buf = buf if buf is not None else bytearray(lengths[cookie])
                at = off - offsets[cookie]
                buf[at:at + ln - 8] = self.recv(ln - 8)
            else:
                assert typ == nr.REPLY_TYPE_NONE, "chunk type %d" % typ
                self.hdrs[-1] = (start, start + HDR_CHUNK + ln)
                self.recv(ln)
            if flags & nr.REPLY_FLAG_DONE:
                return cookie, bytes(buf or b"")
            magic = struct.unpack(">I", self.recv(4, hdr=True))[0]
            assert magic == nr.STRUCT_MAGIC, "chunk magic 0x%x" % magic

    def phase(self, name, count, length):
        """count pipelined reads of length bytes, all in one send"""
        assert not self.plain and not self.raw, "unread bytes before %s" % name
        self.counting, self.recs, self.hdrs, self.empty = True, [], [], 0
        base = self.rx
        assert base == self.rd
        offsets, lengths, reqs = {}, {}, []
        step = max(length, 65536) + 8192      # scattered, not adjacent
        for i in range(count):
            cookie = 1000 + i
            offsets[cookie] = (i * step) % (len(IMG) - length) // 512 * 512
            lengths[cookie] = length
            reqs.append(nr.request(nr.CMD_READ, cookie, offsets[cookie],
                                   length))
        self.send(b"".join(reqs))
        for _ in range(count):
            cookie, data = self.reply(lengths, offsets)
            assert cookie in offsets, "unexpected cookie %d" % cookie
            off = offsets.pop(cookie)
            assert data == IMG[off:off + length], \
                "%s: read %d at %d returned other data" % (name, cookie, off)
        assert not offsets, "%s: replies missing" % name
        self.counting = False
        total = self.rx - base
        assert total == self.rd - base and not self.plain

        # records that carry no byte of read data: inside the headers
        starts = [h[0] for h in self.hdrs]
        headeronly = 0
        for a, b in self.recs:
            i = bisect.bisect_right(starts, a) - 1
            if i >= 0 and self.hdrs[i][0] <= a and b <= self.hdrs[i][1]:
                headeronly += 1
        n = len(self.recs)
        full = sum(1 for a, b in self.recs if b - a == REC)
        bound = math.ceil(total / REC) + count
        print("%s: %d replies, %d plaintext bytes in %d records (%d full, "
              "%d header-only, %d without data e.g. tickets); bound %d"
              % (name, count, total, n, full, headeronly, self.empty, bound))
        ok = True
        if headeronly:
            print("FAIL: %s: %d records carry only reply headers"
                  % (name, headeronly))
            ok = False
        if n > bound:
            print("FAIL: %s: %d records for %d replies, more than %d"
                  % (name, n, count, bound))
            ok = False
        return ok

    def close(self):
        self.send(nr.request(nr.CMD_DISC, 0, 0, 0))
        self.s.close()


ok = True
for structured in (False, True):
    kind = "structured" if structured else "simple"
    c = TLSConn(structured)
    ok &= c.phase("%s 32 x 4 KiB" % kind, 32, 4096)
    ok &= c.phase("%s 4 x 1 MiB" % kind, 4, 1 << 20)
    ok &= c.phase("%s 64 x 512 B" % kind, 64, 512)
    c.close()
sys.exit(0 if ok else 1)
