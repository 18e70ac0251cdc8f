// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the FUSE request decoder (src/frontend/fuse/session.c)
 * as /dev/fuse would feed it, one session per input.
 *
 * Input: one config byte, then messages, each a little-endian u32 length
 * and that many bytes as one read(2) of /dev/fuse returns them (header
 * and arguments; an INIT first, as the kernel sends).  The end of the
 * input is the unmount: reads fail with ENODEV.  The config byte:
 *   bits 0-1  the export: 0 disk (memory), 1 ro (read-only), 2 file
 *             (O_DIRECT on a memfd, offers passthrough), 3 disk
 *   bit 2     ask for passthrough (as --passthrough)
 *   bits 4-7  the engine's schedule (0: in order)
 *
 * Every reply is checked: its header, that it answers the request its
 * slot read, its size for the opcode, and that each request but FORGET,
 * BATCH_FORGET and INTERRUPT gets exactly one.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frontend/fuse/fuse.h"
#include "harness.h"

#define NR_SLOTS 3
#define SLOT_MAX_READ (FUSE_IN_SPLIT + FUSE_MAX_WRITE + 4096)
#define HEAD 128

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* what a slot was last given to read */
struct slot_rec {
	struct request *rq;
	bool live;		/* a message was delivered */
	bool answered;
	bool wants_reply;
	size_t got;
	uint8_t head[HEAD] __attribute__((aligned(8))); /* its first bytes */
};

static struct {
	struct server srv;
	struct fuse_session fs;
	struct export *exp;
	int fd;
	const uint8_t *in;
	size_t len, pos;
	struct slot_rec rec[NR_SLOTS];
	unsigned nr_rec;
	unsigned calls;		/* OP_CALLs: FUSE_DEV_IOC_BACKING_OPEN */
} F;

static const struct fuse_in_header *head_of(const struct slot_rec *r)
{
	return (const void *)r->head;
}

static struct slot_rec *rec_of(struct request *rq)
{
	for (unsigned i = 0; i < F.nr_rec; i++)
		if (F.rec[i].rq == rq)
			return &F.rec[i];
	fz_assert(F.nr_rec < NR_SLOTS, "more slots than the session has");
	F.rec[F.nr_rec].rq = rq;
	return &F.rec[F.nr_rec++];
}

static bool wants_reply(const struct slot_rec *r)
{
	const struct fuse_in_header *ih = head_of(r);
	size_t got = r->got;

	if (got < sizeof(*ih) || ih->len != got)
		return true; /* answered with EIO */
	return ih->opcode != FUSE_FORGET && ih->opcode != FUSE_BATCH_FORGET &&
	       ih->opcode != FUSE_INTERRUPT;
}

static uint32_t get_le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- reading /dev/fuse ---- */

static int fuse_readv(struct op *op)
{
	struct request *rq = (struct request *)op; /* op is its first member */
	struct slot_rec *r = rec_of(rq);
	const struct iovec *v = op->msg.msg_iov;
	size_t cap, msg, done;

	fz_assert(op->kind == OP_READV && op->fd == F.fd,
		  "FUSE: op kind %u on fd %d", op->kind, op->fd);
	fz_assert(op->msg.msg_iovlen == 2 &&
			  fz_inside(v[0].iov_base, v[0].iov_len, rq->hdr,
				    sizeof(rq->hdr)) &&
			  fz_inside(v[1].iov_base, v[1].iov_len, rq->buf,
				    rq->buf_len),
		  "a /dev/fuse read outside the slot's header and buffer");
	fz_assert(!r->live || r->answered || !r->wants_reply,
		  "opcode %u (unique %llu) was never answered",
		  head_of(r)->opcode, (unsigned long long)head_of(r)->unique);
	cap = v[0].iov_len + v[1].iov_len;
	for (;;) {
		/* the end of the input: the file system is unmounted */
		if (F.len - F.pos < 4)
			return -ENODEV;
		msg = get_le32(F.in + F.pos);
		F.pos += 4;
		if (msg > F.len - F.pos)
			msg = F.len - F.pos;
		/* the kernel fails a request too big for the read itself */
		if (msg <= cap)
			break;
		F.pos += msg;
	}
	memset(r->head, 0, sizeof(r->head));
	memcpy(r->head, F.in + F.pos, msg < HEAD ? msg : HEAD);
	r->live = true;
	r->answered = false;
	r->got = msg;
	r->wants_reply = wants_reply(r);
	done = msg < v[0].iov_len ? msg : v[0].iov_len;
	memcpy(v[0].iov_base, F.in + F.pos, done);
	memcpy(v[1].iov_base, F.in + F.pos + done, msg - done);
	F.pos += msg;
	return msg;
}

