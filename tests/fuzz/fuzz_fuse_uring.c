// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: FUSE over io_uring (src/frontend/fuse/uring.c), with
 * the decoder behind it (session.c), one session per input, as
 * `lloop attach --fuse-uring` runs it.
 *
 * This file plays the kernel.  uring.c's own ring is a fake one: the
 * liburing calls it makes are replaced here (io_uring_queue_init_params,
 * io_uring_register_eventfd, io_uring_submit, io_uring_peek_batch_cqe,
 * io_uring_queue_exit; the inline ones work on the fake ring's memory),
 * and what it submits is taken as fs/fuse/dev_uring.c takes it: REGISTER
 * (an iovec pair: struct fuse_uring_req_header, then a payload of at
 * least max_write) and COMMIT_AND_FETCH (the reply in the entry's
 * headers and payload, by commit id).  Requests go into the registered
 * entries as the kernel puts them: the in header in in_out, the first
 * argument in op_in, the rest (a write's data) in the payload, and
 * ring_ent_in_out's commit id and payload_sz; each fetch completes with a
 * CQE and a tick of the registered eventfd, which wakes the worker through
 * the engine (OP_READ_WAKE).  The sysfs files fuse_uring_prepare reads and
 * writes are faked too (open is replaced for those two paths), so the
 * host's enable_uring is never touched.  INIT, and whatever the kernel
 * does not send by the ring, comes through /dev/fuse as in fuzz_fuse.
 *
 * Input: two config bytes, then messages: a control byte, a little-endian
 * u32 length and that many bytes (fuse_in_header and arguments, as in
 * fuzz_fuse).
 *   config 0  as fuzz_fuse's: bits 0-1 export, bit 2 --passthrough,
 *             bit 3 FUSE_DEV_IOC_BACKING_OPEN succeeds, bits 4-7 the
 *             schedule (odd: the ring fails a command now and then with
 *             EAGAIN or EINTR, and the kernel may unmount early)
 *   config 1  bits 0-2 possible CPUs, the ring's queues (0: the sysfs
 *             file does not parse); bits 3-4 enable_uring: 0 Y, 1 N (lloop
 *             sets it), 2 absent, 3 not writable; bit 5 io_uring_setup
 *             refuses COOP_TASKRUN and SINGLE_ISSUER (an older kernel);
 *             bit 6 io_uring_setup fails; bit 7 the kernel refuses the
 *             REGISTERs of the last queue
 *   control   bit 7 by /dev/fuse (else by the ring once it is up; before,
 *             and when it is given up, by /dev/fuse); bit 6 raw: the
 *             bytes start with a u8 op_in length and a u32 payload_sz the
 *             kernel claims, else op_in gets the opcode's first argument
 *             struct as the kernel sends it and payload_sz is the rest;
 *             bits 0-5 the queue (the CPU the request is made on)
 * The kernel numbers ring requests itself (their unique).  When nothing
 * else can happen, the kernel hands held-back requests to /dev/fuse, and
 * at the end unmounts: /dev/fuse reads fail with ENODEV, entries waiting
 * for a request complete with ENOTCONN, commits after it fail with
 * ECONNABORTED.
 *
 * Checked beyond fuzz_fuse's checks of every reply: each command (opcode,
 * fd, SQE128, qid in range), REGISTER only after the INIT reply took the
 * ring, its buffers inside the pool and overlapping no other entry's, a
 * commit only for a request out in userspace, by the entry that holds it,
 * each answered once, its out header (unique, len = 16 + payload_sz),
 * payload_sz within the payload buffer, the reply body for its opcode;
 * no submit on a ring not set up or exited; the ring exited and its
 * eventfd closed when the session is over.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/fuse.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "frontend/fuse/transport.h"
#include "fuse_fuzz.h"

#define NR_SLOTS 2 /* /dev/fuse slots, and entries per queue at most */
/* 8 buffers of 2 MiB: 2 slots and 6 entries, so that 4 queues get one
 * entry each, not two, and 7 queues none */
#define ARENA (16 * 1024 * 1024)
#define MAX_MSGS 512
#define MAX_KENTS 64
#define SQ_MAX 256
#define CQ_MAX 1024

