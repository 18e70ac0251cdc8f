# shellcheck shell=bash disable=SC2034,SC2154
# (globals shared with bench/run: set here and used there, or the reverse)
# bench/rbd.sh - the Ceph RBD family of bench/run; sourced by it, not run.
#
# Two servers on one image of a throwaway one-node Ceph cluster, each with
# librbd inside its own process (so librbd's threads are in its server
# CPU), both driven by fio's nbd engine over a Unix socket:
#   lloop-rbd     lloop serve --ceph-conf CONF --ceph-id lloop rbd:POOL/IMAGE
#   qemu-nbd-rbd  qemu-nbd -f raw --cache=none
#                 rbd:POOL/IMAGE:id=lloop:conf=CONF  (qemu's rbd driver)
#
# The cluster is the tests' own (tests/lib/ceph.sh: one ceph-mon, one
# memstore ceph-osd, 127.0.0.1, cephx, pool size 1), started once per run
# under the work directory once the backing file is prefilled.  The image
# is `rbd import`ed from that file (random data, no zero blocks: every
# object exists), so that reads hit data and writes overwrite it.
#
# ceph.sh is written for the tests: it wants tests/interop/lib.sh's
# track_pid, fail and free_port, and its fail exits.  So it is sourced and
# run in a subshell of its own with shims for those: track_pid writes each
# daemon's pid and start time to a file at once (the cleanup finds them
# there even if the subshell was interrupted), and fail ends only the
# subshell, so the family is skipped with the reason and the rest of the
# run goes on.  The daemons outlive the subshell and are stopped by PID
# (checked against their start time) by rbd_cluster_stop: after the
# servers, the osd first, then the mon.  ceph_stop is not used: the
# daemons are not children of this shell.
#
# librbd's cache: qemu's rbd driver turns it off for cache=none
# (rbd_cache=false); lloop sets nothing, so the conf decides.  The cluster's
# conf says `rbd cache = false`, so both servers run librbd alike.

RBD_SERVERS=(lloop-rbd qemu-nbd-rbd)
# issue 10's jobs: 4k random read and write at depth 32, 4 MiB sequential;
# --quick: the two 4k jobs and the 4 MiB read
RBD_JOBS_FULL=(rr4k-qd32 rw4k-qd32 seqr4m-qd8 seqw4m-qd8)
RBD_JOBS_QUICK=(rr4k-qd32 rw4k-qd32 seqr4m-qd8)
RBD_JOBS=()
RBD_LIB="$top/tests/lib/ceph.sh"
RBD_IMAGE=bench
RBD_STATE=''            # '' not started, up, failed, stopped
RBD_WHY=''              # why the cluster did not come up
RBD_CONF=''             # the cluster's ceph.conf
RBD_SPEC=''             # POOL/IMAGE
RBD_PIDS=()             # osd, mon: stopped in that order
RBD_SETUP=''            # one sentence for the report

# rbd_pick_jobs QUICK JOBS_OPT: the RBD jobs this run makes
rbd_pick_jobs() {
	local j names=()
	if [ -n "$2" ]; then
		IFS=, read -ra names <<<"$2"
		RBD_JOBS=()
		for j in "${RBD_JOBS_FULL[@]}"; do
			[[ " ${names[*]} " == *" $j "* ]] && RBD_JOBS+=("$j")
		done
	elif [ "$1" = 1 ]; then
		RBD_JOBS=("${RBD_JOBS_QUICK[@]}")
	else
		RBD_JOBS=("${RBD_JOBS_FULL[@]}")
	fi
}

