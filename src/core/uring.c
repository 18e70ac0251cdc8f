// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The io_uring engine: one ring per worker carries socket and file I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/log.h"
#include "core/worker.h"

#define CQE_BATCH 64

int uring_probe(void)
{
	struct io_uring ring;
	int ret = io_uring_queue_init(2, &ring, 0);

	if (ret < 0)
		return ret;
	io_uring_queue_exit(&ring);
	return 0;
}

#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const unsigned setup_flags[] = {
	IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
		IORING_SETUP_DEFER_TASKRUN,
	IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
		IORING_SETUP_SINGLE_ISSUER,
	0,
};

/* requests in flight at once to fill io_uring's caches (uring_fill) */
#define URING_CACHE_FILL 128

/*
 * What the filling reads point into.  It lives as long as the ring: on a
 * failure, reads may still be in flight, or even queued for a later
 * submit, and must not land in a stack frame long gone.
 */
struct uring_fill {
	char buf[URING_CACHE_FILL];
	struct iovec iov[OP_MAX_IOV];
	struct msghdr msg;
};

/*
 * The ring, and the worker's buffer arena as registered with it.  A read
 * or write into a registered buffer (READ_FIXED, WRITE_FIXED) skips
 * pinning its pages for every request: with O_DIRECT that is the
 * get_user_pages of each I/O.  io_uring takes at most 1 GiB per buffer,
 * so a bigger arena is registered as 1 GiB pieces; a pool buffer is
 * aligned to its size and never straddles two.
 */
struct uring {
	struct io_uring ring;
	char *fixed;		/* the arena if registered, else NULL */
	size_t fixed_len;
	struct uring_fill fill;
	struct op *now_head;	/* done on the worker thread (op->now), */
	struct op **now_tail;	/* their ->done still to run, in order */
};

#define FIXED_SHIFT 30

/*
 * Without CAP_IPC_LOCK the kernel charges registered buffers to the
 * user's RLIMIT_MEMLOCK (apart from mlockall's own count): where that
 * refuses, file I/O goes on unregistered, as before.
 */
static void uring_register_arena(struct worker *w, struct uring *u)
{
	struct iovec iov[64];
	size_t len = w->pool.buddy.size, piece = (size_t)1 << FIXED_SHIFT;
	unsigned n = (len + piece - 1) >> FIXED_SHIFT;
	int ret = -E2BIG;

	if (n <= ARRAY_LEN(iov)) {
		for (unsigned i = 0; i < n; i++) {
			size_t off = (size_t)i << FIXED_SHIFT;

			iov[i] = (struct iovec){ w->pool.arena + off,
						 len - off < piece ? len - off
								   : piece };
		}
		ret = io_uring_register_buffers(&u->ring, iov, n);
	}
	if (ret < 0) {
		log_info("worker %u: buffers not registered with io_uring "
			 "(%s): file I/O pins its pages per request",
			 w->id, strerror(-ret));
		return;
	}
	u->fixed = w->pool.arena;
	u->fixed_len = len;
	w->stats.registered_buffers = 1;
}

static struct io_uring_sqe *uring_sqe(struct io_uring *ring);

/*
 * Since Linux 6.10 io_uring gives every read, write, send and receive its
 * async state when it is submitted, from a cache per ring and per kind
 * that completions refill, up to 128 (IO_ALLOC_CACHE_MAX).  Where the
 * cache is empty it calls kmalloc: the first time this worker has more
 * reads and writes in flight than ever before, say the first burst of a
 * swap-out.  On the swap path an allocation by this thread can wait on
 * reclaim that waits for the very writes it serves (docs/swap.md).  So
 * fill the caches at start: 128 one-byte reads of an empty pipe and 128
 * receives on a socket pair, all in flight at once, then answered.  Each
 * of them took its state (and its poll entry) and gives both back to the
 * ring's caches when it completes.  They come with OP_MAX_IOV iovecs, as
 * many as an op of lloop's may have, so that the state keeps an iovec
 * array that size: a vector longer than the one a cached state holds is
 * another allocation.  Older kernels need no filling, and the requests
 * do no harm there.
 *
 * A read or write the kernel cannot start without blocking (a write the
 * block layer must split, say) goes to a thread of the ring's io-wq,
 * which the kernel creates at the first such request and keeps, the
 * last one idle: one request that must go there (a no-op marked ASYNC)
 * creates it now.
 */

/* wait for n completions of our own; the first error among them */
static int uring_reap(struct io_uring *ring, unsigned n)
{
	struct io_uring_cqe *cqe;
	int ret, err = 0;

	while (n) {
		ret = io_uring_wait_cqe(ring, &cqe);
		if (ret == -EINTR)
			continue;
		if (ret < 0)
			return ret;
		if (cqe->res < 0 && !err)
			err = cqe->res;
		io_uring_cqe_seen(ring, cqe);
		n--;
	}
	return err;
}