#define ENABLE_URING "/sys/module/fuse/parameters/enable_uring"
#define POSSIBLE_CPUS "/sys/devices/system/cpu/possible"

/* the uapi of 7.42 (include/uapi/linux/fuse.h), newer than the headers */
enum { CMD_REGISTER = 1, CMD_COMMIT_AND_FETCH = 2 };
struct ring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id;
	uint32_t payload_sz;
	uint32_t padding;
	uint64_t reserved;
};
struct ring_req_header {
	char in_out[128];
	char op_in[128];
	struct ring_ent_in_out ent_in_out;
};
struct ring_cmd_req {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct msg {
	const uint8_t *p;
	size_t len;
	uint8_t ctl;
	bool fallback; /* held back, then sent by /dev/fuse */
};

enum kent_state {
	K_AVAIL, /* the kernel holds its command: waits for a request */
	K_USER,	 /* a request is out in userspace */
	K_DEAD,	 /* failed, cancelled or torn down */
};

/* an entry as the kernel sees it */
struct kent {
	struct ring_req_header *hdr;
	uint8_t *payload;
	size_t hdr_len, payload_len;
	uint16_t qid;
	uint8_t state;
	uint64_t user_data; /* of its REGISTER: every CQE carries it */
	uint64_t unique;    /* the request out, K_USER */
	struct ff_req req;
};

enum route { ROUTE_DEV, ROUTE_RING, ROUTE_WAIT };

static struct {
	/* config */
	unsigned cpus;
	unsigned enable;
	bool setup_einval, setup_fail, refuse_register, faults;
	bool active; /* an input runs */
	/* the stream */
	struct msg msgs[MAX_MSGS];
	unsigned nr_msgs, head;
	/* the fake io_uring */
	struct io_uring *ring;
	bool ring_up, ring_was_up;
	unsigned sq_khead, sq_ktail, sq_kflags, sq_kdropped, sq_array[SQ_MAX];
	unsigned cq_khead, cq_ktail, cq_kflags, cq_koverflow;
	unsigned cq_entries;
	int efd;      /* registered with the ring */
	int efd_last; /* ... and after, to see it closed */
	/* the kernel's FUSE ring */
	struct kent ents[MAX_KENTS];
	unsigned nr_ents;
	bool ready; /* every queue had an entry: the ring is on */
	bool dead;  /* the connection went back to /dev/fuse */
	bool unmounted;
	uint64_t next_unique;
} K;

/* 128-byte SQEs: two of liburing's each */
static struct io_uring_sqe sqes[2 * SQ_MAX];
static struct io_uring_cqe cqes[CQ_MAX];

/* ---- the sysfs files fuse_uring_prepare opens ---- */

static int text_file(const char *text)
{
	int fd = memfd_create("lloop-fuzz-sysfs", MFD_CLOEXEC);
	size_t n = strlen(text);

	if (fd < 0 || write(fd, text, n) != (ssize_t)n ||
	    lseek(fd, 0, SEEK_SET) != 0)
		fz_fail("memfd: %s", strerror(errno));
	return fd;
}

static int fake_open(const char *path, int flags, mode_t mode)
{
	char buf[32];

	if (!strcmp(path, POSSIBLE_CPUS)) {
		if (!K.cpus)
			return text_file("none\n");
		if (K.cpus == 1)
			return text_file("0\n");
		snprintf(buf, sizeof(buf), "0-%u\n", K.cpus - 1);
		return text_file(buf);
	}
	if (!strcmp(path, ENABLE_URING)) {
		switch (K.enable) {
		case 0:
			return text_file("Y\n");
		case 1:
			return text_file("N\n");
		case 2:
			errno = ENOENT; /* a kernel without FUSE over io_uring
					 */
			return -1;
		default:
			errno = EACCES;
			return -1;
		}
	}
	return syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

/*
 * Replaces libc's: open(2) of these two files must never reach sysfs.
 * With _FILE_OFFSET_BITS=64 (meson's default) this defines open64, the
 * name uring.c's open() calls are bound to.
 */
int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode = 0;

	va_start(ap, flags);
	if (flags & (O_CREAT | __O_TMPFILE))
		mode = va_arg(ap, mode_t);
	va_end(ap);
	return fake_open(path, flags, mode);
}

/* ---- the kernel's FUSE ring ---- */

static void post_cqe(uint64_t user_data, int res)
{
	struct io_uring_cqe *cqe;
	uint64_t one = 1;

	fz_assert(K.ring_up, "a completion for a ring that is gone");
	fz_assert(K.cq_ktail - K.cq_khead < K.cq_entries,
		  "the CQ overflows: %u completions unread",
		  K.cq_ktail - K.cq_khead);
	cqe = &cqes[K.cq_ktail & (K.cq_entries - 1)];
	*cqe = (struct io_uring_cqe){.user_data = user_data, .res = res};
	K.cq_ktail++;
	fz_debug("ring: CQE %d", res);
	if (K.efd >= 0 && write(K.efd, &one, sizeof(one)) != sizeof(one))
		fz_fail("eventfd write: %s", strerror(errno));
}

static unsigned queue_of(const struct msg *m)
{
	return (m->ctl & 63) % K.cpus;
}

/* the entry a request of queue q goes to now, or NULL: *live, whether
 * the queue has any entry at all */
static struct kent *avail_ent(unsigned q, bool *live)
{
	*live = false;
	for (unsigned i = 0; i < K.nr_ents; i++) {
		struct kent *e = &K.ents[i];

		if (e->qid != q || e->state == K_DEAD)
			continue;
		*live = true;
		if (e->state == K_AVAIL)
			return e;
	}
	return NULL;
}

static enum route route(struct msg *m, struct kent **ent)
{
	bool live;

