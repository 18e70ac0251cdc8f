// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The file backend: a regular file or a block device, through the
 * worker's engine.  O_DIRECT by default so that the page cache of the
 * image (often on Lustre) is not a second copy of the client's cache.
 *
 *   READ/WRITE      read/write; unaligned ones through a bounce span,
 *                   writes with a read-modify-write of the edge blocks
 *   FUA             RWF_DSYNC on the write, else fdatasync after
 *   FLUSH           fdatasync
 *   TRIM            fallocate(PUNCH_HOLE|KEEP_SIZE), advisory
 *   WRITE_ZEROES    PUNCH_HOLE, or ZERO_RANGE with NO_HOLE, else writes
 *   CACHE           fadvise(WILLNEED)
 *   BLOCK_STATUS    SEEK_DATA/SEEK_HOLE on a helper thread
 *
 * A block device takes the same fallocate modes.  The kernel turns
 * PUNCH_HOLE into a write-zeroes that may unmap and that fails where the
 * device has none (so a trim is then nothing: it is advisory), and
 * ZERO_RANGE into one that keeps the space, writing zeroes itself where
 * the device cannot.  Neither is a discard.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backend/align.h"
#include "backend/backend.h"
#include "backend/rmw.h"
#include "core/fileline.h"
#include "core/log.h"
#include "core/worker.h"

#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN 0x00002000U
#endif

#define ZERO_BUF_LEN (1024 * 1024)
#define DEFAULT_DIO_ALIGN 4096
/*
 * The longest read or write of a file in memory done on the worker
 * thread (memory_fs): a longer copy costs more than the switch to an
 * io-wq thread saves, and there it runs beside the worker, on another
 * core (1 MiB reads at depth 8: 0.84 times the throughput inline).
 */
#define NOW_MAX_LEN (64 * 1024)

struct file {
	struct backend b;
	int fd;			/* O_DIRECT unless --cache=writeback */
	int fd_buffered;	/* the unaligned tail, zero-write fallback */
	bool direct;
	bool blockdev;
	bool hw_zero;		/* a device that does write-zeroes itself */
	bool now;		/* reads and writes on the worker (memory_fs) */
	char *path;
	char *zero_buf;
	struct rmw_guard guard;
};

enum { W_HEAD = 1, W_TAIL, W_SPAN, Z_PUNCH, Z_RANGE, Z_WRITE, X_SYNC };

static struct file *to_file(struct backend *b)
{
	return (struct file *)b;
}

static struct request *op_rq(struct op *op)
{
	return (struct request *)op; /* op is the first member */
}

static struct file *rq_file(struct request *rq)
{
	return to_file(rq->be);
}

/*
 * A read or write of a file in memory, done on the worker (memory_fs),
 * while the machine has no swap.  With swap, a page of the image may be
 * out on it, and the read would wait for it, with the whole worker: if
 * that swap is a device this worker serves, for ever.  (sysinfo is asked
 * once per round: a swapon in the same round is not seen; the page must
 * also have been written out to it since.)
 */
static bool now_ok(struct request *rq, enum op_kind kind, uint64_t len)
{
	return rq_file(rq)->now && len <= NOW_MAX_LEN &&
	       (kind == OP_READ || kind == OP_WRITE) &&
	       !worker_swap_on(rq->w);
}

static void submit(struct request *rq, enum op_kind kind, int fd, void *buf,
		   uint64_t len, uint64_t off, int flags,
		   void (*done)(struct op *, int))
{
	rq->op = (struct op){
		.done = done,
		.kind = kind,
		.fd = fd,
		.buf = buf,
		.len = len,
		.off = off,
		.flags = flags,
		.now = now_ok(rq, kind, len),
	};
	rq->w->eng->submit(rq->w, &rq->op);
}

/* finish with an fdatasync when FUA asks for it */
static void sync_done(struct op *op, int res)
{
	struct request *rq = op_rq(op);

	rq->complete(rq, res < 0 ? res : 0);
}

static void complete_fua(struct request *rq, int res)
{
	if (res < 0 || !(rq->flags & REQ_FUA)) {
		rq->complete(rq, res);
		return;
	}
	submit(rq, OP_FSYNC, rq_file(rq)->fd, NULL, 0, 0, 0, sync_done);
}

