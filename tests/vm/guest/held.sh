# Shared by the guest tests of the nbd and ublk frontends (after tap.sh).
#
# check_held_detach DEV GONE WHAT: a process holds DEV open, not mounted.
# Detach is lazy, as losetup -d is: it says who holds DEV and exits 1,
# DEV serves the holder until its last close, and then goes (GONE is a
# path that exists until then; WHAT says how it goes), and its daemon
# with it.
check_held_detach() {
	local dev=$1 gone=$2 what=$3 pid holder
	pid=$(lloop list | awk -v d="$dev" '$1 == d { print $4 }')
	dd if=/dev/urandom of=/tmp/held.pat bs=1M count=8 2>/dev/null
	dd if=/tmp/held.pat of="$dev" bs=1M conv=fsync 2>/dev/null
	sleep 600 3<"$dev" &
	holder=$!
	sleep 1
	check "held open: detach says that pid $holder holds $dev, and exits 1" \
		sh -c "lloop detach $dev 2>/tmp/e; r=\$?; sed 's/^/# /' /tmp/e; test \$r = 1 && grep -q 'pid $holder (' /tmp/e && grep -q 'last close' /tmp/e"
	check "held open: $dev still serves its holder after the detach" \
		sh -c "dd if=/proc/$holder/fd/3 bs=1M count=8 iflag=direct 2>/dev/null | cmp - /tmp/held.pat"
	kill $holder
	wait $holder
	check "held open: at the last close $dev is $what" \
		sh -c "for i in \$(seq 30); do test -e $gone || exit 0; sleep 1; done; exit 1"
	check "held open: the daemon is gone, nothing listed" \
		sh -c "for i in \$(seq 30); do kill -0 $pid 2>/dev/null || break; sleep 1; done; ! kill -0 $pid 2>/dev/null && test -z \"\$(lloop list)\""
}
