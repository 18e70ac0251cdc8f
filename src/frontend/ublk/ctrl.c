// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The ublk device's life: ADD_DEV, SET_PARAMS, START_DEV, STOP_DEV and
 * DEL_DEV on /dev/ublk-control, each an io_uring command on a small ring
 * of the main thread's (the commands are 32 bytes: 128-byte entries).
 * None of this is on the I/O path.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/log.h"
#include "frontend/ublk/proto.h"
#include "frontend/ublk/ublk.h"

bool ublk_available(void)
{
	return access(UBLK_CONTROL, F_OK) == 0;
}

/* START_DEV waits for every tag's fetch: this long at most */
#define START_MS 10000

/* a wait for START_DEV's own end once it is cancelled: this long at most */
#define CANCEL_MS 5000
/* the user_data of the cancel: no command's number */
#define CANCEL_TAG 1

/*
 * The completion of command op on ring, waited for (ms: -1 for ever); its
 * result, or -ETIME.  Those of others are passed over: a START_DEV given
 * up on, and its cancel, end on this ring too.
 */
static int ctrl_wait(struct io_uring *ring, unsigned op, long ms)
{
	struct __kernel_timespec ts = { .tv_sec = ms / 1000,
					.tv_nsec = ms % 1000 * 1000000 };
	struct io_uring_cqe *cqe;
	int ret;

	for (;;) {
		ret = ms >= 0 ? io_uring_wait_cqe_timeout(ring, &cqe, &ts) :
				io_uring_wait_cqe(ring, &cqe);
		if (ret < 0)
			return ret;
		ret = cqe->res;
		if (cqe->user_data == op)
			break;
		io_uring_cqe_seen(ring, cqe);
	}
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

/* one control command, waited for (ms: -1 for ever) */
static int ctrl_cmd_wait(struct io_uring *ring, int fd, unsigned op,
			 const struct ublksrv_ctrl_cmd *c, long ms)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	int ret;

	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = op;
	memcpy(sqe->cmd, c, sizeof(*c));
	io_uring_sqe_set_data64(sqe, op);
	ret = io_uring_submit(ring);
	return ret < 0 ? ret : ctrl_wait(ring, op, ms);
}

static int ctrl_cmd(struct io_uring *ring, int fd, unsigned op,
		    const struct ublksrv_ctrl_cmd *c)
{
	return ctrl_cmd_wait(ring, fd, op, c, -1);
}

static int ctrl_ring(struct io_uring **ring)
{
	int ret;

	*ring = calloc(1, sizeof(**ring));
	if (!*ring)
		return -ENOMEM;
	ret = io_uring_queue_init(4, *ring, IORING_SETUP_SQE128);
	if (ret < 0) {
		log_error("ublk: io_uring for the control commands: %s",
			  strerror(-ret));
		free(*ring);
		*ring = NULL;
	}
	return ret;
}

static int ctrl_open(int *fd, struct io_uring **ring)
{
	int ret;

	*fd = open(UBLK_CONTROL, O_RDWR | O_CLOEXEC);
	if (*fd < 0) {
		ret = -errno;
		log_error("ublk: %s: %s (modprobe ublk_drv)", UBLK_CONTROL,
			  strerror(errno));
		return ret;
	}
	return ctrl_ring(ring);
}

static void ctrl_close(int fd, struct io_uring *ring)
{
	if (ring) {
		io_uring_queue_exit(ring);
		free(ring);
	}
	if (fd >= 0)
		close(fd);
}

static unsigned shift_of(unsigned v)
{
	unsigned s = 0;

	while ((1u << s) < v)
		s++;
	return s;
}