/* a short transfer goes on from where it stopped */
static bool continue_short(struct op *op, int res)
{
	if ((uint64_t)res >= op->len)
		return false;
	op->buf = (char *)op->buf + res;
	op->len -= res;
	op->off += res;
	op->res = 0;
	op_rq(op)->w->eng->submit(op_rq(op)->w, op);
	return true;
}

/* the unaligned tail of a file whose size is not a block multiple */
static bool past_aligned_end(struct file *f, struct request *rq)
{
	return rq->span_off + rq->span_len > f->b.size;
}

static bool use_direct_exact(struct file *f, struct request *rq)
{
	return !f->direct || is_aligned(rq->offset, rq->len, f->b.align);
}

static void read_done(struct op *op, int res)
{
	struct request *rq = op_rq(op);

	if (res == 0 && op->len)
		res = -EIO; /* the file shrank under us */
	if (res > 0 && continue_short(op, res))
		return;
	rq->complete(rq, res < 0 ? res : 0);
}

static void file_read(struct backend *b, struct request *rq)
{
	struct file *f = to_file(b);

	if (use_direct_exact(f, rq))
		submit(rq, OP_READ, f->fd, rq->data, rq->len, rq->offset, 0,
		       read_done);
	else if (past_aligned_end(f, rq))
		submit(rq, OP_READ, f->fd_buffered, rq->data, rq->len,
		       rq->offset, 0, read_done);
	else
		submit(rq, OP_READ, f->fd, rq->buf, rq->span_len, rq->span_off,
		       0, read_done);
}

static int rwf(struct request *rq)
{
	return rq->flags & REQ_FUA ? RWF_DSYNC : 0;
}

/* a write that waited for the guard: from the start, woken */
static void retry_write(struct task *t)
{
	struct request *rq =
		(struct request *)((char *)t - offsetof(struct request, task));

	backend_submit(&rq_file(rq)->b, rq);
}

/*
 * Hold blocks first..last for a write in the guard (backend/rmw.h) while it
 * runs.  Without O_DIRECT every write goes through the page cache and none
 * reads-modifies-writes: nothing to hold.  false: it waits, and starts
 * again when woken.
 */
static bool guard_begin(struct file *f, struct request *rq, uint64_t first,
			uint64_t last, int kind)
{
	if (!f->direct)
		return true;
	if (rmw_begin(&f->guard, &rq->range, first, last, kind, rq->w))
		return true;
	rq->task.run = retry_write;
	worker_defer(rq->w, &rq->task);
	return false;
}

/* the blocks of the request's own range */
static bool guard_rq(struct file *f, struct request *rq, int kind)
{
	uint32_t a = f->b.align;

	if (!rq->len)
		return true;
	return guard_begin(f, rq, rq->offset / a,
			   (rq->offset + rq->len - 1) / a, kind);
}

/*
 * A write through the page cache dirties whole folios, and a folio may be
 * large (a PMD, 2 MiB): an O_DIRECT write of other bytes in it while it
 * runs is undone when the folio is written back (the kernel's invalidation
 * after the direct write fails on a dirty folio, and says "Page cache
 * invalidation failure on direct I/O").  So a page-cache write holds the
 * folios its range may touch, not only its blocks.
 */
#define CACHE_SPAN (2ull << 20)

static bool guard_cached(struct file *f, struct request *rq)
{
	uint32_t a = f->b.align;
	uint64_t lo = rq->offset / CACHE_SPAN * CACHE_SPAN;
	uint64_t hi = (rq->offset + rq->len - 1) / CACHE_SPAN * CACHE_SPAN +
		      CACHE_SPAN;

	if (!rq->len)
		return true;
	return guard_begin(f, rq, lo / a, (hi - 1) / a, RMW_EXCL);
}

static void guard_end(struct file *f, struct request *rq)
{
	if (rq->range.held)
		rmw_end(&f->guard, &rq->range, rq->w);
}

static void write_done(struct op *op, int res)
{
	struct request *rq = op_rq(op);

	if (res > 0 && continue_short(op, res))
		return;
	if (res == 0 && op->len)
		res = -EIO; /* nothing written, and no error said why */
	guard_end(rq_file(rq), rq);
	rq->complete(rq, res < 0 ? res : 0);
}

