// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/log.h"
#include "core/memsafe.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#define PR_GET_IO_FLUSHER 58
#endif

struct memsafe_state memsafe;

static void set_io_flusher(void)
{
	/* a testing knob: the VM rig's unprotected swap run shows what
	 * this flag (with mlock) is for */
	const char *off = getenv("LLOOP_NO_IO_FLUSHER");

	if (off && !strcmp(off, "1")) {
		log_warn("LLOOP_NO_IO_FLUSHER=1: PR_SET_IO_FLUSHER not set; "
			 "swap on this device is not safe");
		return;
	}
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) < 0) {
		log_warn("PR_SET_IO_FLUSHER: %s (needs CAP_SYS_RESOURCE); "
			 "swap on this device is not safe",
			 strerror(errno));
		return;
	}
	memsafe.io_flusher = true;
}

static int read_oom_score_adj(void)
{
	char buf[16] = "";
	int fd = open("/proc/self/oom_score_adj", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? atoi(buf) : 0;
}

static void set_oom_score_adj(int v)
{
	char buf[16];
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	int n = snprintf(buf, sizeof(buf), "%d", v);

	if (fd < 0 || write(fd, buf, n) != n)
		log_warn("--oom-score-adj %d: cannot set it: %s", v,
			 strerror(errno));
	else
		memsafe.oom_adjusted = true;
	if (fd >= 0)
		close(fd);
	memsafe.oom_score_adj = read_oom_score_adj();
}

static int lock_memory(void)
{
	struct rlimit rl;

	if (mlockall(MCL_CURRENT | MCL_FUTURE) == 0) {
		memsafe.mlocked = true;
		return 0;
	}
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		log_error("--mlock: mlockall: %s: RLIMIT_MEMLOCK is %llu "
			  "bytes; raise it (ulimit -l, LimitMEMLOCK= in "
			  "systemd), lower --buffer-memory, or use --no-mlock",
			  strerror(errno), (unsigned long long)rl.rlim_cur);
	else
		log_error("--mlock: mlockall: %s; use --no-mlock to run "
			  "without locked memory",
			  strerror(errno));
	return -errno;
}

int memsafe_apply(const struct memsafe_opts *o)
{
	set_io_flusher();
	if (o->set_oom_score_adj)
		set_oom_score_adj(o->oom_score_adj);
	else
		memsafe.oom_score_adj = read_oom_score_adj();
	if (o->mlock && LLOOP_SANITIZED) {
		log_warn("--mlock: not available in a sanitizer build; "
			 "memory is not locked");
		return 0;
	}
	return o->mlock ? lock_memory() : 0;
}

int memsafe_thread_io_flusher(void)
{
	int r = prctl(PR_GET_IO_FLUSHER, 0, 0, 0, 0);

	return r < 0 ? -errno : r;
}

static size_t status_kb(const char *buf, const char *key)
{
	const char *p = strstr(buf, key);

	return p ? strtoull(p + strlen(key), NULL, 10) * 1024 : 0;
}

int memsafe_read_status(size_t *vm_lck, size_t *vm_rss)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	*vm_lck = status_kb(buf, "VmLck:");
	*vm_rss = status_kb(buf, "VmRSS:");
	return 0;
}
