/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_UBLK_H
#define LLOOP_UBLK_H
/*
 * The ublk frontend: a /dev/ublkbN whose requests reach the worker as
 * io_uring command completions on /dev/ublkcN.  The driver copies a
 * write's data into the tag's buffer before it tells us, and a read's
 * data out of it when we commit: no socket and no FUSE request between
 * the block layer and lloop, and nothing allocated per request on either
 * side of it.  One queue, on worker 0, with a buffer per tag from the
 * worker's pool.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/request.h"
#include "core/server.h"
#include "core/worker.h"

#define UBLK_CONTROL "/dev/ublk-control"

struct ublk_dev;

struct ublk_io {
	struct ublk_dev *dev;
	struct request *rq;	/* its buffer is the tag's */
	struct op op;		/* FETCH or COMMIT_AND_FETCH */
	uint8_t cmd[16];	/* struct ublksrv_io_cmd */
	unsigned tag;
	bool fetching;		/* a command is with the driver */
};

struct ublk_dev {
	struct server *srv;
	struct export *exp;
	struct worker *w;
	struct tenant tenant;
	struct task start;
	int ctrl_fd;		/* /dev/ublk-control */
	int cdev_fd;		/* /dev/ublkcN */
	void *ring;		/* the control commands' own io_uring */
	int id;			/* N of /dev/ublkbN, -1 before ADD_DEV */
	unsigned depth;
	uint32_t max_io;	/* bytes per request at most */
	const void *descs;	/* struct ublksrv_io_desc[depth], mapped */
	size_t descs_len;
	struct ublk_io *ios;
	/*
	 * Worker 0's fetches reach the driver before STOP_DEV or not at all:
	 * a fetch after it would never end, nor the worker with it.
	 */
	pthread_mutex_t begin_lock;
	bool begun, stopping;	/* under begin_lock */
	char device[32];	/* /dev/ublkbN */
};

/* does this kernel have the ublk driver? */
bool ublk_available(void);
/* ADD_DEV and SET_PARAMS; the tags' buffers from worker 0's pool */
int ublk_dev_add(struct ublk_dev *d, struct server *srv, struct export *exp,
		 unsigned sector_size, unsigned depth);
/* once the workers run: fetch on every tag, then START_DEV */
int ublk_dev_start(struct ublk_dev *d);
/* STOP_DEV (the driver drains), DEL_DEV; safe to call twice */
void ublk_dev_remove(struct ublk_dev *d);
/* after the workers are gone */
void ublk_dev_fini(struct ublk_dev *d);
/* queue.c: the tenant and start task of d */
void ublk_queue_init(struct ublk_dev *d);
/*
 * A device whose daemon (OWNER) died: stop and delete it by number; 0,
 * -ENODEV if it is gone, -EPERM if another daemon started it since (its
 * pid in *now), or -errno
 */
int ublk_delete_id(int id, pid_t owner, pid_t *now);

#endif
