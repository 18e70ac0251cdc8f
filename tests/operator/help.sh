#!/usr/bin/env bash
# lloop-test: engine-independent
# 'lloop help X' and 'lloop X --help' (and -h) print the same text, exit 0
# and write nothing on stderr, for every command 'lloop --help' lists
# ('lloop help' and 'lloop help help' print 'lloop --help'); and
# 'lloop --version' prints the version and one line per capability, each
# agreeing with what this build and this kernel have.
. "$(dirname "$0")/../interop/lib.sh"
describe "help agrees with --help for every command; --version capability lines"
need_lloop

# the commands, as 'lloop --help' lists them (help itself aside)
"$LLOOP" --help >"$T/top" 2>"$T/top.err" || fail "lloop --help exited non-zero"
[ ! -s "$T/top.err" ] || fail "lloop --help wrote on stderr: $(cat "$T/top.err")"
mapfile -t cmds < <(awk '/^Commands:/ { on = 1; next } on && /^$/ { exit }
	on && $1 ~ /^[a-z]+$/ && $1 != "help" { print $1 }' "$T/top")
[ "${#cmds[@]}" -ge 5 ] || fail "found only ${#cmds[@]} commands in lloop --help: ${cmds[*]}"
log "commands: ${cmds[*]}"

"$LLOOP" help >"$T/help0" 2>&1 || fail "'lloop help' exited non-zero"
cmp -s "$T/top" "$T/help0" || fail "'lloop help' differs from 'lloop --help'"
# help is a command of --help's list too: 'lloop help help' is that list
rc=0
"$LLOOP" help help >"$T/helphelp" 2>&1 || rc=$?
assert_eq "$rc" 0 "exit status of 'lloop help help'"
cmp -s "$T/top" "$T/helphelp" || fail "'lloop help help' differs from 'lloop --help': $(cat "$T/helphelp")"

bad=0
for c in "${cmds[@]}"; do
	rc1=0 rc2=0 rc3=0
	"$LLOOP" help "$c" >"$T/$c.a" 2>"$T/$c.a.err" || rc1=$?
	"$LLOOP" "$c" --help >"$T/$c.b" 2>"$T/$c.b.err" || rc2=$?
	"$LLOOP" "$c" -h >"$T/$c.c" 2>"$T/$c.c.err" || rc3=$?
	if [ "$rc1" != 0 ] || [ "$rc2" != 0 ] || [ "$rc3" != 0 ]; then
		echo "lloop help $c: exit $rc1; lloop $c --help: exit $rc2;" \
			"lloop $c -h: exit $rc3 (all must be 0)" >&2
		cat "$T/$c.b.err" >&2
		bad=1
		continue
	fi
	for e in a b c; do
		if [ -s "$T/$c.$e.err" ]; then
			echo "$c ($e): wrote on stderr: $(cat "$T/$c.$e.err")" >&2
			bad=1
		fi
	done
	grep -q "^Usage: lloop $c" "$T/$c.b" || {
		echo "lloop $c --help does not begin with 'Usage: lloop $c'" >&2
		bad=1
	}
	if ! cmp -s "$T/$c.a" "$T/$c.b"; then
		echo "'lloop help $c' and 'lloop $c --help' differ:" >&2
		diff -u "$T/$c.a" "$T/$c.b" >&2 || :
		bad=1
	fi
	cmp -s "$T/$c.b" "$T/$c.c" || {
		echo "'lloop $c -h' and 'lloop $c --help' differ" >&2
		bad=1
	}
	log "$c: help, --help and -h agree ($(wc -l <"$T/$c.b") lines)"
done
[ "$bad" = 0 ] || fail "help text mismatches (above)"

rc=0
"$LLOOP" help no-such-command >/dev/null 2>"$T/nosuch.err" || rc=$?
assert_eq "$rc" 2 "exit status of 'lloop help no-such-command'"
grep -q no-such-command "$T/nosuch.err" || fail "'lloop help no-such-command' does not name it"

# ---- --version ---------------------------------------------------------
"$LLOOP" --version >"$T/version" 2>"$T/version.err" || fail "lloop --version exited non-zero"
"$LLOOP" -V >"$T/version2" 2>/dev/null || fail "lloop -V exited non-zero"
cat "$T/version"
want=$(sed -n "s/^[[:space:]]*version : '\([^']*\)'.*/\1/p" "$REPO/meson.build")
assert_eq "$(head -n 1 "$T/version")" "lloop $want" "first line of --version"
# each capability once, as "NAME: STATE"
cap() {
	local n
	n=$(grep -c "^$1: " "$T/version" || :)
	[ "$n" = 1 ] || fail "--version has $n lines '$1: ...' (expected 1)"
	grep "^$1: " "$T/version" | sed "s/^$1: //"
}
for c in io_uring 'threads engine' 'nbd server' 'kernel nbd' 'fuse + loop' \
	'FUSE over io_uring' ublk TLS; do
	cap "$c" >/dev/null
done

# io_uring: the probe is real, a shim that refuses the ring turns it
case $(cap io_uring) in
available | "refused here"*) ;;
*) fail "io_uring line: $(cap io_uring)" ;;
esac
SHIM=$(dirname "$LLOOP")/nouring.so
if grep -q '^build: sanitized' "$T/version" 2>/dev/null; then
	log "a sanitizer build: the ASan runtime must load first, no shim (as uring_refused)"
