# shellcheck shell=bash
# Shared helpers for the lloop attach/detach/list tests.  Source it right
# after the interop helpers:
#
#   . "$(dirname "$0")/../interop/lib.sh"
#   . "$(dirname "$0")/attach_lib.sh"
#
# Every lloop command of a test sees its own runtime directory, $RUN
# (LLOOP_RUNTIME_DIR=$T/run), so tests do not see each other's or the
# user's attachments.  The exit trap undoes whatever the test did, even when
# it fails: it unmounts what the test mounted, detaches what it attached,
# kills (by recorded PID only) the daemons still alive, and frees every loop
# device bound to one of the test's own files.
#
# Helpers:
#   attach IMAGE [OPTS...]     lloop attach; sets ATTACH_DEV, ATTACH_PID
#   attach_try IMAGE [OPTS...] the same, expected to maybe fail; sets
#                              ATTACH_RC, ATTACH_OUT, ATTACH_ERR (file)
#   detach DEV                 lloop detach, must succeed; the daemon is gone
#   mount_dev DEV DIR [OPTS]   mount and record the mount point
#   umount_dir DIR             umount a recorded mount point
#   kloop_attach FILE [OPTS]   the kernel loop driver on FILE directly
#                              (losetup --find --show); sets KLOOP_DEV
#   kloop_detach DEV
#   track_image FILE           a file of the test's whose loop devices the
#                              cleanup frees (files under $T are anyway)
#   loops_of_test              loop devices bound to a file under $T, or to
#                              a tracked image
#   assert_nothing_left WHAT   no state files, no daemon, no loop device,
#                              an empty lloop list --json
#   hold_dev DEV [FD]          a sleep holding DEV open on FD (default 3),
#                              tracked; sets HOLDER once it has it open
#   list_field DEV FIELD       a field of DEV's entry in lloop list --json
#   daemon_pid_of DEV          the daemon PID of DEV from the state files
#   op_requests PID OP [FIELD] a per-op counter of lloop stats --json
#   ops_on_worker PID          ops its workers did themselves (stats)

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	# the runner globs tests/attach/*.sh: this file is not a test
	echo "SKIP: attach_lib.sh is the attach tests' library, not a test"
	exit 77
fi

[ "$(id -u)" = 0 ] || skip "lloop attach needs root"
[ -c /dev/fuse ] || skip "no /dev/fuse (FUSE not available)"
[ -c /dev/loop-control ] || skip "no /dev/loop-control (loop driver not available)"
need_lloop
need losetup findmnt

RUN=$T/run
export LLOOP_RUNTIME_DIR=$RUN

# what the cleanup undoes
ATTACHED_DEVS=()  # devices lloop attach printed
DAEMON_PIDS=()    # their daemons
MOUNTS=()         # mount points the test mounted
KLOOP_DEVS=()     # devices of losetup --find --show
TRACKED_IMAGES=() # image files outside $T (if any)
# LOOP_IDS[DEV]: "lo_device lo_inode lo_file_name" of an attached device at
# attach time.  A daemon that died leaves its device bound (while someone
# holds it open) to a FUSE file in a namespace that is gone, which sysfs
# shows as "/": this identity still tells it apart from other devices.
declare -A LOOP_IDS=()
ATTACH_SEQ=0
ATTACH_DEV=
ATTACH_PID=
KLOOP_DEV=

# DAEMON_START[PID]: the start time of a recorded daemon, so that a PID the
# kernel has since given to another process is never taken for it
declare -A DAEMON_START=()

# _start_time PID: field 22 of /proc/PID/stat (empty if there is no PID)
_start_time() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	# shellcheck disable=SC2086 # split the fields
	set -- $stat
	echo "${20}"
}

# is PID a running lloop process (not a zombie), and the one recorded?
_is_lloop_pid() {
	local exe
	kill -0 "$1" 2>/dev/null || return 1
	exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
	case "$exe" in
	*/lloop | *"/lloop (deleted)") ;;
	*) return 1 ;;
	esac
	[ -z "${DAEMON_START[$1]:-}" ] || [ "$(_start_time "$1")" = "${DAEMON_START[$1]}" ]
}