/* ---- unaligned writes: read-modify-write of the edge blocks ---- */

static uint64_t head_block(struct request *rq, uint32_t align)
{
	return rq->span_off / align;
}

static uint64_t tail_block(struct request *rq, uint32_t align)
{
	return (rq->span_off + rq->span_len) / align - 1;
}

static bool head_partial(struct request *rq, uint32_t align)
{
	return rq->offset % align != 0;
}

static bool tail_partial(struct request *rq, uint32_t align)
{
	return (rq->offset + rq->len) % align != 0;
}

static void rmw_step(struct request *rq);

static void rmw_io_done(struct op *op, int res)
{
	struct request *rq = op_rq(op);

	if (res > 0 && continue_short(op, res))
		return;
	if (res == 0 && op->len)
		res = -EIO;
	if (res < 0 || rq->stage == W_SPAN) {
		guard_end(rq_file(rq), rq);
		rq->complete(rq, res < 0 ? res : 0);
		return;
	}
	rmw_step(rq);
}

/*
 * Stages: read the head block, read the tail block, merge the edges
 * around the payload, write the span.
 */
static void rmw_step(struct request *rq)
{
	struct file *f = rq_file(rq);
	uint32_t a = f->b.align;
	char *edge = request_edge_buf(rq);
	uint64_t head_len = rq->offset - rq->span_off;
	uint64_t end = rq->offset + rq->len;
	uint64_t tail_off = tail_block(rq, a) * a;

	switch (rq->stage) {
	case 0:
		rq->stage = W_HEAD;
		if (head_partial(rq, a)) {
			submit(rq, OP_READ, f->fd, edge, a, rq->span_off, 0,
			       rmw_io_done);
			return;
		}
		/* fall through */
	case W_HEAD:
		rq->stage = W_TAIL;
		if (tail_partial(rq, a) &&
		    !(head_partial(rq, a) && tail_off == rq->span_off)) {
			submit(rq, OP_READ, f->fd, edge + a, a, tail_off, 0,
			       rmw_io_done);
			return;
		}
		/* fall through */
	case W_TAIL:
		if (head_partial(rq, a))
			memcpy(rq->buf, edge, head_len);
		if (tail_partial(rq, a)) {
			/* the tail block was read alone, or with the head */
			const char *t = tail_off == rq->span_off &&
							head_partial(rq, a) ?
						edge :
						edge + a;

			memcpy(rq->buf + (end - rq->span_off),
			       t + (end - tail_off), tail_off + a - end);
		}
		rq->stage = W_SPAN;
		submit(rq, OP_WRITE, f->fd, rq->buf, rq->span_len,
		       rq->span_off, rwf(rq), rmw_io_done);
		return;
	}
}

static void file_write(struct backend *b, struct request *rq)
{
	struct file *f = to_file(b);

	if (use_direct_exact(f, rq)) {
		if (guard_rq(f, rq, RMW_SHARED))
			submit(rq, OP_WRITE, f->fd, rq->data, rq->len,
			       rq->offset, rwf(rq), write_done);
		return;
	}
	/* through the page cache: it reads the rest of a partial block */
	if (past_aligned_end(f, rq)) {
		if (guard_cached(f, rq))
			submit(rq, OP_WRITE, f->fd_buffered, rq->data, rq->len,
			       rq->offset, rwf(rq), write_done);
		return;
	}
	/* the whole span: a write of its middle blocks would be harmless,
	 * but holding one range keeps the guard simple */
	if (!guard_begin(f, rq, head_block(rq, b->align),
			 tail_block(rq, b->align), RMW_EXCL))
		return;
	rq->stage = 0;
	rmw_step(rq);
}

static void file_flush(struct backend *b, struct request *rq)
{
	submit(rq, OP_FSYNC, to_file(b)->fd, NULL, 0, 0, 0, sync_done);
}

static void trim_done(struct op *op, int res)
{
	/* trim is advisory: a file system without holes is still right */
	if (res == -EOPNOTSUPP || res == -EINVAL)
		res = 0;
	guard_end(rq_file(op_rq(op)), op_rq(op));
	complete_fua(op_rq(op), res);
}

