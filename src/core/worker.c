// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/memsafe.h"
#include "core/server.h"
#include "core/worker.h"

#define DISCARD_BUF_LEN (256 * 1024)

static void worker_woken(struct op *op, int res);
static void worker_ticked(struct op *op, int res);

int worker_init(struct worker *w, struct server *srv, unsigned id)
{
	const struct server_config *cfg = &srv->cfg;
	int ret;

	memset(w, 0, sizeof(*w));
	w->srv = srv;
	w->id = id;
	w->eng = srv->engine;
	w->tenants.next = w->tenants.prev = &w->tenants;
	w->waiting_tail = &w->waiting;
	w->round = 1;
	pthread_mutex_init(&w->lock, NULL);
	w->tick_fd = -1;
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->wake_fd < 0)
		return -errno;
	w->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (w->tick_fd < 0 ||
	    timerfd_settime(w->tick_fd, 0,
			    &(struct itimerspec){ .it_interval = { 1, 0 },
						  .it_value = { 1, 0 } },
			    NULL) < 0)
		return -errno;
	ret = pool_init(&w->pool, cfg->queue_depth, cfg->buffer_memory);
	if (ret < 0)
		return ret;
	ret = stats_init(&w->stats, srv->nr_exports);
	if (ret < 0)
		return ret;
	w->discard_len = DISCARD_BUF_LEN;
	w->discard_buf = mmap(NULL, w->discard_len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1,
			      0);
	if (w->discard_buf == MAP_FAILED) {
		w->discard_buf = NULL;
		return -ENOMEM;
	}
	return 0;
}

void worker_fini(struct worker *w)
{
	pool_fini(&w->pool);
	stats_fini(&w->stats);
	if (w->discard_buf)
		munmap(w->discard_buf, w->discard_len);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	if (w->tick_fd >= 0)
		close(w->tick_fd);
	pthread_mutex_destroy(&w->lock);
}

