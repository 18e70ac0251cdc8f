// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Logging.  The message is formatted on the stack and written with one
 * write(2): stdio may allocate, and a log line can come from a worker.
 *
 * With --log=syslog it goes through syslog(3) instead, which is not as
 * tame: glibc's vsyslog (2.36 here) formats through open_memstream, so
 * every call mallocs; it takes a process-wide lock; and its send(2) on
 * the /dev/log datagram socket blocks while the log daemon's queue is
 * full, as write(2) to a stderr pipe blocks while its reader sleeps.  So
 * a worker must not log per request: the I/O path logs only errors, and
 * an error that repeats (a dead backend fails every request) goes
 * through the rate limiter below, which bounds the calls to a few per
 * call site every 10 s.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* syslog.h names its priorities as our levels are named: keep its values */
enum {
	SYSLOG_ERR = LOG_ERR,
	SYSLOG_WARNING = LOG_WARNING,
	SYSLOG_INFO = LOG_INFO,
	SYSLOG_DEBUG = LOG_DEBUG,
};
#undef LOG_INFO
#undef LOG_DEBUG

#include "core/log.h"

int log_level = LOG_INFO;
static bool use_syslog;
/* with syslog, warnings and errors also go to a terminal, as logger -s */
static bool syslog_tty;

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warning",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

static const int syslog_prio[] = {
	[LOG_ERROR] = SYSLOG_ERR,
	[LOG_WARN] = SYSLOG_WARNING,
	[LOG_INFO] = SYSLOG_INFO,
	[LOG_DEBUG] = SYSLOG_DEBUG,
};

int log_parse_level(const char *s)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(*level_names);
	     i++)
		if (!strcasecmp(s, level_names[i]))
			return i;
	if (!strcasecmp(s, "warn"))
		return LOG_WARN;
	return -1;
}

