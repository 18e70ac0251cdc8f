/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_FUZZ_FUSE_H
#define LLOOP_FUZZ_FUSE_H
/*
 * What the two FUSE targets share (fuzz_fuse, fuzz_fuse_uring): the
 * session on the harness's worker, the /dev/fuse side of the kernel
 * (slot reads and the replies written back, each checked), the checks of
 * a reply's body for its opcode whichever transport it came by, and the
 * kernel's FUSE_DEV_IOC_BACKING_OPEN (ioctl is replaced in the fuzz
 * binaries: the real backing_open_call runs and gets the kernel's answer
 * from here).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frontend/fuse/fuse.h"
#include "harness.h"

#define FF_HEAD 128
#define FF_MAX_SLOTS 4

/* a request as lloop was given it: the header and the first argument */
struct ff_req {
	uint8_t head[FF_HEAD] __attribute__((aligned(8)));
	bool ring;	 /* came through the ring */
	size_t got;	 /* /dev/fuse: the bytes read */
	size_t data_len; /* ring: payload_sz */
};

/* what a /dev/fuse slot was last given to read */
struct ff_slot {
	struct request *rq;
	bool live; /* a message was delivered */
	bool answered;
	bool wants_reply;
	struct ff_req req;
};

struct ff {
	struct server srv;
	struct fuse_session fs;
	struct export *exp;
	int fd; /* "/dev/fuse": one end of a socketpair */
	unsigned nr_slots;
	struct ff_slot slot[FF_MAX_SLOTS];
	unsigned nr_slot;
	/* the kernel's view of the session */
	bool pt_offered;    /* the INIT request offered passthrough */
	bool pt_granted;    /* the INIT reply took it */
	bool uring_granted; /* the INIT reply took the ring */
	bool init_replied;  /* ... and reached the kernel */
	bool backing_ok;    /* FUSE_DEV_IOC_BACKING_OPEN succeeds */
	int backing_next;   /* the id it hands out */
	int backing_id;	    /* the id handed out, or -1 */
	unsigned ioctls;    /* FUSE_DEV_IOC_BACKING_OPEN calls */
};
extern struct ff ff;

/*
 * Once per process: the server on the fake engine (arena: the pool's
 * buffer memory) and the "/dev/fuse" descriptor.
 */
void ff_setup(const struct fz_hooks *hooks, unsigned nr_slots, size_t arena);
/*
 * Per input, from its config byte: bits 0-1 the export (disk, ro, file,
 * disk), bit 2 --passthrough, bit 3 FUSE_DEV_IOC_BACKING_OPEN succeeds,
 * bits 4-7 the schedule.
 */
void ff_begin(uint8_t cfg);
/* run the session to its end (want_uring: as --fuse-uring), and check
 * that it ended clean */
void ff_run(bool want_uring);

/* /dev/fuse: a slot read (op) gets the message msg of len bytes */
int ff_dev_deliver(struct op *op, const uint8_t *msg, size_t len);
/* how much a slot read (op) can take */
size_t ff_dev_room(const struct op *op);
/* the send hook: a reply written to /dev/fuse */
void ff_dev_reply(struct op *op);
/* the sent hook: it reached the kernel */
void ff_dev_sent(struct op *op, uint64_t n);
/* the io hook: file I/O and calls */
void ff_io(struct op *op);

/*
 * Check a reply to r: err, and blen bytes of body at body (blen: the
 * whole body, body: at least its first 256 bytes).
 */
void ff_check_reply(const struct ff_req *r, int err, const void *body,
		    size_t blen);

uint32_t ff_le32(const uint8_t *p);

#endif
