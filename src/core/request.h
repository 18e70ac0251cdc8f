/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_REQUEST_H
#define LLOOP_REQUEST_H
/*
 * One block request in flight.  Descriptors live in the worker's pool;
 * a frontend fills in the generic part, a backend carries it out and
 * calls ->complete on the worker thread with 0 or a negative errno.
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/engine.h"
#include "core/task.h"

struct worker;
struct export;
struct backend;

enum req_type {
	REQ_READ,
	REQ_WRITE,
	REQ_FLUSH,
	REQ_TRIM,
	REQ_ZERO,
	REQ_CACHE,
	REQ_EXTENTS,
};

enum req_flags {
	REQ_FUA = 1 << 0,	/* durable before the reply */
	REQ_NO_HOLE = 1 << 1,	/* zero: keep the space allocated */
	REQ_FAST_ZERO = 1 << 2,	/* zero: fail with -ENOTSUP unless fast */
	REQ_ONE = 1 << 3,	/* extents: one descriptor is enough */
};

/* one block status descriptor, host order; the frontend encodes it */
struct extent {
	uint32_t length;
	uint32_t flags;		/* EXTENT_HOLE, EXTENT_ZERO */
};
#define EXTENT_HOLE 1u
#define EXTENT_ZERO 2u

/* a write's blocks, held against read-modify-writes (backend/rmw.h) */
struct rmw_range {
	struct rmw_range *prev, *next;
	uint64_t first, last;
	uint8_t held;		/* 0 or how: backend/rmw.h */
};

struct request {
	struct op op;		/* the backend's current engine op */
	struct worker *w;
	struct export *exp;
	struct backend *be;
	void (*complete)(struct request *rq, int res);

	uint8_t type;		/* enum req_type */
	uint8_t flags;		/* enum req_flags */
	uint64_t offset;
	uint64_t len;

	/* pool buffer; payload at data (past a bounce head, if any) */
	char *buf;
	uint64_t buf_len;
	char *data;

	/* backend state: bounce span, stage, extents filled */
	uint64_t span_off, span_len;
	int stage;
	uint64_t done_len;
	unsigned nr_extents, max_extents;

	/* frontend state */
	void *conn;
	uint64_t cookie;
	uint16_t wire_type, wire_flags;
	int error;		/* negative errno to reply with */
	struct iovec iov[3];
	int iovcnt;
	/* headers: NBD reply; FUSE request and reply, cast to their structs */
	uint8_t hdr[192] __attribute__((aligned(8)));
	struct request *next;	/* pool free list, send queue */
	struct task task;	/* backend: retry after a conflict */
	struct rmw_range range;	/* backend: blocks held while writing */
	uint64_t start_ns;	/* for the latency histogram */
};

#endif
