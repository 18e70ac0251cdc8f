/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_POOL_H
#define LLOOP_POOL_H
/*
 * A worker's pool: every request descriptor and every byte of buffer the
 * worker will ever use, allocated and prefaulted at start-up.  When it is
 * empty the caller waits (back-pressure); it never grows.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/buddy.h"
#include "core/request.h"

struct pool {
	struct request *reqs;
	unsigned nr_reqs;
	unsigned reqs_in_use;
	unsigned reqs_high_water;
	struct request *free_reqs;
	char *arena;
	struct buddy buddy;
};

int pool_init(struct pool *p, unsigned nr_reqs, size_t arena_bytes);
void pool_fini(struct pool *p);
struct request *pool_take_request(struct pool *p);
void pool_put_request(struct pool *p, struct request *rq);
/* a buffer of at least len bytes, aligned to 4096, or NULL */
char *pool_take_buffer(struct pool *p, size_t len);
void pool_put_buffer(struct pool *p, char *buf);

#endif