static void file_trim(struct backend *b, struct request *rq)
{
	struct file *f = to_file(b);
	uint64_t off = rq->offset, end = rq->offset + rq->len;

	if (f->blockdev) {
		/* a device discards whole sectors only */
		uint64_t m = b->align - 1;

		off = (off + m) & ~m;
		end &= ~m;
		if (end <= off) {
			rq->complete(rq, 0);
			return;
		}
	}
	if (!guard_rq(f, rq, RMW_SHARED))
		return;
	submit(rq, OP_FALLOCATE, f->fd,
	       NULL, end - off, off, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	       trim_done);
}

static void zero_write_next(struct request *rq);

static void zero_done(struct op *op, int res)
{
	struct request *rq = op_rq(op);
	struct file *f = rq_file(rq);
	bool unsupported = res == -EOPNOTSUPP || res == -EINVAL ||
			   res == -ENODEV;

	switch (rq->stage) {
	case Z_PUNCH:
		if (unsupported) {
			rq->stage = Z_RANGE;
			submit(rq, OP_FALLOCATE, f->fd, NULL, rq->len,
			       rq->offset,
			       FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
			       zero_done);
			return;
		}
		break;
	case Z_RANGE:
		if (unsupported) {
			if (rq->flags & REQ_FAST_ZERO) {
				guard_end(f, rq);
				rq->complete(rq, -ENOTSUP);
				return;
			}
			rq->stage = Z_WRITE;
			rq->done_len = 0;
			zero_write_next(rq);
			return;
		}
		break;
	case Z_WRITE:
		if (res == 0)
			res = -EIO; /* nothing written, and no error said why */
		if (res > 0) {
			rq->done_len += res;
			if (rq->done_len < rq->len) {
				zero_write_next(rq);
				return;
			}
			res = 0;
		}
		break;
	}
	guard_end(f, rq);
	complete_fua(rq, res);
}

/*
 * The slow way: write zeroes, a chunk at a time.  An aligned range with
 * O_DIRECT (it holds its blocks shared: through the page cache it would
 * dirty folios around them); any other through the page cache, holding
 * its folios (guard_cached).
 */
static void zero_write_next(struct request *rq)
{
	struct file *f = rq_file(rq);
	uint64_t n = rq->len - rq->done_len;
	bool direct = f->direct && is_aligned(rq->offset, rq->len, f->b.align);

	if (n > ZERO_BUF_LEN)
		n = ZERO_BUF_LEN;
	submit(rq, OP_WRITE, direct ? f->fd : f->fd_buffered, f->zero_buf, n,
	       rq->offset + rq->done_len, 0, zero_done);
}

static void file_zero(struct backend *b, struct request *rq)
{
	struct file *f = to_file(b);

	/* a device without write-zeroes of its own: the kernel would write
	 * the zeroes itself, which is not fast */
	if (f->blockdev && !f->hw_zero && (rq->flags & REQ_FAST_ZERO)) {
		rq->complete(rq, -ENOTSUP);
		return;
	}
	/* zeroes written through the page cache (the fallback of a range
	 * that is not aligned) read the rest of its folios there */
	if (is_aligned(rq->offset, rq->len, b->align) ?
		    !guard_rq(f, rq, RMW_SHARED) : !guard_cached(f, rq))
		return;
	if (rq->flags & REQ_NO_HOLE) {
		rq->stage = Z_RANGE;
		submit(rq, OP_FALLOCATE, f->fd, NULL, rq->len, rq->offset,
		       FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, zero_done);
	} else {
		rq->stage = Z_PUNCH;
		submit(rq, OP_FALLOCATE, f->fd, NULL, rq->len, rq->offset,
		       FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, zero_done);
	}
}

static void file_cache(struct backend *b, struct request *rq)
{
	submit(rq, OP_FADVISE, to_file(b)->fd_buffered, NULL, rq->len,
	       rq->offset, POSIX_FADV_WILLNEED, sync_done);
}

static bool add_extent(struct request *rq, uint64_t len, uint32_t flags)
{
	struct extent *e = (struct extent *)rq->buf;

	if (rq->nr_extents && e[rq->nr_extents - 1].flags == flags) {
		e[rq->nr_extents - 1].length += len;
		return true;
	}
	if (rq->nr_extents == rq->max_extents)
		return false;
	e[rq->nr_extents].length = len;
	e[rq->nr_extents].flags = flags;
	rq->nr_extents++;
	return true;
}

