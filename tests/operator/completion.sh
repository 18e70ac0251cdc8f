#!/usr/bin/env bash
# lloop-test: engine-independent
# completion/lloop loads in bash next to bash-completion and completes, the
# way TAB does (COMP_WORDS, COMP_LINE, then the function): a command from a
# prefix, an option of serve and of attach (read from --help), an option's
# value, 'help COMMAND', a device for detach and a file for an image.  Also
# without bash-completion loaded.  Devices for detach: with nothing
# attached, every /dev/loopN, nbdN and ublkbN (as root, in a mount
# namespace whose /dev holds one of each); with a device attached (root,
# FUSE, loop), exactly the device 'lloop list' shows.
. "$(dirname "$0")/../interop/lib.sh"
describe "bash completion: commands, options, values, devices, images"
need_lloop
BC=/usr/share/bash-completion/bash_completion
[ -r "$BC" ] || skip "bash-completion not installed ($BC)"
COMP=$REPO/completion/lloop
[ -r "$COMP" ] || fail "no $COMP"

mkdir "$T/imgs"
touch "$T/imgs/vm42.img" "$T/imgs/vm43.img"

# complete LINE: print COMPREPLY, one a line, for the cursor at the end of
# LINE; the words are split as bash splits them (at spaces and at '=')
cat >"$T/complete.bash" <<'EOF2'
with_bc=$1 comp=$2 line=$3
[ "$with_bc" = 1 ] && source /usr/share/bash-completion/bash_completion
source "$comp" || exit 3
[ "$(complete -p lloop 2>/dev/null)" = "complete -F _lloop lloop" ] || {
	echo "no 'complete -F _lloop lloop' after sourcing" >&2; exit 4; }
