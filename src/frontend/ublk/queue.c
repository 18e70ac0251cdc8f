// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The ublk queue on worker 0.  Each tag is always in one of two places:
 * with the driver (a FETCH or COMMIT_AND_FETCH command pending on the
 * worker's ring, which completes when a request for that tag arrives), or
 * with the backend.  A request's answer and the wait for the next one are
 * one command, so a busy device costs one io_uring entry per request.
 */
#include <errno.h>
#include <string.h>

#include "backend/backend.h"
#include "core/log.h"
#include "core/stats.h"
#include "frontend/ublk/proto.h"
#include "frontend/ublk/ublk.h"

#define container_of(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))

static void io_fetched(struct op *op, int res);

/* the tenant goes once no tag is with the driver or the backend */
static void dev_maybe_done(struct ublk_dev *d)
{
	for (unsigned i = 0; i < d->depth; i++)
		if (d->ios[i].fetching || d->ios[i].rq->complete)
			return;
	worker_del_tenant(d->w, &d->tenant);
}

/*
 * The driver hands our error to the block layer, which reads some as
 * more than a failure: EAGAIN as "try again without waiting", ENOMEM and
 * EBUSY as a shortage.  Only what a file system should see as it is goes
 * through; the rest is EIO.
 */
static int wire_errno(int err)
{
	switch (err) {
	case -EIO:
	case -ENOSPC:
	case -EOPNOTSUPP:
	case -ETIMEDOUT:
		return err;
	default:
		return -EIO;
	}
}

/* answer the tag's request with res (unless fetching first) and wait
 * for its next one */
static void io_command(struct ublk_io *io, unsigned cmd_op, int res)
{
	struct ublk_dev *d = io->dev;
	struct ublksrv_io_cmd *cmd = (struct ublksrv_io_cmd *)io->cmd;

	*cmd = (struct ublksrv_io_cmd){
		.q_id = 0,
		.tag = io->tag,
		.result = res < 0 ? wire_errno(res) : res,
		.addr = (uintptr_t)io->rq->buf,
	};
	io->op = (struct op){ .done = io_fetched, .kind = OP_URING_CMD,
			      .fd = d->cdev_fd, .flags = cmd_op,
			      .buf = io->cmd };
	io->fetching = true;
	d->w->eng->submit(d->w, &io->op);
}

static void io_done(struct request *rq, int res)
{
	struct ublk_io *io = rq->conn;

	if (res > 0)
		res = -EIO;	/* a short transfer is never a success */
	stats_record(rq->w, rq, res);
	stats_log_failure(rq, res);
	rq->complete = NULL;
	if (!res && (rq->type == REQ_READ || rq->type == REQ_WRITE))
		res = rq->len;	/* bytes done, which the driver wants */
	io_command(io, UBLK_U_IO_COMMIT_AND_FETCH_REQ, res);
}

/* the descriptor's operation as a request; -errno if not one we do */
static int io_decode(struct ublk_dev *d, const struct ublksrv_io_desc *iod,
		     struct request *rq)
{
	/* UBLK_IO_F_* are bits of op_flags itself, not of
	 * ublksrv_get_flags(), which shifts them away */
	uint32_t op = ublksrv_get_op(iod), flags = iod->op_flags;
	uint64_t size = d->exp->be->size;

	rq->offset = iod->start_sector << 9;
	rq->len = (uint64_t)iod->nr_sectors << 9;
	rq->flags = 0;
	switch (op) {
	case UBLK_IO_OP_READ:
		rq->type = REQ_READ;
		break;
	case UBLK_IO_OP_WRITE:
		rq->type = REQ_WRITE;
		if (flags & UBLK_IO_F_FUA)
			rq->flags |= REQ_FUA;
		break;
	case UBLK_IO_OP_FLUSH:
		rq->type = REQ_FLUSH;
		rq->offset = rq->len = 0;
		return 0;	/* read-only too: fsync of a reader succeeds */
	case UBLK_IO_OP_DISCARD:
		rq->type = REQ_TRIM;
		break;
	case UBLK_IO_OP_WRITE_ZEROES:
		rq->type = REQ_ZERO;
		if (flags & UBLK_IO_F_NOUNMAP)
			rq->flags |= REQ_NO_HOLE;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (rq->len > size || rq->offset > size - rq->len)
		return -EIO;
	if ((rq->type == REQ_READ || rq->type == REQ_WRITE) &&
	    rq->len > d->max_io)
		return -EIO;
	if (rq->type != REQ_READ && d->exp->read_only)
		return -EROFS;
	if ((rq->type == REQ_TRIM && !d->exp->be->can_trim) ||
	    (rq->type == REQ_ZERO && !d->exp->be->can_zero))
		return -EOPNOTSUPP;
	return 0;
}

static void io_fetched(struct op *op, int res)
{
	struct ublk_io *io = container_of(op, struct ublk_io, op);
	struct ublk_dev *d = io->dev;
	const struct ublksrv_io_desc *iod;
	struct request *rq = io->rq;
	int err;

	io->fetching = false;
	if (res != UBLK_IO_RES_OK) {
		/* the device stops (-ENODEV), or we cancelled: done */
		if (res != UBLK_IO_RES_ABORT && res != -ECANCELED &&
		    !d->stopping)
			log_warn("%s: tag %u: %s", d->device, io->tag,
				 strerror(-res));
		dev_maybe_done(d);
		return;
	}
	iod = (const struct ublksrv_io_desc *)d->descs + io->tag;
	rq->w = d->w;
	rq->exp = d->exp;
	rq->be = d->exp->be;
	rq->data = rq->buf;
	rq->complete = io_done;
	rq->start_ns = stats_now_ns();
	err = io_decode(d, iod, rq);
	if (err) {
		rq->complete = NULL;
		io_command(io, UBLK_U_IO_COMMIT_AND_FETCH_REQ, err);
		return;
	}
	backend_submit(rq->be, rq);
}

static void dev_stop(struct tenant *t, bool force)
{
	struct ublk_dev *d = container_of(t, struct ublk_dev, tenant);

	/* normally STOP_DEV has ended the fetches; forced, we do */
	if (!force)
		return;
	for (unsigned i = 0; i < d->depth; i++)
		if (d->ios[i].fetching)
			d->w->eng->cancel(d->w, &d->ios[i].op);
}

/* the fetches are in the driver when the lock is given back, or never */
static void dev_begin(struct task *t)
{
	struct ublk_dev *d = container_of(t, struct ublk_dev, start);

	pthread_mutex_lock(&d->begin_lock);
	if (!d->stopping) {
		d->begun = true;
		worker_add_tenant(d->w, &d->tenant);
		for (unsigned i = 0; i < d->depth; i++)
			io_command(&d->ios[i], UBLK_U_IO_FETCH_REQ, 0);
		if (d->w->eng->flush)
			d->w->eng->flush(d->w);
	}
	pthread_mutex_unlock(&d->begin_lock);
}

void ublk_queue_init(struct ublk_dev *d)
{
	pthread_mutex_init(&d->begin_lock, NULL);
	d->tenant.stop = dev_stop;
	d->start.run = dev_begin;
}
