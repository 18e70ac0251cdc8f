#!/usr/bin/env bash
# lloop-test: engine-independent
# make install DESTDIR=ROOT PREFIX=/usr puts the binary, the man page, the
# bash completion, the systemd units (those in systemd/, with @BINDIR@ and
# @SYSCONFDIR@ filled in), the systemd generator (executable, reading
# SYSCONFDIR/lloop) and the example config where a distribution
# expects them; the installed binary runs and the page renders; then make
# uninstall with the same DESTDIR and PREFIX leaves ROOT empty.  The same
# with the default PREFIX (/usr/local, config under /usr/local/etc).
. "$(dirname "$0")/../interop/lib.sh"
describe "make install DESTDIR=... then make uninstall leaves nothing"
need make scdoc install
need_lloop
# the Makefile's BUILD: the directory that holds the binary under test
BUILD_DIR=$(dirname "$LLOOP")
[ "$(basename "$LLOOP")" = lloop ] || skip "LLOOP=$LLOOP is not a build directory's lloop"

mk() { # the Makefile of the tree, quietly; its output in $T/make.log
	make -C "$REPO" --no-print-directory BUILD="$BUILD_DIR" "$@" \
		>>"$T/make.log" 2>&1 || {
		cat "$T/make.log" >&2
		fail "make $* failed"
	}
}

