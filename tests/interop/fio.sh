#!/bin/bash
# fio's nbd engine against lloop: 4 jobs = 4 connections, randrw, 4k-256k
# blocks, crc32c verify over a 64 MiB file image; then a randwrite pass, a
# server restart, and a verify-only pass on a fresh server.
. "$(dirname "$0")/lib.sh"
need fio
fio --enghelp=nbd >/dev/null 2>&1 || skip "fio has no nbd engine"
describe "fio ioengine=nbd, 4 jobs randrw bs 4k-256k verify=crc32c on 64 MiB; restart + verify_only"

img=$T/fio.img

# run_fio OUT.json r|w|rw ARGS...: fio with the common job options; fails on
# a non-zero exit or any job error, and checks that reads/writes happened.
run_fio() {
	local out=$1 want=$2 rc=0
	shift 2
	fio --name=lloop --ioengine=nbd --uri="$(nbd_uri)" \
		--numjobs=4 --size=16M --offset_increment=16M \
		--bsrange=4k-256k --iodepth=16 --verify=crc32c --verify_state_save=0 --verify_fatal=1 \
		--randseed=1234 --output-format=json --output="$out" "$@" || rc=$?
	if [ "$rc" != 0 ]; then
		cat "$out" >&2 || :
		fail "fio exited with status $rc"
	fi
	"$PY" - "$out" "$want" <<'PYEOF' || fail "fio results check failed ($out)"
import json, sys
text = open(sys.argv[1]).read()
j = json.loads(text[text.index("{"):])
jobs = j["jobs"]
if len(jobs) != 4:
    sys.exit("expected 4 jobs, got %d" % len(jobs))
rd = wr = 0
for job in jobs:
    if job["error"] != 0:
        sys.exit("job %s error %s" % (job["jobname"], job["error"]))
    rd += job["read"]["io_bytes"]
    wr += job["write"]["io_bytes"]
print("    fio: read %d MiB, written %d MiB, 0 errors" % (rd >> 20, wr >> 20))
if "r" in sys.argv[2] and rd == 0:
    sys.exit("no data read")
if "w" in sys.argv[2] and wr == 0:
    sys.exit("no data written")
PYEOF
}

start_server --create 64M "$img"
log "randrw with verify (4 connections)"
run_fio "$T/randrw.json" rw --rw=randrw --do_verify=1
log "randwrite without verify, then the server is restarted"
run_fio "$T/write.json" w --rw=randwrite --do_verify=0
stop_server

start_server "$img"
log "verify_only on a fresh server"
run_fio "$T/verify.json" r --rw=randwrite --verify_only=1
stop_server
echo "fio: ok"