void worker_wake(struct worker *w)
{
	uint64_t one = 1;

	if (write(w->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error("worker %u: cannot wake: %s", w->id, strerror(errno));
}

void worker_post(struct worker *w, struct task *t)
{
	struct task **p;

	pthread_mutex_lock(&w->lock);
	t->next = NULL;
	for (p = &w->inbox; *p; p = &(*p)->next)
		;
	*p = t;
	pthread_mutex_unlock(&w->lock);
	worker_wake(w);
}

void worker_wait_pool(struct worker *w, struct task *t)
{
	if (t->queued)
		return;
	t->queued = true;
	t->next = NULL;
	*w->waiting_tail = t;
	w->waiting_tail = &t->next;
}

static void resume_pool_waiters(struct worker *w)
{
	/*
	 * Resume waiters in order until one has to wait again: it goes to
	 * the back, and the others keep their turn for the next return.
	 */
	while (w->waiting) {
		struct task *t = w->waiting;

		w->waiting = t->next;
		if (!w->waiting)
			w->waiting_tail = &w->waiting;
		t->queued = false;
		t->run(t);
		if (t->queued)
			break;
	}
}

void worker_soon(struct worker *w, struct task *t)
{
	if (t->queued)
		return;
	t->queued = true;
	t->next = w->soon;
	w->soon = t;
}

/* run a list taken off the worker: a task may queue itself again */
static void run_task_list(struct task *list)
{
	while (list) {
		struct task *t = list;

		list = t->next;
		t->queued = false;
		t->run(t);
	}
}

bool worker_swap_on(struct worker *w)
{
	struct sysinfo si;

	if (w->swap_round != w->round) {
		w->swap_on = sysinfo(&si) < 0 || si.totalswap > 0;
		w->swap_round = w->round;
	}
	return w->swap_on;
}

/* between rounds of completions: work that must not run nested */
static void worker_between_rounds(struct worker *w)
{
	w->round++;
	while (w->soon || w->pool_freed) {
		struct task *soon = w->soon;

		w->soon = NULL;
		run_task_list(soon);
		if (w->pool_freed) {
			w->pool_freed = false;
			resume_pool_waiters(w);
		}
	}
}

void worker_defer(struct worker *w, struct task *t)
{
	t->queued = true;
	t->next = w->deferred;
	w->deferred = t;
}

void worker_add_tenant(struct worker *w, struct tenant *t)
{
	t->next = w->tenants.next;
	t->prev = &w->tenants;
	w->tenants.next->prev = t;
	w->tenants.next = t;
	w->nr_tenants++;
}

void worker_del_tenant(struct worker *w, struct tenant *t)
{
	t->prev->next = t->next;
	t->next->prev = t->prev;
	t->next = t->prev = t;
	w->nr_tenants--;
}

static void worker_stop_tenants(struct worker *w, bool force)
{
	struct tenant *t, *next;

	for (t = w->tenants.next; t != &w->tenants; t = next) {
		next = t->next;
		t->stop(t, force);
	}
}

static void worker_run_tasks(struct worker *w)
{
	struct task *inbox, *deferred;

	pthread_mutex_lock(&w->lock);
	inbox = w->inbox;
	w->inbox = NULL;
	pthread_mutex_unlock(&w->lock);
	run_task_list(inbox);
	deferred = w->deferred;
	w->deferred = NULL;
	run_task_list(deferred);
}

static void worker_arm_wake(struct worker *w)
{
	w->wake_op = (struct op){
		.done = worker_woken,
		.kind = OP_READ_WAKE,
		.fd = w->wake_fd,
		.buf = &w->wake_buf,
		.len = sizeof(w->wake_buf),
	};
	w->eng->submit(w, &w->wake_op);
}

static void worker_woken(struct op *op, int res)
{
	struct worker *w = (struct worker *)((char *)op -
					     offsetof(struct worker, wake_op));

	worker_arm_wake(w);
	helpers_reap(w);
	worker_run_tasks(w);
	if (!w->stopping && atomic_load(&w->srv->stopping)) {
		w->stopping = true;
		worker_stop_tenants(w, false);
	}
	if (!w->forced && atomic_load(&w->srv->force_stop)) {
		w->forced = true;
		worker_stop_tenants(w, true);
	}
}

static void worker_arm_tick(struct worker *w)
{
	w->tick_op = (struct op){
		.done = worker_ticked,
		.kind = OP_READ_WAKE,
		.fd = w->tick_fd,
		.buf = &w->tick_buf,
		.len = sizeof(w->tick_buf),
	};
	w->eng->submit(w, &w->tick_op);
}

/*
 * Once a second, every tenant, and whether a request waits for the pool:
 * a client that never reads its replies, or sends its payload one byte a
 * second, must not starve the others on this worker for ever, and one
 * that never finishes its handshake must not hold a connection slot.
 */
static void worker_ticked(struct op *op, int res)
{
	struct worker *w = (struct worker *)((char *)op -
					     offsetof(struct worker, tick_op));
	struct tenant *t, *next;
	uint64_t now;

	(void)res;
	worker_arm_tick(w);
	/* counts of repeated errors whose 10 s are over, said in time */
	log_ratelimit_tick();
	now = stats_now_ns();
	for (t = w->tenants.next; t != &w->tenants; t = next) {
		next = t->next;
		if (t->tick)
			t->tick(t, now, w->waiting != NULL);
	}
}

/* tell the main thread, which waits for signals, to stop everything */
static void worker_fail(struct worker *w)
{
	atomic_store(&w->srv->failed, true);
	kill(getpid(), SIGTERM);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];
	int ret;

	snprintf(name, sizeof(name), "lloop-w%u", w->id);
	pthread_setname_np(pthread_self(), name);
	w->stats.io_flusher = memsafe_thread_io_flusher();
	ret = w->eng->init(w, 2 * w->srv->cfg.queue_depth +
				      4 * w->srv->cfg.max_connections + 64);
	w->init_ret = ret;
	sem_post(&w->ready);
	if (ret < 0) {
		log_error("worker %u: cannot start the %s engine: %s", w->id,
			  w->eng->name, strerror(-ret));
		return NULL;
	}
	worker_arm_wake(w);
	worker_arm_tick(w);
	worker_run_tasks(w);
	worker_between_rounds(w);
	while (!(w->stopping && w->nr_tenants == 0)) {
		ret = w->eng->run(w);
		worker_between_rounds(w);
		if (ret < 0 && ret != -EINTR) {
			log_error("worker %u: engine failed: %s", w->id,
				  strerror(-ret));
			worker_fail(w);
			break;
		}
	}
	w->eng->fini(w);
	return NULL;
}

int worker_start(struct worker *w)
{
	pthread_attr_t attr;
	int ret;

	/* the stack is locked with everything else: keep it small */
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, LLOOP_THREAD_STACK);
	sem_init(&w->ready, 0, 0);
	ret = pthread_create(&w->thread, &attr, worker_main, w);
	pthread_attr_destroy(&attr);
	if (ret)
		return -ret;
	w->started = true;
	/*
	 * Ready means ready: a failed engine is an error of start-up, and
	 * what the workers report (lloop stats) is there once this returns.
	 */
	while (sem_wait(&w->ready) < 0 && errno == EINTR)
		;
	return w->init_ret;
}

void worker_join(struct worker *w)
{
	if (w->started)
		pthread_join(w->thread, NULL);
	w->started = false;
}