static int set_params(struct ublk_dev *d, unsigned sector_size)
{
	struct backend *be = d->exp->be;
	struct ublk_params p = {
		.len = sizeof(p),
		.types = UBLK_PARAM_TYPE_BASIC,
		.basic = {
			/* a write cache: FLUSH and FUA reach us */
			.attrs = UBLK_ATTR_VOLATILE_CACHE | UBLK_ATTR_FUA |
				 (d->exp->read_only ? UBLK_ATTR_READ_ONLY : 0),
			.logical_bs_shift = shift_of(sector_size),
			.physical_bs_shift = 12,
			.io_opt_shift = 12,
			.io_min_shift = shift_of(sector_size),
			.max_sectors = d->max_io >> 9,
			.dev_sectors = be->size >> 9,
		},
	};
	struct ublksrv_ctrl_cmd c = {
		.dev_id = d->id,
		.queue_id = (uint16_t)-1,
		.addr = (uintptr_t)&p,
		.len = sizeof(p),
	};

	if (be->can_trim && !d->exp->read_only) {
		p.types |= UBLK_PARAM_TYPE_DISCARD;
		p.discard = (struct ublk_param_discard){
			.discard_granularity = 4096,
			.max_discard_sectors = UINT32_MAX >> 9,
			.max_write_zeroes_sectors =
				be->can_zero ? UINT32_MAX >> 9 : 0,
			.max_discard_segments = 1,
		};
	}
	return ctrl_cmd(d->ring, d->ctrl_fd, UBLK_U_CMD_SET_PARAMS, &c);
}

