// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for the fault injector: the --inject-fault parser, which
 * requests each rule chooses, that a chosen request never reaches the
 * real backend, and what a short transfer hands on and gives back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend/align.h"
#include "backend/backend.h"
#include "core/log.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- a fake inner backend: records what reaches it ---- */

struct fake {
	struct backend b;
	unsigned calls;
	struct request seen;	/* the request as the last call saw it */
	int result;		/* what it completes with */
	bool closed;
	int synced;
	bool quiet;		/* several threads at once: record nothing */
};

static struct fake fake;

static void fake_request(struct backend *b, struct request *rq)
{
	struct fake *f = (struct fake *)b;

	if (!f->quiet) {
		f->calls++;
		f->seen = *rq;
	}
	rq->complete(rq, f->result);
}

static void fake_close(struct backend *b)
{
	((struct fake *)b)->closed = true;
}

static int fake_sync(struct backend *b)
{
	((struct fake *)b)->synced++;
	return 0;
}

static const struct backend_ops fake_ops = {
	.name = "fake",
	.close = fake_close,
	.sync = fake_sync,
	.read = fake_request,
	.write = fake_request,
	.flush = fake_request,
	.trim = fake_request,
	.zero = fake_request,
	.cache = fake_request,
	.extents = fake_request,
};

/* the frontend side: what completion a request got */
static int done_res;
static unsigned done_calls;
static uint64_t done_len;

static void frontend_complete(struct request *rq, int res)
{
	done_res = res;
	done_calls++;
	done_len = rq->len;
}

static char pool[1 << 20];

/* wrap a fresh fake of alignment align with the rules given as text */
static struct backend *wrap(uint32_t align, const char *const *rules,
			    unsigned nr)
{
	struct fault_rule r[FAULT_MAX_RULES];
	struct backend *b;
	const char *why;

	memset(&fake, 0, sizeof(fake));
	fake.b = (struct backend){ .ops = &fake_ops, .size = 1 << 30,
				   .align = align, .preferred = 4096,
				   .can_trim = true, .can_zero = true };
	for (unsigned i = 0; i < nr; i++)
		assert_int_equal(fault_parse(rules[i], &r[i], &why), 0);
	b = &fake.b;
	assert_int_equal(faulty_wrap(&b, r, nr, "fake"), 0);
	assert_ptr_not_equal(b, &fake.b);
	return b;
}

/* send one request as a frontend would; the result it completed with */
static int submit(struct backend *b, enum req_type type, uint64_t off,
		  uint64_t len)
{
	struct request rq;

	memset(&rq, 0, sizeof(rq));
	rq.type = type;
	rq.offset = off;
	rq.len = len;
	rq.be = b;
	rq.complete = frontend_complete;
	rq.buf = pool;
	if (type == REQ_READ || type == REQ_WRITE) {
		request_buffer_len(&rq, b->align);
		request_place_data(&rq);
	}
	done_calls = 0;
	backend_submit(b, &rq);
	assert_int_equal(done_calls, 1);
	/* the frontend gets its request back as it sent it */
	assert_int_equal(rq.len, len);
	assert_ptr_equal(rq.complete, frontend_complete);
	return done_res;
}

/* ---- parsing ---- */

static void test_parse_good(void **state)
{
	struct fault_rule r;
	const char *why;

	assert_int_equal(fault_parse("read:EIO:3", &r, &why), 0);
	assert_int_equal(r.ops, 1u << REQ_READ);
	assert_int_equal(r.err, EIO);
	assert_int_equal(r.every, 3);
	assert_int_equal(r.end, 0);

	assert_int_equal(fault_parse("write:enospc:1", &r, &why), 0);
	assert_int_equal(r.ops, 1u << REQ_WRITE);
	assert_int_equal(r.err, ENOSPC);

	assert_int_equal(fault_parse("extents:EIO:2", &r, &why), 0);
	assert_int_equal(r.ops, 1u << REQ_EXTENTS);
	assert_int_equal(fault_parse("block-status:EIO:2", &r, &why), 0);
	assert_int_equal(r.ops, 1u << REQ_EXTENTS);

	assert_int_equal(fault_parse("all:EPERM:10", &r, &why), 0);
	assert_int_equal(r.ops, (1u << (REQ_EXTENTS + 1)) - 1);
	assert_int_equal(r.err, EPERM);

	/* short: reads and writes only, even for all */
	assert_int_equal(fault_parse("all:short:2", &r, &why), 0);
	assert_int_equal(r.ops, (1u << REQ_READ) | (1u << REQ_WRITE));
	assert_int_equal(r.err, 0);

	assert_int_equal(fault_parse("zero:ENOSPC:5:1M-2M", &r, &why), 0);
	assert_int_equal(r.ops, 1u << REQ_ZERO);
	assert_int_equal(r.start, 1 << 20);
	assert_int_equal(r.end, 2 << 20);
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", "read", "read:EIO", "read:EIO:0", "read:EIO:-1",
		"read:EIO:x", "read:EIO:3x", "read:EBOGUS:1", "bogus:EIO:1",
		"READ:EIO:1", "flush:short:1", "trim:short:1", "read::1",
		":EIO:1", "read:EIO:1:", "read:EIO:1:2M-1M", "read:EIO:1:1M-1M",
		"read:EIO:1:1M", "read:EIO:1:junk", "read:EIO:1:1M-2M:3",
		"read:EIO:1000000001",
		"read:EIO:1:1111111111111111111111111111111111111111111111111111"
		"111111111111111111111111111111111111111111111111111111111-2",
	};
	struct fault_rule r;

	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *why = NULL;

		if (fault_parse(bad[i], &r, &why) != -EINVAL)
			fail_msg("'%s' was taken", bad[i]);
		assert_non_null(why);
		assert_true(strlen(why) > 10);
	}
}