int log_set_target(const char *name)
{
	if (!strcmp(name, "stderr")) {
		if (use_syslog)
			closelog();
		use_syslog = false;
		return 0;
	}
	if (strcmp(name, "syslog"))
		return -EINVAL;
	/*
	 * Connect now: the attach daemon moves to a mount namespace of its
	 * own where /dev/log may point into a /run that is not mounted.
	 */
	openlog("lloop", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	use_syslog = true;
	syslog_tty = isatty(STDERR_FILENO);
	return 0;
}

bool log_to_syslog(void)
{
	return use_syslog;
}

static void write_stderr(int level, const char *text)
{
	char line[LOG_LINE_MAX + 32];
	int n;

	n = snprintf(line, sizeof(line) - 1, "lloop: %s%s%s",
		     level == LOG_INFO ? "" : level_names[level],
		     level == LOG_INFO ? "" : ": ", text);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

/* a few instructions under it, from any thread: a spin lock will do */
static void spin_lock(atomic_flag *lock)
{
	while (atomic_flag_test_and_set_explicit(lock, memory_order_acquire))
		;
}

static void spin_unlock(atomic_flag *lock)
{
	atomic_flag_clear_explicit(lock, memory_order_release);
}

/* the last error logged, for a caller that must report it elsewhere */
static char last_error[LOG_LINE_MAX];
static atomic_flag last_error_lock = ATOMIC_FLAG_INIT;

static void keep_last_error(const char *text)
{
	spin_lock(&last_error_lock);
	snprintf(last_error, sizeof(last_error), "%s", text);
	spin_unlock(&last_error_lock);
}

bool log_last_error(char *buf, size_t len)
{
	bool any;

	spin_lock(&last_error_lock);
	any = last_error[0] != 0;
	snprintf(buf, len, "%s", last_error);
	spin_unlock(&last_error_lock);
	return any;
}

/* one formatted message to where the log goes */
static void emit(int level, const char *text)
{
	if (level == LOG_ERROR)
		keep_last_error(text);
	if (!use_syslog) {
		write_stderr(level, text);
		return;
	}
	syslog(syslog_prio[level], "%s", text);
	if (syslog_tty && level <= LOG_WARN && isatty(STDERR_FILENO))
		write_stderr(level, text);
}

static void vformat(char *buf, size_t len, const char *fmt, va_list ap)
{
	int n = vsnprintf(buf, len, fmt, ap);

	if (n < 0)
		snprintf(buf, len, "(cannot format '%s')", fmt);
}

void log_msg(int level, const char *fmt, ...)
{
	char text[LOG_LINE_MAX];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vformat(text, sizeof(text), fmt, ap);
	va_end(ap);
	emit(level, text);
}

/* ---- rate limiting ---- */

#define NS_PER_S 1000000000ull
#define MAX_SITES 64

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

uint64_t (*log_clock_ns)(void) = monotonic_ns;

/* every call site that has logged, for log_flush (static, no malloc) */
static struct log_ratelimit *_Atomic sites[MAX_SITES];
static atomic_uint nr_sites;

static void site_register(struct log_ratelimit *rl)
{
	unsigned i;

	if (atomic_exchange(&rl->registered, true))
		return;
	i = atomic_fetch_add(&nr_sites, 1);
	if (i < MAX_SITES)
		atomic_store(&sites[i], rl);
}

/*
 * Under the lock: if the window has lines held back, write the line that
 * says how many into out and end the window.  Returns its level, or -1.
 */
static int window_close(struct log_ratelimit *rl, uint64_t now, char *out,
			size_t len)
{
	uint64_t secs = (now - rl->window_start + NS_PER_S - 1) / NS_PER_S;
	int level = -1;

	if (rl->suppressed) {
		if (secs > LOG_RATELIMIT_WINDOW_S)
			secs = LOG_RATELIMIT_WINDOW_S;
		snprintf(out, len, "%s (repeated %llu times in the last %llu s)",
			 rl->last, (unsigned long long)rl->suppressed,
			 (unsigned long long)(secs ? secs : 1));
		level = rl->level;
	}
	rl->window_start = 0;
	rl->printed = 0;
	rl->suppressed = 0;
	return level;
}

void log_msg_ratelimited(struct log_ratelimit *rl, int level,
			 const char *fmt, ...)
{
	char text[LOG_LINE_MAX], summary[LOG_LINE_MAX + 64];
	uint64_t now = log_clock_ns();
	int summary_level = -1;
	bool print = true;
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vformat(text, sizeof(text), fmt, ap);
	va_end(ap);
	site_register(rl);

	spin_lock(&rl->lock);
	if (rl->window_start &&
	    now - rl->window_start >= LOG_RATELIMIT_WINDOW_S * NS_PER_S)
		summary_level = window_close(rl, now, summary,
					     sizeof(summary));
	if (!rl->window_start)
		rl->window_start = now ? now : 1;
	if (rl->printed < LOG_RATELIMIT_BURST) {
		rl->printed++;
	} else {
		rl->suppressed++;
		rl->level = level;
		memcpy(rl->last, text, sizeof(text));
		print = false;
	}
	spin_unlock(&rl->lock);

	if (summary_level >= 0)
		emit(summary_level, summary);
	if (print)
		emit(level, text);
}

static void flush_sites(bool all)
{
	unsigned n = atomic_load(&nr_sites);
	uint64_t now = log_clock_ns();

	if (n > MAX_SITES)
		n = MAX_SITES;
	for (unsigned i = 0; i < n; i++) {
		struct log_ratelimit *rl = atomic_load(&sites[i]);
		char summary[LOG_LINE_MAX + 64];
		int level = -1;

		if (!rl)
			continue;
		spin_lock(&rl->lock);
		if (rl->window_start &&
		    (all || now - rl->window_start >=
				    LOG_RATELIMIT_WINDOW_S * NS_PER_S))
			level = window_close(rl, now, summary,
					     sizeof(summary));
		spin_unlock(&rl->lock);
		if (level >= 0)
			emit(level, summary);
	}
}

void log_ratelimit_tick(void)
{
	flush_sites(false);
}

void log_flush(void)
{
	flush_sites(true);
}
