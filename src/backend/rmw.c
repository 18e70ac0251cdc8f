// SPDX-License-Identifier: GPL-2.0-or-later
#include <string.h>

#include "backend/rmw.h"
#include "core/worker.h"

static void list_init(struct rmw_range *head)
{
	head->prev = head->next = head;
}

static void list_add(struct rmw_range *head, struct rmw_range *r)
{
	r->next = head->next;
	r->prev = head;
	head->next->prev = r;
	head->next = r;
}

static void list_del(struct rmw_range *r)
{
	r->prev->next = r->next;
	r->next->prev = r->prev;
}

void rmw_init(struct rmw_guard *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	list_init(&g->shared);
	list_init(&g->held);
}

/* a holder in the list at head has a block of first..last */
static bool overlaps(const struct rmw_range *head, uint64_t first,
		     uint64_t last)
{
	for (const struct rmw_range *r = head->next; r != head; r = r->next)
		if (r->first <= last && first <= r->last)
			return true;
	return false;
}

static bool counted_writes(struct rmw_guard *g)
{
	for (unsigned i = 0; i < RMW_WORKERS; i++)
		if (atomic_load(&g->fast[i].n))
			return true;
	return false;
}

static void add_waiter(struct rmw_guard *g, struct worker *w)
{
	for (unsigned i = 0; i < g->nr_waiters; i++)
		if (g->waiters[i] == w)
			return;
	/* never full: a worker is in the list once, and a server has
	 * RMW_WORKERS at most (server_config_defaults, --threads) */
	if (g->nr_waiters < RMW_WORKERS)
		g->waiters[g->nr_waiters++] = w;
}

/* with the lock held: the waiters, into wake, and none left */
static unsigned take_waiters(struct rmw_guard *g, struct worker **wake)
{
	unsigned n = g->nr_waiters;

	memcpy(wake, g->waiters, n * sizeof(*wake));
	g->nr_waiters = 0;
	return n;
}

/* with the lock held: wake every waiter (each retries what it deferred)
 * and drop the lock */
static void wake_and_unlock(struct rmw_guard *g)
{
	struct worker *wake[RMW_WORKERS];
	unsigned n = take_waiters(g, wake);

	pthread_mutex_unlock(&g->lock);
	for (unsigned k = 0; k < n; k++)
		worker_wake(wake[k]);
}

static bool shared_begin(struct rmw_guard *g, struct rmw_range *r,
			 struct worker *w)
{
	atomic_uint *n = &g->fast[w->id % RMW_WORKERS].n;
	struct worker *wake[RMW_WORKERS];
	unsigned nr_wake = 0;
	bool ok;

	if (!atomic_load(&g->excl.n)) {
		atomic_fetch_add(n, 1);
		if (!atomic_load(&g->excl.n)) {
			r->held = RMW_FAST;
			return true;
		}
		/*
		 * An exclusive write came in between, and may have seen
		 * this count: it waits for it to end.  So when it is taken
		 * back, those who wait then are woken (not this request,
		 * should it wait too: it would wake itself for ever).
		 */
		atomic_fetch_sub(n, 1);
		pthread_mutex_lock(&g->lock);
		nr_wake = take_waiters(g, wake);
	} else {
		pthread_mutex_lock(&g->lock);
	}
	/* an exclusive write is held or waits: hold the range in the list */
	ok = !overlaps(&g->held, r->first, r->last);
	if (ok) {
		r->held = RMW_SHARED;
		list_add(&g->shared, r);
	} else {
		add_waiter(g, w);
	}
	pthread_mutex_unlock(&g->lock);
	for (unsigned k = 0; k < nr_wake; k++)
		worker_wake(wake[k]);
	return ok;
}

static bool excl_begin(struct rmw_guard *g, struct rmw_range *r,
		       struct worker *w)
{
	bool ok;

	pthread_mutex_lock(&g->lock);
	if (r->held != RMW_EXCL_WAITING) {
		/* from now on shared writes take the lock: the counted
		 * ones in flight can only end */
		atomic_fetch_add(&g->excl.n, 1);
		r->held = RMW_EXCL_WAITING;
	}
	ok = !overlaps(&g->held, r->first, r->last) &&
	     !overlaps(&g->shared, r->first, r->last) && !counted_writes(g);
	if (ok) {
		r->held = RMW_EXCL;
		list_add(&g->held, r);
	} else {
		add_waiter(g, w);
	}
	pthread_mutex_unlock(&g->lock);
	return ok;
}

bool rmw_begin(struct rmw_guard *g, struct rmw_range *r, uint64_t first,
	       uint64_t last, int kind, struct worker *w)
{
	r->first = first;
	r->last = last;
	return kind == RMW_EXCL ? excl_begin(g, r, w) : shared_begin(g, r, w);
}

void rmw_end(struct rmw_guard *g, struct rmw_range *r, struct worker *w)
{
	if (r->held == RMW_FAST) {
		r->held = 0;
		atomic_fetch_sub(&g->fast[w->id % RMW_WORKERS].n, 1);
		if (!atomic_load(&g->excl.n))
			return;
		/* an exclusive write may wait for this one */
		pthread_mutex_lock(&g->lock);
		wake_and_unlock(g);
		return;
	}
	pthread_mutex_lock(&g->lock);
	list_del(r);
	if (r->held == RMW_EXCL)
		atomic_fetch_sub(&g->excl.n, 1);
	r->held = 0;
	wake_and_unlock(g);
}
