// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The FUSE protocol for one file, and its /dev/fuse transport.  Opcodes:
 * INIT, LOOKUP, GETATTR, SETATTR (size only), OPEN (always
 * FOPEN_DIRECT_IO), READ, WRITE, FSYNC, FLUSH, RELEASE, FALLOCATE (punch
 * hole, zero range), STATFS, FORGET, BATCH_FORGET, INTERRUPT, DESTROY;
 * anything else ENOSYS.  The same handlers answer requests that come
 * through FUSE over io_uring (uring.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/align.h"
#include "core/log.h"
#include "frontend/fuse/transport.h"

#define container_of(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))
#define REPLY_OFF 96 /* /dev/fuse: the out header in rq->hdr */
#define ATTR_VALID 3600

#ifndef FUSE_ASYNC_DIO
#define FUSE_ASYNC_DIO (1 << 15)
#endif
/* FUSE passthrough (7.40, Linux 6.9), newer than the headers here */
#define PT_FLAG2 (1u << (37 - 32)) /* FUSE_PASSTHROUGH, in flags2 */
#define PT_MINOR 40
#define FOPEN_PASSTHROUGH_ (1u << 7)
struct fuse_backing_map_ {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define FUSE_DEV_IOC_BACKING_OPEN_                                             \
	_IOW(FUSE_DEV_IOC_MAGIC, 1, struct fuse_backing_map_)
/*
 * Two fields of 7.40 that older headers call unused[0] and padding, and
 * newer ones by their names: written by their place, which is the same
 * in every version, so that the source means the same with any headers.
 */
#define INIT_OUT_MAX_STACK_DEPTH 36	/* right after flags2 */
#define OPEN_OUT_BACKING_ID 12		/* right after open_flags */
_Static_assert(offsetof(struct fuse_init_out, flags2) + 4 ==
		       INIT_OUT_MAX_STACK_DEPTH, "fuse_init_out");
_Static_assert(offsetof(struct fuse_open_out, open_flags) + 4 ==
		       OPEN_OUT_BACKING_ID, "fuse_open_out");

static void put_u32_at(void *s, size_t off, uint32_t v)
{
	memcpy((char *)s + off, &v, sizeof(v));
}

static void slot_arm(struct request *rq);

static struct fuse_session *rq_session(struct request *rq)
{
	return rq->conn;
}

/* ---- replies ---- */

void fuse_live_put(struct fuse_session *fs)
{
	if (--fs->live_slots == 0) {
		log_debug("fuse: session over");
		fuse_uring_free(fs);
		worker_del_tenant(fs->w, &fs->tenant);
	}
}

static void slot_released(struct fuse_session *fs, struct request *rq)
{
	fuse_uring_dev_ended(fs);
	pool_put_request(&fs->w->pool, rq);
	worker_pool_returned(fs->w);
	fuse_live_put(fs);
}

static void reply_sent(struct op *op, int res)
{
	struct request *rq = (struct request *)op;
	struct fuse_session *fs = rq_session(rq);

	/* ENOENT: the request was interrupted meanwhile; nothing to do */
	if (res < 0 && res != -ENOENT && !fs->ended)
		log_warn("fuse: reply: %s", strerror(-res));
	if (rq == fs->init_rq) {
		fs->init_rq = NULL;
		fuse_uring_init_replied(fs, res);
	}
	slot_arm(rq);
}

/*
 * Whether the worker writes a reply to /dev/fuse at once, by itself,
 * rather than as a ring entry.  Either way this thread does the write
 * (io_uring can poll /dev/fuse, always writable), but a ring entry is
 * written only at the next io_uring_enter, and its completion is seen a
 * round after that.  Measured with fio 4k reads on tmpfs: at depth 1,
 * at once gives 1.2-1.4 times the IOPS; at depth 32, every reply at
 * once gives 0.75 times: there one io_uring_enter writes a batch.
 */
#define REPLY_NOW_MAX_SERVING 4

static bool reply_now(const struct fuse_session *fs)
{
	return fs->nr_slots - fs->armed <= REPLY_NOW_MAX_SERVING;
}

/* /dev/fuse: the out header from rq->hdr, then len bytes at body */
static void dev_reply(struct request *rq, int err, const void *body,
		      size_t len)
{
	struct fuse_session *fs = rq_session(rq);
	struct fuse_out_header *oh = (void *)(rq->hdr + REPLY_OFF);

	oh->len = sizeof(*oh) + len;
	oh->error = err;
	oh->unique = rq->cookie;
	rq->iov[0] = (struct iovec){ oh, sizeof(*oh) };
	rq->iov[1] = (struct iovec){ (void *)body, len };
	rq->iovcnt = len ? 2 : 1;
	rq->op = (struct op){ .done = reply_sent, .kind = OP_WRITEV,
			      .fd = fs->fd, .now = reply_now(fs) };
	rq->op.msg.msg_iov = rq->iov;
	rq->op.msg.msg_iovlen = rq->iovcnt;
	rq->w->eng->submit(rq->w, &rq->op);
}

/*
 * Answer rq by the way it came: an error, or len bytes at body (rq->buf,
 * where handlers build their reply structs, or a read's rq->data).
 */
static void reply_send(struct request *rq, int err, const void *body,
		       size_t len)
{
	if (err)
		len = 0;
	if (rq->wire_flags & FUSE_RQ_RING)
		fuse_uring_reply(rq, err, body, len);
	else
		dev_reply(rq, err, body, len);
}

static void reply_err(struct request *rq, int err)
{
	reply_send(rq, err, NULL, 0);
}

/*
 * Where a reply's struct goes: the slot's buffer, whose request data
 * (if any) has been used by then.  rq->hdr is too small for some.
 */
static void *reply_body(struct request *rq)
{
	return rq->buf;
}

static void reply_struct(struct request *rq, size_t len)
{
	reply_send(rq, 0, rq->buf, len);
}

/* a request that takes no reply: the slot or the entry goes on */
static void reply_none(struct request *rq)
{
	if (rq->wire_flags & FUSE_RQ_RING)
		fuse_uring_reply(rq, 0, NULL, 0); /* a fetch needs a commit */
	else
		slot_arm(rq);
}

/* ---- attributes ---- */

static void fill_attr(struct fuse_session *fs, struct fuse_attr *a)
{
	uint64_t size = fs->exp->be->size;

	memset(a, 0, sizeof(*a));
	a->ino = fs->ino;
	a->size = size;
	a->blocks = (size + 511) / 512;
	a->mode = S_IFREG | (fs->read_only ? 0400 : 0600);
	a->nlink = 1;
	a->blksize = fs->exp->be->preferred;
}

static void op_init(struct fuse_session *fs, struct request *rq,
		    const struct fuse_init_in *in)
{
	struct fuse_init_out *out = reply_body(rq);

	/* a second INIT would re-open passthrough and the ring behind the
	 * first one's back */
	if (fs->inited) {
		log_warn("fuse: a second INIT: refused");
		reply_err(rq, -EPROTO);
		return;
	}
	if (in->major != FUSE_KERNEL_VERSION) {
		log_error("fuse: kernel protocol %u.%u, we speak %u.x",
			  in->major, in->minor, FUSE_KERNEL_VERSION);
		reply_err(rq, -EPROTO);
		return;
	}
	fs->proto_minor = in->minor < FUSE_KERNEL_MINOR_VERSION ?
				  in->minor :
				  FUSE_KERNEL_MINOR_VERSION;
	memset(out, 0, sizeof(*out));
	/* flags2 exists only with INIT_EXT, and is in the request only then */
	if (fs->want_passthrough && in->minor >= PT_MINOR &&
	    (in->flags & FUSE_INIT_EXT) && (in->flags2 & PT_FLAG2)) {
		fs->passthrough = true;
		fs->proto_minor = PT_MINOR;
		out->flags |= FUSE_INIT_EXT;
		out->flags2 = PT_FLAG2;
		/* the image sits on an ordinary file system: one level */
		put_u32_at(out, INIT_OUT_MAX_STACK_DEPTH, 1);
	} else if (fs->want_passthrough) {
		log_info("fuse: the kernel offers no passthrough: serving "
			 "reads and writes through the engine");
	}
	out->max_background = fs->nr_slots;
	if (fs->ring && fuse_uring_grant(fs, in)) {
		out->flags |= FUSE_INIT_EXT;
		out->flags2 |= FUSE_URING_FLAG2;
		out->max_background = fuse_uring_entries(fs);
		fs->init_rq = rq; /* register once the kernel has the reply */
	}
	out->major = FUSE_KERNEL_VERSION;
	out->minor = fs->proto_minor;
	out->max_readahead = in->max_readahead;
	out->flags |= (FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES |
		       FUSE_ASYNC_DIO) &
		      in->flags;
	out->congestion_threshold = out->max_background * 3 / 4;
	out->max_write = FUSE_MAX_WRITE;
	out->time_gran = 1;
	/* in the kernel's pages: max_pages * PAGE_SIZE must not pass what
	 * a ring entry's payload holds (64 KiB pages on some arm64, ppc64) */
	out->max_pages = FUSE_MAX_WRITE / sysconf(_SC_PAGESIZE) ?: 1;
	log_debug("fuse: protocol 7.%u, max_write %u", fs->proto_minor,
		  out->max_write);
	fs->inited = true;
	reply_struct(rq, sizeof(*out));
}

static void op_getattr(struct fuse_session *fs, struct request *rq)
{
	struct fuse_attr_out *out = reply_body(rq);

	memset(out, 0, sizeof(*out));
	out->attr_valid = ATTR_VALID;
	fill_attr(fs, &out->attr);
	reply_struct(rq, sizeof(*out));
}

static void op_setattr(struct fuse_session *fs, struct request *rq,
		       const struct fuse_setattr_in *in)
{
	/* the size of an image is its own; other attributes are ignored */
	if ((in->valid & FATTR_SIZE) && in->size != fs->exp->be->size) {
		reply_err(rq, -EINVAL);
		return;
	}
	op_getattr(fs, rq);
}

static void op_open_reply(struct fuse_session *fs, struct request *rq,
			  uint32_t flags)
{
	struct fuse_open_out *out = reply_body(rq);

	if (fs->read_only && (flags & O_ACCMODE) != O_RDONLY) {
		reply_err(rq, -EROFS);
		return;
	}
	memset(out, 0, sizeof(*out));
	out->fh = 1;
	if (fs->passthrough && fs->backing_id >= 0) {
		/* reads and writes go to the file; we answer the rest */
		out->open_flags = FOPEN_PASSTHROUGH_;
		put_u32_at(out, OPEN_OUT_BACKING_ID, fs->backing_id);
		atomic_store(&fs->passthrough_used, true);
	} else {
		out->open_flags = FOPEN_DIRECT_IO |
				  FOPEN_PARALLEL_DIRECT_WRITES;
	}
	reply_struct(rq, sizeof(*out));
}

/* on a helper thread: an ioctl, once per session */
static int backing_open_call(void *arg)
{
	struct request *rq = arg;
	struct fuse_session *fs = rq_session(rq);
	struct fuse_backing_map_ map = { .fd = fs->backing_fd };
	int id = ioctl(fs->fd, FUSE_DEV_IOC_BACKING_OPEN_, &map);

	return id < 0 ? -errno : id;
}

static void backing_opened(struct op *op, int res)
{
	struct request *rq = (struct request *)op;
	struct fuse_session *fs = rq_session(rq);

	fs->backing_opening = false;
	if (res < 0) {
		log_warn("fuse: FUSE_DEV_IOC_BACKING_OPEN: %s: serving reads "
			 "and writes through the engine",
			 strerror(-res));
		fs->passthrough = false;
	} else {
		fs->backing_id = res;
	}
	op_open_reply(fs, rq, rq->stage);
}

static void op_open(struct fuse_session *fs, struct request *rq,
		    const struct fuse_open_in *in)
{
	/*
	 * One backing file per session: an OPEN that comes while the first
	 * one's ioctl is still on the helper is served through the engine.
	 */
	if (fs->passthrough && fs->backing_id < 0 && !fs->backing_opening) {
		/* the open's flags wait in the slot while the helper works */
		fs->backing_opening = true;
		rq->stage = in->flags;
		rq->op = (struct op){ .done = backing_opened, .kind = OP_CALL,
				      .fn = backing_open_call, .arg = rq };
		fs->w->eng->submit(fs->w, &rq->op);
		return;
	}
	op_open_reply(fs, rq, in->flags);
}

static void op_statfs(struct fuse_session *fs, struct request *rq)
{
	struct fuse_statfs_out *out = reply_body(rq);
	uint32_t bs = fs->exp->be->preferred;

	memset(out, 0, sizeof(*out));
	out->st.blocks = fs->exp->be->size / bs;
	out->st.bsize = bs;
	out->st.frsize = bs;
	out->st.files = 1;
	out->st.namelen = 255;
	reply_struct(rq, sizeof(*out));
}

/* ---- block I/O through the backend ---- */

/*
 * A backend's error as a reply may carry it.  The kernel takes no reply
 * whose error is outside -1..-511 (a kernel code that NFS lets out, say),
 * and the request would never end; and it takes ENOSYS as "never send
 * this again": after a failed FSYNC, every fsync would succeed unseen.
 */
static int io_errno(int err)
{
	return err < -511 || err == -ENOSYS ? -EIO : err;
}

static void io_done(struct request *rq, int res)
{
	if (res > 0)
		res = -EIO; /* a short transfer is never a success */
	stats_record(rq->w, rq, res);
	stats_log_failure(rq, res);
	if (res < 0) {
		reply_err(rq, io_errno(res));
		return;
	}
	if (rq->type == REQ_READ) {
		reply_send(rq, 0, rq->data, rq->len);
	} else if (rq->type == REQ_WRITE) {
		struct fuse_write_out *out = reply_body(rq);

		memset(out, 0, sizeof(*out));
		out->size = rq->len;
		reply_struct(rq, sizeof(*out));
	} else {
		reply_struct(rq, 0);
	}
}

static void io_submit(struct fuse_session *fs, struct request *rq, int type,
		      uint64_t off, uint64_t len, int flags)
{
	rq->type = type;
	rq->flags = flags;
	rq->offset = off;
	rq->len = len;
	rq->exp = fs->exp;
	rq->be = fs->exp->be;
	rq->complete = io_done;
	rq->start_ns = stats_now_ns();
	backend_submit(rq->be, rq);
}

static void op_read(struct fuse_session *fs, struct request *rq,
		    const struct fuse_read_in *in)
{
	uint64_t size = fs->exp->be->size, len = in->size;

	if (in->offset >= size) {
		reply_struct(rq, 0); /* end of file: no data */
		return;
	}
	if (len > size - in->offset)
		len = size - in->offset;
	if (len > FUSE_MAX_WRITE) {
		reply_err(rq, -EINVAL);
		return;
	}
	rq->type = REQ_READ;
	rq->offset = in->offset;
	rq->len = len;
	request_buffer_len(rq, fs->exp->be->align);
	request_place_data(rq);
	io_submit(fs, rq, REQ_READ, in->offset, len, 0);
}

static void op_write(struct fuse_session *fs, struct request *rq,
		     const struct fuse_write_in *in, size_t got)
{
	uint64_t size = fs->exp->be->size, len = in->size;

	if (fs->read_only) {
		reply_err(rq, -EROFS);
		return;
	}
	if (in->size > FUSE_MAX_WRITE || got != in->size) {
		reply_err(rq, -EINVAL);
		return;
	}
	/* the image does not grow: a write across its end is cut short
	 * there, as on a block device, and one past it has no room */
	if (in->offset >= size) {
		reply_err(rq, -ENOSPC);
		return;
	}
	if (len > size - in->offset)
		len = size - in->offset;
	/* the data came in at buf[0]; an unaligned write wants it past the
	 * bounce head, where the read-modify-write expects it */
	rq->type = REQ_WRITE;
	rq->offset = in->offset;
	rq->len = len;
	request_buffer_len(rq, fs->exp->be->align);
	request_place_data(rq);
	if (rq->data != rq->buf)
		memmove(rq->data, rq->buf, rq->len);
	io_submit(fs, rq, REQ_WRITE, in->offset, len, 0);
}

static void op_fallocate(struct fuse_session *fs, struct request *rq,
			 const struct fuse_fallocate_in *in)
{
	uint32_t punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	uint32_t zero = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	uint64_t size = fs->exp->be->size, len = in->length;

	if (fs->read_only) {
		reply_err(rq, -EROFS);
		return;
	}
	if (in->mode != 0 && in->mode != FALLOC_FL_KEEP_SIZE &&
	    in->mode != punch && in->mode != zero &&
	    in->mode != FALLOC_FL_ZERO_RANGE) {
		reply_err(rq, -EOPNOTSUPP);
		return;
	}
	/*
	 * The image does not grow.  Without KEEP_SIZE the caller wants the
	 * file to reach offset + length (the kernel takes success as that
	 * size): past the end there is no room.  With it, the part past the
	 * end is nothing to do, as on any file.
	 */
	if (!(in->mode & FALLOC_FL_KEEP_SIZE) &&
	    !range_in_bounds(in->offset, in->length, size)) {
		reply_err(rq, -ENOSPC);
		return;
	}
	/* allocating is the backend's business; so is a range past the end */
	if (!(in->mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) ||
	    in->offset >= size || !in->length) {
		reply_struct(rq, 0);
		return;
	}
	if (len > size - in->offset)
		len = size - in->offset;
	/* a punched hole must read back as zeroes: that is WRITE_ZEROES */
	io_submit(fs, rq, REQ_ZERO, in->offset, len,
		  in->mode == punch ? 0 : REQ_NO_HOLE);
}

/* ---- dispatch ---- */

void fuse_dispatch(struct fuse_session *fs, struct request *rq,
		   const struct fuse_in_header *ih, const void *args,
		   size_t args_len, size_t data_len)
{
	size_t need = 0;

	switch (ih->opcode) {
	case FUSE_INIT:
		need = offsetof(struct fuse_init_in, flags2);
		break;
	case FUSE_SETATTR:
		need = sizeof(struct fuse_setattr_in);
		break;
	case FUSE_OPEN:
		need = sizeof(struct fuse_open_in);
		break;
	case FUSE_READ:
		need = sizeof(struct fuse_read_in);
		break;
	case FUSE_WRITE:
		need = sizeof(struct fuse_write_in);
		break;
	case FUSE_FALLOCATE:
		need = sizeof(struct fuse_fallocate_in);
		break;
	}
	if (args_len < need) {
		reply_err(rq, -EINVAL);
		return;
	}
	switch (ih->opcode) {
	case FUSE_INIT:
		/* INIT comes by /dev/fuse only: the ring starts after it */
		if (rq->wire_flags & FUSE_RQ_RING)
			reply_err(rq, -EPROTO);
		else
			op_init(fs, rq, args);
		return;
	case FUSE_GETATTR:
		op_getattr(fs, rq);
		return;
	case FUSE_SETATTR:
		op_setattr(fs, rq, args);
		return;
	case FUSE_LOOKUP:
		reply_err(rq, -ENOENT); /* a file has no entries */
		return;
	case FUSE_OPEN:
		op_open(fs, rq, args);
		return;
	case FUSE_READ:
		op_read(fs, rq, args);
		return;
	case FUSE_WRITE:
		op_write(fs, rq, args, data_len);
		return;
	case FUSE_FSYNC:
		io_submit(fs, rq, REQ_FLUSH, 0, 0, 0);
		return;
	case FUSE_FLUSH:
	case FUSE_RELEASE:
		reply_struct(rq, 0);
		return;
	case FUSE_FALLOCATE:
		op_fallocate(fs, rq, args);
		return;
	case FUSE_STATFS:
		op_statfs(fs, rq);
		return;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		reply_none(rq); /* these take no reply */
		return;
	case FUSE_DESTROY:
		fs->ended = true;
		reply_struct(rq, 0);
		return;
	default:
		reply_err(rq, -ENOSYS);
		return;
	}
}

/*
 * /dev/fuse: got bytes, the first FUSE_IN_SPLIT in rq->hdr and the rest
 * at rq->buf.  The arguments are made contiguous in fs->scratch, except
 * a write's, which are in rq->hdr whole while its data stays put.
 */
static void dev_dispatch(struct fuse_session *fs, struct request *rq,
			 size_t got)
{
	const struct fuse_in_header *ih = (const void *)rq->hdr;
	size_t tail = got > FUSE_IN_SPLIT ? got - FUSE_IN_SPLIT : 0;
	size_t head = FUSE_IN_SPLIT - sizeof(*ih); /* args in rq->hdr */

	rq->cookie = ih->unique;
	if (got < sizeof(*ih) || ih->len != got) {
		log_error("fuse: malformed request (%zu bytes, says %u)", got,
			  got >= sizeof(*ih) ? ih->len : 0);
		reply_err(rq, -EIO);
		return;
	}
	if (ih->opcode == FUSE_WRITE) {
		if (got < FUSE_IN_SPLIT)
			head = got - sizeof(*ih);
		fuse_dispatch(fs, rq, ih, ih + 1, head, tail);
		return;
	}
	if (tail > sizeof(fs->scratch) - FUSE_IN_SPLIT)
		tail = sizeof(fs->scratch) - FUSE_IN_SPLIT;
	memcpy(fs->scratch, rq->hdr, FUSE_IN_SPLIT);
	memcpy(fs->scratch + FUSE_IN_SPLIT, rq->buf, tail);
	fuse_dispatch(fs, rq, ih, fs->scratch + sizeof(*ih), got - sizeof(*ih),
		      0);
}

static void slot_read_done(struct op *op, int res)
{
	struct request *rq = (struct request *)op;
	struct fuse_session *fs = rq_session(rq);

	fs->armed--;
	if (res == -ENOENT || res == -EINTR || res == -EAGAIN) {
		slot_arm(rq); /* an interrupted request, or nothing yet */
		return;
	}
	if (res < 0) {
		/* ENODEV: unmounted or aborted; ECANCELED: we stop */
		if (res != -ENODEV && res != -ECANCELED)
			log_error("fuse: reading /dev/fuse: %s", strerror(-res));
		fs->ended = true;
		slot_released(fs, rq);
		return;
	}
	dev_dispatch(fs, rq, res);
}

void fuse_rq_reset(struct fuse_session *fs, struct request *rq)
{
	char *buf = rq->buf;
	uint64_t buf_len = rq->buf_len;

	memset(rq, 0, offsetof(struct request, hdr));
	rq->w = fs->w;
	rq->conn = fs;
	rq->buf = buf;
	rq->buf_len = buf_len;
}

static void slot_arm(struct request *rq)
{
	struct fuse_session *fs = rq_session(rq);

	if (fs->ended || fs->w->stopping) {
		slot_released(fs, rq);
		return;
	}
	fs->armed++;
	fuse_rq_reset(fs, rq);
	rq->iov[0] = (struct iovec){ rq->hdr, FUSE_IN_SPLIT };
	rq->iov[1] = (struct iovec){ rq->buf, FUSE_MAX_WRITE + 4096 };
	rq->op = (struct op){ .done = slot_read_done, .kind = OP_READV,
			      .fd = fs->fd };
	rq->op.msg.msg_iov = rq->iov;
	rq->op.msg.msg_iovlen = 2;
	fs->w->eng->submit(fs->w, &rq->op);
}

static void session_stop(struct tenant *t, bool force)
{
	struct fuse_session *fs = container_of(t, struct fuse_session, tenant);

	fuse_uring_stop(fs, force);
	/* normally the unmount ends the reads with ENODEV; forced, we do */
	if (!force)
		return;
	fs->ended = true;
	for (unsigned i = 0; i < fs->nr_slots; i++)
		if (fs->slots[i])
			fs->w->eng->cancel(fs->w, &fs->slots[i]->op);
}

static void session_begin(struct task *t)
{
	struct fuse_session *fs = container_of(t, struct fuse_session, start);

	worker_add_tenant(fs->w, &fs->tenant);
	fs->live_slots = fs->nr_slots;
	if (fs->want_uring)
		fs->live_slots += fuse_uring_setup(fs);
	for (unsigned i = 0; i < fs->nr_slots; i++)
		slot_arm(fs->slots[i]);
}

int fuse_session_init(struct fuse_session *fs, struct server *srv,
		      struct export *exp, int fd, unsigned nr_slots,
		      bool passthrough)
{
	struct worker *w = &srv->workers[0];

	memset(fs, 0, sizeof(*fs));
	fs->srv = srv;
	fs->exp = exp;
	fs->w = w;
	fs->fd = fd;
	fs->read_only = exp->read_only;
	fs->backing_id = -1;
	fs->ino = FUSE_ROOT_ID;
	fs->backing_fd = exp->be->ops->passthrough_fd ?
				 exp->be->ops->passthrough_fd(exp->be) :
				 -ENOTSUP;
	fs->want_passthrough = passthrough && fs->backing_fd >= 0;
	fs->tenant.stop = session_stop;
	fs->start.run = session_begin;
	fs->slots = calloc(nr_slots, sizeof(*fs->slots));
	if (!fs->slots)
		return -ENOMEM;
	for (unsigned i = 0; i < nr_slots; i++) {
		struct request *rq = pool_take_request(&w->pool);

		if (!rq)
			return -ENOMEM;
		rq->buf = pool_take_buffer(&w->pool, FUSE_SLOT_BUF_LEN);
		if (!rq->buf)
			return -ENOMEM;
		rq->buf_len = FUSE_SLOT_BUF_LEN;
		rq->conn = fs;
		fs->slots[i] = rq;
		fs->nr_slots++;
	}
	return 0;
}

void fuse_session_start(struct fuse_session *fs)
{
	if (fs->want_uring && fuse_uring_prepare(fs) < 0)
		fs->want_uring = false;
	worker_post(fs->w, &fs->start);
}
