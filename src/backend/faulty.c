// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The fault injector, a testing tool: --inject-fault OP:ERRNO:EVERY_N
 * puts this backend in front of the real one.  It counts the requests of
 * each kind that each rule names and, on every Nth, answers with the
 * error without calling the real backend, or, for "short", lets the real
 * backend move only the first half and completes with that count, which
 * the frontends must turn into an error.  Everything else passes through
 * untouched.  One warning line per fault says which request it hit.
 *
 * Its state is allocated at open; a request costs a few atomic adds.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/align.h"
#include "backend/backend.h"
#include "core/log.h"
#include "core/parse.h"

#define NR_REQ_TYPES (REQ_EXTENTS + 1)
#define ALL_OPS ((1u << NR_REQ_TYPES) - 1)
#define RW_OPS ((1u << REQ_READ) | (1u << REQ_WRITE))
/* short transfers in flight at once, over all exports; more fail whole */
#define SHORT_SLOTS 64

static const char *const op_names[NR_REQ_TYPES] = {
	[REQ_READ] = "read",   [REQ_WRITE] = "write", [REQ_FLUSH] = "flush",
	[REQ_TRIM] = "trim",   [REQ_ZERO] = "zero",   [REQ_CACHE] = "cache",
	[REQ_EXTENTS] = "extents",
};

static const struct {
	const char *name;
	int err;
} errnos[] = {
	{ "EIO", EIO },		  { "ENOSPC", ENOSPC },
	{ "EPERM", EPERM },	  { "EROFS", EROFS },
	{ "EDQUOT", EDQUOT },	  { "EFBIG", EFBIG },
	{ "ENOMEM", ENOMEM },	  { "EINVAL", EINVAL },
	{ "EOVERFLOW", EOVERFLOW }, { "ENOTSUP", ENOTSUP },
	{ "ESHUTDOWN", ESHUTDOWN }, { "ETIMEDOUT", ETIMEDOUT },
	{ "EAGAIN", EAGAIN },	  { "EBUSY", EBUSY },
	{ "ENODEV", ENODEV },	  { "ENXIO", ENXIO },
	{ "EACCES", EACCES },	  { "ENOSYS", ENOSYS },
	/* the kernel's own, which NFS lets out to userspace */
	{ "ENOTSUPP", 524 },
};

struct faulty {
	struct backend b;
	struct backend *inner;
	char *spec;
	unsigned nr_rules;
	struct fault_rule rules[FAULT_MAX_RULES];
	/*
	 * Requests each rule has seen, per kind: "every Nth read".  One
	 * request takes its number from every rule under one lock: with
	 * several workers counting at once, separate atomic counters would
	 * give a request the 35th write of one rule and the 34th of another.
	 */
	atomic_flag lock;
	uint64_t seen[FAULT_MAX_RULES][NR_REQ_TYPES];
};

/*
 * A short transfer needs the request's own completion back once the
 * inner backend is done; the request has no field for it, so it waits
 * here.  Static: the I/O path allocates nothing.
 */
struct short_slot {
	_Atomic(struct request *) rq;
	void (*complete)(struct request *rq, int res);
	uint64_t len;
	uint32_t align;
};

static struct short_slot short_slots[SHORT_SLOTS];

static struct faulty *to_faulty(struct backend *b)
{
	return (struct faulty *)b;
}

/* ---- parsing ---- */

static const char *errno_name(int err)
{
	for (unsigned i = 0; i < sizeof(errnos) / sizeof(*errnos); i++)
		if (errnos[i].err == err)
			return errnos[i].name;
	return "?";
}

static int parse_op(const char *s, uint8_t *ops)
{
	if (!strcmp(s, "all")) {
		*ops = ALL_OPS;
		return 0;
	}
	if (!strcmp(s, "extents") || !strcmp(s, "block-status")) {
		*ops = 1u << REQ_EXTENTS;
		return 0;
	}
	for (unsigned i = 0; i < NR_REQ_TYPES; i++)
		if (!strcmp(s, op_names[i])) {
			*ops = 1u << i;
			return 0;
		}
	return -EINVAL;
}

static int parse_err(const char *s, int *err)
{
	if (!strcmp(s, "short")) {
		*err = 0;
		return 0;
	}
	for (unsigned i = 0; i < sizeof(errnos) / sizeof(*errnos); i++)
		if (!strcasecmp(s, errnos[i].name)) {
			*err = errnos[i].err;
			return 0;
		}
	return -EINVAL;
}

