#!/bin/bash
# lloop-test: engine-independent
# --config FILE (src/cli/config.c):
#  1. serve: a config file and the equivalent command line give the same
#     daemon, compared through lloop stats --json (workers, queue depth,
#     buffers, connections, exports, memory settings) and the start-up
#     log; the image comes from the file when the command line has none;
#  2. the precedence: an option after --config overrides the file, one
#     before it is overridden by it;
#  3. errors, for serve and attach: an unknown key, a bad value, a bad
#     flag value, a second image (attach), a bad export line, a missing
#     file, the checks made after parsing (a TLS option without --tls, an
#     export name given twice, --fuse-uring with another frontend): exit
#     status 2 and one line "lloop: error: FILE:LINE: ..."; an image that
#     cannot be opened (attach, root): exit 1, FILE:LINE too; the same
#     mistakes on the command line have no FILE:LINE;
#  4. docs/lloop.conf.example, with its commented keys switched on, is
#     accepted by serve and attach;
#  5. (root, FUSE, loop) attach: config file and command line give the same
#     lloop list --json entry.
# What needs root and cannot run is named at the end ("not run: ...").
. "$(dirname "$0")/../interop/lib.sh"
describe "--config FILE: same behaviour as the command line, FILE:LINE errors"
need_lloop
need truncate

NOT_RUN=()
# not_run WHAT: a part that cannot run here, said now and at the end
not_run() {
	NOT_RUN+=("$1")
	echo "--- not run: $1"
}

E=(--engine "$LLOOP_ENGINE")
img=$T/disk.img
truncate -s 16M "$img"

# stats_norm: lloop stats --json of the running server, without what
# differs from run to run (pid, rss, latency)
stats_norm() {
	"$LLOOP" stats --json --control "$T/ctl.sock" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
for k in ("pid", "latency_us"):
    d.pop(k, None)
for k in ("vm_rss", "vm_locked"):
    d["memory"].pop(k, None)
print(json.dumps(d, indent=1, sort_keys=True))'
}

# startup_log: the server log's lines that describe the configuration
startup_log() {
	grep -E '^lloop: (engine|export|listening|control socket)' "$SERVER_LOG" |
		sed "s/serve-[0-9]*\.sock/serve-PID.sock/"
}

# ---- 1. serve: file versus command line ----------------------------------------
cat >"$T/serve.conf" <<CONF
# a server with two exports
export = disk=$img
  export=mem=memory:8M

listen = unix:$T/nbd.sock
threads = 2
queue-depth = 64
buffer-memory = 8M
max-connections = 7
read-only = yes
mlock = no
oom-score-adj = 500
cache = none
control = "$T/ctl.sock"
log-level = info
CONF
CLI=(--listen "unix:$T/nbd.sock" --threads 2 --queue-depth 64 --buffer-memory 8M
	--max-connections 7 --read-only --no-mlock --oom-score-adj 500 --cache none
	--control "$T/ctl.sock" --log-level info disk="$img" mem=memory:8M)

start_server_raw --config "$T/serve.conf"
stats_norm >"$T/stats.file"
startup_log >"$T/log.file"
stop_server
start_server_raw "${CLI[@]}"
stats_norm >"$T/stats.cli"
startup_log >"$T/log.cli"
stop_server
diff -u "$T/stats.cli" "$T/stats.file" >&2 ||
	fail "lloop stats --json differs between the config file and the command line"
diff -u "$T/log.cli" "$T/log.file" >&2 ||
	fail "the start-up log differs between the config file and the command line"
# and the settings did take effect (not two identical defaults)
"$PY" - "$T/stats.file" <<'PYEOF' || fail "the config's settings are not in lloop stats"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["workers"]) == 2, d["workers"]
assert all(w["requests"] == 64 and w["buffer_bytes"] == 8 << 20 for w in d["workers"]), d["workers"]
assert d["connections"]["max"] == 7, d["connections"]
assert d["memory"]["mlock"] is False and d["memory"]["oom_score_adj"] == 500, d["memory"]
assert [(e["name"], e["read_only"]) for e in d["exports"]] == [("disk", True), ("mem", True)], d["exports"]
PYEOF
grep -q "listening on unix:$T/nbd.sock" "$T/log.file" || fail "no listener from the file: $(cat "$T/log.file")"
log "serve: file and command line give the same stats and start-up log ($(wc -l <"$T/stats.file") lines)"

