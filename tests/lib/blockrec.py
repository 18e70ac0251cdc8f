"""Self-describing 4 KiB blocks for the crash tests (hostile/crash.py over
NBD, hostile/crash_attach.py on a block device): every 32 bytes of a block
say which block it is and which write put it there, with a check, so that a
read-back tells zeros, a whole record of this block, a record of another
block, and torn or foreign data apart."""
import struct

BS = 4096
K = 0xA5A5A5A5A5A5A5A5
ZERO = bytes(BS)


class Records:
    def __init__(self, magic):
        assert len(magic) == 8
        self.magic = magic

    def record(self, block, wid):
        return self.magic + struct.pack("<QQQ", block, wid, block ^ wid ^ K)

    def payload(self, first, n, wid):
        """n whole blocks from block first, all written by wid"""
        return b"".join(self.record(b, wid) * (BS // 32)
                        for b in range(first, first + n))

    def parse(self, block, data):
        """0 for zeros, the write id of a valid record of this block, or a
        string saying what is wrong"""
        if data == ZERO:
            return 0
        rec = data[:32]
        if rec[:8] != self.magic or data != rec * (BS // 32):
            return "not a whole record (torn or garbage)"
        b, wid, chk = struct.unpack("<QQQ", rec[8:])
        if chk != b ^ wid ^ K:
            return "a record with a bad check"
        if b != block:
            return "the record of block %d (write %#x)" % (b, wid)
        return wid