/* the char device appears with ADD_DEV; give devtmpfs a moment */
static int open_cdev(struct ublk_dev *d)
{
	char path[32];

	snprintf(path, sizeof(path), "/dev/ublkc%d", d->id);
	for (int i = 0; i < 250; i++) {
		d->cdev_fd = open(path, O_RDWR | O_CLOEXEC);
		if (d->cdev_fd >= 0 || errno != ENOENT)
			break;
		usleep(20000);
	}
	if (d->cdev_fd < 0) {
		log_error("ublk: %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

/* the driver's descriptors of queue 0, one per tag */
static int map_descs(struct ublk_dev *d)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len = d->depth * sizeof(struct ublksrv_io_desc);
	void *p;

	d->descs_len = (len + page - 1) / page * page;
	p = mmap(NULL, d->descs_len, PROT_READ, MAP_SHARED | MAP_POPULATE,
		 d->cdev_fd, UBLKSRV_CMD_BUF_OFFSET);
	if (p == MAP_FAILED) {
		log_error("ublk: mapping the request descriptors: %s",
			  strerror(errno));
		return -errno;
	}
	d->descs = p;
	return 0;
}

/* every tag's descriptor and buffer, from worker 0's pool, for good */
static int take_tags(struct ublk_dev *d)
{
	struct pool *pool = &d->w->pool;

	d->ios = calloc(d->depth, sizeof(*d->ios));
	if (!d->ios)
		return -ENOMEM;
	for (unsigned i = 0; i < d->depth; i++) {
		struct ublk_io *io = &d->ios[i];

		io->dev = d;
		io->tag = i;
		io->rq = pool_take_request(pool);
		if (!io->rq)
			return -ENOMEM;
		io->rq->buf = pool_take_buffer(pool, d->max_io);
		if (!io->rq->buf)
			return -ENOMEM;
		io->rq->buf_len = d->max_io;
		io->rq->conn = io;
		io->rq->complete = NULL;	/* not with the backend */
	}
	return 0;
}

int ublk_dev_add(struct ublk_dev *d, struct server *srv, struct export *exp,
		 unsigned sector_size, unsigned depth)
{
	struct ublksrv_ctrl_dev_info info;
	struct ublksrv_ctrl_cmd c;
	int ret;

	memset(d, 0, sizeof(*d));
	if (srv->engine != &uring_engine) {
		log_error("ublk: needs the io_uring engine (this one: %s)",
			  srv->engine->name);
		d->ctrl_fd = d->cdev_fd = d->id = -1;
		return -ENOTSUP;
	}
	d->srv = srv;
	d->exp = exp;
	d->w = &srv->workers[0];
	d->id = -1;
	d->cdev_fd = -1;
	d->ctrl_fd = -1;
	/* a tag holds one of the worker's requests for good (--queue-depth) */
	d->depth = depth < srv->cfg.queue_depth ? depth : srv->cfg.queue_depth;
	depth = d->depth;
	ublk_queue_init(d);
	/* at most half the arena per request, and 1 MiB is plenty */
	d->max_io = 1u << 20;
	while (d->max_io > 4096 &&
	       (uint64_t)d->max_io * depth > srv->cfg.buffer_memory / 2)
		d->max_io >>= 1;
	ret = ctrl_open(&d->ctrl_fd, (struct io_uring **)&d->ring);
	if (ret < 0)
		return ret;
	info = (struct ublksrv_ctrl_dev_info){
		.nr_hw_queues = 1,
		.queue_depth = depth,
		.max_io_buf_bytes = d->max_io,
		.dev_id = (uint32_t)-1,
		.ublksrv_pid = getpid(),
	};
	c = (struct ublksrv_ctrl_cmd){
		.dev_id = (uint32_t)-1,
		.queue_id = (uint16_t)-1,
		.addr = (uintptr_t)&info,
		.len = sizeof(info),
	};
	ret = ctrl_cmd(d->ring, d->ctrl_fd, UBLK_U_CMD_ADD_DEV, &c);
	if (ret < 0) {
		log_error("ublk: ADD_DEV: %s", strerror(-ret));
		return ret;
	}
	d->id = info.dev_id;
	ret = set_params(d, sector_size);
	if (ret < 0) {
		log_error("ublk: SET_PARAMS: %s", strerror(-ret));
		return ret;
	}
	ret = open_cdev(d);
	if (!ret)
		ret = map_descs(d);
	if (!ret && take_tags(d) < 0) {
		log_error("ublk: the pool cannot hold %u buffers of %u KiB "
			  "(--buffer-memory)", depth, d->max_io >> 10);
		ret = -ENOMEM;
	}
	return ret;
}

/* how long START_DEV may take: LLOOP_UBLK_START_MS, for tests, or 10 s */
static long start_ms(void)
{
	const char *v = getenv("LLOOP_UBLK_START_MS");
	char *end;
	long ms;

	if (!v || !*v)
		return START_MS;
	errno = 0;
	ms = strtol(v, &end, 10);
	return errno || *end || ms < 0 ? START_MS : ms;
}

/*
 * A START_DEV given up on is still with the driver, on an io-wq thread,
 * waiting for the fetches: a cancel interrupts that wait.  Its own end
 * says where the device is (started after all, or not), and only then
 * may STOP_DEV come: one that came while START_DEV went on could see the
 * device not started, end the fetches, and START_DEV then add a disk
 * with none.  If it does not end, closing its ring ends it, and STOP_DEV
 * and DEL_DEV go on a new one.
 */
static void start_cancel(struct ublk_dev *d)
{
	struct io_uring *ring = d->ring;
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	io_uring_prep_cancel64(sqe, UBLK_U_CMD_START_DEV, 0);
	io_uring_sqe_set_data64(sqe, CANCEL_TAG);
	/* START_DEV's result is never -ETIME: that is the wait's */
	if (io_uring_submit(ring) >= 0 &&
	    ctrl_wait(ring, UBLK_U_CMD_START_DEV, CANCEL_MS) != -ETIME)
		return;
	ctrl_close(-1, ring);
	if (ctrl_ring((struct io_uring **)&d->ring) < 0)
		log_error("ublk: /dev/ublkc%d is left behind", d->id);
}

/* worker 0 fetches on every tag; START_DEV waits for all of them */
int ublk_dev_start(struct ublk_dev *d)
{
	struct ublksrv_ctrl_cmd c = {
		.dev_id = d->id,
		.queue_id = (uint16_t)-1,
		.data = { getpid() },
	};
	struct stat st;
	int ret;

	snprintf(d->device, sizeof(d->device), "/dev/ublkb%d", d->id);
	worker_post(d->w, &d->start);
	ret = ctrl_cmd_wait(d->ring, d->ctrl_fd, UBLK_U_CMD_START_DEV, &c,
			    start_ms());
	if (ret == -ETIME) {
		log_error("ublk: START_DEV: the driver did not start "
			  "%s in time", d->device);
		start_cancel(d);
		return ret;
	}
	if (ret < 0) {
		log_error("ublk: START_DEV of %s: %s", d->device,
			  strerror(-ret));
		return ret;
	}
	for (int i = 0; i < 250 && stat(d->device, &st) < 0; i++)
		usleep(20000);
	return 0;
}

void ublk_dev_remove(struct ublk_dev *d)
{
	struct ublksrv_ctrl_cmd c = { .dev_id = d->id,
				      .queue_id = (uint16_t)-1 };
	bool first;
	int ret;

	if (d->id < 0)
		return;
	pthread_mutex_lock(&d->begin_lock);
	first = !d->stopping;
	d->stopping = true;	/* and worker 0 fetches no more */
	pthread_mutex_unlock(&d->begin_lock);
	if (!first || !d->ring)
		return;
	/* the driver waits for the requests in flight, which we serve */
	ret = ctrl_cmd(d->ring, d->ctrl_fd, UBLK_U_CMD_STOP_DEV, &c);
	if (ret < 0)
		log_warn("ublk: STOP_DEV of %s: %s", d->device,
			 strerror(-ret));
}

/*
 * DEL_DEV waits until nothing has the disk open, which may be never (a
 * process that holds it); DEL_DEV_ASYNC (6.9) lets the kernel finish it
 * at the last close.  Older drivers do not know it: wait there.
 */
static int ctrl_delete(struct io_uring *ring, int fd,
		       struct ublksrv_ctrl_cmd *c)
{
	int ret = ctrl_cmd(ring, fd, UBLK_U_CMD_DEL_DEV_ASYNC, c);

	if (ret == -EOPNOTSUPP || ret == -EINVAL || ret == -ENOTTY)
		ret = ctrl_cmd(ring, fd, UBLK_U_CMD_DEL_DEV, c);
	return ret;
}

void ublk_dev_fini(struct ublk_dev *d)
{
	struct ublksrv_ctrl_cmd c = { .dev_id = d->id,
				      .queue_id = (uint16_t)-1 };
	int ret;

	if (d->ctrl_fd < 0 && !d->ring)
		return;
	if (d->descs)
		munmap((void *)d->descs, d->descs_len);
	d->descs = NULL;
	/* the char device first: DEL_DEV waits for its last close */
	if (d->cdev_fd >= 0)
		close(d->cdev_fd);
	d->cdev_fd = -1;
	if (d->id >= 0 && d->ring) {
		ublk_dev_remove(d);
		ret = ctrl_delete(d->ring, d->ctrl_fd, &c);
		if (ret < 0)
			log_warn("ublk: DEL_DEV of /dev/ublkb%d: %s", d->id,
				 strerror(-ret));
	}
	d->id = -1;
	ctrl_close(d->ctrl_fd, d->ring);
	d->ring = NULL;
	d->ctrl_fd = -1;
	free(d->ios);
	d->ios = NULL;
}

int ublk_delete_id(int id, pid_t owner, pid_t *now)
{
	struct ublksrv_ctrl_dev_info info = { 0 };
	struct ublksrv_ctrl_cmd c = { .dev_id = id,
				      .queue_id = (uint16_t)-1,
				      .addr = (uintptr_t)&info,
				      .len = sizeof(info) };
	struct io_uring *ring;
	int fd, ret;

	ret = ctrl_open(&fd, &ring);
	if (ret < 0)
		return ret;
	/* the number may be another's since: the daemon that started it
	 * is in its info until it is deleted */
	ret = ctrl_cmd(ring, fd, UBLK_U_CMD_GET_DEV_INFO, &c);
	if (!ret && info.ublksrv_pid != owner) {
		*now = info.ublksrv_pid;
		ret = -EPERM;
	}
	if (!ret) {
		c.addr = 0;
		c.len = 0;
		ctrl_cmd(ring, fd, UBLK_U_CMD_STOP_DEV, &c);
		ret = ctrl_delete(ring, fd, &c);
	}
	ctrl_close(fd, ring);
	return ret;
}
