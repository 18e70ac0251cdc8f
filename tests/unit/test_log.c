// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for the log's rate limiter (src/core/log.c), on a clock of
 * the test's own: what passes, what is counted, and the count's line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

#define S 1000000000ull

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

/* stderr goes to a file for the test; out() reads it back */
static int saved_stderr = -1;
static char path[] = "/tmp/lloop-test-log.XXXXXX";

static int setup(void **state)
{
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	unlink(path);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	log_clock_ns = fake_clock;
	log_level = LOG_INFO;
	fake_now = 1000 * S;
	return 0;
}

static int teardown(void **state)
{
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	return 0;
}

/* what was written to stderr since the last call */
static char *out(void)
{
	static char buf[1 << 20];
	off_t end = lseek(STDERR_FILENO, 0, SEEK_CUR);
	ssize_t n = pread(STDERR_FILENO, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	if (ftruncate(STDERR_FILENO, 0) < 0 ||
	    lseek(STDERR_FILENO, 0, SEEK_SET) < 0)
		fail_msg("cannot reset the captured stderr");
	(void)end;
	return buf;
}

static unsigned lines(const char *s)
{
	unsigned n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* one call site for every test: the static state of the macro */
static void fail_read(unsigned i)
{
	log_error_ratelimited("disk.img: read at %u+4096: Input/output error",
			      i * 4096);
}

static void test_burst_then_count(void **state)
{
	char *o;

	log_flush();
	out();
	for (unsigned i = 0; i < 10000; i++) {
		fail_read(i);
		fake_now += 100000; /* 10,000 in 1 s */
	}
	o = out();
	assert_int_equal(lines(o), LOG_RATELIMIT_BURST);
	assert_non_null(strstr(o, "lloop: error: disk.img: read at 0+4096"));
	log_flush();
	o = out();
	assert_int_equal(lines(o), 1);
	assert_string_equal(o, "lloop: error: disk.img: read at 40955904+4096: "
			       "Input/output error (repeated 9995 times in "
			       "the last 1 s)\n");
	/* nothing left to say */
	log_flush();
	assert_string_equal(out(), "");
}

static void test_window_rolls_over(void **state)
{
	char *o;

	log_flush();
	out();
	for (unsigned i = 0; i < 20; i++)
		fail_read(i);
	assert_int_equal(lines(out()), LOG_RATELIMIT_BURST);
	/* a tick inside the window says nothing */
	fake_now += 5 * S;
	log_ratelimit_tick();
	assert_string_equal(out(), "");
	/* the next error after the window: the count first, then it */
	fake_now += 6 * S;
	fail_read(99);
	o = out();
	assert_int_equal(lines(o), 2);
	assert_non_null(strstr(o, "(repeated 15 times in the last 10 s)\n"
				  "lloop: error: disk.img: read at 405504+4096"));
	/* a new window: 4 more pass, then counted; the tick ends it */
	for (unsigned i = 0; i < 10; i++)
		fail_read(i);
	assert_int_equal(lines(out()), LOG_RATELIMIT_BURST - 1);
	fake_now += 10 * S;
	log_ratelimit_tick();
	o = out();
	assert_int_equal(lines(o), 1);
	assert_non_null(strstr(o, "(repeated 6 times in the last 10 s)"));
	log_flush();
	assert_string_equal(out(), "");
}

static void test_below_level_not_counted(void **state)
{
	log_flush();
	out();
	log_level = -1; /* not even errors */
	for (unsigned i = 0; i < 100; i++)
		fail_read(i);
	log_flush();
	assert_string_equal(out(), "");
	log_level = LOG_INFO;
}

static void test_plain_messages_unlimited(void **state)
{
	out();
	for (unsigned i = 0; i < 1000; i++)
		log_warn("inject-fault: read #%u", i);
	assert_int_equal(lines(out()), 1000);
}

static void test_targets(void **state)
{
	assert_int_equal(log_set_target("stdout"), -22);
	assert_int_equal(log_set_target("stderr"), 0);
	assert_false(log_to_syslog());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_count),
		cmocka_unit_test(test_window_rolls_over),
		cmocka_unit_test(test_below_level_not_counted),
		cmocka_unit_test(test_plain_messages_unlimited),
		cmocka_unit_test(test_targets),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
