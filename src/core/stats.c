// SPDX-License-Identifier: GPL-2.0-or-later
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/memsafe.h"
#include "core/server.h"
#include "core/stats.h"

static const char *const op_names[STATS_OPS] = {
	[REQ_READ] = "read",   [REQ_WRITE] = "write", [REQ_FLUSH] = "flush",
	[REQ_TRIM] = "trim",   [REQ_ZERO] = "zero",   [REQ_CACHE] = "cache",
	[REQ_EXTENTS] = "block_status",
};

/*
 * A request the backend failed is an error the administrator must see,
 * but a dead backend fails every request: rate-limited (core/log.c).
 * -ENOTSUP is how a fast zero that cannot be fast is answered, not a
 * failure.  strerrordesc_np, unlike strerror, never allocates.
 */
void stats_log_failure(const struct request *rq, int res)
{
	const char *why;

	if (res >= 0 || res == -ENOTSUP || rq->type >= STATS_OPS)
		return;
	why = strerrordesc_np(-res);
	log_error_ratelimited("%s: %s at %llu+%llu failed: %s",
			      rq->exp->spec, op_names[rq->type],
			      (unsigned long long)rq->offset,
			      (unsigned long long)rq->len,
			      why ? why : "unknown error");
}

int stats_init(struct worker_stats *s, unsigned nr_exports)
{
	memset(s, 0, sizeof(*s));
	s->exp = calloc((size_t)nr_exports * STATS_OPS, sizeof(*s->exp));
	return s->exp ? 0 : -ENOMEM;
}

void stats_fini(struct worker_stats *s)
{
	free(s->exp);
	s->exp = NULL;
}

uint64_t stats_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

unsigned stats_bucket(uint64_t ns)
{
	unsigned b = ns ? 63 - __builtin_clzll(ns) : 0;

	return b < STATS_BUCKETS ? b : STATS_BUCKETS - 1;
}

void stats_record(struct worker *w, const struct request *rq, int res)
{
	struct worker_stats *s = &w->stats;
	unsigned e = rq->exp - w->srv->exports;
	struct op_counters *c;

	if (rq->type >= STATS_OPS || !rq->start_ns)
		return;
	c = &s->exp[e * STATS_OPS + rq->type];
	stat_add(&c->requests, 1);
	if (res < 0)
		stat_add(&c->errors, 1);
	else if (rq->type == REQ_READ || rq->type == REQ_WRITE)
		stat_add(&c->bytes, rq->len);
	stat_add(&s->hist[rq->type][stats_bucket(stats_now_ns() -
						  rq->start_ns)],
		 1);
}

uint64_t stats_percentile(const uint64_t *hist, double pct)
{
	uint64_t total = 0, seen = 0, want;

	for (unsigned b = 0; b < STATS_BUCKETS; b++)
		total += hist[b];
	if (!total)
		return 0;
	want = (uint64_t)(total * pct / 100.0);
	if (want >= total)
		want = total - 1;
	for (unsigned b = 0; b < STATS_BUCKETS; b++) {
		seen += hist[b];
		if (seen > want)
			return 2ull << b; /* the top of the bucket */
	}
	return 2ull << (STATS_BUCKETS - 1);
}

/* ---- formatting ---- */

struct out {
	char *buf;
	size_t len, pos;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o,
						      const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->pos >= o->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->pos, o->len - o->pos, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->pos += n;
	if (o->pos > o->len)
		o->pos = o->len;
}

