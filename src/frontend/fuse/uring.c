// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * FUSE over io_uring (Linux 6.14, protocol 7.42): the kernel hands
 * requests to entries we register on /dev/fuse with IORING_OP_URING_CMD,
 * and takes each reply with the fetch of the next request in one
 * COMMIT_AND_FETCH: no read(2) and write(2) per request.
 *
 * What the kernel wants (fs/fuse/dev_uring.c):
 *  - a ring with 128-byte SQEs: the command (struct fuse_uring_cmd_req)
 *    lives in the SQE's 80-byte area;
 *  - one queue per possible CPU (qid), each with at least one entry,
 *    before it switches the connection over (is_ring_ready); it queues a
 *    request on the queue of the CPU that makes it;
 *  - INIT still comes by /dev/fuse, and the reply must grant
 *    FUSE_OVER_IO_URING, which the kernel honours only while the fuse
 *    module's enable_uring is Y; the entries register after that reply
 *    (before it, REGISTER fails with EAGAIN);
 *  - an entry is two buffers, given as an iovec pair in sqe->addr: the
 *    headers (struct fuse_uring_req_header) and a payload of at least
 *    max_write.  FORGET and INTERRUPT keep coming by /dev/fuse.
 *
 * The ring is this session's own, on worker 0, beside the worker's
 * engine ring: an eventfd registered with it wakes the worker through
 * the engine (OP_READ_WAKE), so the worker still never blocks.  The
 * kernel copies a request into an entry's buffers in the task that
 * submitted the entry's command: the worker, when it next enters the
 * kernel (it does in every round).  Each entry is a slot from the pool
 * like the /dev/fuse ones (a descriptor and a 2 MiB buffer: the payload
 * at its start, the headers in its last page), taken at start-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "frontend/fuse/transport.h"

#define ENABLE_URING "/sys/module/fuse/parameters/enable_uring"
#define POSSIBLE_CPUS "/sys/devices/system/cpu/possible"
#define URING_MINOR 42
#define MAX_QUEUE_DEPTH 16	/* entries per queue, at most */
#define ENT_HDR_OFF (FUSE_SLOT_BUF_LEN - 4096) /* headers: the last page */
#define RETRIES 8		/* EAGAIN/EINTR on one command */

/* the uapi of 7.42, newer than the headers here */
#define URING_IN_OUT_HEADER_SZ 128
#define URING_OP_IN_OUT_SZ 128
enum { CMD_REGISTER = 1, CMD_COMMIT_AND_FETCH = 2 };

struct uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id;
	uint32_t payload_sz;
	uint32_t padding;
	uint64_t reserved;
};

struct uring_req_header {
	char in_out[URING_IN_OUT_HEADER_SZ]; /* fuse_in/out_header */
	char op_in[URING_OP_IN_OUT_SZ];	     /* the opcode's first arg */
	struct uring_ent_in_out ring_ent_in_out;
};