/* ---- which requests ---- */

static void test_every_nth(void **state)
{
	static const char *const rules[] = { "read:EIO:3" };
	struct backend *b = wrap(1, rules, 1);

	for (int i = 1; i <= 12; i++) {
		unsigned calls = fake.calls;
		int res = submit(b, REQ_READ, 4096 * i, 4096);

		if (i % 3 == 0) {
			assert_int_equal(res, -EIO);
			/* a chosen request never reaches the backend */
			assert_int_equal(fake.calls, calls);
		} else {
			assert_int_equal(res, 0);
			assert_int_equal(fake.calls, calls + 1);
			/* handed on with the inner backend to find */
			assert_ptr_equal(fake.seen.be, &fake.b);
		}
		/* writes are not counted by a read rule */
		assert_int_equal(submit(b, REQ_WRITE, 0, 4096), 0);
	}
	b->ops->close(b);
	assert_true(fake.closed);
}

static void test_each_rule_counts(void **state)
{
	/* the 6th write: both rules choose it, the first given wins; the
	 * second still counted it, so its 4th is the 4th write */
	static const char *const rules[] = { "write:ENOSPC:3",
					     "write:EIO:2" };
	static const int want[] = { 0, -EIO, -ENOSPC, -EIO, 0, -ENOSPC,
				    0, -EIO, -ENOSPC, -EIO };
	struct backend *b = wrap(1, rules, 2);

	for (unsigned i = 0; i < ARRAY_SIZE(want); i++)
		assert_int_equal(submit(b, REQ_WRITE, 0, 512), want[i]);
	b->ops->close(b);
}

static void test_all_counts_per_op(void **state)
{
	static const char *const rules[] = { "all:EIO:2" };
	struct backend *b = wrap(1, rules, 1);

	for (int t = REQ_READ; t <= REQ_EXTENTS; t++)
		assert_int_equal(submit(b, t, 0, 4096), 0);
	for (int t = REQ_READ; t <= REQ_EXTENTS; t++)
		assert_int_equal(submit(b, t, 0, 4096), -EIO);
	b->ops->close(b);
}

static void test_range(void **state)
{
	static const char *const rules[] = { "all:ENOSPC:1:8K-12K" };
	struct backend *b = wrap(1, rules, 1);

	assert_int_equal(submit(b, REQ_WRITE, 0, 8192), 0);
	assert_int_equal(submit(b, REQ_WRITE, 8191, 1), 0);
	assert_int_equal(submit(b, REQ_WRITE, 8191, 2), -ENOSPC);
	assert_int_equal(submit(b, REQ_READ, 12287, 1), -ENOSPC);
	assert_int_equal(submit(b, REQ_TRIM, 0, 1 << 20), -ENOSPC);
	assert_int_equal(submit(b, REQ_ZERO, 12288, 4096), 0);
	/* a flush has no range: never in one */
	assert_int_equal(submit(b, REQ_FLUSH, 0, 0), 0);
	b->ops->close(b);
}

/* ---- short transfers ---- */

static void test_short_aligned(void **state)
{
	static const char *const rules[] = { "write:short:1",
					     "read:short:1" };
	struct backend *b = wrap(4096, rules, 2);

	/* 64K aligned: the backend moves 32K, the frontend hears 32768 */
	assert_int_equal(submit(b, REQ_WRITE, 65536, 65536), 32768);
	assert_int_equal(fake.seen.len, 32768);
	assert_int_equal(fake.seen.offset, 65536);
	assert_int_equal(fake.seen.span_len, 32768);
	assert_ptr_equal(fake.seen.be, &fake.b);
	assert_int_equal(done_len, 65536);
	/* 12K: half is 6K, cut to the alignment: 4K */
	assert_int_equal(submit(b, REQ_READ, 0, 12288), 4096);
	assert_int_equal(fake.seen.len, 4096);
	/* one block cannot be cut on the alignment: nothing moves, EIO */
	fake.calls = 0;
	assert_int_equal(submit(b, REQ_WRITE, 4096, 4096), -EIO);
	assert_int_equal(fake.calls, 0);
	b->ops->close(b);
}

static void test_short_unaligned(void **state)
{
	static const char *const rules[] = { "write:short:1" };
	struct backend *b = wrap(4096, rules, 1);

	/* unaligned: half, and the span shrinks inside the original one */
	assert_int_equal(submit(b, REQ_WRITE, 1000, 10000), 5000);
	assert_int_equal(fake.seen.len, 5000);
	assert_int_equal(fake.seen.span_off, 0);
	assert_int_equal(fake.seen.span_len, 8192);
	b->ops->close(b);
}

