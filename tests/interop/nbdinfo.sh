#!/bin/bash
# nbdinfo against lloop: size, transmission flags, block sizes, export list,
# JSON output, default export, unknown export, read-only export, --map.
. "$(dirname "$0")/lib.sh"
need nbdinfo truncate dd
describe "nbdinfo: size, flags, block sizes, --list, --json, default/unknown export, read-only, --map"

img=$T/alpha.img
truncate -s 16M "$img"
# one MiB of data at 4 MiB, the rest is a hole
dd if=/dev/urandom of="$img" bs=1M seek=4 count=1 conv=notrunc status=none

start_server "alpha=$img" "beta=memory:8M"

# field VALUE from "KEY: VALUE" lines of nbdinfo's text output
field() {
	local out=$1 key=$2 v
	v=$(printf '%s\n' "$out" | sed -n "s/^[[:space:]]*$key: //p" | head -n1)
	[ -n "$v" ] || fail "nbdinfo output lacks '$key'"
	echo "$v"
}

log "sizes"
assert_eq "$(nbdinfo --size "$(nbd_uri alpha)")" 16777216 "size of alpha"
assert_eq "$(nbdinfo --size "$(nbd_uri beta)")" 8388608 "size of beta"

log "default export (empty name) is the first one"
assert_eq "$(nbdinfo --size "$(nbd_uri)")" 16777216 "size of default export (nbd_uri)"
assert_eq "$(nbdinfo --size "nbd://127.0.0.1:$SERVER_PORT")" 16777216 \
	"size of default export (no path)"

log "flags and block sizes of the default export"
out=$(nbdinfo "$(nbd_uri)")
printf '%s\n' "$out"
# the server may report the canonical name (NBD_INFO_NAME) of the default export
grep -Eq '^export="(alpha)?":' <<<"$out" || fail "nbdinfo did not show export \"\" or \"alpha\""
grep -q 'using structured packets' <<<"$out" ||
	fail "structured replies not negotiated"
assert_eq "$(field "$out" export-size)" "16777216 (16M)" "export-size"
for f in can_cache can_df can_fast_zero can_flush can_fua can_multi_conn can_trim can_zero; do
	assert_eq "$(field "$out" "$f")" true "$f"
done
assert_eq "$(field "$out" is_read_only)" false "is_read_only"
assert_eq "$(field "$out" block_size_minimum)" 1 "block_size_minimum"
assert_eq "$(field "$out" block_size_preferred)" 4096 "block_size_preferred"
assert_eq "$(field "$out" block_size_maximum)" 33554432 "block_size_maximum"
grep -q '^[[:space:]]*base:allocation$' <<<"$out" ||
	fail "base:allocation meta context not listed"

log "named export beta (memory:8M)"
out=$(nbdinfo "$(nbd_uri beta)")
assert_eq "$(field "$out" export-size)" "8388608 (8M)" "beta export-size"
assert_eq "$(field "$out" can_trim)" true "beta can_trim"
assert_eq "$(field "$out" block_size_maximum)" 33554432 "beta block_size_maximum"

log "--json"
nbdinfo --json "$(nbd_uri)" >"$T/info.json"
"$PY" - "$T/info.json" <<'EOF' || fail "nbdinfo --json check failed"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["protocol"] == "newstyle-fixed", j["protocol"]
assert j["structured"] is True, j
assert len(j["exports"]) == 1, j["exports"]
e = j["exports"][0]
exp = {
    "export-size": 16777216, "is_read_only": False, "can_flush": True,
    "can_fua": True, "can_trim": True, "can_zero": True, "can_fast_zero": True,
    "can_cache": True, "can_df": True, "can_multi_conn": True,
    "block_size_minimum": 1, "block_size_preferred": 4096,
    "block_size_maximum": 33554432,
}
for k, v in exp.items():
    if e.get(k) != v:
        sys.exit("json %s: expected %r, got %r" % (k, v, e.get(k)))
if "base:allocation" not in e.get("contexts", []):
    sys.exit("json contexts lack base:allocation: %r" % e.get("contexts"))
print("json ok")
EOF

log "--list shows both exports"
out=$(nbdinfo --list "$(nbd_uri)")
printf '%s\n' "$out"
grep -q '^export="alpha":' <<<"$out" || fail "--list lacks alpha"
grep -q '^export="beta":' <<<"$out" || fail "--list lacks beta"
nbdinfo --list --json "$(nbd_uri)" >"$T/list.json"
"$PY" - "$T/list.json" <<'EOF' || fail "nbdinfo --list --json check failed"
import json, sys
j = json.load(open(sys.argv[1]))
sizes = {e["export-name"]: e["export-size"] for e in j["exports"]}
if sizes != {"alpha": 16777216, "beta": 8388608}:
    sys.exit("exports: %r" % sizes)
print("list json ok:", sizes)
EOF

log "unknown export name is refused"
rc=0
nbdinfo --size "$(nbd_uri nosuchexport)" >"$T/unknown.out" 2>&1 || rc=$?
cat "$T/unknown.out"
[ "$rc" != 0 ] || fail "nbdinfo on an unknown export succeeded"

log "--map: base:allocation of the sparse file image"
nbdinfo --map "$(nbd_uri alpha)" >"$T/map.txt"
cat "$T/map.txt"
"$PY" - "$T/map.txt" <<'EOF' || fail "--map check failed"
import sys
ext = []
for line in open(sys.argv[1]):
    off, length, typ = (int(x) for x in line.split()[:3])
    if ext and ext[-1][2] == typ and ext[-1][0] + ext[-1][1] == off:
        ext[-1][1] += length
    else:
        ext.append([off, length, typ])
M = 1 << 20
want = [[0, 4 * M, 3], [4 * M, M, 0], [5 * M, 11 * M, 3]]
if ext != want:
    sys.exit("map (merged): %r, expected %r" % (ext, want))
print("map ok")
EOF

stop_server

log "read-only server"
start_server --read-only "$img"
out=$(nbdinfo "$(nbd_uri)")
printf '%s\n' "$out"
assert_eq "$(field "$out" is_read_only)" true "read-only: is_read_only"
assert_eq "$(field "$out" can_trim)" false "read-only: can_trim"
assert_eq "$(field "$out" can_zero)" false "read-only: can_zero"
assert_eq "$(field "$out" can_fua)" false "read-only: can_fua"
assert_eq "$(field "$out" export-size)" "16777216 (16M)" "read-only: export-size"
stop_server

echo "nbdinfo: ok"