	*ent = NULL;
	if ((m->ctl & 0x80) || m->fallback || K.dead || K.unmounted)
		return ROUTE_DEV;
	/* nothing but INIT goes out before the INIT reply is in */
	if (!ff.init_replied)
		return ROUTE_WAIT;
	if (!ff.uring_granted)
		return ROUTE_DEV;
	if (!K.ready)
		return ROUTE_WAIT; /* the REGISTERs are to come */
	*ent = avail_ent(queue_of(m), &live);
	if (*ent)
		return ROUTE_RING;
	return live ? ROUTE_WAIT : ROUTE_DEV;
}

/* the size of the opcode's first argument, which goes in op_in */
static size_t first_arg(uint32_t opcode)
{
	switch (opcode) {
	case FUSE_GETATTR:
		return sizeof(struct fuse_getattr_in);
	case FUSE_SETATTR:
		return sizeof(struct fuse_setattr_in);
	case FUSE_OPEN:
		return sizeof(struct fuse_open_in);
	case FUSE_READ:
		return sizeof(struct fuse_read_in);
	case FUSE_WRITE:
		return sizeof(struct fuse_write_in);
	case FUSE_RELEASE:
		return sizeof(struct fuse_release_in);
	case FUSE_FSYNC:
		return sizeof(struct fuse_fsync_in);
	case FUSE_FLUSH:
		return sizeof(struct fuse_flush_in);
	case FUSE_FALLOCATE:
		return sizeof(struct fuse_fallocate_in);
	case FUSE_INIT:
		return sizeof(struct fuse_init_in);
	case FUSE_FORGET:
		return sizeof(struct fuse_forget_in);
	case FUSE_BATCH_FORGET:
		return sizeof(struct fuse_batch_forget_in);
	case FUSE_INTERRUPT:
		return sizeof(struct fuse_interrupt_in);
	default:
		return 0; /* LOOKUP's name, STATFS, DESTROY: none */
	}
}

/* a request into entry e, as fuse_uring_copy_to_ring writes it */
static void deliver(struct kent *e, const struct msg *m)
{
	const uint8_t *p = m->p;
	size_t len = m->len, n, op_in = 0;
	struct fuse_in_header ih = {0};
	uint32_t claim = 0;
	bool raw = m->ctl & 0x40;

	if (raw) {
		n = len < 5 ? len : 5;
		if (n == 5) {
			op_in = p[0];
			claim = ff_le32(p + 1);
		}
		p += n;
		len -= n;
	}
	n = len < sizeof(ih) ? len : sizeof(ih);
	memcpy(&ih, p, n);
	p += n;
	len -= n;
	if (!raw)
		op_in = first_arg(ih.opcode);
	if (op_in > sizeof(e->hdr->op_in))
		op_in = sizeof(e->hdr->op_in);
	if (op_in > len)
		op_in = len;
	ih.unique = K.next_unique;
	K.next_unique += 2;
	memcpy(e->hdr->in_out, &ih, sizeof(ih));
	memcpy(e->hdr->op_in, p, op_in);
	p += op_in;
	len -= op_in;
	n = len < e->payload_len ? len : e->payload_len;
	memcpy(e->payload, p, n);
	e->hdr->ent_in_out = (struct ring_ent_in_out){
		.commit_id = ih.unique,
		.payload_sz = raw ? claim : n,
	};
	/* what lloop reads: in_out, then op_in (stale bytes and all) */
	memset(&e->req, 0, sizeof(e->req));
	memcpy(e->req.head, &ih, sizeof(ih));
	memcpy(e->req.head + sizeof(ih), e->hdr->op_in, FF_HEAD - sizeof(ih));
	e->req.ring = true;
	e->req.data_len = e->hdr->ent_in_out.payload_sz;
	e->unique = ih.unique;
	e->state = K_USER;
	fz_debug("ring: opcode %u (unique %llu) to queue %u", ih.opcode,
		 (unsigned long long)ih.unique, e->qid);
	post_cqe(e->user_data, 0);
}

/* hand the requests at the head of the stream to free entries */
static bool pump(void)
{
	bool any = false;

	while (K.head < K.nr_msgs) {
		struct kent *e;

		if (route(&K.msgs[K.head], &e) != ROUTE_RING)
			break;
		deliver(e, &K.msgs[K.head++]);
		any = true;
	}
	return any;
}

static void unmount(void)
{
	fz_debug("kernel: unmount");
	K.unmounted = true;
	/* fuse_uring_teardown_entries: waiting entries end with ENOTCONN;
	 * the requests out in userspace end, their commits will fail */
	for (unsigned i = 0; i < K.nr_ents; i++) {
		struct kent *e = &K.ents[i];

		if (e->state == K_AVAIL) {
			e->state = K_DEAD;
			post_cqe(e->user_data, -ENOTCONN);
		}
	}
}

static bool all_queues_ready(void)
{
	for (unsigned q = 0; q < K.cpus; q++) {
		bool live;

		if (!avail_ent(q, &live))
			return false;
	}
	return true;
}

static void overlap_check(const void *p, size_t len)
{
	struct pool *pool = &ff.srv.workers[0].pool;

	fz_assert(fz_inside(p, len, pool->arena, pool->buddy.size),
		  "an entry's buffer outside the pool");
	for (unsigned i = 0; i < K.nr_ents; i++) {
		const struct kent *e = &K.ents[i];
		const char *a = p;

		if (e->state == K_DEAD)
			continue;
		fz_assert(a + len <= (char *)e->hdr ||
				  a >= (char *)e->hdr + e->hdr_len,
			  "an entry's buffer overlaps entry %u's headers", i);
		fz_assert(a + len <= (char *)e->payload ||
				  a >= (char *)e->payload + e->payload_len,
			  "an entry's buffer overlaps entry %u's payload", i);
	}
}

static void cmd_register(const struct io_uring_sqe *sqe,
			 const struct ring_cmd_req *c)
{
	const struct iovec *iov = (const void *)(uintptr_t)sqe->addr;
	struct kent *e;

	fz_assert(ff.init_replied && ff.uring_granted,
		  "REGISTER before an INIT reply took the ring");
	if (K.unmounted) {
		post_cqe(sqe->user_data, -ECONNABORTED);
		return;
	}
	fz_assert(sqe->len == 2 && iov, "REGISTER of %u iovecs", sqe->len);
	fz_assert(iov[0].iov_len >= sizeof(struct ring_req_header) &&
			  iov[1].iov_len >= FUSE_MAX_WRITE,
		  "REGISTER with headers of %zu, payload of %zu",
		  iov[0].iov_len, iov[1].iov_len);
	overlap_check(iov[0].iov_base, iov[0].iov_len);
	overlap_check(iov[1].iov_base, iov[1].iov_len);
	fz_assert((char *)iov[0].iov_base + iov[0].iov_len <=
				  (char *)iov[1].iov_base ||
			  (char *)iov[1].iov_base + iov[1].iov_len <=
				  (char *)iov[0].iov_base,
		  "an entry's headers overlap its payload");
	if (K.refuse_register && c->qid == K.cpus - 1) {
		/* fc->io_uring = 0: the connection stays on /dev/fuse */
		K.dead = true;
		post_cqe(sqe->user_data, -EINVAL);
		return;
	}
	fz_assert(K.nr_ents < MAX_KENTS, "more than %d entries", MAX_KENTS);
	e = &K.ents[K.nr_ents++];
	*e = (struct kent){
		.hdr = iov[0].iov_base,
		.hdr_len = iov[0].iov_len,
		.payload = iov[1].iov_base,
		.payload_len = iov[1].iov_len,
		.qid = c->qid,
		.state = K_AVAIL,
		.user_data = sqe->user_data,
	};
	if (!K.ready && all_queues_ready()) {
		fz_debug("kernel: the ring is ready");
		K.ready = true;
	}
}

static void cmd_commit(const struct io_uring_sqe *sqe,
		       const struct ring_cmd_req *c)
{
	const struct fuse_out_header *oh;
	struct kent *e = NULL;
	uint32_t psz;

	if (K.unmounted) {
		post_cqe(sqe->user_data, -ECONNABORTED);
		return;
	}
	for (unsigned i = 0; i < K.nr_ents; i++)
		if (K.ents[i].state == K_USER &&
		    K.ents[i].unique == c->commit_id && K.ents[i].qid == c->qid)
			e = &K.ents[i];
	fz_assert(e,
		  "COMMIT_AND_FETCH of commit id %llu on queue %u: no "
		  "such request out",
		  (unsigned long long)c->commit_id, c->qid);
	fz_assert(sqe->user_data == e->user_data,
		  "the commit of one entry's request came by another entry");
	oh = (const void *)e->hdr->in_out;
	psz = e->hdr->ent_in_out.payload_sz;
	fz_assert(oh->unique == e->unique,
		  "ring reply to unique %llu, request was %llu",
		  (unsigned long long)oh->unique,
		  (unsigned long long)e->unique);
	fz_assert(psz <= e->payload_len && psz <= FUSE_MAX_WRITE,
		  "ring reply payload_sz %u", psz);
	fz_assert(oh->len == sizeof(*oh) + psz,
		  "ring reply out header says %u, payload_sz %u", oh->len, psz);
	ff_check_reply(&e->req, oh->error, e->payload, psz);
	/* the entry waits for the next request (fuse_uring_next_fuse_req) */
	e->state = K_AVAIL;
}

static void command(const struct io_uring_sqe *sqe)
{
	const struct ring_cmd_req *c = (const void *)sqe->cmd;

	fz_assert(sqe->opcode == IORING_OP_URING_CMD && sqe->fd == ff.fd,
		  "SQE opcode %u on fd %d", sqe->opcode, sqe->fd);
	fz_assert(c->qid < K.cpus, "command for queue %u of %u", c->qid,
		  K.cpus);
	/* refused for now (the task was busy): not looked at, retried */
	if (K.faults && fz_rand(32) == 0) {
		post_cqe(sqe->user_data, fz_rand(2) ? -EAGAIN : -EINTR);
		return;
	}
	switch (sqe->cmd_op) {
	case CMD_REGISTER:
		cmd_register(sqe, c);
		break;
	case CMD_COMMIT_AND_FETCH:
		cmd_commit(sqe, c);
		break;
	default:
		fz_fail("ring command %u", sqe->cmd_op);
	}
}

/* ---- liburing, as uring.c calls it ---- */

static unsigned pow2(unsigned n)
{
	unsigned p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

int io_uring_queue_init_params(unsigned entries, struct io_uring *ring,
			       struct io_uring_params *p)
{
	unsigned sq = pow2(entries), cq;

	fz_assert(!K.ring_up, "a second ring");
	fz_assert((p->flags & IORING_SETUP_SQE128) &&
			  (p->flags & IORING_SETUP_CQSIZE),
		  "a ring without 128-byte SQEs or its CQ size");
	if (K.setup_fail)
		return -ENOMEM;
	if (K.setup_einval && (p->flags & (IORING_SETUP_COOP_TASKRUN |
					   IORING_SETUP_SINGLE_ISSUER)))
		return -EINVAL;
	cq = pow2(p->cq_entries);
	fz_assert(sq <= SQ_MAX && cq <= CQ_MAX && cq >= sq,
		  "a ring of %u SQEs, %u CQEs", entries, p->cq_entries);
	memset(ring, 0, sizeof(*ring));
	memset(sqes, 0, sizeof(sqes));
	K.sq_khead = K.sq_ktail = K.cq_khead = K.cq_ktail = 0;
	ring->flags = p->flags;
	ring->ring_fd = -1;
	ring->sq.khead = &K.sq_khead;
	ring->sq.ktail = &K.sq_ktail;
	ring->sq.kflags = &K.sq_kflags;
	ring->sq.kdropped = &K.sq_kdropped;
	ring->sq.array = K.sq_array;
	ring->sq.sqes = sqes;
	ring->sq.ring_mask = sq - 1;
	ring->sq.ring_entries = sq;
	ring->cq.khead = &K.cq_khead;
	ring->cq.ktail = &K.cq_ktail;
	ring->cq.kflags = &K.cq_kflags;
	ring->cq.koverflow = &K.cq_koverflow;
	ring->cq.cqes = cqes;
	ring->cq.ring_mask = cq - 1;
	ring->cq.ring_entries = cq;
	K.cq_entries = cq;
	K.ring = ring;
	K.ring_up = K.ring_was_up = true;
	return 0;
}

int io_uring_register_eventfd(struct io_uring *ring, int fd)
{
	fz_assert(K.ring_up && ring == K.ring, "eventfd for no ring");
	fz_assert(fd >= 0 && K.efd < 0, "eventfd %d registered again", fd);
	K.efd = K.efd_last = fd;
	return 0;
}

int io_uring_submit(struct io_uring *ring)
{
	struct io_uring_sq *sq = &ring->sq;
	int n = 0;

	fz_assert(K.ring_up && ring == K.ring,
		  "submit on a ring not set up, or exited");
	while (sq->sqe_head != sq->sqe_tail) {
		command(&sq->sqes[(sq->sqe_head & sq->ring_mask) << 1]);
		sq->sqe_head++;
		n++;
	}
	K.sq_khead = K.sq_ktail = sq->sqe_tail;
	/* a commit fetches at once when a request waits; or later */
	if (!fz_scheduled() || fz_rand(2))
		pump();
	if (K.faults && K.head == K.nr_msgs && !K.unmounted && fz_rand(8) == 0)
		unmount();
	return n;
}

unsigned io_uring_peek_batch_cqe(struct io_uring *ring,
				 struct io_uring_cqe **out, unsigned count)
{
	unsigned n = 0;

	fz_assert(K.ring_up && ring == K.ring, "reaping a ring not set up");
	fz_assert(*ring->cq.khead == K.cq_khead, "the CQ head moved");
	while (n < count && K.cq_khead + n != K.cq_ktail) {
		out[n] = &cqes[(K.cq_khead + n) & (K.cq_entries - 1)];
		n++;
	}
	return n;
}

void io_uring_queue_exit(struct io_uring *ring)
{
	fz_assert(K.ring_up && ring == K.ring, "exit of a ring not set up");
	/*
	 * The commands it held are cancelled; lloop answers a request out
	 * in userspace only while the ring is up, so none may be left.
	 */
	for (unsigned i = 0; i < K.nr_ents; i++) {
		struct kent *e = &K.ents[i];

		fz_assert(e->state != K_USER || K.unmounted,
			  "the ring exited with opcode %u (unique %llu) "
			  "unanswered",
			  ((struct fuse_in_header *)e->req.head)->opcode,
			  (unsigned long long)e->unique);
		e->state = K_DEAD;
	}
	K.dead = true;
	K.ring_up = false;
	K.efd = -1;
	memset(ring, 0, sizeof(*ring));
}

/* ---- the engine's side ---- */

static int fuse_recv(struct op *op)
{
	size_t cap;
	ssize_t n;

	if (op->kind == OP_READ_WAKE) {
		n = read(op->fd, op->buf, op->len);
		return n < 0 ? -errno : (int)n;
	}
	cap = ff_dev_room(op);
	for (;;) {
		struct msg *m;
		struct kent *e;

		if (K.unmounted || K.head == K.nr_msgs)
			return -ENODEV;
		m = &K.msgs[K.head];
		fz_assert(route(m, &e) == ROUTE_DEV, "a read with no message");
		K.head++;
		/* the kernel fails a request too big for the read itself */
		if (m->len <= cap)
			return ff_dev_deliver(op, m->p, m->len);
	}
}

static bool fuse_ready(struct op *op)
{
	struct pollfd pfd = {.fd = op->fd, .events = POLLIN};
	struct kent *e;

	if (op->kind == OP_READ_WAKE)
		return poll(&pfd, 1, 0) == 1;
	if (op->kind != OP_READV)
		return true;
	if (K.unmounted)
		return true;
	return K.head < K.nr_msgs && route(&K.msgs[K.head], &e) == ROUTE_DEV;
}

/* nothing can happen: the kernel moves on */
static bool fuse_stall(void)
{
	struct kent *e;

	if (!K.active || K.unmounted)
		return false;
	if (pump())
		return true;
	if (K.head < K.nr_msgs && route(&K.msgs[K.head], &e) == ROUTE_WAIT) {
		/* the ring is not up (yet): the classic way */
		K.msgs[K.head].fallback = true;
		return true;
	}
	unmount();
	return true;
}

static const struct fz_hooks uring_hooks = {
	.recv = fuse_recv,
	.send = ff_dev_reply,
	.sent = ff_dev_sent,
	.io = ff_io,
	.ready = fuse_ready,
	.stall = fuse_stall,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	K.efd = K.efd_last = -1;
	ff_setup(&uring_hooks, NR_SLOTS, ARENA);
	/* fuse_uring_prepare wants the io_uring engine; the worker runs on
	 * the fake one all the same (it took its engine at worker_init) */
	ff.srv.engine = &uring_engine;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 2;

	if (size < 2)
		return 0;
	ff_begin(data[0]);
	memset(&K, 0, sizeof(K));
	K.efd = K.efd_last = -1;
	K.faults = (data[0] >> 4) & 1;
	K.cpus = data[1] & 7;
	K.enable = (data[1] >> 3) & 3;
	K.setup_einval = data[1] & 0x20;
	K.setup_fail = data[1] & 0x40;
	K.refuse_register = data[1] & 0x80;
	K.next_unique = 0x10000; /* the ring's ids: even, never 0 */
	K.active = true;
	while (size - pos >= 5 && K.nr_msgs < MAX_MSGS) {
		struct msg *m = &K.msgs[K.nr_msgs++];
		size_t len = ff_le32(data + pos + 1);

		m->ctl = data[pos];
		pos += 5;
		if (len > size - pos)
			len = size - pos;
		m->p = data + pos;
		m->len = len;
		pos += len;
	}
	ff_run(true);
	K.active = false;

	fz_assert(!K.ring_up, "the session ended with its ring up");
	if (K.efd_last >= 0)
		fz_assert(fcntl(K.efd_last, F_GETFD) < 0 && errno == EBADF,
			  "the ring's eventfd %d was left open", K.efd_last);
	for (unsigned i = 0; i < K.nr_ents; i++)
		fz_assert(K.ents[i].state == K_DEAD,
			  "entry %u left with the "
			  "kernel",
			  i);
	return 0;
}
