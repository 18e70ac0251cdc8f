// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The helper pool and the threads engine.
 *
 * Helpers are a fixed set of threads that run blocking calls: every file
 * operation under the threads engine (for where io_uring is refused), and
 * under either engine the calls io_uring has no op for (lseek for block
 * status).  The queue is intrusive: an op in it is one already counted
 * against its worker's pool, so it is bounded without a limit of its own.
 *
 * The threads engine drives sockets from poll(2) on the worker thread
 * with non-blocking calls; no thread ever waits on a socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/log.h"
#include "core/memsafe.h"
#include "core/worker.h"


static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct op *head, **tail;
	pthread_t *threads;
	int *io_flusher;
	unsigned nr;
	bool stop;
} helpers = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

int op_execute(struct op *op)
{
	ssize_t n;
	int ret;

	switch (op->kind) {
	case OP_READ:
		n = pread(op->fd, op->buf, op->len, op->off);
		return n < 0 ? -errno : (int)n;
	case OP_WRITE: {
		struct iovec iov = { op->buf, op->len };

		n = pwritev2(op->fd, &iov, 1, op->off, op->flags);
		return n < 0 ? -errno : (int)n;
	}
	case OP_FSYNC:
		return fdatasync(op->fd) < 0 ? -errno : 0;
	case OP_FALLOCATE:
		return fallocate(op->fd, op->flags, op->off, op->len) < 0 ?
			       -errno :
			       0;
	case OP_FADVISE:
		ret = posix_fadvise(op->fd, op->off, op->len, op->flags);
		return -ret;
	case OP_CALL:
		return op->fn(op->arg);
	case OP_RECV:
		n = recv(op->fd, op->buf, op->len, MSG_DONTWAIT);
		return n < 0 ? -errno : (int)n;
	case OP_SENDMSG:
		n = sendmsg(op->fd, &op->msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		return n < 0 ? -errno : (int)n;
	case OP_ACCEPT:
		ret = accept4(op->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		return ret < 0 ? -errno : ret;
	case OP_READ_WAKE:
		n = read(op->fd, op->buf, op->len);
		return n < 0 ? -errno : (int)n;
	case OP_READV:
		n = readv(op->fd, op->msg.msg_iov, op->msg.msg_iovlen);
		return n < 0 ? -errno : (int)n;
	case OP_WRITEV:
		n = writev(op->fd, op->msg.msg_iov, op->msg.msg_iovlen);
		return n < 0 ? -errno : (int)n;
	case OP_URING_CMD:
		return -EOPNOTSUPP;	/* ublk needs the io_uring engine */
	}
	return -EINVAL;
}


static void *helper_main(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	char name[16];

	snprintf(name, sizeof(name), "lloop-h%u", id);
	pthread_setname_np(pthread_self(), name);
	__atomic_store_n(&helpers.io_flusher[id], memsafe_thread_io_flusher(),
			 __ATOMIC_RELAXED);
	for (;;) {
		struct op *op;
		struct worker *w;

		pthread_mutex_lock(&helpers.lock);
		while (!helpers.head && !helpers.stop)
			pthread_cond_wait(&helpers.cond, &helpers.lock);
		if (!helpers.head) {
			pthread_mutex_unlock(&helpers.lock);
			return NULL;
		}
		op = helpers.head;
		helpers.head = op->next;
		if (!helpers.head)
			helpers.tail = &helpers.head;
		pthread_mutex_unlock(&helpers.lock);

		w = (struct worker *)op->next_worker;
		helpers_finish(w, op, op_execute(op));
	}
}

/*
 * Only the op that finds the list empty wakes the worker: the list is
 * taken only in worker_woken, after the wake-up is read, so while it is
 * not empty a wake-up is on its way and will take this op too.  Under a
 * burst of completions (librbd's callbacks at depth 32) that is one
 * eventfd write and one wake-up instead of one per op.
 */
void helpers_finish(struct worker *w, struct op *op, int res)
{
	bool first;

	op->res = res;
	pthread_mutex_lock(&w->lock);
	first = !w->helper_done;
	op->next = w->helper_done;
	w->helper_done = op;
	pthread_mutex_unlock(&w->lock);
	if (first)
		worker_wake(w);
}

int helpers_start(unsigned nthreads)
{
	helpers.tail = &helpers.head;
	helpers.stop = false;
	pthread_attr_t attr;

	helpers.threads = calloc(nthreads, sizeof(*helpers.threads));
	helpers.io_flusher = calloc(nthreads, sizeof(*helpers.io_flusher));
	if (!helpers.threads || !helpers.io_flusher)
		return -ENOMEM;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, LLOOP_THREAD_STACK);
	for (unsigned i = 0; i < nthreads; i++) {
		int ret = pthread_create(&helpers.threads[i], &attr,
					 helper_main, (void *)(uintptr_t)i);

		if (ret) {
			pthread_attr_destroy(&attr);
			helpers_stop();
			return -ret;
		}
		helpers.nr++;
	}
	pthread_attr_destroy(&attr);
	return 0;
}

unsigned helpers_count(void)
{
	return helpers.nr;
}

int helpers_io_flusher(unsigned i)
{
	return __atomic_load_n(&helpers.io_flusher[i], __ATOMIC_RELAXED);
}

void helpers_stop(void)
{
	pthread_mutex_lock(&helpers.lock);
	helpers.stop = true;
	pthread_cond_broadcast(&helpers.cond);
	pthread_mutex_unlock(&helpers.lock);
	for (unsigned i = 0; i < helpers.nr; i++)
		pthread_join(helpers.threads[i], NULL);
	free(helpers.threads);
	free(helpers.io_flusher);
	helpers.threads = NULL;
	helpers.io_flusher = NULL;
	helpers.nr = 0;
}

void helpers_queue(struct worker *w, struct op *op)
{
	op->next_worker = w;
	op->next = NULL;
	pthread_mutex_lock(&helpers.lock);
	*helpers.tail = op;
	helpers.tail = &op->next;
	pthread_cond_signal(&helpers.cond);
	pthread_mutex_unlock(&helpers.lock);
}

int helpers_reap(struct worker *w)
{
	struct op *list, *rev = NULL;
	int n = 0;

	pthread_mutex_lock(&w->lock);
	list = w->helper_done;
	w->helper_done = NULL;
	pthread_mutex_unlock(&w->lock);
	/* the list is newest first; complete in the order they finished */
	while (list) {
		struct op *op = list;

		list = op->next;
		op->next = rev;
		rev = op;
	}
	while (rev) {
		struct op *op = rev;

		rev = op->next;
		op->done(op, op->res);
		n++;
	}
	return n;
}

/* ---- the threads engine ---- */

struct poll_engine {
	unsigned cap;
	struct op **fresh;	/* submitted since the last run */
	unsigned nr_fresh;
	struct op **waiting;	/* tried, would block */
	unsigned nr_waiting;
	struct pollfd *pfds;
	struct op **done;	/* finished, to dispatch */
	unsigned nr_done;
	struct op **dispatching; /* the other half: callbacks may add to done */
};

static bool op_is_socket(const struct op *op)
{
	/* /dev/fuse is opened non-blocking and polled like a socket */
	return op->kind == OP_RECV || op->kind == OP_SENDMSG ||
	       op->kind == OP_ACCEPT || op->kind == OP_READ_WAKE ||
	       op->kind == OP_READV || op->kind == OP_WRITEV;
}

static int threads_init(struct worker *w, unsigned entries)
{
	struct poll_engine *pe = calloc(1, sizeof(*pe));

	if (!pe)
		return -ENOMEM;
	pe->cap = entries;
	pe->fresh = calloc(entries, sizeof(*pe->fresh));
	pe->waiting = calloc(entries, sizeof(*pe->waiting));
	pe->done = calloc(entries, sizeof(*pe->done));
	pe->dispatching = calloc(entries, sizeof(*pe->dispatching));
	pe->pfds = calloc(entries, sizeof(*pe->pfds));
	if (!pe->fresh || !pe->waiting || !pe->done || !pe->dispatching ||
	    !pe->pfds) {
		w->eng_data = pe;
		threads_engine.fini(w);
		return -ENOMEM;
	}
	w->eng_data = pe;
	return 0;
}

static void threads_fini(struct worker *w)
{
	struct poll_engine *pe = w->eng_data;

	if (!pe)
		return;
	free(pe->fresh);
	free(pe->waiting);
	free(pe->done);
	free(pe->dispatching);
	free(pe->pfds);
	free(pe);
	w->eng_data = NULL;
}

static void threads_submit(struct worker *w, struct op *op)
{
	struct poll_engine *pe = w->eng_data;

	if (!op_is_socket(op)) {
		helpers_queue(w, op);
		return;
	}
	if (pe->nr_fresh >= pe->cap) {
		/* cannot happen: cap covers every op a worker can own */
		log_error("worker %u: too many socket ops", w->id);
		abort();
	}
	pe->fresh[pe->nr_fresh++] = op;
}

static void try_op(struct poll_engine *pe, struct op *op)
{
	int res = op_execute(op);

	if (res == -EAGAIN || res == -EWOULDBLOCK) {
		pe->waiting[pe->nr_waiting++] = op;
		return;
	}
	op->res = res;
	pe->done[pe->nr_done++] = op;
}

/* only socket ops wait in the worker; file ops on helpers just finish */
static void threads_cancel(struct worker *w, struct op *op)
{
	struct poll_engine *pe = w->eng_data;
	struct op **lists[] = { pe->fresh, pe->waiting };
	unsigned *counts[] = { &pe->nr_fresh, &pe->nr_waiting };

	for (unsigned l = 0; l < 2; l++)
		for (unsigned i = 0; i < *counts[l]; i++) {
			if (lists[l][i] != op)
				continue;
			lists[l][i] = lists[l][--*counts[l]];
			op->res = -ECANCELED;
			pe->done[pe->nr_done++] = op;
			return;
		}
}

static void run_done(struct op *op)
{
	op->done(op, op->res);
}

static int threads_run(struct worker *w)
{
	struct poll_engine *pe = w->eng_data;
	unsigned n, nr_fresh = pe->nr_fresh;
	struct op **swap;
	int ret;

	for (unsigned i = 0; i < nr_fresh; i++)
		try_op(pe, pe->fresh[i]);
	pe->nr_fresh = 0;

	n = pe->nr_waiting;
	for (unsigned i = 0; i < n; i++) {
		struct op *op = pe->waiting[i];

		pe->pfds[i].fd = op->fd;
		pe->pfds[i].events = op->kind == OP_SENDMSG ||
						     op->kind == OP_WRITEV ?
					     POLLOUT :
					     POLLIN;
		pe->pfds[i].revents = 0;
	}
	ret = poll(pe->pfds, n, pe->nr_done ? 0 : -1);
	if (ret < 0 && errno != EINTR)
		return -errno;
	pe->nr_waiting = 0;
	for (unsigned i = 0; i < n; i++) {
		if (pe->pfds[i].revents)
			try_op(pe, pe->waiting[i]);
		else
			pe->waiting[pe->nr_waiting++] = pe->waiting[i];
	}

	n = pe->nr_done;
	pe->nr_done = 0;
	swap = pe->dispatching;
	pe->dispatching = pe->done;
	pe->done = swap;
	for (unsigned i = 0; i < n; i++)
		run_done(pe->dispatching[i]);
	return 0;
}

const struct engine_ops threads_engine = {
	.name = "threads",
	.init = threads_init,
	.fini = threads_fini,
	.submit = threads_submit,
	.run = threads_run,
	.cancel = threads_cancel,
};
