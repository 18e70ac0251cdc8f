#!/usr/bin/env bash
# lloop stats reports what happened: requests, bytes and errors per export
# and operation, connections, latency histograms, pool use; text and JSON.
. "$(dirname "$0")/lib.sh"
describe "lloop stats counts known traffic exactly"
need qemu-io
CTL=$T/ctl.sock
start_server --control "$CTL" a=memory:16M b=memory:16M
qemu-io -f raw -c 'write 0 64k' -c 'write 64k 64k' -c 'write 128k 64k' \
	-c 'read 0 4k' -c 'flush' "$(nbd_uri a)" >/dev/null || fail "qemu-io on a"
qemu-io -f raw -c 'read 0 1M' "$(nbd_uri b)" >/dev/null || fail "qemu-io on b"
# an out-of-range read reaches the server (strict mode off) and is an
# error the stats must count
need_pynbd
nbdsh -u "$(nbd_uri b)" -c '
h.set_strict_mode(0)
try:
    h.pread(4096, 16 << 20)
    raise SystemExit("the out-of-range read succeeded")
except nbd.Error as e:
    print("out-of-range read refused:", e.string)
' || fail "nbdsh out-of-range read"

"$LLOOP" stats --json --control "$CTL" >"$T/s.json" || fail "lloop stats --json"
"$LLOOP" stats --control "$CTL" >"$T/s.txt" || fail "lloop stats"
cat "$T/s.txt"
"$PY" - "$T/s.json" <<'PYEOF' || fail "the figures do not match the traffic"
import json, sys
s = json.load(open(sys.argv[1]))
e = {x["name"]: x["ops"] for x in s["exports"]}
def eq(what, got, want):
    if got != want:
        sys.exit("%s: got %r, want %r" % (what, got, want))
eq("a writes", e["a"]["write"]["requests"], 3)
eq("a write bytes", e["a"]["write"]["bytes"], 3 * 65536)
eq("a reads", e["a"]["read"]["requests"], 1)
eq("a read bytes", e["a"]["read"]["bytes"], 4096)
eq("a flushes", e["a"]["flush"]["requests"] >= 1, True)
eq("b read bytes", e["b"]["read"]["bytes"], 1 << 20)
eq("b read requests", e["b"]["read"]["requests"], 2)
eq("b read errors", e["b"]["read"]["errors"], 1)
eq("a read errors", e["a"]["read"]["errors"], 0)
lat = s["latency_us"]
eq("write latency count", lat["write"]["count"], 3)
eq("p50 <= p99 <= p99.9", lat["write"]["p50"] <= lat["write"]["p99"] <= lat["write"]["p99.9"], True)
eq("connections accepted >= 3", s["connections"]["accepted"] >= 3, True)
eq("connections now", s["connections"]["current"], 0)
for w in s["workers"]:
    eq("requests in use at rest", w["requests_in_use"], 0)
    eq("buffers in use at rest", w["buffer_in_use"], 0)
eq("a pool was used", max(w["buffer_high_water"] for w in s["workers"]) >= 65536, True)
print("stats match the traffic")
PYEOF
grep -q "export 'a' (memory:16M): read 1 (4096 bytes, 0 errors); write 3 (196608 bytes" "$T/s.txt" ||
	fail "the text output does not show export a's counts"
grep -q "export 'b' (memory:16M): read 2 (1048576 bytes, 1 errors)" "$T/s.txt" ||
	fail "the text output does not show export b's error"
stop_server