/* on a helper thread: lseek has no io_uring op and may wait on Lustre */
static int file_extents_call(void *arg)
{
	struct request *rq = arg;
	struct file *f = rq_file(rq);
	uint64_t off = rq->offset, end = rq->offset + rq->len;

	rq->nr_extents = 0;
	if (f->blockdev) {
		add_extent(rq, rq->len, 0);
		return 0;
	}
	while (off < end) {
		off_t data = lseek(f->fd_buffered, off, SEEK_DATA);
		off_t hole;
		uint64_t stop;

		if (data < 0 && errno != ENXIO)
			return -errno;
		if (data < 0 || (uint64_t)data > off) {
			stop = data < 0 || (uint64_t)data > end ? end :
								    (uint64_t)data;
			if (!add_extent(rq, stop - off,
					EXTENT_HOLE | EXTENT_ZERO))
				break;
			off = stop;
			continue;
		}
		hole = lseek(f->fd_buffered, off, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		stop = (uint64_t)hole > end ? end : (uint64_t)hole;
		if (stop <= off)
			stop = end; /* cannot happen; never loop forever */
		if (!add_extent(rq, stop - off, 0))
			break;
		off = stop;
	}
	return 0;
}

static void file_extents(struct backend *b, struct request *rq)
{
	rq->op = (struct op){
		.done = sync_done,
		.kind = OP_CALL,
		.fn = file_extents_call,
		.arg = rq,
	};
	rq->w->eng->submit(rq->w, &rq->op);
}

/* ---- open ---- */

static int create_image(const char *path, uint64_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0) {
		if (errno == EEXIST)
			log_error("%s: --create: the file exists; refusing to "
				  "overwrite it (drop --create to serve it)",
				  path);
		else
			log_error("%s: --create: cannot create: %s", path,
				  strerror(errno));
		return -errno;
	}
	if (ftruncate(fd, size) < 0) {
		int err = errno;

		log_error("%s: --create: cannot size it to %llu bytes: %s",
			  path, (unsigned long long)size, strerror(err));
		close(fd);
		unlink(path);
		return -err;
	}
	close(fd);
	return 0;
}

/* at open: the queue's write_zeroes_max_bytes in sysfs is not 0 */
static bool device_writes_zeroes(dev_t rdev)
{
	char path[96], buf[32];

	snprintf(path, sizeof(path),
		 "/sys/dev/block/%u:%u/queue/write_zeroes_max_bytes",
		 major(rdev), minor(rdev));
	return read_first_line(path, buf, sizeof(buf)) &&
	       strtoull(buf, NULL, 10) > 0;
}

static uint32_t dio_align(struct file *f)
{
	struct statx stx;
	int lbs;

	if (f->blockdev)
		return ioctl(f->fd_buffered, BLKSSZGET, &lbs) == 0 && lbs > 0 ?
			       (uint32_t)lbs :
			       DEFAULT_DIO_ALIGN;
	if (statx(f->fd_buffered, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) ==
		    0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		uint32_t a = stx.stx_dio_offset_align;

		if (stx.stx_dio_mem_align > a)
			a = stx.stx_dio_mem_align;
		return a;
	}
	return DEFAULT_DIO_ALIGN;
}

/*
 * A file in a memory file system (tmpfs, ramfs) that refuses
 * non-blocking reads.  io_uring then hands every read and write to one
 * of its io-wq threads: a thread switch each way for what is a copy to
 * or from the page cache, which waits for no device (while nothing of
 * it is on swap: now_ok).  Such reads and writes are cheaper done on the
 * worker thread itself.
 */
static bool memory_fs(int fd)
{
	char byte;
	struct iovec iov = { &byte, 1 };
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0 || (sfs.f_type != TMPFS_MAGIC &&
				      sfs.f_type != RAMFS_MAGIC))
		return false;
	return preadv2(fd, &iov, 1, 0, RWF_NOWAIT) < 0 && errno == EOPNOTSUPP;
}

