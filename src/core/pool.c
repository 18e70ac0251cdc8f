// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/pool.h"

#define POOL_MIN_BLOCK 4096

int pool_init(struct pool *p, unsigned nr_reqs, size_t arena_bytes)
{
	int ret;

	memset(p, 0, sizeof(*p));
	p->reqs = calloc(nr_reqs, sizeof(*p->reqs));
	if (!p->reqs)
		return -ENOMEM;
	p->nr_reqs = nr_reqs;
	for (unsigned i = nr_reqs; i-- > 0;) {
		p->reqs[i].next = p->free_reqs;
		p->free_reqs = &p->reqs[i];
	}
	p->arena = mmap(NULL, arena_bytes, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p->arena == MAP_FAILED) {
		p->arena = NULL;
		pool_fini(p);
		return -ENOMEM;
	}
	ret = buddy_init(&p->buddy, arena_bytes, POOL_MIN_BLOCK);
	if (ret < 0) {
		munmap(p->arena, arena_bytes);
		p->arena = NULL;
		pool_fini(p);
	}
	return ret;
}

void pool_fini(struct pool *p)
{
	if (p->arena)
		munmap(p->arena, p->buddy.size);
	buddy_fini(&p->buddy);
	free(p->reqs);
	p->reqs = NULL;
	p->arena = NULL;
}

struct request *pool_take_request(struct pool *p)
{
	struct request *rq = p->free_reqs;

	if (!rq)
		return NULL;
	p->free_reqs = rq->next;
	memset(rq, 0, sizeof(*rq));
	if (++p->reqs_in_use > p->reqs_high_water)
		p->reqs_high_water = p->reqs_in_use;
	return rq;
}

void pool_put_request(struct pool *p, struct request *rq)
{
	if (rq->buf)
		pool_put_buffer(p, rq->buf);
	rq->buf = NULL;
	rq->next = p->free_reqs;
	p->free_reqs = rq;
	p->reqs_in_use--;
}

char *pool_take_buffer(struct pool *p, size_t len)
{
	int64_t off = buddy_alloc(&p->buddy, len);

	return off < 0 ? NULL : p->arena + off;
}

void pool_put_buffer(struct pool *p, char *buf)
{
	buddy_free(&p->buddy, buf - p->arena);
}
