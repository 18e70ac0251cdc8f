/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_RMW_H
#define LLOOP_RMW_H
/*
 * Two unaligned writes that share an edge block must not read-modify-write
 * it at the same time, or one loses the other's bytes.  The guard holds
 * the edge blocks of every read-modify-write in flight on a backend.  Only
 * unaligned writes take its lock; aligned I/O never sees it.  A write that
 * finds its block taken is deferred and its worker woken when it is free.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct worker;

#define RMW_SLOTS 128

struct rmw_guard {
	pthread_mutex_t lock;
	uint64_t block[RMW_SLOTS];
	bool used[RMW_SLOTS];
	struct worker *waiters[RMW_SLOTS];
	unsigned nr_waiters;
};

void rmw_init(struct rmw_guard *g);
/* take blocks a and b (may be equal); false: wait, w is woken later */
bool rmw_try_lock(struct rmw_guard *g, uint64_t a, uint64_t b,
		  struct worker *w);
void rmw_unlock(struct rmw_guard *g, uint64_t a, uint64_t b);

#endif
