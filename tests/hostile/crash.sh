#!/usr/bin/env bash
# Crash consistency (crash.py, which drives lloop itself).  20 rounds on one
# 32 MiB image file in TMPDIR (a real file system: what survives a SIGKILL
# of a userspace process is the page cache and the disk, and that is what
# must hold): two writer connections send 4 KiB-256 KiB writes, one in five
# with FUA, a FLUSH every 12, and journal every reply; lloop gets SIGKILL at
# a random moment; lloop restarts on the same image, listen socket and
# control socket path; every write acknowledged before the last acknowledged
# FLUSH and every acknowledged FUA write reads back through it intact, no
# block holds data of another block or of a write never sent there, and no
# block outside the writes changes.  Rounds alternate --cache none and
# writeback.  Then SIGTERM under the same load from four connections: exit
# 0, and every acknowledged write intact (interop/sigterm.sh does this for
# one connection of 4 KiB writes without FLUSH or FUA; this adds mixed
# sizes, FUA and FLUSH in the stream, several connections, and the
# read-back through a new server).
. "$(dirname "$0")/../interop/lib.sh"
[ -x "$PY" ] || skip "$PY not found"
need_lloop
ROUNDS=${CRASH_ROUNDS:-20}
describe "$ROUNDS SIGKILLs at random moments: flushed and FUA writes survive; SIGTERM: all acknowledged"
fstype=$(stat -f -c %T "$T")
echo "image on a $fstype file system ($T)"
[ "$fstype" != tmpfs ] || echo "note: tmpfs: page cache only, no disk behind it"
"$PY" "$REPO/tests/hostile/crash.py" "$LLOOP" "$LLOOP_ENGINE" "$T" "$ROUNDS" &
DRIVER=$!
track_pid "$DRIVER"
rc=0
wait "$DRIVER" || rc=$?
[ "$rc" = 0 ] || fail "crash consistency (crash.py exited with status $rc)"
echo "crash: ok"
