// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The FUSE targets' shared part: the /dev/fuse side of the kernel, the
 * reply checks and FUSE_DEV_IOC_BACKING_OPEN.  See fuse_fuzz.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "frontend/fuse/transport.h"
#include "fuse_fuzz.h"

/* passthrough (7.40), newer than the headers here */
#define PT_FLAG2 (1u << (37 - 32))
#define FOPEN_PASSTHROUGH_ (1u << 7)
struct backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define IOC_BACKING_OPEN _IOW(FUSE_DEV_IOC_MAGIC, 1, struct backing_map)
#define IOC_BACKING_CLOSE _IOW(FUSE_DEV_IOC_MAGIC, 2, uint32_t)

struct ff ff;

uint32_t ff_le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static const struct fuse_in_header *head_of(const struct ff_req *r)
{
	return (const void *)r->head;
}

/* the bytes of data that came after the opcode's argument struct */
static size_t data_len_of(const struct ff_req *r)
{
	if (r->ring)
		return r->data_len;
	return r->got > FUSE_IN_SPLIT ? r->got - FUSE_IN_SPLIT : 0;
}

/* would lloop have taken this request apart at all? */
static bool well_formed(const struct ff_req *r)
{
	const struct fuse_in_header *ih = head_of(r);

	if (!r->ring)
		return r->got >= sizeof(*ih) && ih->len == r->got;
	return ih->len >= sizeof(*ih) && r->data_len <= FUSE_MAX_WRITE &&
	       ih->len - sizeof(*ih) >= r->data_len;
}

static bool no_reply(uint32_t opcode)
{
	return opcode == FUSE_FORGET || opcode == FUSE_BATCH_FORGET ||
	       opcode == FUSE_INTERRUPT;
}

/* ---- the checks of a reply ---- */

static void check_init(const struct ff_req *r, const struct fuse_init_out *o,
		       size_t body)
{
	const struct fuse_init_in *in = (const void *)(head_of(r) + 1);
	bool ext = in->flags & FUSE_INIT_EXT;

	fz_assert(!r->ring, "INIT through the ring succeeded");
	fz_assert(body == sizeof(*o), "INIT reply of %zu", body);
	fz_assert(o->major == FUSE_KERNEL_VERSION &&
			  o->max_write == FUSE_MAX_WRITE,
		  "INIT reply %u max_write %u", o->major, o->max_write);
	fz_assert(o->minor <= in->minor, "INIT reply minor %u, asked %u",
		  o->minor, in->minor);
	if (o->flags2 & PT_FLAG2) {
		fz_assert(ff.fs.want_passthrough && in->minor >= 40 && ext &&
				  (in->flags2 & PT_FLAG2),
			  "passthrough taken that was not offered or wanted");
		ff.pt_granted = true;
	}
	if (o->flags2 & FUSE_URING_FLAG2) {
		fz_assert(ff.fs.want_uring && in->minor >= 42 && ext,
			  "FUSE over io_uring taken that was not offered or "
			  "wanted");
		fz_assert(o->max_background > 0, "INIT reply: no background");
		ff.uring_granted = true;
	}
	if (o->flags2)
		fz_assert(o->flags & FUSE_INIT_EXT, "flags2 without INIT_EXT");
}

static void check_open(const struct ff_req *r, const struct fuse_open_out *o,
		       size_t body)
{
	const struct fuse_open_in *in = (const void *)(head_of(r) + 1);

	fz_assert(body == sizeof(*o), "OPEN reply of %zu", body);
	fz_assert(!ff.exp->read_only || (in->flags & O_ACCMODE) == O_RDONLY,
		  "opened read-only export for writing");
	if (o->open_flags & FOPEN_PASSTHROUGH_) {
		/* the id must be one the kernel handed out and still holds */
		fz_assert(ff.pt_granted,
			  "FOPEN_PASSTHROUGH without passthrough "
			  "taken at INIT");
		fz_assert(
			ff.backing_id >= 0 &&
				o->padding == (uint32_t)ff.backing_id,
			"FOPEN_PASSTHROUGH with backing id %u, the kernel's is "
			"%d",
			o->padding, ff.backing_id);
		fz_assert(!(o->open_flags & FOPEN_DIRECT_IO),
			  "FOPEN_PASSTHROUGH with FOPEN_DIRECT_IO");
		fz_debug("OPEN: FOPEN_PASSTHROUGH, backing id %u", o->padding);
		return;
	}
	fz_assert(o->open_flags & FOPEN_DIRECT_IO, "OPEN without direct I/O");
	/* once the backing file is open, every open passes through */
	fz_assert(!ff.pt_granted || ff.backing_id < 0,
		  "OPEN served through the engine with backing id %d open",
		  ff.backing_id);
}

