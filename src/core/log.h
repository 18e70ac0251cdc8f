/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_LOG_H
#define LLOOP_LOG_H
/*
 * Logging to stderr (the default) or to syslog, never through malloc of
 * ours.  A message that can come once per request (an I/O error of a dead
 * backend) goes through a rate limiter of its call site: a few lines, then
 * one line with the count of those it held back.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern int log_level;

int log_parse_level(const char *s);
void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "stderr" or "syslog" (openlog("lloop", LOG_PID, LOG_DAEMON)); -EINVAL */
int log_set_target(const char *name);
bool log_to_syslog(void);
/* the last error logged, into buf; false if there was none */
bool log_last_error(char *buf, size_t len);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                         \
	do {                                                                   \
		if (log_level >= LOG_DEBUG)                                    \
			log_msg(LOG_DEBUG, __VA_ARGS__);                       \
	} while (0)

/* ---- rate limiting, per call site ---- */

#define LOG_LINE_MAX 1024
#define LOG_RATELIMIT_BURST 5		/* lines per window, then a count */
#define LOG_RATELIMIT_WINDOW_S 10

struct log_ratelimit {
	atomic_flag lock;	/* a few stores under it, never I/O */
	atomic_bool registered;	/* in the table log_flush walks */
	uint64_t window_start;	/* ns, CLOCK_MONOTONIC; 0: no window */
	unsigned printed;	/* lines let through in this window */
	uint64_t suppressed;	/* lines held back in this window */
	int level;
	char last[LOG_LINE_MAX]; /* the latest line held back */
};

void log_msg_ratelimited(struct log_ratelimit *rl, int level,
			 const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_ratelimited(level, ...)                                            \
	do {                                                                   \
		static struct log_ratelimit log_rl_;                           \
		if ((level) <= log_level)                                      \
			log_msg_ratelimited(&log_rl_, (level), __VA_ARGS__);   \
	} while (0)
#define log_error_ratelimited(...) log_ratelimited(LOG_ERROR, __VA_ARGS__)
#define log_warn_ratelimited(...) log_ratelimited(LOG_WARN, __VA_ARGS__)

/*
 * Say the counts of windows that have ended (log_ratelimit_tick: for a
 * periodic timer) or of all windows (log_flush: at exit).
 */
void log_ratelimit_tick(void);
void log_flush(void);

/* the clock of the rate limiter; tests replace it */
extern uint64_t (*log_clock_ns)(void);

#endif