COMP_LINE=$line
COMP_POINT=${#line}
read -ra COMP_WORDS <<<"${line//=/ = }"
[[ $line == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMPREPLY=()
_lloop lloop "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}"
EOF2

n=0
# expect BC LINE WORD...: COMPREPLY holds each WORD (and, with =, only them)
expect() {
	local bc=$1 line=$2 got w
	shift 2
	got=$(cd "$T/imgs" && bash "$T/complete.bash" "$bc" "$COMP" "$line" 2>"$T/err") ||
		fail "completing '$line' failed: $(cat "$T/err")"
	[ ! -s "$T/err" ] || fail "completing '$line' wrote on stderr: $(cat "$T/err")"
	if [ "$1" = = ]; then
		shift
		assert_eq "$(echo "$got" | sort | tr '\n' ' ')" \
			"$(printf '%s\n' "$@" | sort | tr '\n' ' ')" "completions of '$line'"
	else
		for w in "$@"; do
			grep -qxF -- "$w" <<<"$got" ||
				fail "completing '$line' did not offer '$w' (got: $(tr "\n" " " <<<"$got"))"
		done
	fi
	n=$((n + 1))
}

for bc in 1 0; do
	# the binary under test, typed as a path, is the one whose --help is read
	L=$LLOOP
	expect $bc "$L se" = serve
	expect $bc "$L s" = serve stats
	expect $bc "$L de" = detach
	expect $bc "$L " serve attach detach list stats create help
	expect $bc "$L help at" = attach
	expect $bc "$L serve --li" = --listen
	expect $bc "$L serve --read" = --read-only
	expect $bc "$L serve --" --listen --read-only --threads --pidfile --daemon \
		--cache --engine --queue-depth --buffer-memory --no-mlock --help
	expect $bc "$L attach --front" = --frontend
	expect $bc "$L attach --sector-size " = 512 4096
	expect $bc "$L serve --cache " = none writeback
	expect $bc "$L serve --cache=w" = writeback
	expect $bc "$L attach --engine t" = threads
	expect $bc "$L stats --" = --control --json --help
	expect $bc "$L serve vm4" = vm42.img vm43.img
	expect $bc "$L attach --read-only vm42" = vm42.img
	expect $bc "$L serve a=vm43" = vm43.img
	expect $bc "$L -" = --help --version
done

# detach: the devices 'lloop list' shows, else the loop and nbd devices
got=$(bash "$T/complete.bash" 1 "$COMP" "$LLOOP detach /dev/")
if compgen -G '/dev/loop[0-9]*' >/dev/null && [ -z "$("$LLOOP" list 2>/dev/null)" ]; then
	want=$(compgen -G '/dev/loop[0-9]*' | head -n 1)
	grep -qxF "$want" <<<"$got" || fail "detach /dev/ did not offer $want (got: $(tr "\n" " " <<<"$got"))"
	n=$((n + 1))
fi
grep -v -e '^/dev/loop[0-9]*$' -e '^/dev/nbd[0-9]*$' -e '^/dev/ublkb[0-9]*$' -e '^$' <<<"$got" &&
	fail "detach /dev/ offered something else than loop, nbd and ublk devices"

NOT_RUN=()
# not_run WHAT: a part that cannot run here, said now and at the end
not_run() {
	NOT_RUN+=("$1")
	echo "--- not run: $1"
}

# the fall-back, exactly: a /dev of our own (a private mount namespace)
# with one device of each kind and a few others; lloop list shows nothing
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
	not_run "the device fall-back in a /dev of the test's (needs root and unshare)"
else
	mkdir "$T/dev" "$T/emptyrun"
	rc=0
	LLOOP_RUNTIME_DIR=$T/emptyrun unshare -m --propagation private sh -ec '
		mount -t tmpfs -o mode=755 lloop-test-dev "$1"
		touch "$1/null"
		mount --bind /dev/null "$1/null"
		for n in loop0 loop7 loop-control nbd3 ublkb2 ublkc2 sda; do
			touch "$1/$n"
		done
		mount --rbind "$1" /dev
		shift
		exec "$@"' sh "$T/dev" bash "$T/complete.bash" 1 "$COMP" "$LLOOP detach /dev/" \
		>"$T/fallback.out" 2>"$T/fallback.err" || rc=$?
	if [ "$rc" != 0 ] && grep -qiE 'unshare|mount' "$T/fallback.err"; then
		not_run "the device fall-back: no private /dev here: $(head -n 1 "$T/fallback.err")"
	else
		assert_eq "$rc" 0 "completion in the private /dev ($(cat "$T/fallback.err"))"
		assert_eq "$(sort "$T/fallback.out" | paste -sd ' ')" \
			"/dev/loop0 /dev/loop7 /dev/nbd3 /dev/ublkb2" \
			"detach /dev/ with nothing attached"
		n=$((n + 1))
	fi
fi

# an attached device: the one lloop list shows, and only it
if [ "$(id -u)" != 0 ] || [ ! -c /dev/fuse ] || [ ! -c /dev/loop-control ]; then
	not_run "detach with a device attached (needs root, FUSE and loop)"
else
	# its own runtime dir, and a cleanup trap that detaches what is left
	. "$(dirname "$0")/../attach/attach_lib.sh"
	truncate -s 16M "$T/comp.img"
	attach "$T/comp.img"
	"$LLOOP" list | grep -q "^$ATTACH_DEV " || fail "lloop list does not show $ATTACH_DEV: $("$LLOOP" list)"
	got=$(bash "$T/complete.bash" 1 "$COMP" "$LLOOP detach /dev/")
	assert_eq "$got" "$ATTACH_DEV" "detach /dev/ with $ATTACH_DEV attached"
	got=$(bash "$T/complete.bash" 0 "$COMP" "$LLOOP detach ${ATTACH_DEV%[0-9]*}")
	assert_eq "$got" "$ATTACH_DEV" "detach ${ATTACH_DEV%[0-9]*} without bash-completion"
	n=$((n + 2))
	detach "$ATTACH_DEV"
	assert_nothing_left "the detach completion"
fi

# the path completion uses: lloop on PATH when the word has no slash
mkdir "$T/bin"
ln -s "$LLOOP" "$T/bin/lloop"
got=$(PATH=$T/bin:$PATH bash "$T/complete.bash" 1 "$COMP" "lloop attach --fuse")
assert_eq "$got" "--fuse-uring" "completion through lloop on PATH"
echo "$((n + 1)) completions as expected, with and without bash-completion"
[ "${#NOT_RUN[@]}" = 0 ] || echo "PASS, but not run here: $(printf '%s; ' "${NOT_RUN[@]}")"
