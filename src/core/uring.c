// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The io_uring engine: one ring per worker carries socket and file I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/engine.h"
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

static int uring_init(struct worker *w, unsigned entries)
{
	struct io_uring_params p = { 0 };
	struct io_uring *ring = calloc(1, sizeof(*ring));
	int ret;

	if (!ring)
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
		ret = io_uring_queue_init_params(entries, ring, &p);
		if (ret != -EINVAL)
			break;
	}
	if (ret < 0) {
		free(ring);
		return ret;
	}
	w->eng_data = ring;
	return 0;
}

static void uring_fini(struct worker *w)
{
	struct io_uring *ring = w->eng_data;

	if (!ring)
		return;
	io_uring_queue_exit(ring);
	free(ring);
	w->eng_data = NULL;
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
	struct io_uring *ring = w->eng_data;
	struct io_uring_sqe *sqe;

	if (op->kind == OP_CALL) {
		helpers_queue(w, op);
		return;
	}
	sqe = uring_sqe(ring);
	switch (op->kind) {
	case OP_READ:
		io_uring_prep_read(sqe, op->fd, op->buf, op->len, op->off);
		break;
	case OP_WRITE:
		io_uring_prep_write(sqe, op->fd, op->buf, op->len, op->off);
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
	struct io_uring_sqe *sqe = uring_sqe(w->eng_data);

	io_uring_prep_cancel(sqe, op, 0);
	io_uring_sqe_set_data(sqe, NULL); /* its own completion is ignored */
}

static int uring_run(struct worker *w)
{
	struct io_uring *ring = w->eng_data;
	struct io_uring_cqe *cqes[CQE_BATCH];
	struct op *ops[CQE_BATCH];
	int res[CQE_BATCH];
	unsigned n;
	int ret;

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
	return 0;
}

const struct engine_ops uring_engine = {
	.name = "io_uring",
	.init = uring_init,
	.fini = uring_fini,
	.submit = uring_submit,
	.run = uring_run,
	.cancel = uring_cancel,
};