static void test_short_inner_error(void **state)
{
	static const char *const rules[] = { "read:short:1" };
	struct backend *b = wrap(1, rules, 1);

	/* the inner backend's own error wins over the short count */
	fake.result = -ENOSPC;
	assert_int_equal(submit(b, REQ_READ, 0, 100), -ENOSPC);
	fake.result = 0;
	assert_int_equal(submit(b, REQ_READ, 0, 100), 50);
	/* one byte cannot be cut */
	assert_int_equal(submit(b, REQ_READ, 0, 1), -EIO);
	b->ops->close(b);
}

/* ---- several workers at once ---- */

#define RACE_THREADS 2
#define RACE_WRITES 500000

static pthread_barrier_t race_start;

struct racer {
	struct backend *b;
	unsigned ok, enospc, eio;
};

static __thread struct racer *racer_self;

static void racer_complete(struct request *rq, int res)
{
	(void)rq;
	if (!res)
		racer_self->ok++;
	else if (res == -ENOSPC)
		racer_self->enospc++;
	else if (res == -EIO)
		racer_self->eio++;
}

static void *racer_run(void *arg)
{
	struct racer *me = arg;

	racer_self = me;
	pthread_barrier_wait(&race_start);
	for (unsigned i = 0; i < RACE_WRITES; i++) {
		struct request rq = { .type = REQ_WRITE, .len = 512, .be = me->b,
				      .complete = racer_complete, .buf = pool };

		backend_submit(me->b, &rq);
	}
	return NULL;
}

static void test_rules_agree_across_workers(void **state)
{
	/*
	 * Workers submit at once.  Each write must take the same number
	 * from both rules, so the writes both choose are exactly every
	 * 35th: a write numbered 35 by one rule and 34 by the other would
	 * move a fault from one kind to the other.
	 */
	static const char *const rules[] = { "write:ENOSPC:5",
					     "write:EIO:7" };
	struct backend *b = wrap(1, rules, 2);
	struct racer r[RACE_THREADS] = { 0 };
	pthread_t t[RACE_THREADS];
	unsigned ok = 0, enospc = 0, eio = 0;
	const unsigned n = RACE_THREADS * RACE_WRITES;

	fake.quiet = true;
	pthread_barrier_init(&race_start, NULL, RACE_THREADS);
	for (int i = 0; i < RACE_THREADS; i++) {
		r[i].b = b;
		assert_int_equal(pthread_create(&t[i], NULL, racer_run, &r[i]),
				 0);
	}
	for (int i = 0; i < RACE_THREADS; i++) {
		pthread_join(t[i], NULL);
		ok += r[i].ok;
		enospc += r[i].enospc;
		eio += r[i].eio;
	}
	assert_int_equal(enospc, n / 5);
	assert_int_equal(eio, n / 7 - n / 35);
	assert_int_equal(ok, n - n / 5 - (n / 7 - n / 35));
	pthread_barrier_destroy(&race_start);
	fake.quiet = false;
	b->ops->close(b);
}

static void test_wrapper_properties(void **state)
{
	static const char *const rules[] = { "read:EIO:1" };
	struct backend *b = wrap(512, rules, 1);

	assert_int_equal(b->size, 1 << 30);
	assert_int_equal(b->align, 512);
	assert_true(b->can_trim);
	/* FUSE passthrough would go around the injector */
	assert_int_equal(b->ops->passthrough_fd(b), -ENOTSUP);
	assert_int_equal(b->ops->sync(b), 0);
	assert_int_equal(fake.synced, 1);
	b->ops->close(b);
	assert_true(fake.closed);
}

static void test_backend_open_wraps(void **state)
{
	struct backend_opts o = { 0 };
	struct backend *b;
	const char *why;

	assert_int_equal(backend_open("memory:1M", &o, &b), 0);
	assert_ptr_equal(b->ops, &memory_backend);
	b->ops->close(b);

	assert_int_equal(fault_parse("write:EIO:2", &o.faults[0], &why), 0);
	o.nr_faults = 1;
	assert_int_equal(backend_open("memory:1M", &o, &b), 0);
	assert_ptr_equal(b->ops, &faulty_backend);
	assert_int_equal(b->size, 1 << 20);
	assert_int_equal(submit(b, REQ_WRITE, 0, 4096), 0);
	assert_int_equal(submit(b, REQ_WRITE, 0, 4096), -EIO);
	b->ops->close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_every_nth),
		cmocka_unit_test(test_each_rule_counts),
		cmocka_unit_test(test_all_counts_per_op),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_short_aligned),
		cmocka_unit_test(test_short_unaligned),
		cmocka_unit_test(test_short_inner_error),
		cmocka_unit_test(test_rules_agree_across_workers),
		cmocka_unit_test(test_wrapper_properties),
		cmocka_unit_test(test_backend_open_wraps),
	};

	log_level = LOG_ERROR; /* the faults' warnings are expected */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
