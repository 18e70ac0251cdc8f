# Shared helpers for the lloop interop tests.  Source it from every test:
#
#   . "$(dirname "$0")/lib.sh"
#
# Exit codes of a test: 0 pass, 77 skip, anything else fail.
#
# Environment:
#   LLOOP           server binary (default: <repo>/build/lloop)
#   LLOOP_ENGINE    uring|threads, passed as --engine to every server (default uring)
#   LLOOP_LOG_LEVEL if set, passed as --log-level to every server
#   TMPDIR          parent of the per-test temp dir (default /tmp)

set -euo pipefail

repo() {
	(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
}

REPO=$(repo)
LLOOP=${LLOOP:-$REPO/build/lloop}
LLOOP_ENGINE=${LLOOP_ENGINE:-uring}
# nbdsh and the libnbd Python binding only work with the system interpreter.
PY=/usr/bin/python3
# shellcheck disable=SC2034 # used by the tests that source this file
INTEROP_DIR=$REPO/tests/interop
TEST_NAME=$(basename "$0" .sh)

case "$LLOOP_ENGINE" in
uring | threads) ;;
*)
	echo "FAIL: LLOOP_ENGINE must be uring or threads, not '$LLOOP_ENGINE'" >&2
	exit 1
	;;
esac

T=$(mktemp -d "${TMPDIR:-/tmp}/lloop-$TEST_NAME.XXXXXX")

# PIDs of every process this test started in the background (servers,
# writers); the exit trap kills the ones still alive, by PID only.
TRACKED_PIDS=()
SERVER_PID=
SERVER_LOG=
SERVER_PORT=
SERVER_SOCK=
SERVER_URI=
SERVER_SEQ=0

track_pid() {
	TRACKED_PIDS+=("$1")
}

# shm_dir: SHM becomes a new directory in /dev/shm (a tmpfs), removed at
# exit, or empty when /dev/shm is not there or not writable
SHM=
shm_dir() {
	SHM=
	[ -d /dev/shm ] && [ -w /dev/shm ] || return 0
	SHM=$(mktemp -d "/dev/shm/lloop-$TEST_NAME.XXXXXX")
}