/* ---- replies ---- */

static void check_success(struct slot_rec *r, const void *out, size_t body)
{
	const struct fuse_in_header *ih = head_of(r);
	const void *args = ih + 1;
	uint64_t size = F.exp->be->size;
	bool ro = F.exp->read_only;

	switch (ih->opcode) {
	case FUSE_INIT: {
		const struct fuse_init_out *o = out;

		fz_assert(body == sizeof(*o), "INIT reply of %zu", body);
		fz_assert(o->major == FUSE_KERNEL_VERSION &&
				  o->max_write == FUSE_MAX_WRITE,
			  "INIT reply %u max_write %u", o->major,
			  o->max_write);
		break;
	}
	case FUSE_GETATTR:
	case FUSE_SETATTR: {
		const struct fuse_attr_out *o = out;

		fz_assert(body == sizeof(*o), "attr reply of %zu", body);
		fz_assert(o->attr.size == size && o->attr.ino == FUSE_ROOT_ID,
			  "attr size %llu", (unsigned long long)o->attr.size);
		break;
	}
	case FUSE_OPEN: {
		const struct fuse_open_in *in = args;

		fz_assert(body == sizeof(struct fuse_open_out),
			  "OPEN reply of %zu", body);
		fz_assert(!ro || (in->flags & O_ACCMODE) == O_RDONLY,
			  "opened read-only export for writing");
		break;
	}
	case FUSE_READ: {
		const struct fuse_read_in *in = args;
		uint64_t want = 0;

		if (in->offset < size)
			want = size - in->offset < in->size ?
				       size - in->offset :
				       in->size;
		fz_assert(body == want, "READ of %u at %llu: %zu bytes", in->size,
			  (unsigned long long)in->offset, body);
		break;
	}
	case FUSE_WRITE: {
		const struct fuse_write_in *in = args;
		const struct fuse_write_out *o = out;

		fz_assert(!ro, "WRITE on a read-only export");
		fz_assert(body == sizeof(*o) && o->size == in->size &&
				  r->got == FUSE_IN_SPLIT + in->size,
			  "WRITE reply");
		fz_assert(in->offset <= size && in->size <= size - in->offset,
			  "WRITE past the end succeeded");
		break;
	}
	case FUSE_FALLOCATE: {
		const struct fuse_fallocate_in *in = args;

		fz_assert(body == 0, "FALLOCATE reply of %zu", body);
		fz_assert(!ro, "FALLOCATE on a read-only export");
		if (in->mode & ~FALLOC_FL_KEEP_SIZE)
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
	default:
		fz_fail("opcode %u succeeded", ih->opcode);
	}
}

static void fuse_writev(struct op *op)
{
	struct request *rq = (struct request *)op;
	struct slot_rec *r = rec_of(rq);
	const struct iovec *v = op->msg.msg_iov;
	const struct fuse_out_header *oh;
	uint64_t total = 0;
	/* the reply's body, wherever its iovecs put it */
	uint8_t body[256] __attribute__((aligned(8)));
	size_t blen = 0;

	fz_assert(op->kind == OP_WRITEV && op->fd == F.fd,
		  "FUSE: op kind %u on fd %d", op->kind, op->fd);
	fz_assert(r->live && !r->answered && r->wants_reply,
		  "a reply to no request (live %d answered %d)", r->live,
		  r->answered);
	r->answered = true;
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
	fz_assert(oh->error <= 0 && oh->error > -4096, "error %d", oh->error);
	if (r->got >= sizeof(struct fuse_in_header))
		fz_assert(oh->unique == head_of(r)->unique,
			  "reply to unique %llu, request was %llu",
			  (unsigned long long)oh->unique,
			  (unsigned long long)head_of(r)->unique);
	if (oh->error) {
		fz_assert(total == sizeof(*oh), "an error reply with a body");
		return;
	}
	fz_assert(head_of(r)->len == r->got, "a malformed request succeeded");
	check_success(r, body, total - sizeof(*oh));
}

static void fuse_io(struct op *op)
{
	struct request *rq = (struct request *)op;
	struct pool *p = &F.srv.workers[0].pool;

	if ((op->kind == OP_READ || op->kind == OP_WRITE) &&
	    fz_inside(op->buf, 1, p->arena, p->buddy.size))
		fz_assert(fz_inside(op->buf, op->len, rq->buf, rq->buf_len),
			  "file I/O outside the slot's buffer");
	/* the only call the session makes: the backing file, once */
	if (op->kind == OP_CALL)
		fz_assert(++F.calls == 1, "FUSE_DEV_IOC_BACKING_OPEN %u times "
			  "in one session: one backing id is lost", F.calls);
	if (op->kind == OP_WRITE || op->kind == OP_FALLOCATE)
		fz_assert(op->len <= FZ_FILE_SIZE &&
				  op->off <= FZ_FILE_SIZE - op->len,
			  "file op %u at %llu+%llu past the end", op->kind,
			  (unsigned long long)op->off,
			  (unsigned long long)op->len);
}

static const struct fz_hooks fuse_hooks = {
	.recv = fuse_readv,
	.send = fuse_writev,
	.io = fuse_io,
};

/* ---- a run ---- */

struct start_arg {
	bool passthrough;
};

static void start_session(void *arg)
{
	const struct start_arg *a = arg;
	int ret = fuse_session_init(&F.fs, &F.srv, F.exp, F.fd, NR_SLOTS,
				    a->passthrough);

	fz_assert(ret == 0, "fuse_session_init: %s", strerror(-ret));
	fuse_session_start(&F.fs);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int sv[2];

	/* three slots of 2 MiB each, from worker 0's pool */
	fz_setup(&F.srv, &fuse_hooks, 16, 8 * 1024 * 1024);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		fz_fail("socketpair: %s", strerror(errno));
	F.fd = sv[0];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned exports[4] = { FZ_EXP_DISK, FZ_EXP_RO,
					     FZ_EXP_FILE, FZ_EXP_DISK };
	struct start_arg a;

	if (!size)
		return 0;
	F.exp = &F.srv.exports[exports[data[0] & 3]];
	a.passthrough = data[0] & 4;
	fz_schedule(data[0] >> 4);
	F.in = data + 1;
	F.len = size - 1;
	F.pos = 0;
	F.nr_rec = 0;
	F.calls = 0;
	memset(F.rec, 0, sizeof(F.rec));
	fz_reset_file();
	fz_run(&F.srv, start_session, &a);

	fz_assert(F.srv.workers[0].nr_tenants == 0,
		  "the FUSE session never ended (%u slots live)",
		  F.fs.live_slots);
	fz_check_worker_clean(&F.srv);
	for (unsigned i = 0; i < F.nr_rec; i++)
		fz_assert(!F.rec[i].live || F.rec[i].answered ||
				  !F.rec[i].wants_reply,
			  "opcode %u (unique %llu) was never answered",
			  head_of(&F.rec[i])->opcode,
			  (unsigned long long)head_of(&F.rec[i])->unique);
	free(F.fs.slots);
	F.fs.slots = NULL;
	return 0;
}