check_tree() { # ROOT PREFIX SYSCONFDIR
	local root=$1 prefix=$2 etc=$3 u n
	[ -x "$root$prefix/bin/lloop" ] || fail "no executable $prefix/bin/lloop"
	cmp -s "$LLOOP" "$root$prefix/bin/lloop" || fail "$prefix/bin/lloop is not $LLOOP"
	"$root$prefix/bin/lloop" --version >"$T/version" ||
		fail "the installed lloop --version does not run"
	grep -q '^lloop ' "$T/version" || fail "the installed lloop --version: $(cat "$T/version")"
	local page=$root$prefix/share/man/man1/lloop.1
	[ -s "$page" ] || fail "no man page $prefix/share/man/man1/lloop.1"
	grep -q '^\.TH "lloop" "1"' "$page" || fail "$page is not a built man page"
	if command -v man >/dev/null; then
		LC_ALL=C MANPAGER=cat MAN_DISABLE_SECCOMP=1 man -l "$page" >"$T/page.txt" 2>&1 ||
			fail "man -l $page failed: $(head -c 300 "$T/page.txt")"
		grep -q 'SERVE OPTIONS' "$T/page.txt" || fail "the installed man page does not render"
		rm "$T/page.txt"
	fi
	cmp -s "$REPO/completion/lloop" "$root$prefix/share/bash-completion/completions/lloop" ||
		fail "no bash completion at $prefix/share/bash-completion/completions/lloop"
	n=0
	for u in "$REPO"/systemd/*.service.in; do
		[ -e "$u" ] || continue
		n=$((n + 1))
		u=$(basename "$u" .in)
		local f=$root$prefix/lib/systemd/system/$u
		[ -f "$f" ] || fail "no unit $prefix/lib/systemd/system/$u"
		! grep -q '@[A-Z]*@' "$f" || fail "$u keeps a placeholder: $(grep '@[A-Z]*@' "$f")"
		if grep -q '@BINDIR@' "$REPO/systemd/$u.in"; then
			grep -q "$prefix/bin/lloop" "$f" || fail "$u does not run $prefix/bin/lloop"
		fi
		if grep -q '@SYSCONFDIR@' "$REPO/systemd/$u.in"; then
			grep -q "$etc/lloop" "$f" || fail "$u does not read $etc/lloop"
		fi
	done
	log "$n systemd units"
	local g=$root$prefix/lib/systemd/system-generators/lloop-generator
	if [ -e "$REPO/systemd/lloop-generator.in" ]; then
		[ -f "$g" ] || fail "no generator $prefix/lib/systemd/system-generators/lloop-generator"
		assert_eq "$(stat -c %a "$g")" 755 "mode of the installed generator"
		assert_eq "$(head -n 1 "$g")" "#!/bin/sh" "the generator's first line"
		! grep -q '@[A-Z]*@' "$g" || fail "the generator keeps a placeholder: $(grep '@[A-Z]*@' "$g")"
		grep -qx "CONFDIR=$etc/lloop" "$g" || fail "the generator does not read $etc/lloop"
		sh -n "$g" || fail "the installed generator is not valid sh"
		log "the generator, reading $etc/lloop"
	fi
	if [ -e "$REPO/docs/lloop.conf.example" ]; then
		cmp -s "$REPO/docs/lloop.conf.example" "$root$etc/lloop/lloop.conf.example" ||
			fail "no example config at $etc/lloop/lloop.conf.example"
		log "example config at $etc/lloop/lloop.conf.example"
	fi
	# nothing else: every file installed is one of those
	local other
	other=$(cd "$root" && find . ! -type d |
		grep -v -e "^\.$prefix/bin/lloop$" -e "^\.$prefix/share/man/man1/lloop\.1$" \
			-e "^\.$prefix/share/bash-completion/completions/lloop$" \
			-e "^\.$prefix/lib/systemd/system/lloop-[a-z]*@\.service$" \
			-e "^\.$prefix/lib/systemd/system-generators/lloop-generator$" \
			-e "^\.$etc/lloop/lloop\.conf\.example$" || :)
	[ -z "$other" ] || fail "make install put more there: $other"
}

uninstalled() { # ROOT
	local left
	left=$(cd "$1" && find . -mindepth 1 | head -n 20)
	[ -z "$left" ] || fail "make uninstall left: $(tr "\n" " " <<<"$left")"
}

ROOT=$T/root
mk install DESTDIR="$ROOT" PREFIX=/usr
log "installed: $(cd "$ROOT" && find . ! -type d | sort | tr '\n' ' ')"
check_tree "$ROOT" /usr /etc
# a second install over the first is fine (upgrades)
mk install DESTDIR="$ROOT" PREFIX=/usr
mk uninstall DESTDIR="$ROOT" PREFIX=/usr
uninstalled "$ROOT"
[ -d "$ROOT" ] || fail "make uninstall removed DESTDIR itself"
log "PREFIX=/usr: installed and uninstalled, $ROOT is empty"

# a file of the admin's beside ours stays, and so does its directory
mk install DESTDIR="$ROOT/" PREFIX=/usr/local
check_tree "$ROOT" /usr/local /usr/local/etc
mkdir -p "$ROOT/usr/local/bin"
echo mine >"$ROOT/usr/local/bin/other-tool"
mk uninstall DESTDIR="$ROOT/" PREFIX=/usr/local
[ -f "$ROOT/usr/local/bin/other-tool" ] || fail "make uninstall removed a file it did not install"
rm "$ROOT/usr/local/bin/other-tool"
mk uninstall DESTDIR="$ROOT" PREFIX=/usr/local
uninstalled "$ROOT"
log "PREFIX=/usr/local: installed and uninstalled; other files kept"

# the unit rule itself, on a unit of this test's (whatever systemd/ holds)
cat >"$T/lloop-test@.service.in" <<'UNIT'
[Service]
ExecStart=@BINDIR@/lloop serve --config @SYSCONFDIR@/lloop/%i.conf
UNIT
echo "# example" >"$T/example.conf"
mk install DESTDIR="$ROOT" PREFIX=/opt/lloop UNITS_IN="$T/lloop-test@.service.in" \
	CONF_EXAMPLE="$T/example.conf"
u=$ROOT/opt/lloop/lib/systemd/system/lloop-test@.service
[ -f "$u" ] || fail "the unit rule did not install lloop-test@.service"
assert_eq "$(sed -n 2p "$u")" \
	"ExecStart=/opt/lloop/bin/lloop serve --config /opt/lloop/etc/lloop/%i.conf" \
	"the unit with @BINDIR@ and @SYSCONFDIR@ filled in"
assert_eq "$(stat -c %a "$u")" 644 "mode of the installed unit"
cmp -s "$T/example.conf" "$ROOT/opt/lloop/etc/lloop/lloop.conf.example" ||
	fail "no example config at /opt/lloop/etc/lloop/lloop.conf.example"
mk uninstall DESTDIR="$ROOT" PREFIX=/opt/lloop UNITS_IN="$T/lloop-test@.service.in"
uninstalled "$ROOT"
log "units: @BINDIR@ and @SYSCONFDIR@ substituted; uninstalled"

# no binary built: install refuses and says so, installs nothing
rc=0
make -C "$REPO" --no-print-directory BUILD="$T/nobuild" install DESTDIR="$ROOT" \
	>"$T/nobuild.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "make install without a built binary succeeded"
grep -q 'not built' "$T/nobuild.log" || fail "make install without a binary: $(cat "$T/nobuild.log")"
uninstalled "$ROOT"
rm -rf "$T/nobuild"
echo "make install and make uninstall: every file in its place, and nothing left"
