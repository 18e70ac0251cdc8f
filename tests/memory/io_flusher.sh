#!/usr/bin/env bash
# lloop-test: engine-independent (memory locking and prctl; io_flusher.sh tries both engines itself)
# PR_SET_IO_FLUSHER reaches every thread of the daemon: each worker and
# each helper reports PR_GET_IO_FLUSHER from its own thread in lloop stats,
# and oom_score_adj is -1000.  Both need CAP_SYS_RESOURCE.
. "$(dirname "$0")/../interop/lib.sh"
describe "IO_FLUSHER on every thread, oom_score_adj -1000"
# CAP_SYS_RESOURCE is bit 24 of the effective set
capeff=$(awk '$1 == "CapEff:" { print $2 }' /proc/self/status)
if (((0x$capeff >> 24 & 1) == 0)); then
	skip "no CAP_SYS_RESOURCE here (CapEff $capeff): PR_SET_IO_FLUSHER and a negative oom_score_adj are refused; the VM rig runs this"
fi
CTL=$T/ctl.sock
for engine in uring threads; do
	LLOOP_ENGINE=$engine start_server --control "$CTL" memory:16M
	"$LLOOP" stats --json --control "$CTL" >"$T/stats.json"
	"$PY" - "$T/stats.json" "$SERVER_PID" <<'PYEOF' || fail "IO_FLUSHER or oom_score_adj not in effect ($engine)"
import json, sys
s = json.load(open(sys.argv[1]))
threads = [("worker %d" % w["id"], w["io_flusher"]) for w in s["workers"]]
threads += [("helper %d" % i, h["io_flusher"]) for i, h in enumerate(s["helpers"])]
for name, v in threads:
    print("%-9s io_flusher %d" % (name, v))
adj = int(open("/proc/%s/oom_score_adj" % sys.argv[2]).read())
print("oom_score_adj", adj, "memory.io_flusher", s["memory"]["io_flusher"])
ok = all(v == 1 for _, v in threads) and threads and s["memory"]["io_flusher"] and adj == -1000
sys.exit(0 if ok else 1)
PYEOF
	stop_server
done