# the backing file the kernel records for loop device DEV (empty if unbound)
_backing_file() {
	local f=/sys/block/${1#/dev/}/loop/backing_file
	if [ -r "$f" ]; then
		cat "$f" 2>/dev/null || :
	fi
}

hold_dev() {
	local dev=$1 fd=${2:-3} i
	# read-write, as a user of the device would have it
	eval "sleep 600 $fd<>\"\$dev\" &"
	HOLDER=$!
	track_pid "$HOLDER"
	# open before anything the test does next: a daemon that dies
	# before it takes its device with it
	for ((i = 0; i < 50; i++)); do
		[ "$(readlink "/proc/$HOLDER/fd/$fd" 2>/dev/null)" = "$dev" ] && return 0
		sleep 0.1
	done
	fail "the holder (pid $HOLDER) did not open $dev within 5 s"
}

# _loopinfo DEV: "lo_device lo_inode lo_file_name" of DEV (LOOP_GET_STATUS64),
# nothing if it is not bound
_loopinfo() {
	"$PY" - "$1" <<'PYEOF' 2>/dev/null || :
import fcntl, os, struct, sys
LOOP_GET_STATUS64 = 0x4C05
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_CLOEXEC)
buf = bytearray(232)  # struct loop_info64
try:
    fcntl.ioctl(fd, LOOP_GET_STATUS64, buf)
except OSError:
    sys.exit(0)
dev, ino = struct.unpack_from("QQ", buf, 0)
print(dev, ino, bytes(buf[56:120]).split(b"\0")[0].decode(errors="replace"))
PYEOF
}

