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
# tasks (their kernel stacks, and sysrq-w), fail and power off
watchdog() {
	(
		sleep "$1"
		echo "# WATCHDOG: the test did not finish in $1 s; blocked tasks:"
		for d in /proc/[0-9]*; do
			st=$(sed -n 's/^State:\t//p' "$d/status" 2>/dev/null)
			case "$st" in
			D*)
				echo "# $(basename "$d") $(cat "$d/comm" 2>/dev/null) $st"
				sed 's/^/#   /' "$d/stack" 2>/dev/null
				;;
			esac
		done
		echo 1 >/proc/sys/kernel/sysrq
		echo w >/proc/sysrq-trigger
		sleep 2
		echo "not ok 999 - watchdog: hung after $1 s"
		poweroff -f
	) &
	WATCHDOG_PID=$!
}
watchdog_stop() {
	kill "$WATCHDOG_PID" 2>/dev/null
}