static int parse_range(char *s, struct fault_rule *r)
{
	char *dash = strchr(s, '-');

	if (!dash)
		return -EINVAL;
	*dash = '\0';
	if (parse_size(s, &r->start) < 0 || parse_size(dash + 1, &r->end) < 0 ||
	    r->start >= r->end)
		return -EINVAL;
	return 0;
}

int fault_parse(const char *s, struct fault_rule *r, const char **why)
{
	char buf[128], *field[5], *save = NULL;
	unsigned n = 0, every;

	*why = "expected OP:ERRNO:EVERY_N[:START-END], e.g. read:EIO:10";
	if (!s[0] || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	if (buf[0] == ':' || strstr(buf, "::") || s[strlen(s) - 1] == ':')
		return -EINVAL; /* strtok_r would skip an empty field */
	for (char *f = strtok_r(buf, ":", &save); f && n < 5;
	     f = strtok_r(NULL, ":", &save))
		field[n++] = f;
	if (n < 3 || n > 4)
		return -EINVAL;
	*r = (struct fault_rule){ 0 };
	if (parse_op(field[0], &r->ops) < 0) {
		*why = "OP is read, write, flush, trim, zero, cache, extents "
		       "or all";
		return -EINVAL;
	}
	if (parse_err(field[1], &r->err) < 0) {
		*why = "ERRNO is short or one of EIO, ENOSPC, EPERM, EROFS, "
		       "EDQUOT, EFBIG, ENOMEM, EINVAL, EOVERFLOW, ENOTSUP, "
		       "ESHUTDOWN, ETIMEDOUT, EAGAIN, EBUSY, ENODEV, ENXIO, "
		       "EACCES";
		return -EINVAL;
	}
	if (!r->err) {
		if (r->ops != ALL_OPS && !(r->ops & RW_OPS)) {
			*why = "short applies to read and write only";
			return -EINVAL;
		}
		r->ops &= RW_OPS; /* all:short: reads and writes */
	}
	if (parse_uint(field[2], 1, 1000000000, &every) < 0) {
		*why = "EVERY_N is a count from 1 to 1000000000";
		return -EINVAL;
	}
	r->every = every;
	if (n == 4 && parse_range(field[3], r) < 0) {
		*why = "START-END is a byte range, e.g. 1M-2M, START below END";
		return -EINVAL;
	}
	return 0;
}

/* ---- the I/O path ---- */

static const struct fault_rule *pick(struct faulty *f, struct request *rq,
				     uint64_t *nth)
{
	const struct fault_rule *hit = NULL;

	/* every rule counts what it names, whichever of them fires */
	while (atomic_flag_test_and_set_explicit(&f->lock, memory_order_acquire))
		;
	for (unsigned i = 0; i < f->nr_rules; i++) {
		const struct fault_rule *r = &f->rules[i];
		uint64_t n;

		if (!(r->ops & (1u << rq->type)))
			continue;
		if (r->end && !(rq->len && rq->offset < r->end &&
				rq->offset + rq->len > r->start))
			continue; /* a range: only requests touching it */
		n = ++f->seen[i][rq->type];
		if (!hit && n % r->every == 0) {
			hit = r;
			*nth = n;
		}
	}
	atomic_flag_clear_explicit(&f->lock, memory_order_release);
	return hit;
}

static struct short_slot *slot_take(struct request *rq)
{
	for (unsigned i = 0; i < SHORT_SLOTS; i++) {
		struct request *none = NULL;

		if (atomic_compare_exchange_strong_explicit(
			    &short_slots[i].rq, &none, rq,
			    memory_order_acquire, memory_order_relaxed))
			return &short_slots[i];
	}
	return NULL;
}

/* the slot of rq: taken and given back on rq's worker thread */
static struct short_slot *slot_of(struct request *rq)
{
	for (unsigned i = 0; i < SHORT_SLOTS; i++)
		if (atomic_load_explicit(&short_slots[i].rq,
					 memory_order_relaxed) == rq)
			return &short_slots[i];
	return NULL;
}

static void short_done(struct request *rq, int res)
{
	struct short_slot *s = slot_of(rq);
	void (*complete)(struct request *, int) = s->complete;
	uint64_t done = rq->len;

	/* give the frontend back the request it sent */
	rq->len = s->len;
	request_buffer_len(rq, s->align);
	rq->complete = complete;
	atomic_store_explicit(&s->rq, NULL, memory_order_release);
	complete(rq, res < 0 ? res : (int)done);
}

/*
 * Half the request, on the backend's alignment when the request is
 * aligned: the buffer of an aligned write has no room for the
 * read-modify-write of an unaligned one.  The shorter request keeps its
 * offset, so its span and data start where the frontend put them.
 */
static uint64_t short_len(const struct request *rq, uint32_t align)
{
	uint64_t half = rq->len / 2;

	if (is_aligned(rq->offset, rq->len, align))
		half &= ~((uint64_t)align - 1);
	return half;
}

static void inject_short(struct faulty *f, struct request *rq, uint64_t nth)
{
	uint64_t cut = short_len(rq, f->b.align);
	struct short_slot *s = cut ? slot_take(rq) : NULL;

	if (!s) {
		log_warn("inject-fault: %s: %s #%llu at %llu+%llu: short, "
			 "nothing done (%s): EIO",
			 f->spec, op_names[rq->type], (unsigned long long)nth,
			 (unsigned long long)rq->offset,
			 (unsigned long long)rq->len,
			 cut ? "too many short ones in flight" :
			       "too small to cut");
		rq->complete(rq, -EIO);
		return;
	}
	log_warn("inject-fault: %s: %s #%llu at %llu+%llu: short, %llu bytes "
		 "done",
		 f->spec, op_names[rq->type], (unsigned long long)nth,
		 (unsigned long long)rq->offset, (unsigned long long)rq->len,
		 (unsigned long long)cut);
	s->complete = rq->complete;
	s->len = rq->len;
	s->align = f->b.align;
	rq->len = cut;
	request_buffer_len(rq, f->b.align);
	rq->complete = short_done;
	rq->be = f->inner;
	backend_submit(f->inner, rq);
}

static void faulty_request(struct backend *b, struct request *rq)
{
	struct faulty *f = to_faulty(b);
	const struct fault_rule *r;
	uint64_t nth = 0;

	r = pick(f, rq, &nth);
	if (r && !r->err) {
		inject_short(f, rq, nth);
		return;
	}
	if (r) {
		log_warn("inject-fault: %s: %s #%llu at %llu+%llu: %s",
			 f->spec, op_names[rq->type], (unsigned long long)nth,
			 (unsigned long long)rq->offset,
			 (unsigned long long)rq->len, errno_name(r->err));
		rq->complete(rq, -r->err);
		return;
	}
	rq->be = f->inner;
	backend_submit(f->inner, rq);
}

/* ---- open and close ---- */

/* "read:EIO:3, write:short:2" for the log, from the parsed rules */
static void describe_rules(const struct fault_rule *rules, unsigned nr,
			   char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < nr && n < size; i++) {
		const struct fault_rule *r = &rules[i];
		const char *op = "all";

		for (unsigned t = 0; t < NR_REQ_TYPES; t++)
			if (r->ops == 1u << t)
				op = op_names[t];
		n += snprintf(out + n, size - n, "%s%s:%s:%llu", i ? ", " : "",
			      op, r->err ? errno_name(r->err) : "short",
			      (unsigned long long)r->every);
		if (r->end && n < size)
			n += snprintf(out + n, size - n, ":%llu-%llu",
				      (unsigned long long)r->start,
				      (unsigned long long)r->end);
	}
}

