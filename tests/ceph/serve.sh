#!/usr/bin/env bash
# lloop serve rbd:POOL/IMAGE against a throwaway one-node Ceph cluster
# (tests/lib/ceph.sh), with clients written elsewhere and the rbd tool as
# the judge of what reached the cluster: qemu-io patterns at unaligned
# offsets, nbdcopy in and out compared with rbd import/export, fio verify
# over 4 connections, trim and write-zeroes seen by rbd diff, block status
# from the object map, a snapshot served read-only, FUA, and the image's
# lock: --exclusive refuses a second writer, a reader is welcome.
. "$(dirname "$0")/../interop/lib.sh"
. "$REPO/tests/lib/ceph.sh"
describe "rbd: backend: qemu-io, nbdcopy, fio verify, discard/zeroes via rbd diff, snapshots, locks"
need_lloop
"$LLOOP" --version | grep -q '^Ceph RBD: available' ||
	skip "this lloop is built without librbd"
ceph_available || skip "$CEPH_MISSING"
need qemu-io nbdcopy nbdinfo fio
ceph_start "$T/ceph"
log "cluster up in ${CEPH_START_SECONDS}s"
P=$CEPH_POOL
M=$((1024 * 1024))
AS=(--ceph-conf "$CEPH_CONF" --ceph-id lloop --ceph-timeout 20)

rbd create --size 64M "$P/img"
start_server "${AS[@]}" "rbd:$P/img"
grep -q "size:.*$((64 * M))\|$((64 * M))" <(nbdinfo --size "$SERVER_URI") ||
	fail "nbdinfo --size: $(nbdinfo --size "$SERVER_URI")"

# ---- qemu-io: patterns at unaligned offsets, across object boundaries ----
qio() { qemu-io -f raw "$@" "$SERVER_URI"; }
out=$(qio -c 'write -P 0x5a 1000 300000' -c 'write -P 0xa5 4193300 70000' \
	-c 'read -P 0x5a 1000 300000' -c 'read -P 0xa5 4193300 70000' \
	-c 'read -P 0 0 1000' -c 'read -P 0 4263300 1000') ||
	fail "qemu-io: $out"
! grep -qi 'fail\|mismatch\|error' <<<"$out" || fail "qemu-io: $out"
log "qemu-io: unaligned patterns (one across the 4 MiB object boundary) read back"

# what the cluster holds, byte for byte
rbd export --no-progress "$P/img" "$T/export1.img" 2>/dev/null
"$PY" - "$T/export1.img" <<'EOF' || fail "rbd export does not hold the qemu-io patterns"
import sys
d = open(sys.argv[1], "rb").read()
assert d[1000:301000] == b"\x5a" * 300000
assert d[4193300:4263300] == b"\xa5" * 70000
assert d[:1000] == bytes(1000) and d[301000:4193300] == bytes(4193300 - 301000)
EOF
log "rbd export holds exactly what qemu-io wrote"

# ---- nbdcopy in, rbd export out; rbd import in, nbdcopy out ----
make_random "$T/rand.img" 64
nbdcopy --flush "$T/rand.img" "$SERVER_URI"
rbd export --no-progress "$P/img" "$T/export2.img" 2>/dev/null
cmp "$T/rand.img" "$T/export2.img" || fail "nbdcopy into lloop: rbd export differs"
log "nbdcopy -> lloop -> rbd export: identical (64 MiB)"
stop_server

make_random "$T/rand2.img" 32
rbd import --no-progress "$T/rand2.img" "$P/imported" 2>/dev/null
start_server "${AS[@]}" "rbd:$P/imported"
nbdcopy "$SERVER_URI" "$T/copy.img"
cmp "$T/rand2.img" "$T/copy.img" || fail "rbd import -> lloop -> nbdcopy differs"
log "rbd import -> lloop -> nbdcopy: identical (32 MiB)"
stop_server

