#!/usr/bin/env bash
# Bounded memory: RSS and VmLck after start-up and after 60 s of 16
# connections at queue depth 128 differ by less than 1 MiB.  Then a
# client that writes without ever reading its replies: the daemon stops
# reading it, keeps serving another client, and its memory stays put.
. "$(dirname "$0")/../interop/lib.sh"
describe "RSS and VmLck stay flat under 16x128 load and a client that never reads"
"$LLOOP" --version | grep -q sanitized &&
	skip "a sanitizer build: memory figures are the sanitizer's, and it allows no mlock or malloc shim"
need fio
SECONDS_LOAD=${BOUNDED_SECONDS:-60}

truncate -s 1G "$T/disk.img"
start_server "$T/disk.img"

status_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$SERVER_PID/status"; }
check_flat() { # WHAT RSS0 LCK0
	local rss lck
	rss=$(status_kb VmRSS)
	lck=$(status_kb VmLck)
	echo "$1: VmRSS $rss kB (start $2 kB, change $((rss - $2)) kB)," \
		"VmLck $lck kB (start $3 kB, change $((lck - $3)) kB)"
	[ $((rss - $2)) -lt 1024 ] && [ $(($2 - rss)) -lt 1024 ] ||
		fail "$1: RSS moved by $((rss - $2)) kB (limit 1024)"
	[ $((lck - $3)) -lt 1024 ] && [ $(($3 - lck)) -lt 1024 ] ||
		fail "$1: VmLck moved by $((lck - $3)) kB (limit 1024)"
}

# a short warm-up faults in the code paths the load will use
fio --name=warm --ioengine=nbd --uri="$SERVER_URI" --rw=randrw --bs=64k \
	--size=16M --numjobs=2 --iodepth=8 --output="$T/warm.txt" >/dev/null ||
	fail "warm-up fio failed"
RSS0=$(status_kb VmRSS)
LCK0=$(status_kb VmLck)
echo "after start-up: VmRSS $RSS0 kB, VmLck $LCK0 kB"

log "$SECONDS_LOAD s of 16 connections at queue depth 128, mixed 4k-1M"
fio --name=load --ioengine=nbd --uri="$SERVER_URI" --rw=randrw \
	--bsrange=4k-1M --size=60M --offset_increment=64M --numjobs=16 \
	--iodepth=128 --time_based --runtime="$SECONDS_LOAD" \
	--group_reporting --output="$T/load.txt" || fail "fio failed: $(tail -5 "$T/load.txt")"
grep -E 'IOPS' "$T/load.txt" | sed 's/^/    /'
check_flat "after load" "$RSS0" "$LCK0"

# Two clients that never read a reply: one asks for 1 MiB reads (its
# replies fill the socket at once), one floods 1 MiB writes.  Each runs a
# blocking sender in a thread and reports how many requests the socket
# took at two times: the reader must stop being read.
cat >"$T/flood.py" <<PYEOF
import sys, threading, time
sys.path.insert(0, "$REPO/tests/lib")
import nbdraw
port, kind = int(sys.argv[1]), sys.argv[2]
s = nbdraw.connect(("127.0.0.1", port))
nbdraw.handshake(s)
sent = 0
def flood():
    global sent
    cmd = nbdraw.CMD_READ if kind == "read" else nbdraw.CMD_WRITE
    payload = b"" if kind == "read" else b"\xab" * (1 << 20)
    while True:
        s.sendall(nbdraw.request(cmd, sent, (sent % 256) << 20, 1 << 20) + payload)
        sent += 1
threading.Thread(target=flood, daemon=True).start()
time.sleep(6)
print(sent, flush=True)
time.sleep(6)
print(sent, flush=True)
time.sleep(60)
PYEOF
log "a client reading 1 MiB blocks and a client writing them, neither reading replies"
"$PY" "$T/flood.py" "$SERVER_PORT" read >"$T/reader.out" &
READER=$!
track_pid "$READER"
"$PY" "$T/flood.py" "$SERVER_PORT" write >"$T/writer.out" &
WRITER=$!
track_pid "$WRITER"
sleep 3
log "a well-behaved client works meanwhile"
for i in 1 2 3 4; do
	timeout 20 qemu-io -f raw -c "write -P 0x5$i $((512 + i))M 1M" \
		-c "read -P 0x5$i $((512 + i))M 1M" "$SERVER_URI" >"$T/qio.txt" ||
		fail "a well-behaved client was starved: $(cat "$T/qio.txt")"
done
echo "    it wrote and read back 4 MiB"
sleep 10
r1=$(sed -n 1p "$T/reader.out")
r2=$(sed -n 2p "$T/reader.out")
w2=$(sed -n 2p "$T/writer.out")
echo "non-reading reader: socket took $r1 requests by 6 s, $r2 by 12 s"
echo "non-reading writer: socket took $w2 requests of 1 MiB in 12 s"
[ -n "$r1" ] && [ -n "$r2" ] || fail "the flooding clients did not report"
[ "$r1" = "$r2" ] || fail "the server kept reading a client that reads no replies ($r1 -> $r2)"
check_flat "with both clients stalled or flooding" "$RSS0" "$LCK0"
kill "$READER" "$WRITER" 2>/dev/null || :
wait "$READER" "$WRITER" 2>/dev/null || :
stop_server
