// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * memory:SIZE - a sparse RAM disk for tests and benchmarks.  One
 * anonymous mapping reserved at start; pages appear on first write and
 * go back to the kernel on trim or zero.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/log.h"
#include "core/parse.h"

struct memory {
	struct backend b;
	char *base;
};

static struct memory *to_mem(struct backend *b)
{
	return (struct memory *)b;
}

static int memory_open(const char *spec, const struct backend_opts *o,
		       struct backend **out)
{
	struct memory *m;
	uint64_t size;

	if (parse_size(spec, &size) < 0 || size == 0) {
		log_error("memory:%s: not a size (e.g. memory:1G)", spec);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->base = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->base == MAP_FAILED) {
		log_error("memory:%s: cannot reserve %llu bytes: %s", spec,
			  (unsigned long long)size, strerror(errno));
		free(m);
		return -ENOMEM;
	}
	m->b = (struct backend){
		.ops = &memory_backend,
		.size = size,
		.align = 1,
		.preferred = 4096,
		.read_only = o->read_only,
		.can_trim = true,
		.can_zero = true,
		.can_fast_zero = true,
		.can_cache = true,
		.can_extents = true,
	};
	*out = &m->b;
	return 0;
}

static void memory_close(struct backend *b)
{
	struct memory *m = to_mem(b);

	munmap(m->base, b->size);
	free(m);
}

static int memory_sync(struct backend *b)
{
	return 0;
}

static void memory_read(struct backend *b, struct request *rq)
{
	memcpy(rq->data, to_mem(b)->base + rq->offset, rq->len);
	rq->complete(rq, 0);
}

static void memory_write(struct backend *b, struct request *rq)
{
	memcpy(to_mem(b)->base + rq->offset, rq->data, rq->len);
	rq->complete(rq, 0);
}

static void memory_flush(struct backend *b, struct request *rq)
{
	rq->complete(rq, 0);
}

/* zero the range, giving whole pages back unless the caller keeps them */
static void memory_zero_range(struct memory *m, uint64_t off, uint64_t len,
			      bool keep)
{
	uint64_t page = sysconf(_SC_PAGESIZE);
	uint64_t start = (off + page - 1) & ~(page - 1);
	uint64_t end = (off + len) & ~(page - 1);

	if (keep || end <= start) {
		memset(m->base + off, 0, len);
		return;
	}
	memset(m->base + off, 0, start - off);
	if (madvise(m->base + start, end - start, MADV_DONTNEED) < 0)
		memset(m->base + start, 0, end - start); /* locked pages */
	memset(m->base + end, 0, off + len - end);
}

static void memory_trim(struct backend *b, struct request *rq)
{
	memory_zero_range(to_mem(b), rq->offset, rq->len, false);
	rq->complete(rq, 0);
}

static void memory_zero(struct backend *b, struct request *rq)
{
	memory_zero_range(to_mem(b), rq->offset, rq->len,
			  rq->flags & REQ_NO_HOLE);
	rq->complete(rq, 0);
}

static void memory_cache(struct backend *b, struct request *rq)
{
	rq->complete(rq, 0);
}

static void memory_extents(struct backend *b, struct request *rq)
{
	struct extent *e = (struct extent *)rq->buf;

	e->length = rq->len;
	e->flags = 0;
	rq->nr_extents = 1;
	rq->complete(rq, 0);
}

const struct backend_ops memory_backend = {
	.name = "memory",
	.prefix = "memory:",
	.open = memory_open,
	.close = memory_close,
	.sync = memory_sync,
	.read = memory_read,
	.write = memory_write,
	.flush = memory_flush,
	.trim = memory_trim,
	.zero = memory_zero,
	.cache = memory_cache,
	.extents = memory_extents,
};
