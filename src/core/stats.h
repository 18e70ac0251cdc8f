/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_STATS_H
#define LLOOP_STATS_H
/*
 * Counters and latency histograms.  Each worker writes only its own,
 * allocated at start-up; the control thread reads them all.  A single
 * writer makes a relaxed load-add-store enough: no locked instruction
 * on the I/O path.  Latency buckets are powers of two of nanoseconds.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/request.h"

#define STATS_OPS (REQ_EXTENTS + 1)
#define STATS_BUCKETS 48

struct server;
struct worker;

struct op_counters {
	uint64_t requests;
	uint64_t bytes;
	uint64_t errors;
};

struct worker_stats {
	struct op_counters *exp;	/* [export][op] */
	uint64_t hist[STATS_OPS][STATS_BUCKETS];
	int io_flusher;			/* PR_GET_IO_FLUSHER on the thread */
	int registered_buffers;		/* the pool registered with io_uring */
	uint64_t ops_on_worker;		/* engine ops done here (op->now) */
};

static inline void stat_add(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v,
			 __ATOMIC_RELAXED);
}

static inline uint64_t stat_get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

int stats_init(struct worker_stats *s, unsigned nr_exports);
void stats_fini(struct worker_stats *s);
uint64_t stats_now_ns(void);
/* one finished request: res is 0 or a negative errno */
void stats_record(struct worker *w, const struct request *rq, int res);
/* a request the backend failed, to the log, rate-limited */
void stats_log_failure(const struct request *rq, int res);
/* the histogram bucket of a latency */
unsigned stats_bucket(uint64_t ns);
/* the latency below which pct% of the histogram falls (bucket top) */
uint64_t stats_percentile(const uint64_t *hist, double pct);
/* all of it as text or JSON into buf; returns the length */
size_t stats_format(struct server *srv, char *buf, size_t len, bool json);

#endif
