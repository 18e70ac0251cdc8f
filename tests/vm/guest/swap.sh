# Swap on a lloop device under memory pressure.  From the kernel command
# line: lloop_frontend=nbd|fuse|ublk|kloop (the kernel's loop, for reference), lloop_protect=1|0 (0: --no-mlock,
# oom_score_adj 0, no IO_FLUSHER), lloop_hog=MIB per hog, lloop_hogs=N hogs,
# lloop_watchdog=SECONDS.
. /bin/tap.sh
FRONTEND=$(cmdline_arg lloop_frontend)
PROTECT=$(cmdline_arg lloop_protect)
HOG=$(cmdline_arg lloop_hog)
HOGS=$(cmdline_arg lloop_hogs)
plan 6
watchdog "$(cmdline_arg lloop_watchdog)"
if [ "$FRONTEND" = nbd ]; then
	opts="--frontend nbd --buffer-memory 8M --queue-depth 32"
elif [ "$FRONTEND" = ublk ]; then
	opts="--frontend ublk --buffer-memory 16M"
else
	opts="--frontend fuse --buffer-memory 64M"
fi
if [ "$PROTECT" = 0 ]; then
	opts="$opts --no-mlock --oom-score-adj 0"
	export LLOOP_NO_IO_FLUSHER=1
fi
if [ "$FRONTEND" = kloop ]; then
	# the reference: the kernel's own loop driver on the same disk
	dev=$(losetup -f)
	losetup "$dev" /dev/vda
	check "the kernel loop driver on /dev/vda: $dev" test -b "$dev"
	pid=1
else
	diag "lloop attach $opts /dev/vda"
	dev=$(lloop attach $opts /dev/vda 2>/tmp/attach.err)
	sed 's/^/# /' /tmp/attach.err
	unset LLOOP_NO_IO_FLUSHER
	check "attach ($FRONTEND, protect=$PROTECT) gives $dev" test -b "$dev"
	pid=$(lloop list | awk -v d="$dev" '$1 == d { print $4 }')
	diag "daemon $pid: $(grep -E 'VmLck|VmRSS' /proc/$pid/status | tr -s ' \t\n' ' '), oom_score_adj $(cat /proc/$pid/oom_score_adj)"
fi
check "mkswap and swapon $dev" sh -c "mkswap $dev >/dev/null && swapon $dev"
sed 's/^/# /' /proc/swaps
in0=$(awk '$1 == "pswpin" { print $2 }' /proc/vmstat)
out0=$(awk '$1 == "pswpout" { print $2 }' /proc/vmstat)
start=$(date +%s)
pids=
for i in $(seq "$HOGS"); do
	hog "$HOG" >/tmp/hog$i.out 2>&1 &
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
check "$HOGS hogs of $HOG MiB: every page verified" test "$bad" = 0
check "the daemon (pid $pid) was never killed" kill -0 "$pid"
# a third of the hogs' pages at least must have gone out and come back
min=$((HOG * 256 * HOGS / 4))
check "swap was really used (pswpout and pswpin over $min pages)" \
	test $((out1 - out0)) -gt $min -a $((in1 - in0)) -gt $min
dmesg | grep -iE 'oom|killed process|blocked for more' | sed 's/^/# /'
swapoff "$dev"
if [ "$FRONTEND" = kloop ]; then
	check "swapoff and losetup -d" losetup -d "$dev"
else
	check "swapoff and detach" lloop detach "$dev"
fi
watchdog_stop
echo "# RESULT frontend=$FRONTEND protect=$PROTECT hog=${HOGS}x${HOG}MiB seconds=$secs pswpout=$((out1 - out0)) pswpin=$((in1 - in0)) bad=$bad"
