// SPDX-License-Identifier: GPL-2.0-or-later
#include <string.h>

#include "backend/rmw.h"
#include "core/worker.h"

void rmw_init(struct rmw_guard *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
}

static int find(const struct rmw_guard *g, uint64_t blk)
{
	for (int i = 0; i < RMW_SLOTS; i++)
		if (g->used[i] && g->block[i] == blk)
			return i;
	return -1;
}

static int find_free(const struct rmw_guard *g, int skip)
{
	for (int i = 0; i < RMW_SLOTS; i++)
		if (!g->used[i] && i != skip)
			return i;
	return -1;
}

static void add_waiter(struct rmw_guard *g, struct worker *w)
{
	for (unsigned i = 0; i < g->nr_waiters; i++)
		if (g->waiters[i] == w)
			return;
	/* more workers than slots cannot happen: threads <= RMW_SLOTS */
	if (g->nr_waiters < RMW_SLOTS)
		g->waiters[g->nr_waiters++] = w;
}

bool rmw_try_lock(struct rmw_guard *g, uint64_t a, uint64_t b,
		  struct worker *w)
{
	int sa, sb = -1;
	bool ok = false;

	pthread_mutex_lock(&g->lock);
	if (find(g, a) >= 0 || (b != a && find(g, b) >= 0))
		goto out;
	sa = find_free(g, -1);
	if (sa < 0)
		goto out;
	if (b != a) {
		sb = find_free(g, sa);
		if (sb < 0)
			goto out;
		g->used[sb] = true;
		g->block[sb] = b;
	}
	g->used[sa] = true;
	g->block[sa] = a;
	ok = true;
out:
	if (!ok)
		add_waiter(g, w);
	pthread_mutex_unlock(&g->lock);
	return ok;
}

void rmw_unlock(struct rmw_guard *g, uint64_t a, uint64_t b)
{
	struct worker *wake[RMW_SLOTS];
	unsigned n;
	int i;

	pthread_mutex_lock(&g->lock);
	i = find(g, a);
	if (i >= 0)
		g->used[i] = false;
	i = b != a ? find(g, b) : -1;
	if (i >= 0)
		g->used[i] = false;
	n = g->nr_waiters;
	memcpy(wake, g->waiters, n * sizeof(*wake));
	g->nr_waiters = 0;
	pthread_mutex_unlock(&g->lock);
	for (unsigned k = 0; k < n; k++)
		worker_wake(wake[k]);
}
