#!/usr/bin/env bash
# lloop-test: engine-independent
# rbd: when the cluster says no, or stops answering, or lloop is killed:
# a bad spec, a missing configuration, pool, image or snapshot, a wrong
# key, and a cluster that does not answer within --ceph-timeout each give
# one clear error line at start-up and exit 1; an OSD that stops answering
# makes requests fail (EIO or ETIMEDOUT) after --ceph-timeout while the
# daemon stays up and serves again once the OSD is back; SIGKILLs in the
# middle of writes lose no flushed or FUA write (tests/hostile/crash.py on
# an rbd: image), and the restarted daemon takes over the dead one's lock.
. "$(dirname "$0")/../interop/lib.sh"
. "$REPO/tests/lib/ceph.sh"
describe "rbd: one-line start-up errors, a stalled OSD, SIGKILL mid-write"
need_lloop
"$LLOOP" --version | grep -q '^Ceph RBD: available' ||
	skip "this lloop is built without librbd"
ceph_available || skip "$CEPH_MISSING"
need qemu-io
ceph_start "$T/ceph"
P=$CEPH_POOL
AS=(--ceph-conf "$CEPH_CONF" --ceph-id lloop)
rbd create --size 32M "$P/img"

# refused SPEC WANT [OPTIONS...]: exit 1, and the one line of stderr has WANT
refused() {
	local spec=$1 want=$2 rc=0 port
	shift 2
	port=$(free_port)
	timeout 60 "$LLOOP" serve --listen "tcp://127.0.0.1:$port" "$@" "$spec" \
		>"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" = 1 ] || fail "$spec $*: exit status $rc, expected 1: $(cat "$T/err")"
	# the warnings about memory settings are not errors
	grep -v 'warning: ' "$T/err" >"$T/errors" || :
	[ "$(wc -l <"$T/errors")" = 1 ] ||
		fail "$spec $*: expected one error line, got: $(cat "$T/errors")"
	grep -qF -- "$want" "$T/errors" ||
		fail "$spec $*: the error does not say '$want': $(cat "$T/errors")"
	echo "    $(cat "$T/errors")"
}

log "start-up errors, one line each"
refused "rbd:$P" "expected rbd:POOL/IMAGE or rbd:POOL/IMAGE@SNAPSHOT" "${AS[@]}"
refused "rbd:$P/img@" "expected rbd:POOL/IMAGE" "${AS[@]}"
refused "rbd:$P/img" "--ceph-conf $T/none.conf: no such file" \
	--ceph-conf "$T/none.conf" --ceph-id lloop
refused "rbd:nopool/img" "pool nopool: no such pool" "${AS[@]}"
refused "rbd:$P/noimage" "no image noimage in pool $P" "${AS[@]}"
refused "rbd:$P/img@nosnap" "no image img with a snapshot nosnap in pool $P" "${AS[@]}"
refused "rbd:$P/img" "the cluster refused client.lloop: wrong or missing key" \
	--ceph-conf "$CEPH_BAD_CONF" --ceph-id lloop
refused "rbd:$P/img" "no keyring with a key for client.nobody" \
	--ceph-conf "$CEPH_CONF" --ceph-id nobody
# a monitor address nobody answers on
dead=$(free_port)
sed -E "s/^([[:space:]]*mon[_ ]host[[:space:]]*=).*/\1 v2:127.0.0.1:$dead/" \
	"$CEPH_CONF" >"$T/dead.conf"
grep -q "127.0.0.1:$dead" "$T/dead.conf" || fail "could not point $T/dead.conf at a dead port"
t0=$(date +%s)
refused "rbd:$P/img" "no Ceph monitor answered within 3 s" \
	--ceph-conf "$T/dead.conf" --ceph-id lloop --ceph-timeout 3
t1=$(date +%s)
[ $((t1 - t0)) -le 20 ] || fail "--ceph-timeout 3 took $((t1 - t0)) s to give up"
log "an unreachable cluster: refused after $((t1 - t0)) s with --ceph-timeout 3"

# ---- an OSD that stops answering: requests fail, the daemon stays up ----
start_server "${AS[@]}" --ceph-timeout 4 "rbd:$P/img"
qemu-io -f raw -c 'write -P 0x33 0 1M' "$SERVER_URI" >/dev/null
kill -STOP "$CEPH_OSD_PID"
rc=0
t0=$(date +%s)
out=$(timeout 60 qemu-io -f raw -c 'read -P 0x33 0 1M' "$SERVER_URI" 2>&1) || rc=$?
t1=$(date +%s)
kill -CONT "$CEPH_OSD_PID"
[ "$rc" != 124 ] || fail "a read with the OSD stopped hung past 60 s (--ceph-timeout 4)"
grep -qiE "input/output error|timed out" <<<"$out" ||
	fail "a read with the OSD stopped did not fail with EIO/ETIMEDOUT: $out"
kill -0 "$SERVER_PID" || fail "lloop died when the OSD stopped answering"
grep -q "rbd:$P/img.*read" "$SERVER_LOG" || fail "no log line names the failed read"
log "OSD stopped: the read failed after $((t1 - t0)) s ($(grep -oiE 'input/output error|timed out' <<<"$out" | head -n 1))"
# back: the same daemon serves again
for i in $(seq 1 30); do
	qemu-io -f raw -c 'read -P 0x33 0 1M' "$SERVER_URI" >/dev/null 2>&1 && break
	[ "$i" != 30 ] || fail "lloop does not serve again after the OSD came back"
	sleep 1
done
log "OSD back: the same daemon reads the data again"
stop_server

# ---- SIGKILL in the middle of writes ----
[ -x "$PY" ] || skip "$PY not found"
rbd create --size 32M "$P/crash"
CRASH_IMAGE="rbd:$P/crash" CRASH_OPTS="${AS[*]} --ceph-timeout 20" \
	CRASH_START_RETRY=30 \
	"$PY" "$REPO/tests/hostile/crash.py" "$LLOOP" "$LLOOP_ENGINE" "$T" \
	"${CRASH_ROUNDS:-3}" &
DRIVER=$!
track_pid "$DRIVER"
rc=0
wait "$DRIVER" || rc=$?
[ "$rc" = 0 ] || fail "crash consistency on rbd: (crash.py exited with status $rc)"
grep -q "is gone: taking the image over" "$T/server.log" ||
	fail "no restart took over a killed daemon's lock"
log "SIGKILL mid-write: flushed and FUA writes intact after each restart"
ceph_stop
