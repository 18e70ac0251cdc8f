// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * guard SECONDS: the guest's watchdog, immune to the memory pressure it
 * watches: static, every page locked, nothing to page in.  If it is not
 * killed within SECONDS, it shows the blocked tasks (sysrq-w, with the
 * console at full verbosity), prints a TAP failure and powers off.
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

static void sysrq(char c)
{
	int fd = open("/proc/sysrq-trigger", O_WRONLY);

	if (fd >= 0) {
		if (write(fd, &c, 1) < 0)
			perror("guard: sysrq");
		close(fd);
	}
}

int main(int argc, char **argv)
{
	struct timespec ts = { .tv_sec = argc > 1 ? atoi(argv[1]) : 300 };
	static const char msg[] = "# WATCHDOG: the test did not finish in "
				  "time; blocked tasks follow\n";

	if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
		perror("guard: mlockall");
	while (nanosleep(&ts, &ts) < 0)
		;
	if (write(1, msg, strlen(msg)) < 0)
		return 1;
	klogctl(8, NULL, 8); /* SYSLOG_ACTION_CONSOLE_LEVEL */
	sysrq('w');
	sysrq('m');
	sleep(3);
	printf("not ok 999 - watchdog: hung after %s s\n",
	       argc > 1 ? argv[1] : "300");
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	return 1;
}
