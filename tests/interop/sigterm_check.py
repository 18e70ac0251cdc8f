"""Checker for sigterm.sh: every block acknowledged in ACK_LOG (written by
sigterm_writer.py) must hold its pattern in IMAGE, at the acknowledged
generation or a later one that was submitted; no block may hold garbage.

    sigterm_check.py IMAGE ACK_LOG
"""

import struct
import sys

BS = 4096
image, logpath = sys.argv[1], sys.argv[2]
lines = open(logpath).read().split("\n")
assert lines[0].startswith("nblocks "), "ack log lacks its header"
nblocks = int(lines[0].split()[1])
tail = [l for l in lines if l.startswith("submitted ")]
assert len(tail) == 1, "ack log lacks its 'submitted' line (writer did not finish)"
submitted = int(tail[0].split()[1])

acked = {}
nacks = 0
for l in lines[1:]:
    if not l or l.startswith("submitted"):
        continue
    i, g = (int(x) for x in l.split())
    nacks += 1
    if g > acked.get(i, -1):
        acked[i] = g


def max_sent_gen(i):
    # largest g with g * nblocks + i < submitted, or -1
    if i >= submitted:
        return -1
    return (submitted - 1 - i) // nblocks


bad = []
stats = {"acked_ok": 0, "newer_unacked": 0, "zero": 0}
with open(image, "rb") as f:
    for i in range(nblocks):
        data = f.read(BS)
        want = acked.get(i)
        if data == bytes(BS):
            if want is not None:
                bad.append("block %d: zeros, acknowledged gen %d" % (i, want))
            stats["zero"] += 1
            continue
        rec = data[:32]
        ok = rec[:8] == b"LLOOPSIG" and data == rec * (BS // 32)
        if ok:
            idx, gen, chk = struct.unpack("<QQQ", rec[8:])
            ok = idx == i and chk == idx ^ gen ^ 0x5A5A5A5A
        if not ok:
            bad.append("block %d: not a valid pattern (%r...)" % (i, data[:40]))
            continue
        if gen > max_sent_gen(i):
            bad.append("block %d: gen %d was never submitted" % (i, gen))
        elif want is not None and gen < want:
            bad.append("block %d: gen %d on disk, gen %d was acknowledged" % (i, gen, want))
        elif want is not None and gen == want:
            stats["acked_ok"] += 1
        else:
            stats["newer_unacked"] += 1

print("check: %d blocks, %d writes submitted, %d acknowledged (%d distinct blocks); "
      "on disk: %d at the acknowledged gen, %d newer unacknowledged, %d never written"
      % (nblocks, submitted, nacks, len(acked), stats["acked_ok"],
         stats["newer_unacked"], stats["zero"]))
if nacks == 0:
    sys.exit("no write was acknowledged")
if bad:
    for b in bad[:20]:
        print("LOST:", b)
    sys.exit("%d blocks lost or corrupt" % len(bad))