loops_of_test() {
	local f dev back img
	for dev in "${!LOOP_IDS[@]}"; do
		[ -n "$(_backing_file "$dev")" ] || continue
		[ "$(_loopinfo "$dev")" != "${LOOP_IDS[$dev]}" ] || echo "$dev"
	done
	for f in /sys/block/loop*/loop/backing_file; do
		[ -e "$f" ] || continue
		back=$(cat "$f" 2>/dev/null) || continue
		dev=/dev/$(basename "$(dirname "$(dirname "$f")")")
		case "$back" in
		"$T"/*)
			echo "$dev"
			continue
			;;
		esac
		for img in ${TRACKED_IMAGES[@]+"${TRACKED_IMAGES[@]}"}; do
			if [ "$back" = "$img" ] || [ "$back" = "$img (deleted)" ]; then
				echo "$dev"
				break
			fi
		done
	done
	for img in ${TRACKED_IMAGES[@]+"${TRACKED_IMAGES[@]}"}; do
		[ -e "$img" ] || continue
		losetup -j "$img" 2>/dev/null | cut -d: -f1
	done
}

# _loop_clear_ours DEV: unbind DEV if it is bound to one of the test's
# files.  The check is made with DEV held open, so that it cannot be freed
# and bound to somebody else's file between the check and LOOP_CLR_FD.
_loop_clear_ours() {
	"$PY" - "$1" "$T" "${LOOP_IDS[$1]:-}" ${TRACKED_IMAGES[@]+"${TRACKED_IMAGES[@]}"} <<'PYEOF' >&2
import fcntl, os, struct, sys
dev, tdir, ident, images = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
LOOP_CLR_FD, LOOP_GET_STATUS64 = 0x4C01, 0x4C05
try:
    fd = os.open(dev, os.O_RDONLY | os.O_CLOEXEC)
except OSError as e:
    sys.exit(0)
try:
    with open("/sys/block/%s/loop/backing_file" % os.path.basename(dev)) as f:
        back = f.read().rstrip("\n")
except OSError:
    back = ""
if back.endswith(" (deleted)"):
    back = back[: -len(" (deleted)")]
buf = bytearray(232)
try:
    fcntl.ioctl(fd, LOOP_GET_STATUS64, buf)
    d, i = struct.unpack_from("QQ", buf, 0)
    now = "%d %d %s" % (d, i, bytes(buf[56:120]).split(b"\0")[0].decode(errors="replace"))
except OSError:
    now = ""
if back and (back.startswith(tdir + "/") or back in images or (ident and now == ident)):
    print("cleanup: unbinding %s from %s" % (dev, back))
    try:
        fcntl.ioctl(fd, LOOP_CLR_FD)
    except OSError as e:
        print("cleanup: %s: LOOP_CLR_FD: %s" % (dev, e))
os.close(fd)
PYEOF
}

track_image() {
	TRACKED_IMAGES+=("$(realpath "$1")")
}

daemon_pid_of() {
	local f
	for f in "$RUN"/attach/*.state; do
		[ -e "$f" ] || continue
		if grep -qx "device=$1" "$f"; then
			basename "$f" .state
			return 0
		fi
	done
	return 1
}

_attach_args() {
	ATTACH_ARGS=(--engine "$LLOOP_ENGINE")
	[ -z "${LLOOP_LOG_LEVEL:-}" ] || ATTACH_ARGS+=(--log-level "$LLOOP_LOG_LEVEL")
}

# attach_try IMAGE [OPTS...]: run lloop attach; never fails the test itself.
# A device it prints is recorded for the cleanup.
attach_try() {
	local image=$1
	shift
	_attach_args
	ATTACH_SEQ=$((ATTACH_SEQ + 1))
	ATTACH_ERR=$T/attach$ATTACH_SEQ.err
	ATTACH_RC=0
	ATTACH_OUT=$("$LLOOP" attach "${ATTACH_ARGS[@]}" "$@" "$image" 2>"$ATTACH_ERR" </dev/null) ||
		ATTACH_RC=$?
	ATTACH_DEV=
	ATTACH_PID=
	if [ -n "$ATTACH_OUT" ]; then
		ATTACH_DEV=$ATTACH_OUT
		ATTACHED_DEVS+=("$ATTACH_DEV")
		if [[ "$ATTACH_DEV" =~ ^/dev/loop[0-9]+$ ]]; then
			LOOP_IDS[$ATTACH_DEV]=$(_loopinfo "$ATTACH_DEV")
		fi
		ATTACH_PID=$(daemon_pid_of "$ATTACH_DEV") || ATTACH_PID=
		if [ -n "$ATTACH_PID" ]; then
			DAEMON_PIDS+=("$ATTACH_PID")
			DAEMON_START[$ATTACH_PID]=$(_start_time "$ATTACH_PID")
		fi
	fi
}

# attach IMAGE [OPTS...]: must succeed, print /dev/loopN, leave a state file
# and a live daemon.  Sets ATTACH_DEV and ATTACH_PID.
attach() {
	local image=$1
	shift
	attach_try "$image" "$@"
	if [ "$ATTACH_RC" != 0 ]; then
		cat "$ATTACH_ERR" >&2
		fail "lloop attach $* $image: exit status $ATTACH_RC"
	fi
	[[ "$ATTACH_DEV" =~ ^/dev/loop[0-9]+$ ]] ||
		fail "lloop attach $* $image printed '$ATTACH_DEV', expected /dev/loopN"
	[ -b "$ATTACH_DEV" ] || fail "$ATTACH_DEV is not a block device"
	[ -n "$ATTACH_PID" ] || fail "no state file in $RUN/attach names $ATTACH_DEV"
	_is_lloop_pid "$ATTACH_PID" || fail "the daemon of $ATTACH_DEV (pid $ATTACH_PID) is not running"
	[ -n "$(_backing_file "$ATTACH_DEV")" ] || fail "$ATTACH_DEV is not bound after lloop attach returned"
	# fail() shows the end of the newest daemon's log
	# shellcheck disable=SC2034
	SERVER_LOG=$RUN/attach/$ATTACH_PID.log
	log "attached $image as $ATTACH_DEV (daemon $ATTACH_PID) $*"
}

# detach DEV: lloop detach must succeed with nothing on stderr, the daemon
# must be gone when it returns, the device unbound and the state files gone.
detach() {
	local dev=$1 pid rc=0 i f
	pid=$(daemon_pid_of "$dev") || fail "detach $dev: no state file names it"
	timeout 90 "$LLOOP" detach "$dev" >"$T/detach.out" 2>"$T/detach.err" || rc=$?
	if [ "$rc" != 0 ]; then
		cat "$T/detach.out" "$T/detach.err" >&2
		fail "lloop detach $dev: exit status $rc"
	fi
	[ ! -s "$T/detach.err" ] || fail "lloop detach $dev wrote to stderr: $(cat "$T/detach.err")"
	! _is_lloop_pid "$pid" || fail "lloop detach $dev returned, but its daemon $pid still runs"
	for f in "$RUN/attach/$pid".*; do
		[ ! -e "$f" ] || fail "lloop detach $dev left $f behind"
	done
	# the loop driver may clear the device a moment after LOOP_CLR_FD
	for ((i = 0; i < 50; i++)); do
		case "$(_backing_file "$dev")" in
		"$T"/*) sleep 0.1 ;;
		*) break ;;
		esac
	done
	case "$(_backing_file "$dev")" in
	"$T"/*) fail "$dev is still bound to $(_backing_file "$dev") 5 s after lloop detach" ;;
	esac
	log "detached $dev (daemon $pid gone)"
}

mount_dev() {
	local dev=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	mount "$@" "$dev" "$dir" || fail "mount $* $dev $dir failed"
	MOUNTS+=("$dir")
}

umount_dir() {
	umount "$1" || fail "umount $1 failed"
}

kloop_attach() {
	local file=$1
	shift
	KLOOP_DEV=$(losetup --find --show "$@" "$file") || fail "losetup --find --show $* $file failed"
	KLOOP_DEVS+=("$KLOOP_DEV")
	log "kernel loop device $KLOOP_DEV on $file ($*)"
}

kloop_detach() {
	losetup -d "$1" || fail "losetup -d $1 failed"
}

# list_field DEV FIELD: the field of DEV's entry in lloop list --json
# (Python's repr: True/False for booleans)
list_field() {
	"$LLOOP" list --json | "$PY" -c '
import json, sys
l = json.load(sys.stdin)
e = [a for a in l if a["device"] == sys.argv[1]]
if len(e) != 1:
    sys.exit("lloop list --json has %d entries for %s" % (len(e), sys.argv[1]))
print(e[0][sys.argv[2]])' "$1" "$2"
}

# PATHS: the two I/O paths of a plain-file image, as attach options:
# "default" (FUSE passthrough where the kernel has it) and "engine"
# (--no-passthrough: every request through lloop's engine)
PATHS=(default engine)
path_opts() {
	case "$1" in
	default) ;;
	engine) echo --no-passthrough ;;
	*) fail "path_opts: unknown path $1" ;;
	esac
}

# check_path DEV PATH: lloop list shows the path PATH (default/engine)
# stands for.  The default is passthrough on a kernel that has it (Linux
# 6.9 and later) unless the kernel refused to register the file, which the
# daemon reports as a warning at attach time (in $ATTACH_ERR).
check_path() {
	local got want=passthrough
	got=$(list_field "$1" path)
	if [ "$2" = engine ]; then
		want=engine
	elif ! _kernel_at_least 6 9; then
		want=engine
		echo "note: Linux $(uname -r) has no FUSE passthrough: the default is the engine path"
	elif grep -qE 'BACKING_OPEN|passthrough' "$ATTACH_ERR"; then
		want=engine
		echo "note: the kernel refused FUSE passthrough: $(grep -E 'BACKING_OPEN|passthrough' "$ATTACH_ERR" | head -n 1)"
	fi
	assert_eq "$got" "$want" "I/O path of $1 in lloop list ($2)"
}

# _kernel_at_least MAJOR MINOR
_kernel_at_least() {
	local v major minor
	v=$(uname -r)
	major=${v%%.*}
	minor=${v#*.}
	minor=${minor%%[!0-9]*}
	[ "$major" -gt "$1" ] || { [ "$major" -eq "$1" ] && [ "${minor:-0}" -ge "$2" ]; }
}

# op_requests PID OP [FIELD]: the attach daemon PID's counter
# exports[0].ops.OP.FIELD (default requests) from lloop stats --json
op_requests() {
	"$LLOOP" stats --control "$RUN/attach/$1.sock" --json | "$PY" -c '
import json, sys
print(json.load(sys.stdin)["exports"][0]["ops"][sys.argv[1]][sys.argv[2]])' "$2" "${3:-requests}"
}

# ops_on_worker PID: the attach daemon PID's ops done on its worker
# threads (lloop stats --json, all workers)
ops_on_worker() {
	workers_sum "$RUN/attach/$1.sock" ops_on_worker
}

# _leftovers: what of the test's remains, one line per kind (empty: nothing)
_leftovers() {
	local left pid list
	left=$(find "$RUN/attach" -mindepth 1 -printf '%f ' 2>/dev/null || :)
	[ -z "$left" ] || echo "files left in $RUN/attach: $left"
	for pid in ${DAEMON_PIDS[@]+"${DAEMON_PIDS[@]}"}; do
		! _is_lloop_pid "$pid" || echo "daemon $pid still alive"
	done
	left=$(loops_of_test | sort -u | tr '\n' ' ')
	[ -z "$left" ] || echo "loop devices still bound to the test's files: $left"
	list=$("$LLOOP" list --json 2>&1)
	[ "$list" = "[]" ] || echo "lloop list --json is '$list', expected '[]'"
	left=$(findmnt -rn -t fuse.lloop -o TARGET | tr '\n' ' ' || :)
	[ -z "$left" ] || echo "lloop FUSE mounts visible: $left"
}

# assert_nothing_left WHAT [SECONDS]: within SECONDS (default 10) of WHAT,
# nothing of the test's remains: no state/sock/img/log files, no daemon, no
# loop device on the test's files, lloop list --json is [] and no lloop
# FUSE mount is visible.
assert_nothing_left() {
	local what=$1 secs=${2:-10} left i
	for ((i = 0; i <= secs * 5; i++)); do
		left=$(_leftovers)
		[ -n "$left" ] || return 0
		sleep 0.2
	done
	fail "$secs s after $what: $(echo "$left" | paste -sd ';')"
}

_attach_cleanup() {
	local rc=$? pid dev dir i
	set +e
	trap - EXIT INT TERM
	# background processes first: they may hold a device open
	for pid in ${TRACKED_PIDS[@]+"${TRACKED_PIDS[@]}"}; do
		kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
	done
	for pid in ${TRACKED_PIDS[@]+"${TRACKED_PIDS[@]}"}; do
		for ((i = 0; i < 30; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	# mounts, newest first
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		dir=${MOUNTS[i]}
		mountpoint -q "$dir" || continue
		echo "cleanup: unmounting $dir" >&2
		umount "$dir" 2>/dev/null || { sleep 1 && umount "$dir"; } ||
			umount -l "$dir"
	done
	# lloop devices: detach asks the daemon (only ours: $RUN is ours)
	for dev in ${ATTACHED_DEVS[@]+"${ATTACHED_DEVS[@]}"}; do
		daemon_pid_of "$dev" >/dev/null || continue
		echo "cleanup: lloop detach $dev" >&2
		timeout 20 "$LLOOP" detach "$dev" >&2
	done
	# daemons still alive: killed by PID
	for pid in ${DAEMON_PIDS[@]+"${DAEMON_PIDS[@]}"}; do
		_is_lloop_pid "$pid" || continue
		echo "cleanup: killing daemon $pid" >&2
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 30; i++)); do
			_is_lloop_pid "$pid" || break
			sleep 0.1
		done
		_is_lloop_pid "$pid" && kill -KILL "$pid" 2>/dev/null
	done
	for pid in ${DAEMON_PIDS[@]+"${DAEMON_PIDS[@]}"}; do
		for ((i = 0; i < 50; i++)); do
			_is_lloop_pid "$pid" || break
			sleep 0.1
		done
	done
	# loop devices still bound to the test's files (the kernel's own, or a
	# dead daemon's before autoclear)
	for ((i = 0; i < 20; i++)); do
		dev=$(loops_of_test | sort -u)
		[ -n "$dev" ] || break
		for d in $dev; do
			_loop_clear_ours "$d"
		done
		sleep 0.5
	done
	(exit "$rc")
	_cleanup
}
trap _attach_cleanup EXIT

# ---- file system round trip (fs_ext4.sh, fs_xfs.sh) ---------------------

# _elapsed START: seconds since START (from date +%s.%N), 1 decimal
_elapsed() {
	"$PY" -c 'import sys, time; print("%.1f" % (time.time() - float(sys.argv[1])))' "$1"
}

# make_tree DIR SUMS: 4 files of 50 MB and 2,000 files of 1-16 KiB in 8
# directories, all random; SUMS gets their sha256 (sha256sum format, paths
# relative to DIR, sorted), computed from the data as it was generated.
make_tree() {
	"$PY" - "$1" "$2" <<'PYEOF'
import hashlib, os, random, sys
root, sums = sys.argv[1], sys.argv[2]
out = {}
for i in range(4):
    name = "big%d" % i
    h = hashlib.sha256()
    with open(os.path.join(root, name), "wb") as f:
        for _ in range(50):
            b = os.urandom(1 << 20)
            h.update(b)
            f.write(b)
    out[name] = h.hexdigest()
rnd = random.Random()
for d in range(8):
    os.mkdir(os.path.join(root, "d%d" % d))
for i in range(2000):
    name = "d%d/f%04d" % (i % 8, i)
    b = os.urandom(rnd.randint(1, 16) * 1024)
    with open(os.path.join(root, name), "wb") as f:
        f.write(b)
    out[name] = hashlib.sha256(b).hexdigest()
with open(sums, "w") as f:
    for name in sorted(out):
        f.write("%s  %s\n" % (out[name], name))
PYEOF
}

# check_tree DIR SUMS WHAT: exactly the files of SUMS, with those contents
check_tree() {
	local dir=$1 sums=$2 what=$3 n want
	want=$(wc -l <"$sums")
	n=$(find "$dir" -type f | wc -l)
	assert_eq "$n" "$want" "number of files $what"
	(cd "$dir" && sha256sum --quiet --strict -c "$sums") >"$T/check.out" 2>&1 || {
		head -n 20 "$T/check.out" >&2
		fail "sha256 mismatch $what ($(grep -c FAILED "$T/check.out" || :) files differ)"
	}
	log "all $n files match their sha256 $what"
}

# fs_roundtrip FSTYPE: fs_roundtrip_path FSTYPE on each I/O path
fs_roundtrip() {
	local p
	for p in "${PATHS[@]}"; do
		log "path: $p"
		fs_roundtrip_path "$1" "$p"
	done
}

# fs_roundtrip_path FSTYPE PATH: the acceptance test of a file system on an
# attached sparse 1 GiB file, then the same image through the kernel loop
# driver.
fs_roundtrip_path() {
	local fs=$1 path=$2 t0 t img=$T/disk.img mnt=$T/mnt sums=$T/sums dev opts
	read -r -a opts <<<"$(path_opts "$path")"
	case "$fs" in
	ext4) need mkfs.ext4 e2fsck ;;
	xfs) need mkfs.xfs xfs_repair ;;
	esac
	need sha256sum mountpoint
	grep -qw "$fs" /proc/filesystems || modprobe "$fs" 2>/dev/null ||
		skip "the kernel has no $fs"
	grep -qw "$fs" /proc/filesystems || skip "the kernel has no $fs"
	rm -f "$img" "$sums"
	truncate -s 1G "$img"
	t0=$(date +%s.%N)

	attach "$img" ${opts[@]+"${opts[@]}"}
	dev=$ATTACH_DEV
	check_path "$dev" "$path"
	t=$(date +%s.%N)
	case "$fs" in
	ext4) mkfs.ext4 -q -F "$dev" ;;
	xfs) mkfs.xfs -q -f "$dev" ;;
	esac || fail "mkfs.$fs $dev failed"
	echo "mkfs.$fs: $(_elapsed "$t") s"

	mount_dev "$dev" "$mnt"
	t=$(date +%s.%N)
	make_tree "$mnt" "$sums" || fail "writing the files failed"
	sync -f "$mnt" || fail "sync -f $mnt failed"
	echo "write 200 MB + 2,000 small files, sync: $(_elapsed "$t") s"
	check_tree "$mnt" "$sums" "as written"
	umount_dir "$mnt"

	sync
	echo 3 >/proc/sys/vm/drop_caches || fail "cannot drop the caches"
	t=$(date +%s.%N)
	mount_dev "$dev" "$mnt"
	check_tree "$mnt" "$sums" "after umount, drop_caches and mount again"
	echo "read back and hash: $(_elapsed "$t") s"
	umount_dir "$mnt"

	t=$(date +%s.%N)
	case "$fs" in
	ext4) e2fsck -fn "$dev" >"$T/fsck.out" 2>&1 ;;
	xfs) xfs_repair -n "$dev" >"$T/fsck.out" 2>&1 ;;
	esac || {
		cat "$T/fsck.out" >&2
		fail "the $fs file system on $dev is not clean"
	}
	tail -n 1 "$T/fsck.out"
	echo "fsck: $(_elapsed "$t") s"
	detach "$dev"
	assert_nothing_left "lloop detach"

	# the same image, straight through the kernel's own loop driver
	t=$(date +%s.%N)
	kloop_attach "$img" --read-only --direct-io=on
	mount_dev "$KLOOP_DEV" "$mnt" -o ro
	check_tree "$mnt" "$sums" "through the kernel loop driver on the image file"
	umount_dir "$mnt"
	kloop_detach "$KLOOP_DEV"
	echo "kernel loop check: $(_elapsed "$t") s"
	assert_nothing_left "losetup -d"
	echo "total ($path path): $(_elapsed "$t0") s"
}