# ---- fio verify over 4 connections ----
rbd create --size 64M "$P/fio"
start_server "${AS[@]}" "rbd:$P/fio"
fio --name=v --ioengine=nbd --uri="$SERVER_URI" --rw=randwrite --bs=4k \
	--iodepth=16 --numjobs=4 --size=16M --offset_increment=16M \
	--verify=crc32c --verify_state_save=0 --verify_fatal=1 --do_verify=1 --group_reporting \
	--output="$T/fio.out" >/dev/null 2>&1 ||
	fail "fio verify over 4 connections: $(tail -n 20 "$T/fio.out")"
grep -q "err= 0" "$T/fio.out" || fail "fio reported errors: $(grep err= "$T/fio.out")"
log "fio: 4 connections x 16 MiB random 4k writes, crc32c verified"
stop_server

# ---- discard and write-zeroes reach the cluster (rbd diff) ----
rbd create --size 64M "$P/holes"
start_server "${AS[@]}" "rbd:$P/holes"
qio -c 'write -P 0x11 0 16M' >/dev/null
used() { rbd diff "$P/holes" --format json | "$PY" -c '
import json, sys
print(sum(e["length"] for e in json.load(sys.stdin) if e["exists"] == "true" or e["exists"] is True))'; }
u0=$(used)
[ "$u0" -ge $((16 * M)) ] || fail "rbd diff shows $u0 bytes after writing 16 MiB"
# trim 4M-8M (one whole object) and an unaligned range inside object 2
qio -c 'discard 4M 4M' -c 'discard 9000 3000' >/dev/null
qio -c 'read -P 0 4M 4M' -c 'read -P 0 9000 3000' -c 'read -P 0x11 0 9000' \
	-c 'read -P 0x11 12000 1000' >/dev/null || fail "trimmed ranges do not read zeroes"
u1=$(used)
[ "$u1" -le $((u0 - 4 * M)) ] || fail "rbd diff: $u1 bytes in use after trimming an object (was $u0)"
# write-zeroes, may-trim (a hole) and no-trim (allocated)
qio -c 'write -z -u 8M 4M' -c 'write -z 12M 4M' >/dev/null
qio -c 'read -P 0 8M 8M' >/dev/null || fail "zeroed ranges do not read zeroes"
u2=$(used)
[ "$u2" -le $((u1 - 4 * M)) ] || fail "rbd diff: write-zeroes with unmap freed nothing ($u1 -> $u2)"
log "rbd diff: $u0 -> $u1 bytes after a 4 MiB trim -> $u2 after zeroing with unmap"

# block status from the object map: the trimmed object is a hole
map=$(nbdinfo --map "$SERVER_URI")
# 0-4M data; 4M-12M a hole (trimmed, then zeroed with unmap); 12M-16M
# zeroed but kept allocated; the rest never written
want="0 $((4 * M)) 0 data
$((4 * M)) $((8 * M)) 3 hole,zero
$((12 * M)) $((4 * M)) 0 data
$((16 * M)) $((48 * M)) 3 hole,zero"
[ "$(awk '{ print $1, $2, $3, $4 }' <<<"$map")" = "$want" ] ||
	fail "nbdinfo --map: expected
$want
got
$map"
log "block status: data and holes as the object map says"
stop_server

# without an object map: all data, at once (no stat of every object)
rbd create --size 16M --image-feature layering "$P/plain"
start_server "${AS[@]}" "rbd:$P/plain"
map=$(nbdinfo --map "$SERVER_URI")
[ "$(awk '{ print $1, $2, $3 }' <<<"$map")" = "0 $((16 * M)) 0" ] ||
	fail "an image without object map: nbdinfo --map says $map"
log "no object map: block status says all data"
stop_server

# ---- FUA: a write with FUA is answered after a flush ----
start_server "${AS[@]}" "rbd:$P/holes"
qio -c 'write -f -P 0x22 0 64k' >/dev/null || fail "qemu-io write with FUA failed"
rbd export --no-progress "$P/holes" "$T/fua.img" 2>/dev/null
cmp -n 65536 "$T/fua.img" <(head -c 65536 /dev/zero | tr '\0' '\042') ||
	fail "the FUA write is not in the cluster"
rm -f "$T/fua.img"
log "a FUA write is in the cluster while lloop still runs"
stop_server

# ---- a snapshot: served read-only, writes refused ----
rbd snap create "$P/imported@s1" >/dev/null 2>&1
start_server "${AS[@]}" "rbd:$P/imported@s1"
nbdinfo "$SERVER_URI" | grep -q 'is_read_only: true' ||
	fail "the snapshot is not offered read-only"
refused_write() { # URI: a write is refused with EPERM (the export is read-only)
	nbdsh -u "$1" -c '
try:
    h.pwrite(b"x" * 4096, 0)
except nbd.Error as e:
    assert e.errno == "EPERM", e
    sys.exit(0)
sys.exit("the write succeeded")' || fail "a write to $1 was not refused with EPERM"
}
refused_write "$SERVER_URI"
nbdcopy "$SERVER_URI" "$T/snap.img"
cmp "$T/rand2.img" "$T/snap.img" || fail "the snapshot reads differently"
grep -q 'a snapshot: served read-only' "$SERVER_LOG" || fail "no log line for the snapshot"
log "snapshot: read-only, writes refused, reads what was imported"
stop_server

# ---- two writers: refused; --exclusive keeps other writers out ----
# second_writer WHAT [OPTIONS]: a read-write lloop on the image fails with
# one line saying why
second_writer() {
	local what=$1 rc=0 port
	shift
	port=$(free_port)
	timeout 60 "$LLOOP" serve "${AS[@]}" --listen "tcp://127.0.0.1:$port" "$@" \
		"rbd:$P/fio" >"$T/second.out" 2>&1 || rc=$?
	[ "$rc" = 1 ] || fail "$what: a second read-write lloop: exit $rc: $(cat "$T/second.out")"
	grep -q "another client has the image open for writing" "$T/second.out" ||
		fail "$what: the second writer's error does not say why: $(cat "$T/second.out")"
	[ "$(grep -c . "$T/second.out")" = 1 ] || fail "$what: not one line: $(cat "$T/second.out")"
	log "$what: $(cat "$T/second.out")"
}
# without --exclusive: a writer that has not written yet still counts
start_server "${AS[@]}" "rbd:$P/fio"
first=$SERVER_PID
SERVER_PID=
second_writer "beside a plain writer"
second_writer "beside a plain writer, with --exclusive" --exclusive
SERVER_PID=$first
stop_server
# --exclusive: the lock is lloop's from the start, and stays
start_server "${AS[@]}" --exclusive "rbd:$P/fio"
first=$SERVER_PID
rbd lock ls "$P/fio" | grep -q "auto" || fail "--exclusive: no lock on the image: $(rbd lock ls "$P/fio")"
SERVER_PID=
second_writer "beside an --exclusive writer"
# a writer that is not lloop (the rbd tool) is refused too
rc=0
timeout 60 rbd bench --io-type write --io-size 4K --io-total 64K "$P/fio" \
	>"$T/bench.out" 2>&1 || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] ||
	fail "rbd bench wrote to an image lloop holds with --exclusive (rc $rc): $(tail -n 3 "$T/bench.out")"
log "rbd bench --io-type write refused beside --exclusive (exit $rc)"
# a reader is fine beside the writer
start_server "${AS[@]}" --read-only "rbd:$P/fio"
nbdinfo "$SERVER_URI" | grep -q 'is_read_only: true' || fail "the reader is not read-only"
qemu-io -r -f raw -c 'read 0 64k' "$SERVER_URI" >/dev/null || fail "the reader cannot read"
refused_write "$SERVER_URI"
stop_server
SERVER_PID=$first
stop_server
log "a read-only lloop serves beside the --exclusive one"
ceph_stop