static int uring_fill(struct io_uring *ring, struct uring_fill *f,
		      unsigned n, const int fd[2], bool sock)
{
	ssize_t wr;
	int ret;

	/* one byte each; the empty iovecs only size the state's iovec array */
	for (unsigned i = 0; i < OP_MAX_IOV; i++)
		f->iov[i] = (struct iovec){ f->buf, i == 0 };
	f->msg = (struct msghdr){ .msg_iov = f->iov, .msg_iovlen = OP_MAX_IOV };
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = uring_sqe(ring);

		if (sock)
			io_uring_prep_recvmsg(sqe, fd[0], &f->msg, 0);
		else
			io_uring_prep_readv(sqe, fd[0], f->iov, OP_MAX_IOV, 0);
		io_uring_sqe_set_data(sqe, NULL);
	}
	ret = io_uring_submit(ring);
	if (ret < 0)
		return ret;
	if (io_uring_sq_ready(ring))
		return -EAGAIN;
	wr = write(fd[1], f->buf, n);
	if (wr != (ssize_t)n)
		return wr < 0 ? -errno : -EIO;
	return uring_reap(ring, n);
}

static int uring_start_iowq(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = uring_sqe(ring);
	int ret;

	io_uring_prep_nop(sqe);
	io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
	io_uring_sqe_set_data(sqe, NULL);
	ret = io_uring_submit(ring);
	return ret < 0 ? ret : uring_reap(ring, 1);
}

/* a pair whose reads all completed is closed; after a failure it stays
 * open (two descriptors lost), so that no read left behind can ever be
 * on a descriptor number given to something else */
static int uring_fill_pair(struct io_uring *ring, struct uring_fill *f,
			   unsigned n, bool sock)
{
	int fd[2], ret;

	if (sock)
		ret = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd);
	else
		ret = pipe2(fd, O_CLOEXEC);
	if (ret < 0)
		return -errno;
	ret = uring_fill(ring, f, n, fd, sock);
	if (!ret) {
		close(fd[0]);
		close(fd[1]);
	}
	return ret;
}

static void uring_fill_caches(struct worker *w, struct uring *u)
{
	struct io_uring *ring = &u->ring;
	unsigned n = URING_CACHE_FILL;
	int ret;

	if (n > ring->cq.ring_entries)
		n = ring->cq.ring_entries;
	ret = uring_start_iowq(ring);
	if (!ret)
		ret = uring_fill_pair(ring, &u->fill, n, false);
	if (!ret)
		ret = uring_fill_pair(ring, &u->fill, n, true);
	if (ret < 0)
		log_info("worker %u: io_uring's request caches not filled "
			 "(%s): the kernel may allocate for a new peak of I/O",
			 w->id, strerror(-ret));
}

static int uring_init(struct worker *w, unsigned entries)
{
	struct io_uring_params p = { 0 };
	struct uring *u = calloc(1, sizeof(*u));
	int ret;

	if (!u)
		return -ENOMEM;
	if (entries > 32768)
		entries = 32768;
	/*
	 * Room for every op we can have in flight, so the CQ never
	 * overflows.  Only this thread uses the ring: completions can wait
	 * as task work until it next waits for them (DEFER_TASKRUN) instead
	 * of interrupting it one by one.  Older kernels refuse the newer
	 * flags: try with fewer.
	 */
	for (unsigned i = 0; i < ARRAY_LEN(setup_flags); i++) {
		p = (struct io_uring_params){
			.flags = IORING_SETUP_CQSIZE | setup_flags[i],
			.cq_entries = entries * 2,
		};
		ret = io_uring_queue_init_params(entries, &u->ring, &p);
		if (ret != -EINVAL)
			break;
	}
	if (ret < 0) {
		free(u);
		return ret;
	}
	u->now_tail = &u->now_head;
	w->eng_data = u;
	uring_register_arena(w, u);
	uring_fill_caches(w, u);
	return 0;
}

static void uring_fini(struct worker *w)
{
	struct uring *u = w->eng_data;

	if (!u)
		return;
	io_uring_queue_exit(&u->ring);
	free(u);
	w->eng_data = NULL;
	w->stats.registered_buffers = 0;
}

/* the registered piece that holds [buf, buf + len), or -1 */
static int fixed_index(const struct uring *u, const void *buf, size_t len)
{
	uintptr_t b = (uintptr_t)buf, base = (uintptr_t)u->fixed;
	size_t off = b - base;

	if (!u->fixed || b < base || off >= u->fixed_len || !len ||
	    len > u->fixed_len - off ||
	    off >> FIXED_SHIFT != (off + len - 1) >> FIXED_SHIFT)
		return -1;
	return off >> FIXED_SHIFT;
}

/* a file read or write: the fixed opcode where the buffer is registered */
static void prep_file_rw(const struct uring *u, struct io_uring_sqe *sqe,
			 const struct op *op, unsigned plain, unsigned fixed)
{
	int idx = fixed_index(u, op->buf, op->len);

	io_uring_prep_rw(idx >= 0 ? fixed : plain, sqe, op->fd, op->buf,
			 op->len, op->off);
	if (idx >= 0)
		sqe->buf_index = idx;
}

