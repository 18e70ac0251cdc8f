#!/usr/bin/env bash
# lloop-test: engine-independent
# Load with verification: for 60 s (LOAD_SECONDS), 64 connections at queue
# depth 32 (fio's nbd engine, 64 jobs, each on its own 8 MiB region) send
# random mixed reads and writes of 512 B to 128 KiB, aligned to 512 B only,
# with verify=crc32c checked as they go (verify_backlog).  Both engines
# at once: one server with io_uring and one with threads, each under its own
# 64x32 load, each on its own 512 MiB image file (--cache none).  Passes
# with zero verification errors, zero failed requests (fio's and lloop's
# own counts) and each server's VmRSS flat (the figures are printed before,
# every 10 s during, and after).  Runs once: it covers both engines itself.
. "$(dirname "$0")/../interop/lib.sh"
need fio
fio --enghelp=nbd >/dev/null 2>&1 || skip "fio has no nbd engine"
SECS=${LOAD_SECONDS:-60}
describe "64 connections x queue depth 32, randrw 512B-128K, crc32c verify, ${SECS} s, both engines"

# a sanitizer build's RSS is its own (shadow memory, quarantine): print it,
# but hold it to a looser bound
RSS_SLACK_KB=2048
"$LLOOP" --version | grep -q sanitized && RSS_SLACK_KB=8192

declare -A PID CTL PORT
for e in uring threads; do
	truncate -s 512M "$T/$e.img"
	CTL[$e]=$T/$e.ctl
	LLOOP_ENGINE=$e start_server --control "${CTL[$e]}" "$T/$e.img"
	PID[$e]=$SERVER_PID
	PORT[$e]=$SERVER_PORT
	SERVER_PID=
done

rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }
conns() {
	"$LLOOP" stats --control "${CTL[$1]}" | sed -n 's/^connections: \([0-9]*\) now.*/\1/p'
}
declare -A RSS0 RSSMAX CMAX
for e in uring threads; do
	CMAX[$e]=0
	RSS0[$e]=$(rss "${PID[$e]}")
	RSSMAX[$e]=${RSS0[$e]}
	echo "VmRSS before, $e: ${RSS0[$e]} kB"
done

# fio writes its *-verify.state files into the current directory
cd "$T"
declare -A FIO
for e in uring threads; do
	fio --name="$e" --ioengine=nbd --uri="nbd://127.0.0.1:${PORT[$e]}/" \
		--rw=randrw --bsrange=512-128k --numjobs=64 --iodepth=32 \
		--size=8M --offset_increment=8M --time_based --runtime="$SECS" \
		--verify=crc32c --verify_state_save=0 --verify_backlog=1024 --verify_fatal=1 \
		--do_verify=1 --output-format=json --output="$T/$e.json" \
		>"$T/$e.fio.out" 2>&1 &
	FIO[$e]=$!
	track_pid "${FIO[$e]}"
done
start=$SECONDS
next=10
while kill -0 "${FIO[uring]}" 2>/dev/null || kill -0 "${FIO[threads]}" 2>/dev/null; do
	sleep 1
	for e in uring threads; do
		kill -0 "${PID[$e]}" 2>/dev/null || fail "the $e server died under load"
		r=$(rss "${PID[$e]}")
		[ "$r" -le "${RSSMAX[$e]}" ] || RSSMAX[$e]=$r
	done
	if [ $((SECONDS - start)) -ge $next ]; then
		for e in uring threads; do
			c=$(conns "$e")
			[ "${c:-0}" -le "${CMAX[$e]}" ] || CMAX[$e]=$c
		done
		echo "VmRSS during, at $((SECONDS - start)) s: uring $(rss "${PID[uring]}") kB," \
			"threads $(rss "${PID[threads]}") kB; connections now:" \
			"uring $(conns uring), threads $(conns threads)"
		next=$((next + 10))
	fi
	[ $((SECONDS - start)) -lt $((SECS + 240)) ] || fail "fio still running $((SECS + 240)) s on"
done
for e in uring threads; do
	rc=0
	wait "${FIO[$e]}" || rc=$?
	[ "$rc" = 0 ] || {
		tail -n 30 "$T/$e.fio.out" "$T/$e.json"
		fail "fio against the $e server exited with status $rc"
	}
done

fail_figures=0
for e in uring threads; do
	after=$(rss "${PID[$e]}")
	echo "VmRSS $e: before ${RSS0[$e]} kB, highest during ${RSSMAX[$e]} kB, after $after kB" \
		"(limit +$RSS_SLACK_KB kB)"
	[ $((RSSMAX[$e] - RSS0[$e])) -lt "$RSS_SLACK_KB" ] &&
		[ $((after - RSS0[$e])) -lt "$RSS_SLACK_KB" ] || fail_figures=1
	"$LLOOP" stats --json --control "${CTL[$e]}" >"$T/$e.stats.json" ||
		fail "lloop stats ($e)"
	"$PY" - "$T/$e.json" "$T/$e.stats.json" "$e" <<'PYEOF' || fail "the $e load had errors"
import json, sys
text = open(sys.argv[1]).read()
j = json.loads(text[text.index("{"):])
jobs = j["jobs"]
if len(jobs) != 64:
    sys.exit("expected 64 jobs, got %d" % len(jobs))
rd = wr = nr = nw = 0
for job in jobs:
    if job["error"] != 0:
        sys.exit("job %s: error %s" % (job["jobname"], job["error"]))
    rd += job["read"]["io_bytes"]
    wr += job["write"]["io_bytes"]
    nr += job["read"]["total_ios"]
    nw += job["write"]["total_ios"]
if not rd or not wr:
    sys.exit("no reads or no writes")
s = json.load(open(sys.argv[2]))
errs = {}
for x in s["exports"]:
    for op, v in x["ops"].items():
        if v.get("errors"):
            errs[op] = v["errors"]
print("%s: fio read %d MiB in %d requests (verify reads included), wrote %d MiB in %d; "
      "0 job errors, 0 verification errors; lloop errors: %s; connections accepted %d"
      % (sys.argv[3], rd >> 20, nr, wr >> 20, nw, errs or "none",
         s["connections"]["accepted"]))
if errs:
    sys.exit("lloop counted failed requests: %r" % errs)
if s["connections"]["accepted"] < 64:
    sys.exit("only %d connections" % s["connections"]["accepted"])
PYEOF
done
[ "$fail_figures" = 0 ] || fail "VmRSS was not flat under load"
for e in uring threads; do
	[ "${CMAX[$e]}" = 64 ] || fail "the $e server had at most ${CMAX[$e]} connections at once, not 64"
done
for e in uring threads; do
	SERVER_PID=${PID[$e]}
	stop_server
done
echo "load: ok"
