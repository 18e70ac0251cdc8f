#!/bin/bash
# lloop-test: engine-independent
# Logging (src/core/log.c):
#  1. --log=syslog: in a private mount namespace whose /dev/log is a
#     datagram socket of the test's (no syslog daemon needed), lloop serve
#     sends its start-up and stop lines there, with facility daemon, the
#     right priorities (warning 28, info 30) and "lloop[PID]:", and
#     nothing to stderr; a bad --log value is exit 2;
#  2. the rate limiter: with --inject-fault read:EIO:1 and --log-level
#     error (the injector's own per-fault warnings hidden), 10,000 failing
#     reads give a handful of error lines and "repeated N times" lines
#     whose counts add up to exactly 10,000 with them.
# A part that cannot run here (1 needs root and unshare, 2 needs libnbd's
# Python module) is named at the end; with neither, the test is skipped.
. "$(dirname "$0")/../interop/lib.sh"
describe "--log=syslog to /dev/log; a repeated I/O error is rate-limited with a count"
need_lloop

NOT_RUN=()
# not_run WHAT: a part that cannot run here, said now and at the end
not_run() {
	NOT_RUN+=("$1")
	echo "--- not run: $1"
}

# ---- usage ---------------------------------------------------------------------
rc=0
"$LLOOP" serve --log=journal memory:1M 2>"$T/err" </dev/null || rc=$?
assert_eq "$rc" 2 "exit status of --log=journal"
grep -qx "lloop: error: --log journal: expected stderr or syslog" "$T/err" ||
	fail "--log=journal: $(cat "$T/err")"
# whole texts first: grep -q leaving early would SIGPIPE a longer help
grep -q -- "--log TARGET" <<<"$("$LLOOP" serve --help)" || fail "serve --help has no --log"
grep -q -- "--log TARGET" <<<"$("$LLOOP" attach --help)" || fail "attach --help has no --log"

# ---- 1. syslog ----------------------------------------------------------------------
syslog_test() {
	command -v unshare >/dev/null || { not_run "syslog (no unshare)"; return 0; }
	[ "$(id -u)" = 0 ] || { not_run "syslog (not root: cannot mount over /dev/log)"; return 0; }
	cat >"$T/recv.py" <<'PYEOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[2] + ".bound", "w").close()
s.settimeout(0.5)
end = time.time() + 60
with open(sys.argv[2], "w", buffering=1) as f:
    while time.time() < end:
        try:
            m = s.recv(8192).decode(errors="replace")
        except socket.timeout:
            continue
        f.write(m.replace("\n", " ") + "\n")
        if "draining and stopping" in m:
            break
PYEOF
	"$PY" "$T/recv.py" "$T/log.sock" "$T/syslog.txt" &
	track_pid $!
	local rpid=$! i
	for ((i = 0; i < 100; i++)); do [ -e "$T/syslog.txt.bound" ] && break; sleep 0.1; done
	mkdir "$T/dev"
	# a /dev of our own in the namespace: a few nodes and log -> our socket;
	# the namespace (and its mounts) end with the process
	local rc=0
	unshare -m --propagation private sh -ec '
		mount -t tmpfs -o mode=755 lloop-test-dev "$1"
		for n in null zero urandom; do
			touch "$1/$n"
			mount --bind "/dev/$n" "$1/$n"
		done
		ln -s "$2" "$1/log"
		mount --rbind "$1" /dev
		shift 2
		exec "$@"' sh "$T/dev" "$T/log.sock" \
		"$LLOOP" serve --engine "$LLOOP_ENGINE" --log=syslog --no-mlock --daemon \
		--pidfile "$T/sys.pid" --listen "unix:$T/sys.sock" memory:1M \
		>"$T/sys.out" 2>"$T/sys.err" </dev/null || rc=$?
	if [ "$rc" != 0 ] && grep -qiE 'unshare|mount' "$T/sys.err"; then
		not_run "syslog (no private /dev here: $(head -n 2 "$T/sys.err" | paste -sd ' '))"
		return 0
	fi
	assert_eq "$rc" 0 "lloop serve --log=syslog --daemon in the namespace ($(cat "$T/sys.err"))"
	local pid
	pid=$(cat "$T/sys.pid")
	track_pid "$pid"
	kill -TERM "$pid"
	for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	! kill -0 "$pid" 2>/dev/null || fail "serve $pid still runs after SIGTERM"
	wait "$rpid" || :
	[ ! -s "$T/sys.err" ] || fail "with --log=syslog stderr got: $(cat "$T/sys.err")"
	grep -qE "^<30>.* lloop\[$pid\]: listening on unix:$T/sys.sock$" "$T/syslog.txt" ||
		fail "no info line 'listening on' from lloop[$pid] at <30> (daemon.info): $(cat "$T/syslog.txt")"
	grep -qE "^<30>.* lloop\[$pid\]: SIGTERM: draining and stopping$" "$T/syslog.txt" ||
		fail "no stop line in syslog: $(cat "$T/syslog.txt")"
	if grep -q "PR_SET_IO_FLUSHER" "$T/syslog.txt"; then
		grep -qE "^<28>.* lloop\[$pid\]: PR_SET_IO_FLUSHER" "$T/syslog.txt" ||
			fail "the IO_FLUSHER warning is not at <28> (daemon.warning)"
	fi
	! grep -q "lloop: " "$T/syslog.txt" || fail "syslog lines carry the stderr prefix"
	log "syslog: $(wc -l <"$T/syslog.txt") datagrams on /dev/log from lloop[$pid], nothing on stderr"
	return 0
}
syslog_test