elif [ -e "$SHIM" ]; then
	LD_PRELOAD=$SHIM "$LLOOP" --version >"$T/version.nouring" 2>/dev/null ||
		fail "--version under the nouring shim exited non-zero"
	grep -q '^io_uring: refused here (Operation not permitted)' "$T/version.nouring" ||
		fail "with io_uring refused, --version says: $(grep '^io_uring' "$T/version.nouring")"
	log "io_uring refused by a shim: --version says so"
fi

# FUSE over io_uring: the kernel offers it when the fuse module has the
# parameter; enabled when it is Y
P=/sys/module/fuse/parameters/enable_uring
s=$(cap 'FUSE over io_uring')
if [ -e "$P" ]; then
	case "$(cat "$P")" in
	Y) [[ $s == "offered by the kernel, enabled"* ]] || fail "enable_uring is Y, --version says: $s" ;;
	*) [[ $s == "offered by the kernel, disabled"* ]] || fail "enable_uring is N, --version says: $s" ;;
	esac
elif [ -d /sys/module/fuse ]; then
	[[ $s == "not offered"* ]] || fail "no $P, --version says: $s"
else
	[[ $s == "not known"* ]] || fail "no fuse module loaded, --version says: $s"
fi

# kernel nbd: the module is there (its sysfs dir, or /dev/nbd0)
s=$(cap 'kernel nbd')
if [ -d /sys/module/nbd ] || [ -e /dev/nbd0 ]; then
	[[ $s == available* ]] || fail "the nbd module is loaded, --version says: $s"
else
	[[ $s == "not available"* ]] || fail "no nbd module, --version says: $s"
fi

# ublk: the driver's control device is there
s=$(cap ublk)
if [ -e /dev/ublk-control ]; then
	[[ $s == available* ]] || fail "/dev/ublk-control exists, --version says: $s"
else
	[[ $s == "not available"* ]] || fail "no /dev/ublk-control, --version says: $s"
fi

# TLS: a GnuTLS version exactly when the binary links GnuTLS
s=$(cap TLS)
if ! ldd "$LLOOP" >"$T/ldd" 2>&1; then # static: either, well formed
	[[ $s =~ ^GnuTLS\ [0-9]+\.[0-9]+ || $s == "not in this build" ]] ||
		fail "TLS line: $s"
elif grep -q libgnutls "$T/ldd"; then
	[[ $s =~ ^GnuTLS\ [0-9]+\.[0-9]+ ]] || fail "the binary links GnuTLS, --version says TLS: $s"
else
	assert_eq "$s" "not in this build" "TLS line of a binary without GnuTLS"
fi
cmp -s "$T/version" "$T/version2" || fail "lloop -V and lloop --version differ"
echo "every command's help agrees; --version lists ${want} and its capabilities"