static struct io_uring_sqe *uring_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	while (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}

static void uring_submit(struct worker *w, struct op *op)
{
	struct uring *u = w->eng_data;
	struct io_uring_sqe *sqe;

	if (op->kind == OP_CALL) {
		helpers_queue(w, op);
		return;
	}
	if (op->now) {
		op->res = op_execute(op);
		stat_add(&w->stats.ops_on_worker, 1);
		op->next = NULL;
		*u->now_tail = op;
		u->now_tail = &op->next;
		return;
	}
	sqe = uring_sqe(&u->ring);
	switch (op->kind) {
	case OP_READ:
		prep_file_rw(u, sqe, op, IORING_OP_READ, IORING_OP_READ_FIXED);
		break;
	case OP_WRITE:
		prep_file_rw(u, sqe, op, IORING_OP_WRITE, IORING_OP_WRITE_FIXED);
		sqe->rw_flags = op->flags;
		break;
	case OP_FSYNC:
		io_uring_prep_fsync(sqe, op->fd, IORING_FSYNC_DATASYNC);
		break;
	case OP_FALLOCATE:
		io_uring_prep_fallocate(sqe, op->fd, op->flags, op->off,
					op->len);
		break;
	case OP_FADVISE:
		io_uring_prep_fadvise(sqe, op->fd, op->off, op->len,
				      op->flags);
		break;
	case OP_RECV:
		io_uring_prep_recv(sqe, op->fd, op->buf, op->len, 0);
		break;
	case OP_SENDMSG:
		io_uring_prep_sendmsg(sqe, op->fd, &op->msg, MSG_NOSIGNAL);
		break;
	case OP_ACCEPT:
		io_uring_prep_accept(sqe, op->fd, NULL, NULL,
				     SOCK_NONBLOCK | SOCK_CLOEXEC);
		break;
	case OP_READ_WAKE:
		io_uring_prep_read(sqe, op->fd, op->buf, op->len, 0);
		break;
	case OP_READV:
		io_uring_prep_readv(sqe, op->fd, op->msg.msg_iov,
				    op->msg.msg_iovlen, 0);
		break;
	case OP_WRITEV:
		io_uring_prep_writev(sqe, op->fd, op->msg.msg_iov,
				     op->msg.msg_iovlen, 0);
		break;
	case OP_URING_CMD:
		io_uring_prep_rw(IORING_OP_URING_CMD, sqe, op->fd, NULL, 0, 0);
		sqe->cmd_op = op->flags;
		memcpy(sqe->cmd, op->buf, 16);
		break;
	case OP_CALL:
		break; /* not reached: helpers run it */
	}
	io_uring_sqe_set_data(sqe, op);
}

static void uring_cancel(struct worker *w, struct op *op)
{
	struct uring *u = w->eng_data;
	struct io_uring_sqe *sqe = uring_sqe(&u->ring);

	io_uring_prep_cancel(sqe, op, 0);
	io_uring_sqe_set_data(sqe, NULL); /* its own completion is ignored */
}

static void uring_flush(struct worker *w)
{
	struct uring *u = w->eng_data;

	/* a failure leaves them queued for the next run, which says so */
	io_uring_submit(&u->ring);
}

/* the ->done of the ops done on this thread so far; those that their
 * callbacks submit wait for the next round, after the ring's */
static void uring_run_now(struct uring *u)
{
	struct op *op = u->now_head;

	u->now_head = NULL;
	u->now_tail = &u->now_head;
	while (op) {
		struct op *next = op->next;

		op->done(op, op->res);
		op = next;
	}
}

static int uring_run(struct worker *w)
{
	struct uring *u = w->eng_data;
	struct io_uring *ring = &u->ring;
	struct io_uring_cqe *cqes[CQE_BATCH];
	struct op *ops[CQE_BATCH];
	int res[CQE_BATCH];
	unsigned n;
	int ret;

	/* with ops done on this thread waiting for their ->done, only
	 * submit and take what has completed (GETEVENTS: completions
	 * deferred to this thread's task work are posted too) */
	if (u->now_head)
		ret = io_uring_submit_and_get_events(ring);
	else
		ret = io_uring_submit_and_wait(ring, 1);
	if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
		return ret;
	/* take a batch off the ring first: the callbacks submit more */
	n = io_uring_peek_batch_cqe(ring, cqes, CQE_BATCH);
	for (unsigned i = 0; i < n; i++) {
		ops[i] = io_uring_cqe_get_data(cqes[i]);
		res[i] = cqes[i]->res;
	}
	io_uring_cq_advance(ring, n);
	for (unsigned i = 0; i < n; i++)
		if (ops[i])
			ops[i]->done(ops[i], res[i]);
	uring_run_now(u);
	return 0;
}

const struct engine_ops uring_engine = {
	.name = "io_uring",
	.init = uring_init,
	.fini = uring_fini,
	.submit = uring_submit,
	.run = uring_run,
	.cancel = uring_cancel,
	.flush = uring_flush,
};