static void check_success(const struct ff_req *r, const void *out, size_t body)
{
	const struct fuse_in_header *ih = head_of(r);
	const void *args = ih + 1;
	uint64_t size = ff.exp->be->size;
	bool ro = ff.exp->read_only;

	switch (ih->opcode) {
	case FUSE_INIT:
		check_init(r, out, body);
		break;
	case FUSE_GETATTR:
	case FUSE_SETATTR: {
		const struct fuse_attr_out *o = out;

		fz_assert(body == sizeof(*o), "attr reply of %zu", body);
		fz_assert(o->attr.size == size && o->attr.ino == FUSE_ROOT_ID,
			  "attr size %llu", (unsigned long long)o->attr.size);
		break;
	}
	case FUSE_OPEN:
		check_open(r, out, body);
		break;
	case FUSE_READ: {
		const struct fuse_read_in *in = args;
		uint64_t want = 0;

		if (in->offset < size)
			want = size - in->offset < in->size ? size - in->offset
							    : in->size;
		fz_assert(body == want, "READ of %u at %llu: %zu bytes",
			  in->size, (unsigned long long)in->offset, body);
		break;
	}
	case FUSE_WRITE: {
		const struct fuse_write_in *in = args;
		const struct fuse_write_out *o = out;

		fz_assert(!ro, "WRITE on a read-only export");
		/* cut short at the end of the image, never past it */
		fz_assert(in->offset < size, "WRITE at or past the end "
					     "succeeded");
		fz_assert(body == sizeof(*o) && data_len_of(r) == in->size &&
				  o->size ==
					  (size - in->offset < in->size ?
						   size - in->offset :
						   in->size),
			  "WRITE reply");
		break;
	}
	case FUSE_FALLOCATE: {
		const struct fuse_fallocate_in *in = args;

		fz_assert(body == 0, "FALLOCATE reply of %zu", body);
		fz_assert(!ro, "FALLOCATE on a read-only export");
		/* past the end only with KEEP_SIZE: the image never grows */
		if (!(in->mode & FALLOC_FL_KEEP_SIZE))
			fz_assert(in->offset <= size &&
					  in->length <= size - in->offset,
				  "FALLOCATE past the end succeeded");
		break;
	}
	case FUSE_STATFS:
		fz_assert(body == sizeof(struct fuse_statfs_out),
			  "STATFS reply of %zu", body);
		break;
	case FUSE_FSYNC:
	case FUSE_FLUSH:
	case FUSE_RELEASE:
	case FUSE_DESTROY:
		fz_assert(body == 0, "opcode %u reply of %zu", ih->opcode,
			  body);
		break;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		/* the ring's entry goes back with an empty commit */
		fz_assert(r->ring && body == 0, "opcode %u answered",
			  ih->opcode);
		break;
	default:
		fz_fail("opcode %u succeeded", ih->opcode);
	}
}

void ff_check_reply(const struct ff_req *r, int err, const void *body,
		    size_t blen)
{
	fz_assert(err <= 0 && err > -4096, "error %d", err);
	if (err) {
		fz_assert(blen == 0, "an error reply with a body");
		return;
	}
	fz_assert(well_formed(r), "a malformed request succeeded");
	check_success(r, body, blen);
}

/* ---- /dev/fuse ---- */

static struct ff_slot *slot_of(struct request *rq)
{
	for (unsigned i = 0; i < ff.nr_slot; i++)
		if (ff.slot[i].rq == rq)
			return &ff.slot[i];
	fz_assert(ff.nr_slot < ff.nr_slots, "more slots than the session has");
	ff.slot[ff.nr_slot].rq = rq;
	return &ff.slot[ff.nr_slot++];
}

static bool wants_reply(const struct ff_req *r)
{
	if (!well_formed(r))
		return true; /* answered with EIO */
	return !no_reply(head_of(r)->opcode);
}

