#!/usr/bin/env bash
# Four devices at once (two on the default path, FUSE passthrough where the
# kernel has it, two with --no-passthrough, on the engine): concurrent fio
# with verify passes on all four.  Then fio again, and 2 s in, kill -9 all
# four daemons: every fio must end (with I/O errors on the engine path)
# within 30 s instead of hanging; lloop detach of each reports the dead
# daemon and exits 0; within 10 s nothing is left: no loop device on the
# images, no state files, no daemon, lloop list --json is [], no FUSE mount.
. "$(dirname "$0")/../interop/lib.sh"
. "$(dirname "$0")/attach_lib.sh"
describe "four devices under fio, then kill -9 of every daemon mid-I/O"
need fio timeout

DEVS=()
PIDS=()
for i in 0 1 2 3; do
	truncate -s 256M "$T/disk$i.img"
	if [ "$i" -lt 2 ]; then
		attach "$T/disk$i.img"
	else
		attach "$T/disk$i.img" --no-passthrough
		assert_eq "$(list_field "$ATTACH_DEV" path)" engine "path of $ATTACH_DEV with --no-passthrough"
	fi
	DEVS+=("$ATTACH_DEV")
	PIDS+=("$ATTACH_PID")
done
"$LLOOP" list

# fio_on I DEV RUNTIME: one verified random read/write fio on DEV
fio_on() {
	timeout -k 5 "$4" fio --name="dev$1" --filename="$2" --ioengine=libaio \
		--direct=1 --rw=randrw --bsrange=4k-64k --iodepth=16 \
		--verify=crc32c --verify_state_save=0 --time_based --runtime="$3" \
		--output="$T/fio-$5-$1.txt" >"$T/fio-$5-$1.err" 2>&1
}

log "3 s of verified fio on all four devices at once"
FIO=()
for i in 0 1 2 3; do
	fio_on "$i" "${DEVS[i]}" 3 60 ok &
	FIO+=($!)
	track_pid "${FIO[i]}"
done
for i in 0 1 2 3; do
	rc=0
	wait "${FIO[i]}" || rc=$?
	if [ "$rc" != 0 ] || ! grep -q 'err= 0' "$T/fio-ok-$i.txt"; then
		cat "$T/fio-ok-$i.txt" "$T/fio-ok-$i.err" >&2
		fail "fio on ${DEVS[i]} ($(list_field "${DEVS[i]}" path) path): exit status $rc"
	fi
	echo "${DEVS[i]} ($(list_field "${DEVS[i]}" path)): verify OK," \
		"$(grep -E '^ +(READ|WRITE):' "$T/fio-ok-$i.txt" | awk '{print $1, $2}' | tr '\n' ' ')"
done

# the daemons, as lloop list --json tells them
read -r -a LISTED <<<"$("$LLOOP" list --json | "$PY" -c '
import json, sys
l = {a["device"]: a for a in json.load(sys.stdin)}
print(" ".join(str(l[d]["pid"]) if d in l and l[d]["alive"] else "none" for d in sys.argv[1:]))' "${DEVS[@]}")"
for i in 0 1 2 3; do
	assert_eq "${LISTED[i]}" "${PIDS[i]}" "daemon of ${DEVS[i]} in lloop list --json"
done

log "fio again; kill -9 of the four daemons 2 s in"
FIO=()
for i in 0 1 2 3; do
	fio_on "$i" "${DEVS[i]}" 20 60 kill &
	FIO+=($!)
	track_pid "${FIO[i]}"
done
sleep 2
for i in 0 1 2 3; do
	kill -0 "${FIO[i]}" 2>/dev/null || fail "fio on ${DEVS[i]} ended before the kill: $(tail -n 3 "$T/fio-kill-$i.txt")"
done
KILLED_AT=$(date +%s.%N)
kill -KILL "${PIDS[@]}"
log "killed ${PIDS[*]}"

# each fio must end within 30 s; one still running then hangs
TOOK=()
for ((n = 0; n < 300; n++)); do
	running=0
	for i in 0 1 2 3; do
		[ -z "${TOOK[i]:-}" ] || continue
		if kill -0 "${FIO[i]}" 2>/dev/null; then
			running=$((running + 1))
		else
			TOOK[i]=$(_elapsed "$KILLED_AT")
		fi
	done
	[ "$running" != 0 ] || break
	sleep 0.1
done
for i in 0 1 2 3; do
	[ -n "${TOOK[i]:-}" ] ||
		fail "fio on ${DEVS[i]} still runs 30 s after its daemon was killed: it hangs"
done
for i in 0 1 2 3; do
	rc=0
	wait "${FIO[i]}" || rc=$?
	took=${TOOK[i]}
	errs=$(cat "$T/fio-kill-$i.err" "$T/fio-kill-$i.txt" | grep -c -E 'io_u error|verify: bad|err= *[1-9]' || :)
	path=$( ((i < 2)) && echo default || echo engine)
	echo "${DEVS[i]} ($path path): fio exit status $rc, ${took} s after the kill, $errs error lines:" \
		"$(grep -m 1 -E "err=" "$T/fio-kill-$i.txt" | grep -oE "error=[^)]*" || :)"
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		fail "fio on ${DEVS[i]} hung after its daemon was killed (killed by timeout)"
	fi
	"$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 30 else 1)' "$took" ||
		fail "fio on ${DEVS[i]} took $took s to end after its daemon was killed (limit 30)"
	if [ "$i" -ge 2 ]; then
		# the engine path: every request needs the daemon
		if [ "$rc" = 0 ] || [ "$errs" = 0 ]; then
			fail "fio on ${DEVS[i]} (engine path) saw no I/O error after its daemon was killed"
		fi
	fi
done

# A killed daemon is a zombie until its parent, PID 1 (it was orphaned),
# reaps it; lloop counts a zombie as alive.  Wait for the reaping.
for pid in "${PIDS[@]}"; do
	for ((n = 0; n < 100; n++)); do
		[ -e "/proc/$pid" ] || break
		sleep 0.1
	done
	[ ! -e "/proc/$pid" ] ||
		fail "daemon $pid still exists 10 s after kill -9 ($(ps -o stat= -p "$pid" 2>/dev/null || :)): is PID 1 reaping?"
done
echo "daemons reaped $(_elapsed "$KILLED_AT") s after the kill"

# the daemons are gone: list says so, detach cleans up
"$LLOOP" list --json >"$T/list.json"
alive=$("$PY" -c 'import json, sys; print(sum(a["alive"] for a in json.load(open(sys.argv[1]))))' "$T/list.json")
assert_eq "$alive" 0 "live daemons in lloop list --json after kill -9"
for i in 0 1 2 3; do
	rc=0
	out=$(timeout 30 "$LLOOP" detach "${DEVS[i]}" 2>"$T/detach.err") || rc=$?
	echo "lloop detach ${DEVS[i]}: $out"
	[ ! -s "$T/detach.err" ] || cat "$T/detach.err" >&2
	assert_eq "$rc" 0 "exit status of lloop detach ${DEVS[i]} after its daemon died"
	assert_eq "$out" "${DEVS[i]}: its daemon (pid ${PIDS[i]}) had died; cleaned up" \
		"lloop detach ${DEVS[i]} after its daemon died"
done
DETACHED_AT=$(date +%s.%N)
assert_nothing_left "kill -9 and lloop detach" 10
echo "nothing left $(_elapsed "$DETACHED_AT") s after the detaches"
# and losetup agrees, by image
for i in 0 1 2 3; do
	assert_eq "$(losetup -j "$T/disk$i.img")" "" "losetup -j $T/disk$i.img"
done