# ---- 2. the rate limiter ----------------------------------------------------------
# finish: PASS, naming what did not run; a skip when neither part ran
finish() {
	case ${#NOT_RUN[@]} in
	0) log PASS ;;
	1) log "PASS, but not run here: ${NOT_RUN[0]}" ;;
	*) skip "$(printf '%s; ' "${NOT_RUN[@]}")only the --log usage checks ran" ;;
	esac
	exit 0
}
if [ ! -x "$PY" ] || ! "$PY" -c 'import nbd' 2>/dev/null; then
	not_run "the rate limiter (python3-libnbd not importable by $PY)"
	finish
fi
N=10000
start_server_unix --log-level error --no-mlock --inject-fault read:EIO:1 memory:16M
"$PY" - "$(nbd_uri)" "$N" <<'PYEOF' || fail "the reads did not all fail"
import sys, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
failed = 0
for i in range(int(sys.argv[2])):
    try:
        h.pread(4096, (i * 4096) % (16 << 20))
    except nbd.Error:
        failed += 1
h.shutdown()
print("%d of %s reads failed" % (failed, sys.argv[2]))
sys.exit(failed != int(sys.argv[2]))
PYEOF
log_copy=$T/server.log
stop_server
cp "$SERVER_LOG" "$log_copy"
errors=$(grep -c '^lloop: error: ' "$log_copy" || :)
[ "$errors" -gt 0 ] ||
	fail "no error line for $N failed reads: the frontends do not log a failed request (the log_error_ratelimited call is missing)"
"$PY" - "$log_copy" "$N" <<'PYEOF' || fail "the rate-limited lines do not add up"
import re, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("lloop: error: ")]
want = int(sys.argv[2])
rep = [int(m.group(1)) for l in lines
       for m in [re.search(r"\(repeated (\d+) times in the last \d+ s\)$", l)] if m]
plain = len(lines) - len(rep)
print("%d error lines: %d as they came, %d with a count (%s); %d in all"
      % (len(lines), plain, len(rep), "+".join(map(str, rep)), plain + sum(rep)))
if not rep:
    sys.exit("no 'repeated N times' line")
if plain + sum(rep) != want:
    sys.exit("the lines and the counts add up to %d, not %d" % (plain + sum(rep), want))
if len(lines) > want // 50:
    sys.exit("%d lines: not rate-limited" % len(lines))
PYEOF
! grep -q "inject-fault: memory:16M: read" "$log_copy" || fail "--log-level error let the injector's warnings through"
log "rate limiter: $errors error lines for $N failed reads, the counts exact"
finish
