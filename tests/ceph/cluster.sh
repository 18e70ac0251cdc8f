#!/usr/bin/env bash
# lloop-test: engine-independent (the test cluster itself; lloop is not run)
# The throwaway Ceph cluster of tests/lib/ceph.sh works as the rbd: tests
# need it: one mon and one memstore osd on 127.0.0.1 come up with an rbd
# pool; client.lloop creates, imports and exports images byte for byte;
# a wrong key is refused by cephx; ceph_stop leaves no daemon behind, and
# neither does the exit trap of a test that fails with the cluster up.
. "$(dirname "$0")/../interop/lib.sh"
. "$REPO/tests/lib/ceph.sh"
ceph_available || skip "$CEPH_MISSING"
need cmp head timeout
describe "one-node Ceph cluster: start, rbd import/export as client.lloop, wrong key refused, stop"

# every client command is bounded: a hung cluster fails the test, with
# the daemons' logs
crbd() {
	local rc=0
	timeout -k 5 60 rbd "$@" || rc=$?
	[ "$rc" = 0 ] || _ceph_fail "rbd $* exited with status $rc"
}

rss() {
	awk '/^VmRSS:/ { printf "%d MiB", $2 / 1024 }' "/proc/$1/status"
}

touch "$T/stamp"
t0=$EPOCHREALTIME
ceph_start "$T/ceph"
MON=$CEPH_MON_PID
OSD=$CEPH_OSD_PID

log "the conf and keyrings are where the library says"
for f in "$CEPH_CONF" "$CEPH_BAD_CONF" "$CEPH_LLOOP_KEYRING" \
	"$CEPH_BAD_KEYRING" "$CEPH_ADMIN_KEYRING"; do
	[ -s "$f" ] || fail "$f missing or empty"
	case "$f" in "$T"/*) ;; *) fail "$f is outside the test's temp dir" ;; esac
done
grep -q "key = $(sed -n 's/^[[:space:]]*key = //p' "$CEPH_BAD_KEYRING")" \
	"$CEPH_LLOOP_KEYRING" && fail "the bad keyring holds the real key"

log "client.lloop creates an image of 64 MiB; it reads back as zeroes"
crbd --id lloop create --size 64M "$CEPH_POOL/disk"
size=$(timeout 60 rbd --id lloop info --format json "$CEPH_POOL/disk" |
	"$PY" -c 'import json, sys; print(json.load(sys.stdin)["size"])')
assert_eq "$size" 67108864 "size of $CEPH_POOL/disk"
crbd --id lloop export --no-progress "$CEPH_POOL/disk" "$T/disk.raw"
head -c 64M /dev/zero | cmp - "$T/disk.raw" || fail "a new image does not read as zeroes"
rm -f "$T/disk.raw"

log "rbd import then rbd export gives back the same 64 MiB"
make_random "$T/in.raw" 64
crbd --id lloop import --no-progress "$T/in.raw" "$CEPH_POOL/imported"
crbd --id lloop export --no-progress "$CEPH_POOL/imported" "$T/out.raw"
cmp "$T/in.raw" "$T/out.raw" || fail "rbd export differs from what rbd import wrote"
rm -f "$T/in.raw" "$T/out.raw"

log "rbd bench writes reach the image (export no longer all zeroes)"
crbd --id lloop bench --io-type write --io-size 64K --io-threads 4 \
	--io-total 8M --io-pattern rand "$CEPH_POOL/disk" >/dev/null
crbd --id lloop export --no-progress "$CEPH_POOL/disk" "$T/disk.raw"
head -c 64M /dev/zero | cmp -s - "$T/disk.raw" &&
	fail "rbd bench wrote 8 MiB, yet the image still reads as zeroes"
rm -f "$T/disk.raw"

log "both images are listed for client.lloop"
list=$(timeout 60 rbd --conf "$CEPH_CONF" --id lloop ls "$CEPH_POOL" | sort | tr '\n' ' ')
assert_eq "$list" "disk imported " "rbd ls as client.lloop"

log "the wrong key for client.lloop is refused by cephx"
rc=0
timeout 60 rbd --conf "$CEPH_BAD_CONF" --id lloop ls "$CEPH_POOL" \
	>"$T/bad.out" 2>"$T/bad.err" || rc=$?
[ "$rc" != 0 ] || fail "rbd ls with the wrong key succeeded: $(cat "$T/bad.out")"
[ "$rc" != 124 ] || fail "rbd ls with the wrong key hung instead of being refused"
grep -qi 'permission denied' "$T/bad.err" ||
	fail "rbd ls with the wrong key: status $rc, no 'Permission denied': $(cat "$T/bad.err")"
log "refused with status $rc: $(grep -i 'permission denied' "$T/bad.err")"
log "the bad conf is only bad for client.lloop: client.admin still lists"
list=$(timeout 60 rbd --conf "$CEPH_BAD_CONF" ls "$CEPH_POOL" | sort | tr '\n' ' ')
assert_eq "$list" "disk imported " "rbd ls as client.admin with the bad conf"

log "memory: ceph-mon $(rss "$MON"), ceph-osd $(rss "$OSD") RSS after 72 MiB written"

log "ceph_stop: both daemons gone, nothing runs from $CEPH_DIR"
ceph_stop
for pid in "$MON" "$OSD"; do
	! kill -0 "$pid" 2>/dev/null || fail "ceph daemon $pid still running after ceph_stop"
done
left=$(pgrep -a -f -- "$CEPH_DIR" || :)
[ -z "$left" ] || fail "processes still use $CEPH_DIR: $left"
log "cluster up, used and down in $(awk -v a="$t0" -v b="$EPOCHREALTIME" \
	'BEGIN { printf "%.1f", b - a }') s (start: $CEPH_START_SECONDS s)"

log "a test failing with its cluster up: the exit trap stops the daemons"
mkdir "$T/child"
cat >"$T/child.sh" <<EOF
. "$REPO/tests/interop/lib.sh"
. "$REPO/tests/lib/ceph.sh"
ceph_start "\$T/ceph"
echo "\$CEPH_MON_PID \$CEPH_OSD_PID" >"$T/child.pids"
fail "deliberate failure with the cluster up"
EOF
rc=0
TMPDIR=$T/child bash "$T/child.sh" >"$T/child.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$T/child.log" >&2; fail "child test exited $rc, expected 1"; }
[ -s "$T/child.pids" ] || { cat "$T/child.log" >&2; fail "child cluster did not start"; }
read -r cmon cosd <"$T/child.pids"
for pid in $cmon $cosd; do
	# only a process still running from the child's dir is a leftover (the
	# PID may have been reused by then)
	if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$T/child/"; then
		kill -KILL "$pid" 2>/dev/null || :
		fail "ceph daemon $pid of the failed child test outlived its exit trap"
	fi
done
[ -z "$(ls -A "$T/child")" ] || fail "the failed child test left files: $(ls -A "$T/child")"

log "nothing was written to the system's ceph directories"
new=$(find /etc/ceph /var/lib/ceph /var/run/ceph /run/ceph /var/log/ceph \
	-newer "$T/stamp" 2>/dev/null || :)
[ -z "$new" ] || fail "files changed outside the test's temp dir: $new"
log "ok"