size_t ff_dev_room(const struct op *op)
{
	struct request *rq = (struct request *)op; /* op is its first member */
	struct ff_slot *s = slot_of(rq);
	const struct iovec *v = op->msg.msg_iov;

	fz_assert(op->kind == OP_READV && op->fd == ff.fd,
		  "FUSE: op kind %u on fd %d", op->kind, op->fd);
	fz_assert(op->msg.msg_iovlen == 2 &&
			  fz_inside(v[0].iov_base, v[0].iov_len, rq->hdr,
				    sizeof(rq->hdr)) &&
			  fz_inside(v[1].iov_base, v[1].iov_len, rq->buf,
				    rq->buf_len),
		  "a /dev/fuse read outside the slot's header and buffer");
	fz_assert(!s->live || s->answered || !s->wants_reply,
		  "opcode %u (unique %llu) was never answered",
		  head_of(&s->req)->opcode,
		  (unsigned long long)head_of(&s->req)->unique);
	return v[0].iov_len + v[1].iov_len;
}

int ff_dev_deliver(struct op *op, const uint8_t *msg, size_t len)
{
	struct request *rq = (struct request *)op;
	struct ff_slot *s = slot_of(rq);
	const struct iovec *v = op->msg.msg_iov;
	size_t done;

	fz_assert(len <= ff_dev_room(op), "a message bigger than the read");
	memset(&s->req, 0, sizeof(s->req));
	memcpy(s->req.head, msg, len < FF_HEAD ? len : FF_HEAD);
	s->req.got = len;
	s->live = true;
	s->answered = false;
	s->wants_reply = wants_reply(&s->req);
	done = len < v[0].iov_len ? len : v[0].iov_len;
	memcpy(v[0].iov_base, msg, done);
	memcpy(v[1].iov_base, msg + done, len - done);
	return len;
}

void ff_dev_reply(struct op *op)
{
	struct request *rq = (struct request *)op;
	struct ff_slot *s = slot_of(rq);
	const struct iovec *v = op->msg.msg_iov;
	const struct fuse_out_header *oh;
	uint64_t total = 0;
	/* the reply's body, wherever its iovecs put it */
	uint8_t body[256] __attribute__((aligned(8)));
	size_t blen = 0;

	fz_assert(op->kind == OP_WRITEV && op->fd == ff.fd,
		  "FUSE: op kind %u on fd %d", op->kind, op->fd);
	fz_assert(s->live && !s->answered && s->wants_reply,
		  "a reply to no request (live %d answered %d)", s->live,
		  s->answered);
	s->answered = true;
	fz_assert(op->msg.msg_iovlen >= 1 && op->msg.msg_iovlen <= 3 &&
			  v[0].iov_len >= sizeof(*oh) &&
			  fz_inside(v[0].iov_base, v[0].iov_len, rq->hdr,
				    sizeof(rq->hdr)),
		  "reply header outside the slot");
	for (size_t i = 0; i < op->msg.msg_iovlen; i++) {
		const uint8_t *p = v[i].iov_base;
		size_t n = v[i].iov_len, skip = i ? 0 : sizeof(*oh);

		total += n;
		if (i)
			fz_assert(fz_inside(p, n, rq->buf, rq->buf_len),
				  "reply data outside the slot's buffer");
		n -= skip;
		if (n > sizeof(body) - blen)
			n = sizeof(body) - blen;
		memcpy(body + blen, p + skip, n);
		blen += n;
	}
	oh = v[0].iov_base;
	fz_assert(oh->len == total, "out header says %u, %llu sent", oh->len,
		  (unsigned long long)total);
	if (s->req.got >= sizeof(struct fuse_in_header))
		fz_assert(oh->unique == head_of(&s->req)->unique,
			  "reply to unique %llu, request was %llu",
			  (unsigned long long)oh->unique,
			  (unsigned long long)head_of(&s->req)->unique);
	ff_check_reply(&s->req, oh->error, body, total - sizeof(*oh));
}

void ff_dev_sent(struct op *op, uint64_t n)
{
	struct ff_slot *s = slot_of((struct request *)op);

	if (head_of(&s->req)->opcode == FUSE_INIT)
		ff.init_replied = true;
}

void ff_io(struct op *op)
{
	struct request *rq = (struct request *)op;
	struct pool *p = &ff.srv.workers[0].pool;

	if ((op->kind == OP_READ || op->kind == OP_WRITE) &&
	    fz_inside(op->buf, 1, p->arena, p->buddy.size))
		fz_assert(fz_inside(op->buf, op->len, rq->buf, rq->buf_len),
			  "file I/O outside the slot's buffer");
	if (op->kind == OP_WRITE || op->kind == OP_FALLOCATE)
		fz_assert(op->len <= FZ_FILE_SIZE &&
				  op->off <= FZ_FILE_SIZE - op->len,
			  "file op %u at %llu+%llu past the end", op->kind,
			  (unsigned long long)op->off,
			  (unsigned long long)op->len);
}

