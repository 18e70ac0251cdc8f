#!/bin/bash
# SIGTERM under load loses no acknowledged write: a libnbd writer keeps 64
# 4 KiB writes in flight (no flush/FUA) and logs each acknowledged one; the
# server gets SIGTERM mid-way and must exit 0; then every acknowledged block
# must hold its pattern in the image file.  Direct I/O and --cache writeback.
. "$(dirname "$0")/lib.sh"
need_pynbd
describe "SIGTERM during a write load: exit 0, every acknowledged 4 KiB write on disk"

run_case() {
	local label=$1
	shift
	local img=$T/$label.img acklog=$T/$label.acks
	log "case $label"
	start_server --create 32M "$@" "$img"
	"$PY" "$INTEROP_DIR/sigterm_writer.py" "$(nbd_uri)" "$acklog" 64 30 \
		>"$T/$label.writer" 2>&1 &
	local wpid=$! i n
	track_pid "$wpid"
	# let it run ~3 s with at least 3000 acknowledged writes
	for ((i = 0; i < 300; i++)); do
		n=0
		[ ! -f "$acklog" ] || n=$(($(wc -l <"$acklog")))
		[ "$i" -lt 30 ] || [ "$n" -lt 3000 ] || break
		kill -0 "$wpid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$wpid" 2>/dev/null || {
		cat "$T/$label.writer"
		fail "$label: writer ended before SIGTERM"
	}
	[ "$n" -ge 3000 ] || fail "$label: only $n writes acknowledged in 30 s"
	log "$label: $n writes acknowledged so far, sending SIGTERM"
	stop_server
	# the writer notices the disconnect and ends by itself
	local rc=0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$wpid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$wpid" 2>/dev/null && fail "$label: writer still running 10 s after the server exited"
	wait "$wpid" || rc=$?
	cat "$T/$label.writer"
	[ "$rc" = 0 ] || fail "$label: writer exited with status $rc (2 = never saw the disconnect)"
	"$PY" "$INTEROP_DIR/sigterm_check.py" "$img" "$acklog" ||
		fail "$label: acknowledged writes lost"
}

run_case direct
run_case writeback --cache writeback
echo "sigterm: ok"