static void json_str(struct out *o, const char *s)
{
	put(o, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			put(o, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			put(o, "\\u%04x", *s);
		else
			put(o, "%c", *s);
	}
	put(o, "\"");
}

static const char *yes(bool b)
{
	return b ? "true" : "false";
}

/*
 * When tests/alloc/alloccount.so is preloaded, it counts the allocator
 * and mmap calls made on lloop's I/O threads; show them.
 */
static void alloc_counts_format(struct out *o, bool json)
{
	static const char *const names[] = { "malloc", "calloc", "realloc",
					     "free",   "mmap",   "munmap" };
	void (*get)(uint64_t *out);
	uint64_t c[6];

	*(void **)&get = dlsym(RTLD_DEFAULT, "lloop_alloc_counts");
	if (!get)
		return;
	get(c);
	put(o, json ? ",\"io_thread_calls\":{" : "io thread calls:");
	for (unsigned i = 0; i < 6; i++)
		put(o, json ? "%s\"%s\":%llu" : "%s %s %llu",
		    json && i ? "," : "", names[i], (unsigned long long)c[i]);
	put(o, json ? "}" : "\n");
}

size_t stats_format(struct server *srv, char *buf, size_t len, bool json)
{
	struct out o = { buf, len, 0 };
	uint64_t hist[STATS_OPS][STATS_BUCKETS] = { { 0 } };
	size_t lck = 0, rss = 0, arena = 0;
	const char *sep;

	memsafe_read_status(&lck, &rss);
	for (unsigned i = 0; i < srv->nr_workers; i++)
		arena += srv->workers[i].pool.buddy.size;
	if (json)
		put(&o,
		    "{\"pid\":%d,\"engine\":\"%s\",\"max_payload\":%u,"
		    "\"memory\":{\"mlock\":%s,\"vm_locked\":%zu,\"vm_rss\":%zu,"
		    "\"pool_bytes\":%zu,\"io_flusher\":%s,"
		    "\"oom_score_adj\":%d},",
		    getpid(), srv->engine->name, srv->max_payload,
		    yes(memsafe.mlocked), lck, rss, arena,
		    yes(memsafe.io_flusher), memsafe.oom_score_adj);
	else
		put(&o,
		    "pid %d, engine %s, max payload %u\n"
		    "memory: mlock %s, locked %zu bytes, rss %zu bytes, pools "
		    "%zu bytes, io_flusher %s, oom_score_adj %d\n",
		    getpid(), srv->engine->name, srv->max_payload,
		    memsafe.mlocked ? "on" : "off", lck, rss, arena,
		    memsafe.io_flusher ? "on" : "off", memsafe.oom_score_adj);

	put(&o, json ? "\"connections\":{\"current\":%u,\"accepted\":%llu,"
		       "\"refused\":%llu,\"max\":%u},"
		     : "connections: %u now, %llu accepted, %llu refused, "
		       "max %u\n",
	    atomic_load(&srv->conns_current),
	    (unsigned long long)atomic_load(&srv->conns_accepted),
	    (unsigned long long)atomic_load(&srv->conns_refused),
	    srv->cfg.max_connections);

	/* threads: each worker's and each helper's IO_FLUSHER as seen there */
	put(&o, json ? "\"workers\":[" : "");
	for (unsigned i = 0; i < srv->nr_workers; i++) {
		struct worker *w = &srv->workers[i];
		struct pool *p = &w->pool;

		put(&o,
		    json ? "%s{\"id\":%u,\"io_flusher\":%d,"
			   "\"registered_buffers\":%s,\"requests\":%u,"
			   "\"requests_in_use\":%u,\"requests_high_water\":%u,"
			   "\"buffer_bytes\":%zu,\"buffer_in_use\":%zu,"
			   "\"buffer_high_water\":%zu,\"ops_on_worker\":%llu}"
			 : "%sworker %u: io_flusher %d, registered buffers %s, "
			   "requests %u in use %u "
			   "high %u, buffers %zu in use %zu high %zu, "
			   "ops on the worker thread %llu\n",
		    json && i ? "," : "", w->id, w->stats.io_flusher,
		    json ? yes(w->stats.registered_buffers)
			 : w->stats.registered_buffers ? "yes" : "no",
		    p->nr_reqs, __atomic_load_n(&p->reqs_in_use,
						__ATOMIC_RELAXED),
		    __atomic_load_n(&p->reqs_high_water, __ATOMIC_RELAXED),
		    p->buddy.size,
		    __atomic_load_n(&p->buddy.in_use, __ATOMIC_RELAXED),
		    __atomic_load_n(&p->buddy.high_water, __ATOMIC_RELAXED),
		    (unsigned long long)stat_get(&w->stats.ops_on_worker));
	}
	put(&o, json ? "],\"helpers\":[" : "helpers: io_flusher");
	for (unsigned i = 0; i < helpers_count(); i++)
		put(&o, json ? "%s{\"io_flusher\":%d}" : "%s %d",
		    json && i ? "," : "", helpers_io_flusher(i));
	put(&o, json ? "],\"exports\":[" : "\n");

	for (unsigned e = 0; e < srv->nr_exports; e++) {
		struct export *x = &srv->exports[e];

		if (json) {
			put(&o, "%s{\"name\":", e ? "," : "");
			json_str(&o, x->name);
			put(&o, ",\"image\":");
			json_str(&o, x->spec);
			put(&o, ",\"size\":%llu,\"read_only\":%s,\"ops\":{",
			    (unsigned long long)x->be->size,
			    yes(x->read_only));
		} else {
			put(&o, "export '%s' (%s):", x->name, x->spec);
		}
		sep = "";
		for (unsigned op = 0; op < STATS_OPS; op++) {
			struct op_counters sum = { 0 };

			for (unsigned i = 0; i < srv->nr_workers; i++) {
				struct op_counters *c =
					&srv->workers[i]
						 .stats.exp[e * STATS_OPS + op];

				sum.requests += stat_get(&c->requests);
				sum.bytes += stat_get(&c->bytes);
				sum.errors += stat_get(&c->errors);
			}
			put(&o,
			    json ? "%s\"%s\":{\"requests\":%llu,\"bytes\":%llu,"
				   "\"errors\":%llu}"
				 : "%s %s %llu (%llu bytes, %llu errors)",
			    sep, op_names[op],
			    (unsigned long long)sum.requests,
			    (unsigned long long)sum.bytes,
			    (unsigned long long)sum.errors);
			sep = json ? "," : ";";
		}
		put(&o, json ? "}}" : "\n");
	}

	for (unsigned i = 0; i < srv->nr_workers; i++)
		for (unsigned op = 0; op < STATS_OPS; op++)
			for (unsigned b = 0; b < STATS_BUCKETS; b++)
				hist[op][b] +=
					stat_get(&srv->workers[i].stats.hist[op][b]);
	put(&o, json ? "],\"latency_us\":{" : "latency (us, bucket tops):\n");
	sep = "";
	for (unsigned op = 0; op < STATS_OPS; op++) {
		uint64_t n = 0;

		for (unsigned b = 0; b < STATS_BUCKETS; b++)
			n += hist[op][b];
		put(&o,
		    json ? "%s\"%s\":{\"count\":%llu,\"p50\":%.1f,\"p99\":%.1f,"
			   "\"p99.9\":%.1f}"
			 : "%s  %-12s count %llu p50 %.1f p99 %.1f p99.9 %.1f\n",
		    sep, op_names[op], (unsigned long long)n,
		    stats_percentile(hist[op], 50) / 1000.0,
		    stats_percentile(hist[op], 99) / 1000.0,
		    stats_percentile(hist[op], 99.9) / 1000.0);
		sep = json ? "," : "";
	}
	put(&o, json ? "}" : "");
	alloc_counts_format(&o, json);
	put(&o, json ? "}\n" : "");
	return o.pos;
}
