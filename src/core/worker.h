/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_WORKER_H
#define LLOOP_WORKER_H
/*
 * A worker: one thread, one engine (one io_uring), one pool.  Everything
 * a worker owns is touched only by its thread, except the inbox and the
 * helpers' completion list, which other threads fill under ->lock.
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/engine.h"
#include "core/pool.h"
#include "core/stats.h"
#include "core/task.h"

/* worker threads of a server at most (--threads); a guard of a backend
 * (backend/rmw.h) keeps one waiter slot for each */
#define WORKERS_MAX 128

struct server;


/*
 * Something that lives on a worker and must be told when it stops: first
 * to drain (force false), then, if the drain is not done in time, to end
 * now (force true).
 */
struct tenant {
	void (*stop)(struct tenant *t, bool force);
	/*
	 * Optional: called once a second, with starved set while something
	 * waits for the pool, so that a tenant that holds pool memory and
	 * makes no progress can give it back, and one that has a deadline
	 * can keep it.
	 */
	void (*tick)(struct tenant *t, uint64_t now_ns, bool starved);
	struct tenant *next, *prev;
};

struct worker {
	struct server *srv;
	unsigned id;
	pthread_t thread;
	const struct engine_ops *eng;
	void *eng_data;

	int wake_fd;
	struct op wake_op;
	uint64_t wake_buf;
	int tick_fd;		/* timerfd, once a second */
	struct op tick_op;
	uint64_t tick_buf;

	struct pool pool;
	struct worker_stats stats;
	char *discard_buf;	/* scratch for payloads we must drop */
	size_t discard_len;

	pthread_mutex_t lock;
	struct task *inbox;	/* under lock */
	struct op *helper_done;	/* under lock */

	struct task *waiting;	/* wait for the pool, FIFO */
	struct task **waiting_tail;
	struct task *deferred;	/* retried at every wake-up */
	struct task *soon;	/* run after this round of completions */
	bool pool_freed;	/* resume pool waiters after this round */
	struct tenant tenants;	/* list head */
	unsigned nr_tenants;
	bool stopping;
	bool forced;
	bool started;
	sem_t ready;		/* posted once the engine is set up */
	int init_ret;		/* how that went */
	uint64_t round;		/* of the event loop, from 1 */
	uint64_t swap_round;	/* the round swap_on was seen in, or 0 */
	bool swap_on;
};

int worker_init(struct worker *w, struct server *srv, unsigned id);
void worker_fini(struct worker *w);
int worker_start(struct worker *w);
void worker_join(struct worker *w);
void worker_wake(struct worker *w);
/*
 * Whether the machine has swap, as sysinfo(2) said at most one round of
 * the event loop ago (a system call per round, only when asked).
 */
bool worker_swap_on(struct worker *w);
/* run t on w's thread soon; safe from any thread */
void worker_post(struct worker *w, struct task *t);
/* run t once the pool has something back (called on w's thread) */
void worker_wait_pool(struct worker *w, struct task *t);
/*
 * The pool had something returned: resume its waiters once the current
 * round of completions is done, never from inside a callback.
 */
static inline void worker_pool_returned(struct worker *w)
{
	w->pool_freed = true;
}
/* run t after the current round of completions */
void worker_soon(struct worker *w, struct task *t);
/* retry t at the next wake-up; the waker is another worker */
void worker_defer(struct worker *w, struct task *t);
void worker_add_tenant(struct worker *w, struct tenant *t);
void worker_del_tenant(struct worker *w, struct tenant *t);

#endif