static void file_free(struct file *f)
{
	if (f->fd >= 0 && f->fd != f->fd_buffered)
		close(f->fd);
	if (f->fd_buffered >= 0)
		close(f->fd_buffered);
	if (f->zero_buf)
		munmap(f->zero_buf, ZERO_BUF_LEN);
	free(f->path);
	free(f);
}

static int file_open(const char *path, const struct backend_opts *o,
		     struct backend **out)
{
	int flags = (o->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct file *f;
	struct stat st;
	int ret;

	if (o->create_size) {
		ret = create_image(path, o->create_size);
		if (ret < 0)
			return ret;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->fd = f->fd_buffered = -1;
	f->path = strdup(path);
	rmw_init(&f->guard);
	f->fd_buffered = open(path, flags);
	if (f->fd_buffered < 0) {
		ret = -errno;
		log_error("%s: cannot open%s: %s", path,
			  o->read_only ? " for reading" : " for writing",
			  strerror(errno));
		if (!o->read_only && (errno == EACCES || errno == EROFS))
			log_error("%s: use --read-only to serve it read-only",
				  path);
		goto err;
	}
	if (fstat(f->fd_buffered, &st) < 0) {
		ret = -errno;
		log_error("%s: cannot stat: %s", path, strerror(errno));
		goto err;
	}
	if (S_ISBLK(st.st_mode)) {
		f->blockdev = true;
		f->hw_zero = device_writes_zeroes(st.st_rdev);
		if (ioctl(f->fd_buffered, BLKGETSIZE64, &f->b.size) < 0) {
			ret = -errno;
			log_error("%s: cannot get the device size: %s", path,
				  strerror(errno));
			goto err;
		}
	} else if (S_ISREG(st.st_mode)) {
		f->b.size = st.st_size;
	} else {
		ret = -EINVAL;
		log_error("%s: not a regular file or a block device", path);
		goto err;
	}
	if (f->b.size == 0) {
		ret = -EINVAL;
		log_error("%s: the image is empty (give it a size: "
			  "truncate -s SIZE %s)", path, path);
		goto err;
	}
	f->fd = f->fd_buffered;
	if (o->cache == CACHE_NONE) {
		int fd = open(path, flags | O_DIRECT);

		if (fd >= 0) {
			f->fd = fd;
			f->direct = true;
		} else if (errno == EINVAL) {
			log_warn("%s: the file system refuses O_DIRECT; "
				 "serving through the page cache as with "
				 "--cache=writeback", path);
		} else {
			ret = -errno;
			log_error("%s: cannot open with O_DIRECT: %s", path,
				  strerror(errno));
			goto err;
		}
	}
	f->zero_buf = mmap(NULL, ZERO_BUF_LEN, PROT_READ,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->zero_buf == MAP_FAILED) {
		f->zero_buf = NULL;
		ret = -ENOMEM;
		goto err;
	}
	f->now = S_ISREG(st.st_mode) && memory_fs(f->fd_buffered);
	f->b.ops = &file_backend;
	f->b.align = f->direct ? dio_align(f) : 1;
	if (f->b.align & (f->b.align - 1) || f->b.align > 65536) {
		ret = -EINVAL;
		log_error("%s: unusable direct I/O alignment %u", path,
			  f->b.align);
		goto err;
	}
	f->b.preferred = f->b.align > 4096 ? f->b.align : 4096;
	f->b.read_only = o->read_only;
	f->b.can_trim = true;
	f->b.can_zero = true;
	f->b.can_fast_zero = true;
	f->b.can_cache = true;
	f->b.can_extents = true;
	*out = &f->b;
	return 0;
err:
	file_free(f);
	return ret;
}

static int file_passthrough_fd(struct backend *b)
{
	struct file *f = to_file(b);

	return f->blockdev ? -ENOTSUP : f->fd_buffered;
}

static void file_close(struct backend *b)
{
	file_free(to_file(b));
}

static int file_sync(struct backend *b)
{
	return fdatasync(to_file(b)->fd) < 0 ? -errno : 0;
}

const struct backend_ops file_backend = {
	.name = "file",
	.open = file_open,
	.close = file_close,
	.passthrough_fd = file_passthrough_fd,
	.sync = file_sync,
	.read = file_read,
	.write = file_write,
	.flush = file_flush,
	.trim = file_trim,
	.zero = file_zero,
	.cache = file_cache,
	.extents = file_extents,
};
