"""Writer for sigterm.sh: keeps DEPTH 4 KiB writes in flight (no flush, no
FUA) to consecutive blocks, sweeping the export again and again, and logs
"INDEX GEN" for every write whose successful reply arrived.  Ends when the
server goes away (exit 0) or after MAX_SECONDS without that (exit 2).

    sigterm_writer.py URI ACK_LOG [DEPTH] [MAX_SECONDS]

The last line of ACK_LOG is "submitted K": writes 0..K-1 were sent; write k
goes to block k % NBLOCKS with generation k // NBLOCKS.
Block content: 128 copies of the 32-byte record
    b"LLOOPSIG" | index (u64 LE) | gen (u64 LE) | index ^ gen ^ 0x5a5a5a5a (u64 LE)
"""

import struct
import sys
import time

import nbd

BS = 4096


def block(index, gen):
    rec = b"LLOOPSIG" + struct.pack("<QQQ", index, gen, index ^ gen ^ 0x5A5A5A5A)
    return rec * (BS // len(rec))


def main():
    uri, logpath = sys.argv[1], sys.argv[2]
    depth = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    max_seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 30.0
    log = open(logpath, "w")
    h = nbd.NBD()
    h.connect_uri(uri)
    nblocks = h.get_size() // BS
    log.write("nblocks %d\n" % nblocks)
    log.flush()

    pending = {}  # cookie -> (index, gen, buffer)
    k = 0
    acked = 0
    start = time.monotonic()
    disconnected = False
    try:
        while time.monotonic() - start < max_seconds:
            while len(pending) < depth:
                idx, gen = k % nblocks, k // nblocks
                buf = nbd.Buffer.from_bytearray(bytearray(block(idx, gen)))
                cookie = h.aio_pwrite(buf, idx * BS)
                k += 1  # submitted (it may or may not reach the server)
                pending[cookie] = (idx, gen, buf)
            h.poll(-1)
            for cookie in list(pending):
                try:
                    done = h.aio_command_completed(cookie)
                except nbd.Error:
                    # the write failed: not acknowledged
                    del pending[cookie]
                    continue
                if done:
                    idx, gen, _ = pending.pop(cookie)
                    log.write("%d %d\n" % (idx, gen))
                    acked += 1
                    if acked % 128 == 0:
                        log.flush()
    except nbd.Error as e:
        disconnected = True
        print("writer: connection ended: %s" % e.string, flush=True)
    # collect replies that arrived before the connection ended
    for cookie in list(pending):
        try:
            if h.aio_command_completed(cookie):
                idx, gen, _ = pending.pop(cookie)
                log.write("%d %d\n" % (idx, gen))
                acked += 1
        except nbd.Error:
            pass
    log.write("submitted %d\n" % k)
    log.close()
    print("writer: %d submitted, %d acknowledged, %.1f s" % (
        k, acked, time.monotonic() - start), flush=True)
    sys.exit(0 if disconnected else 2)


main()