int faulty_wrap(struct backend **b, const struct fault_rule *rules,
		unsigned nr, const char *spec)
{
	struct faulty *f;
	char desc[512];

	if (nr > FAULT_MAX_RULES)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->spec = strdup(spec);
	if (!f->spec) {
		free(f);
		return -ENOMEM;
	}
	f->inner = *b;
	f->b = *f->inner;
	f->b.ops = &faulty_backend;
	f->nr_rules = nr;
	memcpy(f->rules, rules, nr * sizeof(*rules));
	describe_rules(rules, nr, desc, sizeof(desc));
	log_warn("%s: injecting faults (a testing tool; one warning per "
		 "fault): %s", spec, desc);
	*b = &f->b;
	return 0;
}

static void faulty_close(struct backend *b)
{
	struct faulty *f = to_faulty(b);

	f->inner->ops->close(f->inner);
	free(f->spec);
	free(f);
}

/* FUSE passthrough would take reads and writes past the injector */
static int faulty_passthrough_fd(struct backend *b)
{
	return -ENOTSUP;
}

static int faulty_sync(struct backend *b)
{
	struct backend *inner = to_faulty(b)->inner;

	return inner->ops->sync(inner);
}

const struct backend_ops faulty_backend = {
	.name = "faulty",
	.open = NULL, /* only in front of another: faulty_wrap */
	.close = faulty_close,
	.passthrough_fd = faulty_passthrough_fd,
	.sync = faulty_sync,
	.read = faulty_request,
	.write = faulty_request,
	.flush = faulty_request,
	.trim = faulty_request,
	.zero = faulty_request,
	.cache = faulty_request,
	.extents = faulty_request,
};