# qemu's rbd driver: a module in Debian (package qemu-block-extra)
rbd_qemu_driver() {
	local f
	for f in /usr/lib/*/qemu/block-rbd.so /usr/lib/qemu/block-rbd.so \
		/usr/lib64/qemu/block-rbd.so; do
		[ -e "$f" ] && return 0
	done
	return 1
}

# rbd_unavailable SERVER: why it cannot run here (nothing: it can)
rbd_unavailable() {
	local why
	[ ${#RBD_JOBS[@]} -gt 0 ] ||
		{ echo "no RBD job among --jobs (${RBD_JOBS_FULL[*]})"; return; }
	[ -r "$RBD_LIB" ] || { echo "$RBD_LIB is missing"; return; }
	# shellcheck source=tests/lib/ceph.sh
	why=$(. "$RBD_LIB"; ceph_available || echo "$CEPH_MISSING")
	[ -z "$why" ] || { echo "$why"; return; }
	case "$1" in
	lloop-rbd)
		"$LLOOP_SRC" --version 2>/dev/null | grep -q '^Ceph RBD: available' ||
			echo "this lloop has no Ceph RBD backend ($("$LLOOP_SRC" --version 2>&1 |
				grep -m1 '^Ceph RBD' || echo 'lloop --version names none'))"
		;;
	qemu-nbd-rbd)
		command -v qemu-nbd >/dev/null ||
			{ echo "qemu-nbd is not installed (package qemu-utils)"; return; }
		rbd_qemu_driver ||
			echo "qemu's rbd driver is not installed (package qemu-block-extra)"
		;;
	esac
}

# rbd_cluster_start: the cluster and the image, once per run.  0: up;
# 1: not, the reason in RBD_WHY (what was started is stopped again).
rbd_cluster_start() {
	local log="$W/ceph-start.log" pid rc tstart mem took
	case "$RBD_STATE" in
	up) return 0 ;;
	failed) return 1 ;;
	esac
	tstart=$EPOCHREALTIME
	: >"$W/ceph.pids"
	# memstore keeps the image in the osd's memory; its capacity is what
	# statfs reports (the full ratios), not an allocation
	mem=$((size_bytes * 3))
	[ "$mem" -lt 2147483648 ] && mem=2147483648
	(
		TRACKED_PIDS=()
		# shellcheck disable=SC2317  # the shims are called by ceph.sh
		track_pid() {
			TRACKED_PIDS+=("$1")
			printf '%s %s\n' "$1" "$(starttime "$1")" >>"$W/ceph.pids"
		}
		# shellcheck disable=SC2317
		fail() { echo "bench: $*" >&2; exit 1; }
		# shellcheck disable=SC2317
		free_port() {
			"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
		}
		# shellcheck source=tests/lib/ceph.sh
		. "$RBD_LIB"
		CEPH_MEMSTORE_BYTES=$mem
		CEPH_EXTRA_CONF='rbd cache = false'
		ceph_start "$W/ceph"
		out=$(timeout -k 5 600 rbd --conf "$CEPH_CONF" import --no-progress \
			"$FILE" "$CEPH_POOL/$RBD_IMAGE" 2>&1) ||
			fail "rbd import of $FILE failed: $(tail -n 2 <<<"$out")"
		printf 'RBD_CONF=%q RBD_SPEC=%q RBD_OSD=%q RBD_MON=%q RBD_UP=%q\n' \
			"$CEPH_CONF" "$CEPH_POOL/$RBD_IMAGE" "$CEPH_OSD_PID" \
			"$CEPH_MON_PID" "$CEPH_START_SECONDS" >"$W/ceph.env"
	) >"$log" 2>&1 &
	pid=$!
	own_pid "$pid"
	# in the background, so that a signal interrupts 'wait' at once
	wait "$pid"
	rc=$?
	unset "OWN_PID[$pid]"
	rbd_adopt
	if [ "$rc" != 0 ] || [ ! -s "$W/ceph.env" ]; then
		RBD_WHY="no Ceph cluster and image: $(grep -m1 '^bench: ' "$log" |
			sed 's/^bench: //' || echo "exit status $rc")"
		echo "bench: $RBD_WHY; its log:" >&2
		logtail "$log"
		rbd_cluster_stop
		RBD_STATE=failed
		return 1
	fi
	local RBD_OSD RBD_MON RBD_UP
	# shellcheck disable=SC1091  # written just above
	. "$W/ceph.env"
	RBD_PIDS=("$RBD_OSD" "$RBD_MON")
	RBD_STATE=up
	took=$(awk -v a="$tstart" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	RBD_SETUP="The cluster was up in $RBD_UP s; the image ($size_mib MiB, rbd's default features, 4 MiB objects) was \`rbd import\`ed from the prefilled file (every object written), $took s after the start. The conf says \`rbd cache = false\` for every client (qemu's cache=none says the same to its librbd), so both servers run librbd without its cache."
	echo "bench: Ceph cluster up (mon $RBD_MON, osd $RBD_OSD), image $RBD_SPEC imported, in $took s"
}

# rbd_adopt: the daemons the subshell started are ours (pid start time)
rbd_adopt() {
	local p st
	[ -s "$W/ceph.pids" ] || return 0
	while read -r p st; do
		[ -n "$st" ] && [ "$(starttime "$p" 2>/dev/null)" = "$st" ] &&
			OWN_PID["$p"]=$st
	done <"$W/ceph.pids"
}

# rbd_is_cluster PID: one of the cluster's daemons
rbd_is_cluster() {
	[ -s "$W/ceph.pids" ] && grep -q "^$1 " "$W/ceph.pids"
}

# rbd_cluster_stop: the osd, then the mon (the osd tells the mon it goes)
rbd_cluster_stop() {
	local p
	[ -s "$W/ceph.pids" ] || return 0
	rbd_adopt
	# the file lists the mon first: stop in the reverse order
	for p in $(tac "$W/ceph.pids" | cut -d' ' -f1); do
		[ -n "${OWN_PID[$p]:-}" ] && stop_pid "$p" 15
	done
	[ "$RBD_STATE" = up ] && RBD_STATE=stopped
	return 0
}

# wait until the export answers (the image is open), as a client would
rbd_probe() { # name uri pid
	command -v nbdinfo >/dev/null || return 0
	local i
	for ((i = 0; i < 60; i++)); do
		timeout 20 nbdinfo --size "$2" >>"$W/$1-probe.log" 2>&1 && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.5
	done
	return 1
}

start_lloop-rbd() {
	local sock="$W/lloop-rbd.sock" log="$W/lloop-rbd.log" pf="$W/lloop-rbd.pid"
	local extra=() pid
	rbd_cluster_start || return 1
	rm -f "$sock" "$pf"
	[ "$pin" = 1 ] && extra+=(--threads 1)
	"${PIN_SRV[@]}" "$LLOOP" serve --listen "unix:$sock" \
		--control "$W/lloop-rbd.ctl" --pidfile "$pf" \
		--ceph-conf "$RBD_CONF" --ceph-id lloop "${extra[@]}" \
		"rbd:$RBD_SPEC" 2>>"$log" &
	pid=$!
	own_pid "$pid"
	# the pid file is written once lloop listens, the image open
	if ! wait_for 90 "$pid" file_ready "$pf" || ! sock_ready "$sock"; then
		echo "bench: lloop serve rbd: did not start:" >&2; logtail "$log"
		stop_pid "$pid"; return 1
	fi
	TARGET="nbd+unix:///?socket=$sock" TKIND=nbd SRV_PIDS=("$pid")
	CLUSTER_PIDS=("${RBD_PIDS[@]}")
	note lloop-rbd "$(grep -m1 -o 'engine [^,]*, [0-9]* workers\?' "$log")"
}
stop_lloop-rbd() { stop_pid "${SRV_PIDS[0]}" 30; }

start_qemu-nbd-rbd() {
	local sock="$W/qemu-nbd-rbd.sock" log="$W/qemu-nbd-rbd.log" pid
	rbd_cluster_start || return 1
	rm -f "$sock"
	"${PIN_SRV[@]}" qemu-nbd -f raw --cache=none -t -e 8 -k "$sock" \
		"rbd:$RBD_SPEC:id=lloop:conf=$RBD_CONF" 2>>"$log" &
	pid=$!
	own_pid "$pid"
	# qemu-nbd may listen before its image is open: ask it once
	if ! wait_for 90 "$pid" sock_ready "$sock" ||
		! rbd_probe qemu-nbd-rbd "nbd+unix:///?socket=$sock" "$pid"; then
		echo "bench: qemu-nbd (rbd) did not start:" >&2
		logtail "$log"; logtail "$W/qemu-nbd-rbd-probe.log"
		stop_pid "$pid"; return 1
	fi
	TARGET="nbd+unix:///?socket=$sock" TKIND=nbd SRV_PIDS=("$pid")
	CLUSTER_PIDS=("${RBD_PIDS[@]}")
}
stop_qemu-nbd-rbd() { stop_pid "${SRV_PIDS[0]}" 30; }
