/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_RMW_H
#define LLOOP_RMW_H
/*
 * A read-modify-write reads its edge blocks, merges the payload and writes
 * them back whole: any other write that lands on those blocks in between
 * is undone.  A write through the page cache that covers part of a block
 * reads the rest of it into the cache too, and its write-back can undo an
 * O_DIRECT write of the same block.  The guard keeps such "exclusive"
 * writes (a read-modify-write, a page-cache write of the file's tail,
 * zeroing of a range that is not block-aligned) apart from every other
 * write of the same blocks on a backend.  "Shared" writes (aligned
 * O_DIRECT writes, trims, aligned zeroing) never wait for each other.
 *
 * While no exclusive write is held or waiting, a shared write only counts
 * itself in its worker's own counter: no lock, no line shared between
 * workers but one that is only read.  An exclusive write raises a flag
 * under the guard's lock, which sends later shared writes to the slow
 * path, where each holds its block range in a list; it runs once no write
 * in a list overlaps its range and every counted shared write has ended.
 * The flag is raised before the counters are read, and a counter raised
 * before the flag is read (both sequentially consistent), so one always
 * sees the other.  A write that must wait is deferred, and its worker
 * woken when a holder ends.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/request.h" /* struct rmw_range */
#include "core/worker.h"

/* workers per backend at most: every one may wait at once */
#define RMW_WORKERS WORKERS_MAX

enum { RMW_SHARED = 1, RMW_EXCL, RMW_FAST, RMW_EXCL_WAITING };

/* one per cache line (padded, not aligned: the guard lives in a calloc) */
struct rmw_counter {
	atomic_uint n;
	char pad[64 - sizeof(atomic_uint)];
};

struct rmw_guard {
	/* exclusive writes held or waiting: shared ones take the lock.
	 * Read by every write: on a line of its own, next to no counter */
	struct rmw_counter excl;
	struct rmw_counter fast[RMW_WORKERS];	/* by worker id */
	pthread_mutex_t lock;
	struct rmw_range shared, held;	/* list heads */
	struct worker *waiters[RMW_WORKERS];
	unsigned nr_waiters;
};

void rmw_init(struct rmw_guard *g);
/* hold blocks first..last in r, RMW_SHARED or RMW_EXCL; false: wait, w
 * is woken when a holder ends, and calls this again with the same r */
bool rmw_begin(struct rmw_guard *g, struct rmw_range *r, uint64_t first,
	       uint64_t last, int kind, struct worker *w);
void rmw_end(struct rmw_guard *g, struct rmw_range *r, struct worker *w);

#endif
