#!/usr/bin/env bash
# lloop-test: engine-independent (loops over both I/O paths itself)
# A daemon killed while its device is mounted: the device stays bound
# while it is open (and with passthrough the kernel still writes the
# image through it), so a second attach of the image must be refused,
# and detach must say that the device is still in use, and where it is
# mounted, instead of claiming to have cleaned up.  Once unmounted, the kernel frees the device,
# detach cleans up, and the image can be attached again.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "a dead daemon's device still mounted blocks a second attach"
need mkfs.ext4

for path in "${PATHS[@]}"; do
	log "path: $path"
	img=$T/disk-$path.img
	truncate -s 128M "$img"
	# shellcheck disable=SC2046
	attach "$img" $(path_opts "$path")
	DEV=$ATTACH_DEV
	PID=$ATTACH_PID
	mkfs.ext4 -q "$DEV" || fail "mkfs.ext4 $DEV"
	mount_dev "$DEV" "$T/mnt-$path"
	kill -KILL "$PID"
	# dead means a zombie or gone: only then are its files, and so its
	# image lock, closed (its exe link goes earlier, with its memory)
	dead() {
		local st
		st=$(cat "/proc/$PID/stat" 2>/dev/null) || return 0
		st=${st##*) }
		[ "${st%% *}" = Z ]
	}
	for ((i = 0; i < 100; i++)); do
		dead && break
		sleep 0.1
	done
	dead || fail "daemon $PID still runs 10 s after kill -9"

	attach_try "$img" $(path_opts "$path")
	echo "second attach: exit $ATTACH_RC: $(cat "$ATTACH_ERR")"
	[ "$ATTACH_RC" != 0 ] || fail "a second attach of $img succeeded while $DEV is still bound to it"
	grep -q "still bound to $DEV, whose daemon died" "$ATTACH_ERR" ||
		fail "the refusal does not name $DEV: $(cat "$ATTACH_ERR")"
	[ "$(wc -l <"$ATTACH_ERR")" = 1 ] || fail "the refusal is not one line"

	rc=0
	"$LLOOP" detach "$DEV" >"$T/d.out" 2>"$T/d.err" || rc=$?
	echo "detach while mounted: exit $rc: $(cat "$T/d.out" "$T/d.err")"
	assert_eq "$rc" 1 "exit status of detach of a dead daemon's mounted device"
	grep -q 'still in use' "$T/d.err" || fail "detach does not say the device is still in use"
	grep -qF "mounted on $T/mnt-$path" "$T/d.err" || fail "detach does not say where the device is mounted"
	[ -n "$(daemon_pid_of "$DEV")" ] || fail "detach removed the state of a device still bound"

	umount_dir "$T/mnt-$path"
	for ((i = 0; i < 50; i++)); do
		[ -z "$(_backing_file "$DEV")" ] && break
		sleep 0.1
	done
	[ -z "$(_backing_file "$DEV")" ] || fail "$DEV still bound 5 s after umount (autoclear)"
	out=$("$LLOOP" detach "$DEV") || fail "detach after umount: exit $?"
	assert_eq "$out" "$DEV: its daemon (pid $PID) had died; cleaned up" "detach after umount"
	attach "$img" $(path_opts "$path")
	detach "$ATTACH_DEV"
done
assert_nothing_left "the last detach"
