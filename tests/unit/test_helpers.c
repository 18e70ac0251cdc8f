// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for how a helper thread (or librbd's callback thread) hands a
 * finished op back to its worker: helpers_finish wakes the worker only
 * when it finds the worker's list empty, so a burst costs one wake-up, and
 * no op may ever be left on the list without a wake-up on its way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/worker.h"

static unsigned long reaped;

static void count_done(struct op *op, int res)
{
	assert_int_equal(res, (int)(uintptr_t)op->buf);
	reaped++;
}

static void worker_setup(struct worker *w)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(w->wake_fd >= 0);
}

static void worker_teardown(struct worker *w)
{
	close(w->wake_fd);
	pthread_mutex_destroy(&w->lock);
}

/* what worker_woken does: consume the wake-up, then take the list */
static uint64_t wake_read(struct worker *w)
{
	uint64_t v = 0;

	if (read(w->wake_fd, &v, sizeof(v)) < 0)
		assert_int_equal(errno, EAGAIN);
	return v;
}

/* op number i (in buf) must be the i-th one completed */
static void in_order_done(struct op *op, int res)
{
	assert_int_equal((uintptr_t)op->buf, reaped);
	count_done(op, res);
}

/* ten ops in a row: one wake-up; all ten reaped, in the order finished */
static void burst_wakes_once(void **state)
{
	static struct op ops[10];
	struct worker w;

	worker_setup(&w);
	reaped = 0;
	for (unsigned i = 0; i < 10; i++) {
		ops[i] = (struct op){ .done = in_order_done,
				      .buf = (void *)(uintptr_t)i };
		helpers_finish(&w, &ops[i], i);
	}
	assert_int_equal(wake_read(&w), 1);
	assert_int_equal(helpers_reap(&w), 10);
	assert_int_equal(reaped, 10);
	/* the list is empty again: the next op wakes again */
	reaped = 0;
	helpers_finish(&w, &ops[0], 0);
	assert_int_equal(wake_read(&w), 1);
	assert_int_equal(helpers_reap(&w), 1);
	assert_int_equal(wake_read(&w), 0);
	worker_teardown(&w);
}

#define RACERS 2
#define PER_RACER 200000

struct racer {
	struct worker *w;
	struct op *ops;
};

static void *race(void *arg)
{
	struct racer *r = arg;

	for (unsigned i = 0; i < PER_RACER; i++) {
		r->ops[i] = (struct op){ .done = count_done, .buf = NULL };
		helpers_finish(r->w, &r->ops[i], 0);
	}
	return NULL;
}

/*
 * Two threads finish 400,000 ops while this one plays the worker: it
 * sleeps in poll on the eventfd and reaps only after a wake-up.  A lost
 * wake-up leaves ops on the list with nobody to take them: poll times out
 * and the test fails instead of hanging.  Fewer wake-ups than ops shows
 * the coalescing at work.
 */
static void no_lost_wakeup(void **state)
{
	struct racer r[RACERS];
	pthread_t th[RACERS];
	struct worker w;
	uint64_t wakes = 0;

	worker_setup(&w);
	reaped = 0;
	for (unsigned i = 0; i < RACERS; i++) {
		r[i].w = &w;
		r[i].ops = calloc(PER_RACER, sizeof(struct op));
		assert_non_null(r[i].ops);
		assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
	}
	while (reaped < (unsigned long)RACERS * PER_RACER) {
		struct pollfd p = { .fd = w.wake_fd, .events = POLLIN };
		int n = poll(&p, 1, 5000);

		if (n == 0)
			fail_msg("no wake-up for 5 s with %lu of %u ops reaped",
				 reaped, RACERS * PER_RACER);
		assert_int_equal(n, 1);
		wakes += wake_read(&w);
		helpers_reap(&w);
	}
	for (unsigned i = 0; i < RACERS; i++) {
		pthread_join(th[i], NULL);
		free(r[i].ops);
	}
	assert_int_equal(helpers_reap(&w), 0);
	assert_true(wakes < (uint64_t)RACERS * PER_RACER);
	print_message("%u ops, %llu wake-ups\n", RACERS * PER_RACER,
		      (unsigned long long)wakes);
	worker_teardown(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(burst_wakes_once),
		cmocka_unit_test(no_lost_wakeup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
