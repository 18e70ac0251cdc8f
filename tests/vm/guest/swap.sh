# Swap on a lloop device under memory pressure.  From the kernel command
# line: lloop_frontend=nbd|fuse|ublk|kloop (the kernel's loop, for
# reference), or fusefile|kloopfile (the same two on an image file on ext4
# on the disk: lloop with FUSE passthrough, the kernel's loop with direct
# I/O), lloop_protect=1|0 (0: --no-mlock,
# oom_score_adj 0, no IO_FLUSHER), lloop_hog=MIB per hog, lloop_hogs=N hogs,
# lloop_watchdog=SECONDS, lloop_cgroup=MIB (the hogs run in a memory cgroup
# of that limit, as a batch system confines a job: the pressure is the
# job's, and the rest of the guest keeps its free memory).
. /bin/tap.sh
FRONTEND=$(cmdline_arg lloop_frontend)
PROTECT=$(cmdline_arg lloop_protect)
HOG=$(cmdline_arg lloop_hog)
HOGS=$(cmdline_arg lloop_hogs)
CGROUP=$(cmdline_arg lloop_cgroup)
case $FRONTEND in
kloop*) plan 6 ;;
*) plan 7 ;;
esac
watchdog "$(cmdline_arg lloop_watchdog)"
# the cgroup first, while nothing else runs: making the first memory
# cgroup patches the kernel's code (static keys), which under qemu's TCG
# once left a stale breakpoint behind (an oops in kfree); the host boots
# the guest with cgroup.memory=nokmem,nosocket for the same reason
if [ -n "$CGROUP" ]; then
	mkdir -p /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup &&
		echo +memory >/sys/fs/cgroup/cgroup.subtree_control &&
		mkdir /sys/fs/cgroup/job &&
		echo "${CGROUP}M" >/sys/fs/cgroup/job/memory.max ||
		diag "could not make the memory cgroup"
	diag "the hogs run in a memory cgroup: memory.max $(cat /sys/fs/cgroup/job/memory.max)"
fi
if [ "$FRONTEND" = nbd ]; then
	opts="--frontend nbd --buffer-memory 8M --queue-depth 32"
elif [ "$FRONTEND" = ublk ]; then
	opts="--frontend ublk --buffer-memory 16M"
else
	opts="--frontend fuse --buffer-memory 64M"
fi
# the swap image: the disk itself, or a file written out in full on ext4
# (no unwritten extent left for a swap write to convert)
IMG=/dev/vda
case $FRONTEND in
*file)
	/usr/bin/mke2fs -q -F -t ext4 /dev/vda && mkdir -p /mnt/a &&
		mount -t ext4 /dev/vda /mnt/a &&
		dd if=/dev/zero of=/mnt/a/swap.img bs=1M count=1024 conv=fsync 2>/dev/null &&
		echo 3 >/proc/sys/vm/drop_caches || diag "could not make the image file"
	IMG=/mnt/a/swap.img
	FRONTEND=${FRONTEND%file}
	;;
esac
if [ "$PROTECT" = 0 ]; then
	opts="$opts --no-mlock --oom-score-adj 0"
	export LLOOP_NO_IO_FLUSHER=1
fi
if [ "$FRONTEND" = kloop ]; then
	# the reference: the kernel's own loop driver on the same disk
	if [ "$IMG" = /dev/vda ]; then
		dev=$(losetup -f)
		losetup "$dev" /dev/vda
	else
		dev=$(/usr/bin/losetup --direct-io=on --show -f "$IMG")
		diag "$(/usr/bin/losetup -l "$dev")"
	fi
	check "the kernel loop driver on $IMG: $dev" test -b "$dev"
	pid=1
else
	diag "lloop attach $opts $IMG"
	dev=$(lloop attach $opts "$IMG" 2>/tmp/attach.err)
	sed 's/^/# /' /tmp/attach.err
	unset LLOOP_NO_IO_FLUSHER
	check "attach ($FRONTEND, protect=$PROTECT) gives $dev" test -b "$dev"
	pid=$(lloop list | awk -v d="$dev" '$1 == d { print $4 }')
	lloop list | sed 's/^/# /'
	diag "daemon $pid: $(grep -E 'VmLck|VmRSS' /proc/$pid/status | tr -s ' \t\n' ' '), oom_score_adj $(cat /proc/$pid/oom_score_adj)"
