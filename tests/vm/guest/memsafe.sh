# With every capability (the host container lacks CAP_SYS_RESOURCE):
# PR_SET_IO_FLUSHER on every thread, oom_score_adj -1000 and memory
# locked, for lloop serve with both engines and for an nbd attach daemon.
. /bin/tap.sh
plan 9
watchdog 200
ip link set lo up
# flusher_ok STATS_JSON: every worker's and helper's io_flusher is 1
flusher_ok() {
	n1=$(grep -o '"io_flusher":[-0-9a-z]*' "$1" | grep -c ':1$')
	nall=$(grep -o '"io_flusher":[-0-9a-z]*' "$1" | grep -vc ':true$')
	diag "$(grep -o '"io_flusher":[-0-9a-z]*' "$1" | tr '\n' ' ')"
	grep -q '"memory":{[^}]*"io_flusher":true' "$1" && [ "$n1" -ge 2 ] && [ "$n1" = "$nall" ]
}
for engine in uring threads; do
	lloop serve --engine $engine --listen tcp://127.0.0.1:10809 \
		--control /run/ctl.sock --buffer-memory 8M memory:16M 2>/tmp/serve-$engine.log &
	pid=$!
	# ready once it listens (mlockall under TCG takes a while); the
	# workers set their figures as they start, just after
	i=0
	while ! grep -q "listening on" /tmp/serve-$engine.log && [ $i -lt 120 ]; do
		sleep 0.5
		i=$((i + 1))
	done
	sleep 2
	lloop stats --json --control /run/ctl.sock >/tmp/stats.json
	check "serve --engine $engine: IO_FLUSHER on every worker and helper thread" flusher_ok /tmp/stats.json
	check "serve --engine $engine: oom_score_adj -1000" test "$(cat /proc/$pid/oom_score_adj)" = -1000
	lck=$(awk '$1 == "VmLck:" { print $2 }' /proc/$pid/status)
	check "serve --engine $engine: memory locked (VmLck $lck kB >= the 8 MiB arena)" test "$lck" -ge 8192
	kill $pid
	wait $pid
done
dev=$(lloop attach --frontend nbd --buffer-memory 8M /dev/vda)
pid=$(lloop list | awk -v d="$dev" '$1 == d { print $4 }')
lloop stats --json --control /run/lloop/attach/$pid.sock >/tmp/stats.json
if flusher_ok /tmp/stats.json && test "$(cat /proc/$pid/oom_score_adj)" = -1000; then
	ok "attach --frontend nbd: IO_FLUSHER on every thread, oom_score_adj -1000"
else
	not_ok "attach --frontend nbd: IO_FLUSHER on every thread, oom_score_adj -1000"
fi
cat /tmp/serve-uring.log /tmp/serve-threads.log /run/lloop/attach/$pid.log >/tmp/serve.log
check "attach --frontend nbd: detach" lloop detach "$dev"
sed 's/^/# log: /' /tmp/serve.log
check "no warnings about IO_FLUSHER or oom_score_adj in any log" \
	sh -c "! grep -iE 'warning.*(IO_FLUSHER|oom_score_adj|mlock)' /tmp/serve.log"
watchdog_stop