/* ---- the kernel's ioctls on /dev/fuse ---- */

static int backing_ioctl(unsigned long req, void *arg)
{
	if (req == IOC_BACKING_OPEN) {
		const struct backing_map *map = arg;

		fz_assert(++ff.ioctls == 1,
			  "FUSE_DEV_IOC_BACKING_OPEN %u times in one session: "
			  "one backing id is lost",
			  ff.ioctls);
		fz_assert(ff.pt_granted, "FUSE_DEV_IOC_BACKING_OPEN without "
					 "passthrough taken at INIT");
		fz_assert(map->fd == ff.fs.backing_fd && map->fd >= 0 &&
				  !map->flags && !map->padding,
			  "FUSE_DEV_IOC_BACKING_OPEN of fd %d flags %u, the "
			  "image is fd %d",
			  map->fd, map->flags, ff.fs.backing_fd);
		if (!ff.backing_ok) {
			/* no CAP_SYS_ADMIN, or a file system it cannot stack */
			errno = ff.backing_next & 1 ? EPERM : EOPNOTSUPP;
			return -1;
		}
		ff.backing_id = ff.backing_next;
		return ff.backing_id;
	}
	if (req == IOC_BACKING_CLOSE) {
		const uint32_t *id = arg;

		fz_assert(
			ff.backing_id >= 0 && *id == (uint32_t)ff.backing_id,
			"FUSE_DEV_IOC_BACKING_CLOSE of id %u, the open one is "
			"%d",
			*id, ff.backing_id);
		ff.backing_id = -1;
		return 0;
	}
	fz_fail("unexpected ioctl %#lx on /dev/fuse", req);
}

/*
 * Replaces libc's (and the sanitizers' weak interceptor): the ioctls on
 * "/dev/fuse" answered as the kernel would, every other one passed on.
 */
int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fd == ff.fd && fd >= 0)
		return backing_ioctl(req, arg);
	return syscall(SYS_ioctl, fd, req, arg);
}

/* ---- a run ---- */

void ff_setup(const struct fz_hooks *hooks, unsigned nr_slots, size_t arena)
{
	int sv[2];

	fz_assert(nr_slots <= FF_MAX_SLOTS, "too many slots");
	ff.fd = -1;
	ff.nr_slots = nr_slots;
	fz_setup(&ff.srv, hooks, 16, arena);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		fz_fail("socketpair: %s", strerror(errno));
	ff.fd = sv[0];
}

void ff_begin(uint8_t cfg)
{
	static const unsigned exports[4] = {FZ_EXP_DISK, FZ_EXP_RO, FZ_EXP_FILE,
					    FZ_EXP_DISK};

	ff.exp = &ff.srv.exports[exports[cfg & 3]];
	fz_schedule(cfg >> 4);
	ff.nr_slot = 0;
	memset(ff.slot, 0, sizeof(ff.slot));
	ff.pt_offered = cfg & 4;
	ff.pt_granted = false;
	ff.uring_granted = false;
	ff.init_replied = false;
	ff.backing_ok = cfg & 8;
	ff.backing_next = 1 + (cfg >> 4); /* the kernel's ids start at 1 */
	ff.backing_id = -1;
	ff.ioctls = 0;
	fz_reset_file();
}

static bool run_uring;

static void start_session(void *arg)
{
	int ret = fuse_session_init(&ff.fs, &ff.srv, ff.exp, ff.fd, ff.nr_slots,
				    ff.pt_offered);

	fz_assert(ret == 0, "fuse_session_init: %s", strerror(-ret));
	ff.fs.want_uring = run_uring; /* as attach does, after init */
	fuse_session_start(&ff.fs);
}

void ff_run(bool want_uring)
{
	run_uring = want_uring;
	fz_run(&ff.srv, start_session, NULL);

	fz_assert(ff.srv.workers[0].nr_tenants == 0,
		  "the FUSE session never ended (%u slots live)",
		  ff.fs.live_slots);
	fz_assert(!ff.fs.ring, "the session ended with its ring allocated");
	fz_check_worker_clean(&ff.srv);
	for (unsigned i = 0; i < ff.nr_slot; i++)
		fz_assert(!ff.slot[i].live || ff.slot[i].answered ||
				  !ff.slot[i].wants_reply,
			  "opcode %u (unique %llu) was never answered",
			  head_of(&ff.slot[i].req)->opcode,
			  (unsigned long long)head_of(&ff.slot[i].req)->unique);
	free(ff.fs.slots);
	ff.fs.slots = NULL;
}
