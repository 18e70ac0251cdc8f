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

    def judge(self, image, state, writes_to, durable, acked, self_check=False):
        """What the blocks of image say after a crash.  state: block -> what
        the last check read (0 zeros, a write id, -1 torn); writes_to:
        block -> the write ids sent to it, in order; durable and acked: sets
        of write ids.  A block must hold its last durable write or a newer
        one, or, with none durable, what it held or any write sent to it.
        self_check: expect the wrong id of every durable write (the test's
        own check that a loss is seen).  Returns (counts, bad, new_state)."""
        bad = []
        counts = {"durable ok": 0, "newer than durable": 0,
                  "not durable, written": 0, "not durable, as before": 0,
                  "untouched": 0, "torn (no durable write)": 0,
                  "acknowledged but not there (allowed)": 0}
        new_state = {}
        for b in range(len(image) // BS):
            got = self.parse(b, image[b * BS:(b + 1) * BS])
            before = state.get(b, 0)  # -1: torn before
            ws = writes_to.get(b, [])
            new_state[b] = got if isinstance(got, int) else -1
            if not ws:
                if got == before or (before == -1 and isinstance(got, str)):
                    counts["untouched"] += 1
                else:
                    bad.append("block %d: not written this round, holds %r, "
                               "held %#x" % (b, got, before))
                continue
            last_durable = max((i for i, w in enumerate(ws) if w in durable),
                               default=-1)
            last_acked = max((i for i, w in enumerate(ws) if w in acked),
                             default=-1)
            if isinstance(got, str):
                if last_durable >= 0:
                    bad.append("block %d: %s; write %#x was durable"
                               % (b, got, ws[last_durable]))
                else:
                    counts["torn (no durable write)"] += 1
                continue
            allowed = ws[last_durable:] if last_durable >= 0 else [before] + ws
            if self_check and last_durable >= 0:
                allowed = [w ^ 1 for w in allowed]
            if got not in allowed:
                if got in ws:
                    bad.append("block %d: holds write %#x, older than durable "
                               "write %#x" % (b, got, ws[last_durable]))
                elif got == before:
                    bad.append("block %d: holds what it held before, durable "
                               "write %#x lost" % (b, ws[last_durable]))
                else:
                    bad.append("block %d: holds %#x, neither its old content "
                               "nor a write sent to it" % (b, got))
                continue
            pos = ws.index(got) if got in ws else -1  # -1: the old content
            if pos < last_acked:
                counts["acknowledged but not there (allowed)"] += 1
            if last_durable >= 0:
                counts["durable ok" if pos == last_durable
                       else "newer than durable"] += 1
            else:
                counts["not durable, as before" if pos < 0
                       else "not durable, written"] += 1
        return counts, bad, new_state
