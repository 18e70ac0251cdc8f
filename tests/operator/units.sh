#!/bin/bash
# lloop-test: engine-independent
# The systemd units as 'make install DESTDIR=ROOT PREFIX=/usr' installs
# them (the Makefile's own rule fills in @BINDIR@ and @SYSCONFDIR@):
#  1. the installed units, with /usr/bin/lloop and /etc/lloop turned into
#     the binary under test and a config dir of the test's (verify looks
#     for the binary on this host), next to the host's units: verify
#     accepts both templates and an instance of each, with nothing to say
#     (no warning either);
#  2. the properties the design needs are there: Type=notify, the config
#     of the instance, attach in the foreground with no default
#     dependencies and stopped before shutdown;
#  3. the unit files of docs/diskless.md (blocks that start with
#     "# /etc/systemd/system/NAME" or "# /run/systemd/generator/NAME")
#     verify as well, with the templates;
#  4. the check can fail: with the binary's path pointing nowhere verify
#     refuses.
# The generator's drop-ins are tested in generator.sh.
# No systemd needs to run: verify loads the units into a manager of its own.
. "$(dirname "$0")/../interop/lib.sh"
describe "systemd-analyze verify accepts lloop-serve@ and lloop-attach@"
need_lloop
need systemd-analyze sed make scdoc install
BINDIR=$(cd "$(dirname "$LLOOP")" && pwd)
[ "$(basename "$LLOOP")" = lloop ] || skip "LLOOP=$LLOOP is not named lloop (the units run @BINDIR@/lloop)"
ROOT=$T/root
UNITS=$T/units
mkdir -p "$UNITS" "$T/etc/lloop"

# make install into $ROOT, the way a package is built: the Makefile's
# rule, not a copy of it
make -C "$REPO" --no-print-directory BUILD="$BINDIR" install DESTDIR="$ROOT" \
	PREFIX=/usr SYSCONFDIR=/etc >"$T/make.log" 2>&1 || {
	cat "$T/make.log" >&2
	fail "make install DESTDIR=$ROOT PREFIX=/usr failed"
}
INSTALLED=$ROOT/usr/lib/systemd/system

# install_units BINDIR: the installed units into $UNITS, their
# /usr/bin/lloop made BINDIR/lloop and /etc/lloop the test's $T/etc/lloop
install_units() {
	local f
	for f in "$INSTALLED"/lloop-*.service; do
		sed -e "s|/usr/bin/lloop|$1/lloop|g" -e "s|/etc/lloop/|$T/etc/lloop/|g" "$f" \
			>"$UNITS/$(basename "$f")"
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

ls "$INSTALLED"/lloop-serve@.service "$INSTALLED"/lloop-attach@.service >/dev/null ||
	fail "make install did not install the units"
! grep -n '@[A-Z]*@' "$INSTALLED"/*.service || fail "placeholders left after make install"
grep -q '^ExecStart=/usr/bin/lloop attach .*--config /etc/lloop/%i.conf$' \
	"$INSTALLED/lloop-attach@.service" || fail "make install did not fill in @BINDIR@ and @SYSCONFDIR@"

install_units "$BINDIR"

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
    m = re.match(r"# /(?:etc/systemd/system|run/systemd/generator)/(\S+)$", first)
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
[ "$n" -ge 2 ] || fail "docs/diskless.md has $n unit blocks ('# /etc/systemd/system/NAME', '# /run/systemd/generator/NAME'), expected a swap unit and a drop-in"
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
