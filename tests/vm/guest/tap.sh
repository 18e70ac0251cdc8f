# TAP from busybox sh.  plan N; ok DESC; not_ok DESC; check DESC CMD...
TAP_N=0
plan() {
	echo "1..$1"
}
ok() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $*"
}
not_ok() {
	TAP_N=$((TAP_N + 1))
	echo "not ok $TAP_N - $*"
}
# check DESC CMD...: ok when CMD succeeds; its output goes to the console
check() {
	local d=$1
	shift
	if "$@" >/tmp/check.out 2>&1; then
		ok "$d"
	else
		sed 's/^/# /' /tmp/check.out
		not_ok "$d"
	fi
}
diag() {
	echo "# $*"
}
# the value of key=VALUE on the kernel command line
cmdline_arg() {
	tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p"
}
# watchdog SECONDS: if the test is still running then, show the blocked
# tasks and fail (guard: a static, memory-locked program, so that it
# still runs when everything else waits for swap)
watchdog() {
	echo 1 >/proc/sys/kernel/sysrq
	guard "$1" &
	WATCHDOG_PID=$!
}
watchdog_stop() {
	kill "$WATCHDOG_PID" 2>/dev/null
}