# ---- 2. precedence -------------------------------------------------------------------
# workers_of WANT ARGS...: "workers max_connections" of a server with ARGS
workers_of() {
	local want=$1 got
	shift
	start_server_raw "$@"
	got=$(stats_norm | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
print(len(d["workers"]), d["connections"]["max"])')
	stop_server
	assert_eq "$got" "$want" "workers and max connections with $*"
}
workers_of "3 9" --config "$T/serve.conf" --threads 3 --max-connections 9
workers_of "2 7" --threads 3 --max-connections 9 --config "$T/serve.conf"
workers_of "1 7" --config="$T/serve.conf" --threads=1
log "options after --config override the file, options before it are overridden"

# ---- 3. errors -------------------------------------------------------------------------
# expect_error CMD WANT CONF_LINES... [-- ARGS...]: a config with these
# lines; CMD with it (then ARGS) must exit 2 (or $WANT_RC) with exactly the
# one line WANT (FILE is the file's path)
expect_error() {
	local cmd=$1 want=$2 f=$T/bad.conf rc=0 lines=() args=()
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		lines+=("$1")
		shift
	done
	[ $# = 0 ] || { shift; args=("$@"); }
	printf '%s\n' ${lines[@]+"${lines[@]}"} >"$f"
	want=${want//FILE/$f}
	"$LLOOP" "$cmd" "${E[@]}" --config "$f" ${args[@]+"${args[@]}"} \
		>"$T/err.out" 2>"$T/err.txt" </dev/null || rc=$?
	assert_eq "$rc" "${WANT_RC:-2}" "exit status of lloop $cmd with '$*'"
	[ ! -s "$T/err.out" ] || fail "lloop $cmd wrote to stdout: $(cat "$T/err.out")"
	assert_eq "$(wc -l <"$T/err.txt")" 1 "stderr lines of lloop $cmd with '$*' ($(cat "$T/err.txt"))"
	case "$(cat "$T/err.txt")" in
	"lloop: error: $want"*) ;;
	*) fail "lloop $cmd with '$*': '$(cat "$T/err.txt")', expected 'lloop: error: $want...'" ;;
	esac
}
for cmd in serve attach; do
	expect_error $cmd "FILE:3: unknown key 'lisen'" "image = memory:1M" "# comment" "lisen = unix:/x"
	expect_error $cmd "FILE:2: --queue-depth 0: expected" "image = memory:1M" "queue-depth = 0"
	expect_error $cmd "FILE:4: --engine fast: expected uring or threads" "" "image = memory:1M" "" "  engine =   fast  "
	expect_error $cmd "FILE:2: read-only = maybe: expected true or false" "image = memory:1M" "read-only = maybe"
	expect_error $cmd "FILE:1: --inject-fault read:EIO:0:" "inject-fault = read:EIO:0" "image = memory:1M"
	expect_error $cmd "FILE:2: unknown key 'help'" "image = memory:1M" "help = yes"
	expect_error $cmd "FILE:1: expected 'key = value'" "= 5"
	expect_error $cmd "FILE:1: expected 'queue-depth = VALUE'" "queue-depth"
	expect_error $cmd "FILE:2: a config file cannot name another" "image = memory:1M" "config = /etc/x"
	# a bad value on the command line: no FILE:LINE
	rc=0
	printf 'image = memory:1M\n' >"$T/ok.conf"
	"$LLOOP" $cmd "${E[@]}" --config "$T/ok.conf" --queue-depth 0 2>"$T/err.txt" </dev/null || rc=$?
	assert_eq "$rc" 2 "exit status of lloop $cmd --queue-depth 0 after a config"
	grep -q "^lloop: error: --queue-depth 0: expected" "$T/err.txt" ||
		fail "lloop $cmd --queue-depth 0: '$(cat "$T/err.txt")'"
	rc=0
	"$LLOOP" $cmd --config "$T/nonexistent.conf" 2>"$T/err.txt" </dev/null || rc=$?
	assert_eq "$rc" 2 "exit status of lloop $cmd with a missing config"
	grep -qx "lloop: error: --config $T/nonexistent.conf: No such file or directory" "$T/err.txt" ||
		fail "missing config: '$(cat "$T/err.txt")'"
done
expect_error attach "FILE:3: a second 'image': attach takes one image" "image = memory:1M" "" "image = memory:2M"
expect_error serve "FILE:1: export = disk: expected NAME=IMAGE" "export = disk"
expect_error serve "FILE:1: unknown key 'sector-size'" "sector-size = 512"
expect_error attach "FILE:1: unknown key 'export'" "export = a=memory:1M"
log "unknown keys, bad values and bad lines: exit 2 and 'FILE:LINE: why', for serve and attach"

# the checks made once all options are read name the line too
expect_error serve "FILE:3: --tls-certificates needs --tls on or --tls require" \
	"image = memory:1M" "" "tls-certificates = /etc/lloop/pki"
expect_error serve "FILE:2: --tls-verify-peer needs --tls on or --tls require" \
	"image = memory:1M" "tls-verify-peer = yes" "tls-priority = NORMAL"
expect_error serve "FILE:3: export name 'a' given twice" \
	"export = a=memory:1M" "export = b=memory:1M" "  export = a=memory:2M"
expect_error serve "FILE:2: ro: with several exports each needs a name" \
	"export = a=memory:1M" "image = ro"
expect_error attach "FILE:3: --fuse-uring is for --frontend fuse" \
	"image = memory:1M" "frontend = nbd" "fuse-uring = yes"
# --fuse-uring on the command line, the frontend from the file: its line
expect_error attach "FILE:1: --fuse-uring is for --frontend fuse" \
	"frontend = ublk" "image = memory:1M" -- --fuse-uring
# cmdline_error WANT_RC WANT ARGS...: lloop ARGS must exit WANT_RC with
# exactly the line "lloop: error: WANT"
cmdline_error() {
	local want_rc=$1 want=$2 rc=0
	shift 2
	"$LLOOP" "$@" >"$T/err.out" 2>"$T/err.txt" </dev/null || rc=$?
	assert_eq "$rc" "$want_rc" "exit status of lloop $*"
	assert_eq "$(cat "$T/err.txt")" "lloop: error: $want" "the error of lloop $*"
	[ ! -s "$T/err.out" ] || fail "lloop $* wrote to stdout: $(cat "$T/err.out")"
}
# the same mistakes on the command line: no FILE:LINE
cmdline_error 2 "--tls-psk needs --tls on or --tls require" serve --tls-psk /x memory:1M
cmdline_error 2 "export name 'a' given twice" serve a=memory:1M a=memory:2M
cmdline_error 2 "--fuse-uring is for --frontend fuse" attach --frontend nbd --fuse-uring memory:1M
# the file's export after a name of the command line: the file's line
printf 'export = a=memory:1M\n' >"$T/one.conf"
cmdline_error 2 "$T/one.conf:1: export name 'a' given twice" serve --config "$T/one.conf" a=memory:2M
log "after parsing: a TLS option without --tls, a name given twice, --fuse-uring: FILE:LINE, exit 2"

# an image that cannot be opened: attach looks once it knows it is root
if [ "$(id -u)" = 0 ]; then
	WANT_RC=1 expect_error attach "FILE:2: $T/missing.img: No such file or directory" \
		"# an image that is not there" "image = $T/missing.img"
	cmdline_error 1 "$T/missing.img: No such file or directory" attach "${E[@]}" "$T/missing.img"
	[ ! -e "$T/missing.img" ] || fail "attach made the missing image"
	log "attach: an image that cannot be opened: FILE:LINE, exit 1"
else
	not_run "attach with an image that cannot be opened (attach needs root)"
fi

# ---- 4. the example config ------------------------------------------------------
# as it is: its active lines (an attach device) pass attach's checks
"$LLOOP" attach --config "$REPO/docs/lloop.conf.example" --help >/dev/null 2>"$T/err.txt" ||
	fail "lloop attach refuses docs/lloop.conf.example as installed: $(cat "$T/err.txt")"
# switch on every commented "# key = value" line of a section
"$PY" - "$REPO/docs/lloop.conf.example" "$T/ex" <<'PYEOF'
import re, sys
src, out = sys.argv[1], sys.argv[2]
section, parts = None, {}
for line in open(src):
    m = re.match(r"# ---- (an attach|common|a server)", line)
    if m:
        section = m.group(1)
        continue
    if section is None:
        continue
    m = re.match(r"#? ?([a-z-]+ = [^#]*?)\s*(#.*)?$", line)
    if m:
        parts.setdefault(section, []).append(m.group(1))
open(out + ".attach", "w").write("\n".join(parts["an attach"] + parts["common"]) + "\n")
open(out + ".serve", "w").write("\n".join(parts["a server"] + parts["common"]) + "\n")
PYEOF
for cmd in attach serve; do
	[ "$(wc -l <"$T/ex.$cmd")" -ge 8 ] || fail "too few keys from the example for $cmd: $(cat "$T/ex.$cmd")"
	"$LLOOP" $cmd --config "$T/ex.$cmd" --help >/dev/null 2>"$T/err.txt" ||
		fail "lloop $cmd refuses the example config: $(cat "$T/err.txt") (keys: $(paste -sd ' ' "$T/ex.$cmd"))"
done
log "docs/lloop.conf.example: every key accepted by attach and serve"

# ---- 5. attach: file versus command line ---------------------------------------------
if [ "$(id -u)" != 0 ] || [ ! -c /dev/fuse ] || [ ! -c /dev/loop-control ]; then
	not_run "the attach comparison (needs root, FUSE and loop)"
	log "PASS, but not run here: $(printf '%s; ' "${NOT_RUN[@]}")"
	exit 0
fi
. "$(dirname "$0")/../attach/attach_lib.sh"

# entry_norm DEV: its lloop list --json entry without device and pid
entry_norm() {
	"$LLOOP" list --json | "$PY" -c '
import json, sys
e = [a for a in json.load(sys.stdin) if a["device"] == sys.argv[1]]
assert len(e) == 1, e
for k in ("device", "pid"):
    e[0].pop(k)
print(json.dumps(e[0], sort_keys=True))' "$1"
}
printf 'image = %s\nread-only = yes\nsector-size = 512\npassthrough = off\n' "$img" >"$T/attach.conf"
dev=$("$LLOOP" attach "${E[@]}" --config "$T/attach.conf" 2>"$T/attach.err" </dev/null) ||
	fail "lloop attach --config: $(cat "$T/attach.err")"
ATTACHED_DEVS+=("$dev")
pid=$(daemon_pid_of "$dev") || fail "no state file names $dev"
DAEMON_PIDS+=("$pid")
entry_norm "$dev" >"$T/entry.file"
detach "$dev"
attach "$img" --read-only --sector-size 512 --no-passthrough
entry_norm "$ATTACH_DEV" >"$T/entry.cli"
detach "$ATTACH_DEV"
assert_eq "$(cat "$T/entry.file")" "$(cat "$T/entry.cli")" "lloop list --json entry, config file vs command line"
grep -q '"read_only": true, "sector_size": 512' "$T/entry.file" ||
	fail "the config's settings are not in lloop list: $(cat "$T/entry.file")"
grep -q '"path": "engine"' "$T/entry.file" || fail "passthrough = off not taken: $(cat "$T/entry.file")"
assert_nothing_left "the attach comparison"
log "attach: file and command line give the same lloop list entry: $(cat "$T/entry.file")"
[ "${#NOT_RUN[@]}" = 0 ] || log "PASS, but not run here: $(printf '%s; ' "${NOT_RUN[@]}")"
[ "${#NOT_RUN[@]}" != 0 ] || log PASS
