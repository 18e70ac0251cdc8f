#!/bin/bash
# lloop-test: engine-independent
# The systemd units (systemd/*.service.in) after the substitution that
# 'make install' makes (@BINDIR@, @SYSCONFDIR@), into a temporary root:
#  1. systemd-analyze verify accepts both templates and an instance of
#     each, with nothing to say (no warning either);
#  2. the properties the design needs are there: Type=notify, the config
#     of the instance, attach in the foreground with no default
#     dependencies and stopped before shutdown;
#  3. the unit files of docs/diskless.md (blocks that start with
#     "# /etc/systemd/system/NAME") verify as well, with the templates;
#  4. the check can fail: with @BINDIR@ pointing nowhere verify refuses.
# No systemd needs to run: verify loads the units into a manager of its own.
. "$(dirname "$0")/../interop/lib.sh"
describe "systemd-analyze verify accepts lloop-serve@ and lloop-attach@"
need_lloop
need systemd-analyze sed

BINDIR=$(cd "$(dirname "$LLOOP")" && pwd)
[ "$(basename "$LLOOP")" = lloop ] || skip "LLOOP=$LLOOP is not named lloop (the units run @BINDIR@/lloop)"
UNITS=$T/root/lib/systemd/system
mkdir -p "$UNITS" "$T/etc/lloop"

# install_units BINDIR: the substituted units into $UNITS
install_units() {
	local f
	for f in "$REPO"/systemd/*.service.in; do
		sed -e "s|@BINDIR@|$1|g" -e "s|@SYSCONFDIR@|$T/etc|g" "$f" \
			>"$UNITS/$(basename "$f" .in)"
	done
}

# verify FILE...: systemd-analyze verify; sets VERIFY_RC, output in $T/verify.out
verify() {
	VERIFY_RC=0
	(cd "$UNITS" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no "$@") \
		>"$T/verify.out" 2>&1 || VERIFY_RC=$?
}

# can verify run here at all? (a trivial unit)
printf '[Unit]\nDescription=probe\n[Service]\nType=oneshot\nExecStart=/bin/true\n' \
	>"$UNITS/lloop-probe.service"
verify lloop-probe.service
if [ "$VERIFY_RC" != 0 ]; then
	skip "systemd-analyze verify cannot run here: $(head -n 3 "$T/verify.out" | paste -sd ' ')"
fi
rm "$UNITS/lloop-probe.service"

ls "$REPO"/systemd/lloop-serve@.service.in "$REPO"/systemd/lloop-attach@.service.in >/dev/null ||
	fail "the unit templates are missing"
install_units "$BINDIR"
! grep -n '@[A-Z]*@' "$UNITS"/*.service || fail "placeholders left after substitution"

# ---- 1. verify ------------------------------------------------------------
for u in lloop-serve@.service lloop-attach@.service lloop-serve@vm1.service \
	lloop-attach@swap0.service; do
	verify "$u"
	[ "$VERIFY_RC" = 0 ] || { cat "$T/verify.out" >&2; fail "systemd-analyze verify $u: exit $VERIFY_RC"; }
	[ ! -s "$T/verify.out" ] || { cat "$T/verify.out" >&2; fail "systemd-analyze verify $u is not silent"; }
done
log "systemd-analyze verify: both templates and an instance of each, silent"

# ---- 2. properties ----------------------------------------------------------
S=$UNITS/lloop-serve@.service A=$UNITS/lloop-attach@.service
# has FILE LINE: FILE has LINE exactly
has() {
	grep -qxF -- "$2" "$1" || fail "$(basename "$1") has no line '$2'"
}
has "$S" "Type=notify"
has "$S" "ExecStart=$BINDIR/lloop serve --config $T/etc/lloop/%i.conf"
has "$A" "Type=notify"
has "$A" "ExecStart=$BINDIR/lloop attach --foreground --log-level=info --config $T/etc/lloop/%i.conf"
has "$A" "DefaultDependencies=no"
has "$A" "Conflicts=shutdown.target"
has "$A" "Before=shutdown.target"
! grep -q '^Before=.*swap\.target' "$A" ||
	fail "lloop-attach@ is ordered before swap.target itself: a cycle when the image is on a network file system (see the unit's comment)"
! grep -qE '^(ExecStart=.*--daemon|Type=forking)' "$S" "$A" || fail "a unit forks"
# the instance name picks the config: the command line systemd would run
printf 'image = memory:1M\nthreads = 0\n' >"$T/etc/lloop/vm1.conf"
cmd=$(sed -n 's/^ExecStart=//p' "$S" | sed 's/%i/vm1/g')
rc=0
$cmd >"$T/cmd.out" 2>&1 </dev/null || rc=$?
assert_eq "$rc" 2 "exit status of the unit's ExecStart with a bad config"
grep -qF "$T/etc/lloop/vm1.conf:2: --threads 0" "$T/cmd.out" ||
	fail "the unit's ExecStart did not read the instance's config: $(cat "$T/cmd.out")"
log "Type=notify, the instance's config, attach in the foreground without default dependencies"

# ---- 3. the units of docs/diskless.md -------------------------------------
doc=$REPO/docs/diskless.md
[ -f "$doc" ] || fail "docs/diskless.md is missing"
"$PY" - "$doc" "$UNITS" "$BINDIR" "$T/etc" >"$T/doc-units" <<'PYEOF'
import os, re, sys
doc, units, bindir, etc = sys.argv[1:5]
text = open(doc).read()
for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
    first = block.split("\n", 1)[0]
    m = re.match(r"# /etc/systemd/system/(\S+)$", first)
    if not m:
        continue
    name = m.group(1)
    path = os.path.join(units, name)
    if name.endswith(".d/override.conf") or "/" in name:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    body = block.replace("/usr/bin/lloop", bindir + "/lloop")
    body = body.replace("/etc/lloop/", etc + "/lloop/")
    with open(path, "w") as f:
        f.write(body)
    print(name)
PYEOF
n=$(wc -l <"$T/doc-units")
[ "$n" -ge 2 ] || fail "docs/diskless.md has $n unit blocks ('# /etc/systemd/system/NAME'), expected a swap unit and a drop-in"
mapfile -t docunits < <(grep -v '/' "$T/doc-units")
verify lloop-attach@swap0.service ${docunits[@]+"${docunits[@]}"}
[ "$VERIFY_RC" = 0 ] || { cat "$T/verify.out" >&2; fail "the units of docs/diskless.md do not verify"; }
# the one complaint allowed: the example's Lustre mount is not a unit here
if grep -v 'lustre.*\.mount' "$T/verify.out" | grep -q .; then
	cat "$T/verify.out" >&2
	fail "systemd-analyze verify has remarks on the units of docs/diskless.md"
fi
log "docs/diskless.md: $(paste -sd ' ' "$T/doc-units") verify with the templates"

# ---- 4. the check can fail ------------------------------------------------------
install_units /nonexistent/bin
verify lloop-serve@vm1.service
[ "$VERIFY_RC" != 0 ] || fail "systemd-analyze verify accepted a unit whose binary does not exist"
grep -q "/nonexistent/bin/lloop" "$T/verify.out" || fail "verify failed, but not on the binary: $(cat "$T/verify.out")"
log "and it refuses a unit whose ExecStart binary does not exist"
log PASS