fi
# the kernel's allocations for lloop's own io_uring requests while it
# serves swap (docs/swap.md): ftrace's kmalloc and kmem_cache_alloc
# events on its worker threads, counted by call site in the kernel
T=/sys/kernel/tracing/events/kmem
HIST=
if [ "$pid" != 1 ]; then
	mkdir -p /sys/kernel/tracing
	mount -t tracefs tracefs /sys/kernel/tracing
	HIST='hist:keys=call_site.sym:vals=hitcount:size=4096 if comm ~ "lloop-w*"'
	for e in kmalloc kmem_cache_alloc; do
		echo "$HIST" >"$T/$e/trigger" ||
			{ diag "could not count $e"; HIST=; break; }
	done
	# io_uring takes its request structures in bulk, which the kmem
	# events do not show: count its refills with a kprobe
	echo 'p:lloop/req_refill __io_alloc_req_refill' \
		>>/sys/kernel/tracing/kprobe_events &&
		echo "${HIST%%:size*} if ${HIST#* if }" |
		sed 's/call_site/__probe_ip/' \
			>/sys/kernel/tracing/events/lloop/req_refill/trigger ||
		{ diag "could not count __io_alloc_req_refill"; HIST=; }
fi
check "mkswap and swapon $dev" sh -c "mkswap $dev >/dev/null && swapon $dev"
sed 's/^/# /' /proc/swaps
in0=$(awk '$1 == "pswpin" { print $2 }' /proc/vmstat)
out0=$(awk '$1 == "pswpout" { print $2 }' /proc/vmstat)
start=$(date +%s)
pids=
for i in $(seq "$HOGS"); do
	if [ -n "$CGROUP" ]; then
		sh -c 'echo $$ >/sys/fs/cgroup/job/cgroup.procs && exec hog "$1"' \
			hog "$HOG" >/tmp/hog$i.out 2>&1 &
	else
		hog "$HOG" >/tmp/hog$i.out 2>&1 &
	fi
	pids="$pids $!"
done
bad=0
for p in $pids; do
	wait "$p" || bad=$((bad + 1))
done
secs=$(($(date +%s) - start))
cat /tmp/hog*.out | sed 's/^/# /'
in1=$(awk '$1 == "pswpin" { print $2 }' /proc/vmstat)
out1=$(awk '$1 == "pswpout" { print $2 }' /proc/vmstat)
diag "swap: $((out1 - out0)) pages out, $((in1 - in0)) pages in, in $secs s"
[ -n "$CGROUP" ] && diag "the cgroup's memory.events: $(tr '\n' ' ' </sys/fs/cgroup/job/memory.events)"
check "$HOGS hogs of $HOG MiB: every page verified" test "$bad" = 0
check "the daemon (pid $pid) was never killed" kill -0 "$pid"
# a third of the hogs' pages at least must have gone out and come back
min=$((HOG * 256 * HOGS / 4))
check "swap was really used (pswpout and pswpin over $min pages)" \
	test $((out1 - out0)) -gt $min -a $((in1 - in0)) -gt $min
dmesg | grep -iE 'oom|killed process|blocked for more' | sed 's/^/# /'
if [ -n "$HIST" ]; then
	cat "$T/kmalloc/hist" "$T/kmem_cache_alloc/hist" \
		/sys/kernel/tracing/events/lloop/req_refill/hist >/tmp/hist
	sed -n 's/.*\] \([^+ ]*\).*hitcount: *\([0-9]*\).*/\1 \2/p' /tmp/hist |
		awk '{ n[$1] += $2 } END { for (s in n) print n[s], s }' |
		sort -rn | sed 's/^/# allocations on lloop-w*: /'
	n=$(grep -E '\] _*io_' /tmp/hist | awk '{ n += $NF } END { print n + 0 }')
	# (a request the block layer must split goes to an io-wq thread, and
	# the kernel may start one for it: shown, not judged; docs/swap.md)
	diag "io-wq threads started: $(grep -E '\] create_io_worker' /tmp/hist |
		awk '{ n += $NF } END { print n + 0 }')"
	lost=$(awk '/Dropped:/ { n += $2 } END { print n + 0 }' /tmp/hist)
	check "no io_uring allocation on lloop's workers while swapping ($n seen, $lost lost)" \
		test "$n" = 0 -a "$lost" = 0
fi
swapoff "$dev"
if [ "$FRONTEND" = kloop ]; then
	check "swapoff and losetup -d" losetup -d "$dev"
else
	check "swapoff and detach" lloop detach "$dev"
fi
watchdog_stop
echo "# RESULT frontend=$FRONTEND image=$IMG protect=$PROTECT hog=${HOGS}x${HOG}MiB cgroup=${CGROUP:-none} seconds=$secs pswpout=$((out1 - out0)) pswpin=$((in1 - in0)) bad=$bad"
