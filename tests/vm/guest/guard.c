// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * guard SECONDS: the guest's watchdog, immune to the memory pressure it
 * watches: static, every page locked, its one file opened in advance
 * (under that pressure even opening a file can wait for memory).  If it
 * is not killed within SECONDS, it shows memory, the blocked tasks and
 * every task's stack and the running ones' (sysrq m, w, t and l, with the console at full
 * verbosity), prints a TAP failure and powers off.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <time.h>
#include <unistd.h>

static int sysrq_fd = -1;

static void sysrq(char c)
{
	if (write(sysrq_fd, &c, 1) < 0)
		perror("guard: sysrq");
}

int main(int argc, char **argv)
{
	struct timespec ts = { .tv_sec = argc > 1 ? atoi(argv[1]) : 300 };
	static const char msg[] = "# WATCHDOG: the test did not finish in "
				  "time; memory and tasks follow\n";
	char done[80];
	int n;

	sysrq_fd = open("/proc/sysrq-trigger", O_WRONLY);
	n = snprintf(done, sizeof(done),
		     "not ok 999 - watchdog: hung after %ld s\n",
		     (long)ts.tv_sec);
	if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
		perror("guard: mlockall");
	while (nanosleep(&ts, &ts) < 0)
		;
	if (write(1, msg, strlen(msg)) < 0)
		return 1;
	klogctl(8, NULL, 8); /* SYSLOG_ACTION_CONSOLE_LEVEL */
	sysrq('m');
	sysrq('w');
	sysrq('t');
	sysrq('l');
	sleep(5);
	if (write(1, done, n) < 0)
		return 1;
	reboot(RB_POWER_OFF);
	return 1;
}
