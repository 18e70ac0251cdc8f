#!/usr/bin/env bash
# lloop-test: engine-independent (the runtime directory; no I/O path)
# The runtime directory is trusted with root's mounts and signals: what
# its state files name is mounted on, signalled and removed.  One that
# someone else could write to must be refused, not used:
# - attach/ owned by another user, holding a state file planted there
#   that names a live process of ours: lloop detach, list and stats
#   refuse with one line, and the process is not signalled (the old code
#   sent it SIGTERM);
# - attach/ that others may write to, a runtime directory that is a
#   symbolic link, or one under a directory others may write to without
#   the sticky bit: lloop attach refuses with one line naming it, and
#   leaves nothing behind;
# - a runtime directory like /tmp (sticky, everyone may write) holds only
#   lloop's own attach/ and locks/: attach and detach work in it;
# - one not made yet under a symbolic link of root's (/var/run/lloop,
#   /var/run -> /run) works too (the first version of the check refused
#   it: it resolved the links of a path that did not exist yet).
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "an unsafe runtime directory is refused, a sticky one works"

IMG=$T/disk.img
truncate -s 16M "$IMG"

# expect_refused WHAT RUNDIR CMD...: exit 1, one line naming why
expect_refused() {
	local what=$1 dir=$2 want=$3 rc=0 n
	shift 3
	LLOOP_RUNTIME_DIR=$dir "$LLOOP" "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
	echo "$what: lloop $*: exit $rc: $(cat "$T/err")"
	if [ "$rc" = 0 ]; then
		dev=$(head -n1 "$T/out")
		[[ "$dev" != /dev/* ]] || ATTACHED_DEVS+=("$dev")
		fail "$what: lloop $* succeeded"
	fi
	n=$(grep -c . "$T/err")
	[ "$n" = 1 ] || fail "$what: lloop $* printed $n lines, not one: $(cat "$T/err")"
	grep -q "not a safe runtime directory" "$T/err" && grep -qF -- "$want" "$T/err" ||
		fail "$what: lloop $* does not say '$want': $(cat "$T/err")"
}

# 1. attach/ of another user, with a planted state naming our decoy
BAD=$T/bad
mkdir -m 0700 "$BAD" "$BAD/attach"
sleep 300 &
DECOY=$!
track_pid "$DECOY"
start=$(awk '{print $22}' "/proc/$DECOY/stat")
cat >"$BAD/attach/$DECOY.state" <<EOF
device=/dev/lloop-planted
image=$IMG
size=16777216
sector_size=4096
pid=$DECOY
start_time=$start
read_only=0
direct_io=1
path=engine
EOF
chown -R 4242:4242 "$BAD/attach"
expect_refused "attach/ owned by uid 4242" "$BAD" "owned by uid 4242" detach /dev/lloop-planted
kill -0 "$DECOY" 2>/dev/null || fail "lloop detach signalled pid $DECOY, named by a state file planted by uid 4242"
expect_refused "attach/ owned by uid 4242" "$BAD" "owned by uid 4242" list
expect_refused "attach/ owned by uid 4242" "$BAD" "owned by uid 4242" stats /dev/lloop-planted
expect_refused "attach/ owned by uid 4242" "$BAD" "owned by uid 4242" attach "$IMG"
kill -0 "$DECOY" 2>/dev/null || fail "pid $DECOY was signalled"
assert_nothing_left "attach refused for attach/ of uid 4242"

# 2. attach/ ours, but others may write to it
chown -R 0:0 "$BAD/attach"
chmod 0777 "$BAD/attach"
expect_refused "attach/ mode 0777" "$BAD" "others may write to it (mode 0777" attach "$IMG"
expect_refused "attach/ mode 0777" "$BAD" "others may write to it" list
assert_nothing_left "attach refused for attach/ mode 0777"

# 3. the runtime directory a symbolic link; one under a directory others
#    may write to (no sticky bit), and not there yet
mkdir -m 0700 "$T/real"
ln -s "$T/real" "$T/link"
expect_refused "runtime directory a symbolic link" "$T/link" "symbolic link" attach "$IMG"
mkdir -m 0777 "$T/open"
chmod -t "$T/open"
expect_refused "under a directory without the sticky bit" "$T/open/run" \
	"others may write to $T/open, which has no sticky bit" attach "$IMG"
[ ! -e "$T/open/run" ] || fail "the refused attach made $T/open/run"
assert_nothing_left "attach refused under $T/open"

# 4. a runtime directory like /tmp: attach/ and locks/ are made 0700 in it
#    (from here on the test's runtime directory, for the helpers and the
#    cleanup too)
mkdir -m 1777 "$T/sticky"
RUN=$T/sticky
export LLOOP_RUNTIME_DIR=$RUN
attach "$IMG"
DEV=$ATTACH_DEV
for d in attach locks; do
	assert_eq "$(stat -c %a "$RUN/$d")" 700 "mode of $d/ made in a sticky runtime directory"
done
out=$("$LLOOP" list)
grep -qF "$DEV" <<<"$out" || fail "lloop list in $RUN does not show $DEV: $out"
detach "$DEV"
assert_nothing_left "detach in a sticky runtime directory"

# 5. one not there yet under a link of ours, as /var/run/lloop under
#    /var/run -> /run: made where the link leads
mkdir -m 0700 "$T/target"
ln -s "$T/target" "$T/viaLink"
RUN=$T/viaLink/run
export LLOOP_RUNTIME_DIR=$RUN
attach "$IMG"
[ -d "$T/target/run/attach" ] || fail "no $T/target/run/attach after an attach with $RUN"
detach "$ATTACH_DEV"
assert_nothing_left "detach in a runtime directory under a link"
echo "PASS: unsafe runtime directories refused, a sticky one and one under a link used"