struct uring_cmd_req {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

_Static_assert(sizeof(struct uring_cmd_req) <= 80, "SQE128 command area");

enum ent_state {
	ENT_IDLE,	/* not given to the kernel yet */
	ENT_KERNEL,	/* a command is in the kernel */
	ENT_BUSY,	/* holds a request we answer */
	ENT_GONE,	/* back in the pool */
};

struct ring_ent {
	struct request *rq;
	struct uring_req_header *hdr;
	struct iovec iov[2];	/* REGISTER: headers, payload */
	uint64_t commit_id;
	uint16_t qid;
	uint8_t state;
	uint8_t cmd;		/* the last command, for a retry */
	uint8_t retries;
};

struct fuse_ring {
	struct fuse_session *fs;
	struct io_uring ring;
	bool ring_up;		/* ring is set up, not yet exited */
	bool closed;		/* no more commands: entries just go */
	int efd;		/* the ring's completions wake the worker */
	struct op wake_op;
	uint64_t wake_buf;
	bool wake_armed;
	unsigned nr_queues, depth;
	unsigned nr_ents;	/* nr_queues * depth */
	unsigned live_ents;	/* not ENT_GONE */
	bool granted;		/* an INIT reply took the ring */
	bool registered;	/* the entries went to the kernel */
	bool warned;
	struct ring_ent ents[];
};

static void ring_flush(struct task *t);

/* ---- before the worker starts: the engine, the kernel's switch ---- */

/* CPUs in a list like "0-3,8-11": the kernel's num_possible_cpus() */
static int possible_cpus(void)
{
	char buf[1024], *p = buf;
	int fd = open(POSSIBLE_CPUS, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	int count = 0;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	while (*p >= '0' && *p <= '9') {
		long a = strtol(p, &p, 10), b = a;

		if (*p == '-')
			b = strtol(p + 1, &p, 10);
		if (b < a || b - a > 65535)
			return -EIO;
		count += b - a + 1;
		if (*p != ',')
			break;
		p++;
	}
	return count > 0 && count <= 65536 ? count : -EIO;
}

/*
 * enable_uring is global.  Left Y when we end: a connection that has
 * switched to the ring keeps it either way, but another server between
 * its INIT and its registration (another lloop, say) would be refused.
 */
static int enable_uring(void)
{
	char v = 0;
	int fd = open(ENABLE_URING, O_RDWR | O_CLOEXEC);
	int err;

	if (fd < 0) {
		err = -errno;
		log_warn("fuse: --fuse-uring: this kernel has no FUSE over "
			 "io_uring (%s: %s): serving /dev/fuse with read and "
			 "write",
			 ENABLE_URING, strerror(errno));
		return err;
	}
	if (read(fd, &v, 1) != 1) {
		err = -EIO;
		goto fail;
	}
	if (v == 'Y') {
		close(fd);
		return 0;
	}
	if (pwrite(fd, "Y", 1, 0) != 1) {
		err = -errno;
		goto fail;
	}
	close(fd);
	log_warn("fuse: --fuse-uring: %s was N, set it to Y (it stays Y "
		 "when lloop ends: other FUSE servers may rely on it)",
		 ENABLE_URING);
	return 0;
fail:
	log_warn("fuse: --fuse-uring: cannot set %s to Y: %s: serving "
		 "/dev/fuse with read and write",
		 ENABLE_URING, strerror(-err));
	close(fd);
	return err;
}

int fuse_uring_prepare(struct fuse_session *fs)
{
	struct fuse_ring *r;
	int cpus;

	if (fs->srv->engine != &uring_engine) {
		log_warn("fuse: --fuse-uring needs the io_uring engine, not "
			 "%s: serving /dev/fuse with read and write",
			 fs->srv->engine->name);
		return -ENOTSUP;
	}
	cpus = possible_cpus();
	if (cpus > 4096)
		cpus = -E2BIG; /* rq->wire_type indexes the entries */
	if (cpus < 0) {
		log_warn("fuse: --fuse-uring: %s: %s: serving /dev/fuse with "
			 "read and write",
			 POSSIBLE_CPUS, strerror(-cpus));
		return cpus;
	}
	if (enable_uring() < 0)
		return -ENOTSUP;
	/* at start-up, for the most entries the pool might hold */
	r = calloc(1, sizeof(*r) + (size_t)cpus * MAX_QUEUE_DEPTH *
					   sizeof(struct ring_ent));
	if (!r)
		return -ENOMEM;
	r->fs = fs;
	r->nr_queues = cpus;
	r->efd = -1;
	fs->ring_flush.run = ring_flush;
	fs->ring = r;
	return 0;
}

/* ---- entries ---- */

unsigned fuse_uring_entries(const struct fuse_session *fs)
{
	return fs->ring ? fs->ring->nr_ents : 0;
}

static void ring_finish(struct fuse_ring *r);

/*
 * The last fuse_live_put ends the session and frees the ring: it is the
 * last thing a function does, and loops over entries hold the session
 * (ring_hold) while they run.
 */
static void ring_hold(struct fuse_ring *r)
{
	r->fs->live_slots++;
}

static void ring_unhold(struct fuse_session *fs)
{
	fuse_live_put(fs);
}

void fuse_uring_free(struct fuse_session *fs)
{
	free(fs->ring);
	fs->ring = NULL;
}

static void ent_release(struct fuse_ring *r, struct ring_ent *e)
{
	struct fuse_session *fs = r->fs;

	e->state = ENT_GONE;
	pool_put_request(&fs->w->pool, e->rq);
	worker_pool_returned(fs->w);
	e->rq = NULL;
	if (--r->live_ents == 0)
		ring_finish(r);
	fuse_live_put(fs);
}

/* take depth entries for each queue, or nothing */
static int ents_take(struct fuse_ring *r, unsigned depth)
{
	struct pool *pool = &r->fs->w->pool;
	unsigned n = r->nr_queues * depth, i;

	for (i = 0; i < n; i++) {
		struct ring_ent *e = &r->ents[i];
		struct request *rq = pool_take_request(pool);

		if (!rq)
			break;
		rq->buf = pool_take_buffer(pool, FUSE_SLOT_BUF_LEN);
		if (!rq->buf) {
			pool_put_request(pool, rq);
			break;
		}
		rq->buf_len = FUSE_SLOT_BUF_LEN;
		*e = (struct ring_ent){
			.rq = rq,
			.hdr = (void *)(rq->buf + ENT_HDR_OFF),
			.qid = i % r->nr_queues,
			.state = ENT_IDLE,
		};
		e->iov[0] = (struct iovec){ e->hdr, sizeof(*e->hdr) };
		e->iov[1] = (struct iovec){ rq->buf, ENT_HDR_OFF };
	}
	if (i == n) {
		r->depth = depth;
		r->nr_ents = r->live_ents = n;
		return 0;
	}
	while (i-- > 0)
		pool_put_request(pool, r->ents[i].rq);
	return -ENOMEM;
}

static void ring_woken(struct op *op, int res);

static void wake_arm(struct fuse_ring *r)
{
	r->wake_op = (struct op){ .done = ring_woken, .kind = OP_READ_WAKE,
				  .fd = r->efd, .buf = &r->wake_buf,
				  .len = sizeof(r->wake_buf) };
	r->wake_armed = true;
	r->fs->w->eng->submit(r->fs->w, &r->wake_op);
}

static int ring_open(struct fuse_ring *r)
{
	unsigned sq = r->nr_ents + 8;
	struct io_uring_params p = {
		/* SUBMIT_ALL: a command the kernel cannot take completes
		 * with its error instead of stopping the ones behind it */
		.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE |
			 IORING_SETUP_COOP_TASKRUN |
			 IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_SUBMIT_ALL,
		.cq_entries = 2 * sq,
	};
	int ret = io_uring_queue_init_params(sq, &r->ring, &p);

	if (ret == -EINVAL) {
		p = (struct io_uring_params){
			.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE,
			.cq_entries = 2 * sq,
		};
		ret = io_uring_queue_init_params(sq, &r->ring, &p);
	}
	if (ret < 0)
		return ret;
	r->ring_up = true;
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->efd < 0)
		return -errno;
	return io_uring_register_eventfd(&r->ring, r->efd);
}

/*
 * The ring is done with: exit it (the kernel cancels what commands are
 * left), and once the engine is done with the eventfd, close that too.
 */
static void ring_close(struct fuse_ring *r)
{
	r->closed = true;
	if (r->ring_up) {
		io_uring_queue_exit(&r->ring);
		r->ring_up = false;
	}
	if (r->wake_armed) {
		r->fs->w->eng->cancel(r->fs->w, &r->wake_op);
		return; /* ring_woken finishes */
	}
	if (r->efd >= 0)
		close(r->efd);
	r->efd = -1;
	fuse_live_put(r->fs); /* the ring itself */
}

static void ring_finish(struct fuse_ring *r)
{
	if (!r->closed)
		ring_close(r);
}

/* give the ring up: its commands (if any) cancelled, entries back */
static void ring_abandon(struct fuse_ring *r)
{
	struct fuse_session *fs = r->fs;

	ring_hold(r);
	fs->want_uring = false;
	ring_close(r);
	for (unsigned i = 0; i < r->nr_ents; i++)
		if (r->ents[i].state == ENT_IDLE ||
		    r->ents[i].state == ENT_KERNEL)
			ent_release(r, &r->ents[i]);
	ring_unhold(fs);
}

int fuse_uring_setup(struct fuse_session *fs)
{
	struct fuse_ring *r = fs->ring;
	unsigned depth = fs->nr_slots < MAX_QUEUE_DEPTH ? fs->nr_slots :
							  MAX_QUEUE_DEPTH;
	uint32_t align = fs->exp->be->align;
	int ret;

	/* an unaligned request's bounce span must stay clear of the
	 * headers in the buffer's last page */
	if ((uint64_t)FUSE_MAX_WRITE + 4 * (uint64_t)align > ENT_HDR_OFF) {
		log_warn("fuse: --fuse-uring: the backend's alignment, %u, "
			 "is too large: serving /dev/fuse with read and write",
			 align);
		goto fail;
	}
	while (depth > 0 && ents_take(r, depth) < 0)
		depth--;
	if (depth == 0) {
		log_warn("fuse: --fuse-uring needs a request and a 2 MiB "
			 "buffer for each of the %u possible CPUs beside the "
			 "/dev/fuse slots, more than the pool holds (raise "
			 "--queue-depth or --buffer-memory): serving /dev/fuse "
			 "with read and write",
			 r->nr_queues);
		goto fail;
	}
	ret = ring_open(r);
	if (ret < 0) {
		log_warn("fuse: --fuse-uring: cannot set up a ring: %s: "
			 "serving /dev/fuse with read and write",
			 strerror(-ret));
		/* entries plus the ring: ring_abandon puts them all */
		fs->live_slots += r->nr_ents + 1;
		ring_abandon(r);
		return 0;
	}
	log_debug("fuse: io_uring set up: %u queues of %u entries",
		  r->nr_queues, r->depth);
	return r->nr_ents + 1;
fail:
	free(r);
	fs->ring = NULL;
	fs->want_uring = false;
	return 0;
}

bool fuse_uring_grant(struct fuse_session *fs, const struct fuse_init_in *in)
{
	struct fuse_ring *r = fs->ring;

	/* given up already, and said why; or taken by an INIT before (the
	 * kernel sends one): its entries are registered once */
	if (r->closed || r->granted)
		return false;
	/*
	 * The kernel offers FUSE_OVER_IO_URING in INIT only if enable_uring
	 * was Y when it mounted; it honours the flag in the reply if it is Y
	 * now (process_init_reply), as it is since fuse_uring_prepare.
	 */
	if (in->minor >= URING_MINOR && (in->flags & FUSE_INIT_EXT)) {
		r->granted = true;
		return true;
	}
	log_warn("fuse: --fuse-uring: the kernel speaks FUSE 7.%u%s: serving "
		 "/dev/fuse with read and write",
		 in->minor,
		 in->flags & FUSE_INIT_EXT ? "" : " without INIT flags2");
	ring_abandon(r);
	return false;
}

/* ---- commands ---- */

static struct io_uring_sqe *ring_sqe(struct fuse_ring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	/* not reached: the SQ has room for a command per entry */
	while (!sqe) {
		io_uring_submit(&r->ring);
		sqe = io_uring_get_sqe(&r->ring);
	}
	memset(sqe, 0, 2 * sizeof(*sqe)); /* the command area too */
	return sqe;
}

static void ent_command(struct fuse_ring *r, struct ring_ent *e, int cmd)
{
	struct io_uring_sqe *sqe = ring_sqe(r);
	struct uring_cmd_req *req = (void *)sqe->cmd;

	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = r->fs->fd;
	sqe->cmd_op = cmd;
	if (cmd == CMD_REGISTER) {
		sqe->addr = (uintptr_t)e->iov;
		sqe->len = 2;
	}
	req->qid = e->qid;
	req->commit_id = cmd == CMD_COMMIT_AND_FETCH ? e->commit_id : 0;
	io_uring_sqe_set_data(sqe, e);
	e->cmd = cmd;
	e->state = ENT_KERNEL;
	worker_soon(r->fs->w, &r->fs->ring_flush);
}

/* a request arrived in e: decode it into fs->scratch and answer it */
static void ent_request(struct fuse_ring *r, struct ring_ent *e)
{
	struct fuse_session *fs = r->fs;
	struct request *rq = e->rq;
	struct fuse_in_header *ih = (void *)fs->scratch;
	const struct uring_ent_in_out *io = &e->hdr->ring_ent_in_out;
	size_t payload = io->payload_sz, args_len;

	fuse_rq_reset(fs, rq);
	rq->wire_flags = FUSE_RQ_RING;
	rq->wire_type = e - r->ents;
	e->state = ENT_BUSY;
	e->retries = 0;
	e->commit_id = io->commit_id;
	memcpy(ih, e->hdr->in_out, sizeof(*ih));
	rq->cookie = ih->unique;
	if (!atomic_load(&fs->uring_active)) {
		atomic_store(&fs->uring_active, true);
		log_info("fuse: requests come through io_uring: %u queues of "
			 "%u entries",
			 r->nr_queues, r->depth);
	}
	if (ih->len < sizeof(*ih) || payload > FUSE_MAX_WRITE ||
	    ih->len - sizeof(*ih) < payload) {
		log_error("fuse: malformed ring request (%u bytes, %zu of "
			  "payload)",
			  ih->len, payload);
		fuse_uring_reply(rq, -EIO, NULL, 0);
		return;
	}
	/* the first argument is in op_in, the rest (a write's data) in
	 * the payload, at rq->buf */
	args_len = ih->len - sizeof(*ih) - payload;
	if (args_len > URING_OP_IN_OUT_SZ)
		args_len = URING_OP_IN_OUT_SZ;
	memcpy(fs->scratch + sizeof(*ih), e->hdr->op_in, args_len);
	fuse_dispatch(fs, rq, ih, fs->scratch + sizeof(*ih), args_len,
		      payload);
}

static const char *cmd_name(int cmd)
{
	return cmd == CMD_REGISTER ? "REGISTER" : "COMMIT_AND_FETCH";
}

static void ent_completed(struct fuse_ring *r, struct ring_ent *e, int res)
{
	if (e->state != ENT_KERNEL)
		return; /* released when the ring was abandoned */
	if (res == 0 && !r->closed) {
		ent_request(r, e);
		return;
	}
	/* an error here means the kernel did not take the command: a
	 * commit's reply was not delivered, so send it again while that
	 * may yet work */
	if ((res == -EAGAIN || res == -EINTR || res == -ENOMEM) &&
	    e->retries++ < RETRIES && !r->closed) {
		ent_command(r, e, e->cmd);
		return;
	}
	/* ENOTCONN, ECONNABORTED: the connection ends; ECANCELED: we do */
	if (res < 0 && res != -ENOTCONN && res != -ECONNABORTED &&
	    res != -ECANCELED && !r->warned) {
		r->warned = true;
		log_warn("fuse: io_uring %s: %s", cmd_name(e->cmd),
			 strerror(-res));
	}
	ent_release(r, e);
}

/* run the completions waiting in the ring */
static void ring_reap(struct fuse_ring *r)
{
	struct fuse_session *fs = r->fs;
	struct io_uring_cqe *cqes[32];
	struct ring_ent *ents[32];
	int res[32];
	unsigned n = 0;

	ring_hold(r);
	do {
		if (!r->ring_up)
			break;
		/* take a batch first: answering submits more */
		n = io_uring_peek_batch_cqe(&r->ring, cqes, 32);
		for (unsigned i = 0; i < n; i++) {
			ents[i] = io_uring_cqe_get_data(cqes[i]);
			res[i] = cqes[i]->res;
		}
		io_uring_cq_advance(&r->ring, n);
		for (unsigned i = 0; i < n; i++)
			ent_completed(r, ents[i], res[i]);
	} while (n == 32);
	ring_unhold(fs);
}

/* after a round of completions: the commits it made, in one syscall */
static void ring_flush(struct task *t)
{
	struct fuse_session *fs = (void *)((char *)t -
					   offsetof(struct fuse_session,
						    ring_flush));
	struct fuse_ring *r = fs->ring;
	int ret;

	/* the task is the session's: the ring may be gone by now */
	if (!r || !r->ring_up)
		return;
	ret = io_uring_submit(&r->ring);
	if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
		log_error_ratelimited("fuse: io_uring submit: %s",
				      strerror(-ret));
	/*
	 * The kernel stops at a command it cannot take (no memory for its
	 * state, say): each left carries a reply a caller waits for, and
	 * nothing else would submit them.  Again on the next round.
	 */
	if (io_uring_sq_ready(&r->ring))
		worker_soon(fs->w, &fs->ring_flush);
	/* a commit fetches the next request at once if one waits */
	ring_reap(r);
}

static void ring_woken(struct op *op, int res)
{
	struct fuse_ring *r = (void *)((char *)op - offsetof(struct fuse_ring,
							     wake_op));

	r->wake_armed = false;
	if (r->closed) {
		/* ring_close cancelled us: the last thing to finish */
		if (r->efd >= 0)
			close(r->efd);
		r->efd = -1;
		fuse_live_put(r->fs);
		return;
	}
	if (res < 0 && res != -EAGAIN && res != -EINTR)
		log_error("fuse: io_uring eventfd: %s", strerror(-res));
	wake_arm(r);
	ring_reap(r);
}

void fuse_uring_init_replied(struct fuse_session *fs, int res)
{
	struct fuse_ring *r = fs->ring;
	unsigned short_queues = 0;
	int ret;

	if (r->closed)
		return;
	if (res < 0) {
		ring_abandon(r);
		return;
	}
	for (unsigned i = 0; i < r->nr_ents; i++)
		ent_command(r, &r->ents[i], CMD_REGISTER);
	wake_arm(r);
	/*
	 * The kernel has granted the ring and now holds every request until
	 * its queues are registered: giving up here would leave the mount
	 * hanging, so a failure that may pass is tried again, for a while.
	 */
	for (int i = 0; i < 100; i++) {
		ret = io_uring_submit(&r->ring);
		if (ret >= 0 && !io_uring_sq_ready(&r->ring))
			break;
		if (ret < 0 && ret != -EAGAIN && ret != -EINTR &&
		    ret != -ENOMEM && ret != -EBUSY)
			break;
		usleep(10000);
	}
	if (ret < 0) {
		log_warn("fuse: --fuse-uring: cannot submit the entries: %s: "
			 "serving /dev/fuse with read and write",
			 strerror(-ret));
		ring_abandon(r);
		return;
	}
	r->registered = true;
	/* a refused REGISTER completes at once: see which queues stand */
	ring_reap(r);
	/* entry i serves queue i % nr_queues */
	for (unsigned q = 0; q < r->nr_queues; q++) {
		unsigned i = q;

		while (i < r->nr_ents && r->ents[i].state == ENT_GONE)
			i += r->nr_queues;
		short_queues += i >= r->nr_ents;
	}
	if (short_queues) {
		/* the kernel never switches over; it went back to /dev/fuse
		 * at the first refusal */
		log_warn("fuse: --fuse-uring: the kernel refused the entries "
			 "of %u of %u queues: serving /dev/fuse with read and "
			 "write",
			 short_queues, r->nr_queues);
		ring_abandon(r);
		return;
	}
	log_debug("fuse: %u io_uring entries registered", r->nr_ents);
}

void fuse_uring_reply(struct request *rq, int err, const void *body,
		      size_t len)
{
	struct fuse_session *fs = rq->conn;
	struct fuse_ring *r = fs->ring;
	struct ring_ent *e = &r->ents[rq->wire_type];
	struct fuse_out_header *oh = (void *)e->hdr->in_out;

	if (r->closed) {
		ent_release(r, e);
		return;
	}
	/* the payload is the buffer's start: a read placed past a bounce
	 * head moves down */
	if (len && body != rq->buf)
		memmove(rq->buf, body, len);
	oh->len = sizeof(*oh) + len;
	oh->error = err;
	oh->unique = rq->cookie;
	e->hdr->ring_ent_in_out.payload_sz = len;
	e->retries = 0;
	ent_command(r, e, CMD_COMMIT_AND_FETCH);
}

/*
 * /dev/fuse is over (unmounted, or DESTROY came).  Entries the kernel
 * holds end with its unmount or abort, and a request it has handed to
 * one (even one whose completion we have not reaped yet) still wants
 * its answer; so the ring stays.  Entries that never went to the kernel
 * (INIT failed, or never came) would wait for ever: give them up.
 */
void fuse_uring_dev_ended(struct fuse_session *fs)
{
	struct fuse_ring *r = fs->ring;

	if (r && !r->closed && !r->registered)
		ring_abandon(r);
}

void fuse_uring_stop(struct fuse_session *fs, bool force)
{
	struct fuse_ring *r = fs->ring;

	/*
	 * Drained, the unmount ends the entries (ENOTCONN).  Forced, exit
	 * the ring: the kernel cancels the commands; busy entries go when
	 * their requests end.
	 */
	if (!r || !force || r->closed)
		return;
	ring_abandon(r);
}
