/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_FUSE_H
#define LLOOP_FUSE_H
/*
 * The FUSE frontend: one image as a single-file FUSE file system (the
 * root inode is the file), for the kernel loop driver to sit on.  The
 * /dev/fuse protocol is spoken here, not through libfuse, because libfuse
 * allocates per request.  Every request arrives in a slot: a descriptor
 * and a buffer from the worker's pool, read with readv so that a write's
 * data lands page-aligned, ready for O_DIRECT.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/server.h"

struct fuse_ring;

#define FUSE_MAX_WRITE (1024 * 1024)
#define FUSE_IN_SPLIT 80	/* fuse_in_header + fuse_write_in */

struct fuse_session {
	struct server *srv;
	struct export *exp;
	struct worker *w;
	int fd;			/* /dev/fuse, non-blocking */
	struct tenant tenant;
	struct task start;
	struct request **slots;
	unsigned nr_slots;
	unsigned armed;		/* slots waiting in a read of /dev/fuse */
	unsigned live_slots;	/* slots, ring entries and the ring not yet
				 * done; 0: the session is over */
	bool ended;		/* the kernel side went away */
	bool read_only;
	bool want_passthrough;	/* --passthrough, and the backend can */
	bool passthrough;	/* negotiated at INIT */
	bool want_uring;	/* --fuse-uring, and it may be tried */
	struct fuse_ring *ring;	/* FUSE over io_uring (uring.c), or NULL */
	struct task ring_flush;	/* submit the ring's commands of a round */
	struct request *init_rq; /* the INIT reply that grants the ring */
	atomic_bool uring_active; /* requests come through the ring */
	int backing_id;		/* from FUSE_DEV_IOC_BACKING_OPEN, or -1 */
	bool backing_opening;	/* that ioctl is on a helper now */
	int backing_fd;
	atomic_bool passthrough_used; /* an OPEN was answered with it */
	uint32_t proto_minor;
	uint64_t ino;		/* the file's inode number: FUSE_ROOT_ID, or
				 * one its owner sets before the start */
	bool inited;		/* INIT answered: the kernel sends one */
	/* a small request made contiguous, read through its structs */
	char scratch[8192] __attribute__((aligned(8)));
};

/* allocate the slots from worker 0's pool (at start-up) */
int fuse_session_init(struct fuse_session *fs, struct server *srv,
		      struct export *exp, int fd, unsigned nr_slots,
		      bool passthrough);
/*
 * Begin reading requests, on worker 0.  With want_uring set, first make
 * the kernel accept FUSE over io_uring (enable_uring) or say why not.
 */
void fuse_session_start(struct fuse_session *fs);

/* loopdev.c; binding the device: loopdev_attach_file in loopdev.h */
/*
 * Flush and unbind; -EBUSY when something else holds the device.  The
 * flush's result goes to *flush_err (0 or -errno; may be NULL): the device
 * is unbound even when the flush failed, which the caller must report.
 */
int loopdev_detach(int loop_fd, const char *dev, int *flush_err);
/* is the device open by anyone besides us (mounted, say)? */
bool loopdev_busy(const char *dev);
/* the device still has a backing file (sysfs) */
bool loopdev_bound(const char *dev);
/* its file and LO_FLAGS_DIRECT_IO: loop_backing (core/runtime.h) */

#endif