_cleanup() {
	local rc=$? pid i
	trap - EXIT INT TERM
	for pid in "${TRACKED_PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null || continue
		kill -TERM "$pid" 2>/dev/null || :
	done
	for pid in "${TRACKED_PIDS[@]}"; do
		for ((i = 0; i < 30; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "cleanup: killing leftover process $pid" >&2
			kill -KILL "$pid" 2>/dev/null || :
		fi
		wait "$pid" 2>/dev/null || :
	done
	rm -rf "$T"
	[ -z "$SHM" ] || rm -rf "$SHM"
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() {
	echo "--- $*"
}

# Describe what the test does (one or two lines).
describe() {
	echo "=== $TEST_NAME [engine=$LLOOP_ENGINE]: $*"
}

skip() {
	echo "SKIP: $*"
	exit 77
}

fail() {
	echo "FAIL: $*" >&2
	if [ -n "$SERVER_LOG" ] && [ -s "$SERVER_LOG" ]; then
		echo "--- last lines of server log $SERVER_LOG:" >&2
		tail -n 20 "$SERVER_LOG" >&2
	fi
	exit 1
}

need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "$c not installed"
	done
}

need_pynbd() {
	[ -x "$PY" ] || skip "$PY not found"
	"$PY" -c 'import nbd' 2>/dev/null || skip "python3-libnbd not importable by $PY"
}

need_lloop() {
	[ -x "$LLOOP" ] || fail "server binary $LLOOP not found (run make)"
}

# assert_eq ACTUAL EXPECTED WHAT
assert_eq() {
	[ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"
}

# Free TCP port on 127.0.0.1 (or ::1 with argument 6), chosen by the kernel.
# shellcheck disable=SC2120
free_port() {
	"$PY" - "${1:-4}" <<'EOF'
import socket, sys
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.bind(("::1" if fam == socket.AF_INET6 else "127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# _launch LISTEN_ARGS... -- SERVER_ARGS...: start lloop in the background with
# a pidfile and wait up to 10 s for the pidfile.  Returns 2 (without failing)
# if the server died reporting an address in use, so callers can retry.
_launch() {
	local listen=() pf i pid
	while [ "$1" != -- ]; do
		listen+=("$1")
		shift
	done
	shift
	need_lloop
	SERVER_SEQ=$((SERVER_SEQ + 1))
	pf=$T/server$SERVER_SEQ.pid
	SERVER_LOG=$T/server$SERVER_SEQ.log
	local extra=(--engine "$LLOOP_ENGINE")
	[ -z "${LLOOP_LOG_LEVEL:-}" ] || extra+=(--log-level "$LLOOP_LOG_LEVEL")
	echo "+ lloop serve ${extra[*]} ${listen[*]} --pidfile $pf $*" >"$SERVER_LOG"
	"$LLOOP" serve "${extra[@]}" "${listen[@]}" --pidfile "$pf" "$@" \
		</dev/null 2>>"$SERVER_LOG" >>"$SERVER_LOG" &
	pid=$!
	track_pid "$pid"
	for ((i = 0; i < 100; i++)); do
		if [ -s "$pf" ] && [ "$(tr -d ' \n' <"$pf")" = "$pid" ]; then
			SERVER_PID=$pid
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			local rc=0
			wait "$pid" || rc=$?
			if grep -qi 'in use' "$SERVER_LOG"; then
				return 2
			fi
			echo "server exited with status $rc before writing its pidfile; log:" >&2
			cat "$SERVER_LOG" >&2
			SERVER_LOG=
			fail "server did not start"
		fi
		sleep 0.1
	done
	echo "server log:" >&2
	cat "$SERVER_LOG" >&2
	if [ -s "$pf" ]; then
		fail "pidfile $pf holds '$(cat "$pf")', expected the server PID $pid"
	fi
	SERVER_LOG=
	fail "server did not write its pidfile within 10 s"
}

# start_server ARGS...: lloop on a free TCP port of 127.0.0.1.
# Sets SERVER_PID, SERVER_PORT, SERVER_URI (nbd://127.0.0.1:PORT/), SERVER_LOG.
start_server() {
	[ -z "$SERVER_PID" ] || fail "start_server: a server is already running"
	local rc
	for _ in 1 2 3 4 5; do
		SERVER_PORT=$(free_port 4)
		rc=0
		_launch --listen "tcp://127.0.0.1:$SERVER_PORT" -- "$@" || rc=$?
		[ "$rc" = 2 ] || break
	done
	[ "$rc" = 0 ] || fail "could not find a free port"
	SERVER_SOCK=
	SERVER_URI=nbd://127.0.0.1:$SERVER_PORT/
	log "server pid $SERVER_PID on $SERVER_URI: $*"
}

# start_server_unix ARGS...: lloop on a unix socket in the temp dir.
# Sets SERVER_PID, SERVER_SOCK, SERVER_URI (nbd+unix:///?socket=PATH), SERVER_LOG.
start_server_unix() {
	[ -z "$SERVER_PID" ] || fail "start_server_unix: a server is already running"
	SERVER_SOCK=$T/nbd$((SERVER_SEQ + 1)).sock
	_launch --listen "unix:$SERVER_SOCK" -- "$@" || fail "server did not start"
	SERVER_PORT=
	SERVER_URI="nbd+unix:///?socket=$SERVER_SOCK"
	log "server pid $SERVER_PID on $SERVER_URI: $*"
}

# start_server_raw ARGS...: lloop with the caller's own --listen options.
start_server_raw() {
	[ -z "$SERVER_PID" ] || fail "start_server_raw: a server is already running"
	_launch -- "$@" || fail "server did not start"
	SERVER_PORT='' SERVER_SOCK='' SERVER_URI=''
	log "server pid $SERVER_PID: $*"
}

# nbd_uri [EXPORT]: URI of the running server for the named export
# (default export when omitted).
# shellcheck disable=SC2120
nbd_uri() {
	local name=${1:-}
	if [ -n "$SERVER_SOCK" ]; then
		echo "nbd+unix:///$name?socket=$SERVER_SOCK"
	elif [ -n "$SERVER_PORT" ]; then
		echo "nbd://127.0.0.1:$SERVER_PORT/$name"
	else
		fail "nbd_uri: no server address known"
	fi
}

# stop_server: SIGTERM, wait up to 20 s, fail unless the exit status is 0.
stop_server() {
	[ -n "$SERVER_PID" ] || fail "stop_server: no server running"
	local pid=$SERVER_PID i rc=0
	kill -TERM "$pid" || fail "stop_server: cannot signal server $pid"
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		# a zombie child still answers kill -0; wait reaps it below
		[ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" != Z ] || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null &&
		[ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" != Z ]; then
		fail "server $pid still running 20 s after SIGTERM"
	fi
	wait "$pid" || rc=$?
	SERVER_PID=
	[ "$rc" = 0 ] || fail "server exited with status $rc after SIGTERM (expected 0)"
	# the default control socket goes away with the server
	[ ! -e "/run/lloop/serve-$pid.sock" ] ||
		fail "server $pid left its control socket /run/lloop/serve-$pid.sock behind"
	log "server $pid stopped (exit 0)"
}

# nbdsh runs "python3 -mnbd" from PATH; make that the system interpreter,
# which is the one that has the libnbd binding.
nbdsh() {
	PATH=/usr/bin:$PATH command nbdsh "$@"
}

# workers_sum CTL FIELD: FIELD summed over the workers of the daemon whose
# control socket is CTL (lloop stats --json)
workers_sum() {
	"$LLOOP" stats --json --control "$1" | "$PY" -c '
import json, sys
print(sum(w[sys.argv[1]] for w in json.load(sys.stdin)["workers"]))' "$2"
}

# count_submits PID OUT FILTER... -- CMD...: run CMD while perf counts
# the io_uring requests PID submits (io_uring:io_uring_submit_req) that
# match each FILTER; the counts, in the filters' order, on one line of
# OUT (a count perf did not give is shown as perf wrote it).  CMD's
# status is returned.
count_submits() {
	local pid=$1 out=$2 ev=() pp rc=0
	shift 2
	while [ "$1" != -- ]; do
		ev+=(-e io_uring:io_uring_submit_req --filter "$1")
		shift
	done
	shift
	perf stat -x, -o "$T/perf.txt" "${ev[@]}" -p "$pid" &
	pp=$!
	track_pid "$pp"
	sleep 1	# perf attaches to the threads
	"$@" || rc=$?
	kill -INT "$pp"
	wait "$pp" || true
	awk -F, '/io_uring_submit_req/ { printf "%s ", $1 } END { print "" }' \
		"$T/perf.txt" >"$out"
	return "$rc"
}

# make_random FILE SIZE_MIB: file of random data.
make_random() {
	head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$1"
}
