/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_BACKEND_H
#define LLOOP_BACKEND_H
/*
 * A backend stores the blocks.  It is a const table of functions; each
 * request function starts the request and calls rq->complete, on the
 * worker thread, possibly before it returns, with:
 *
 *   0            all rq->len bytes done;
 *   -errno       failed;
 *   0 < n < len  a read or write that moved only n bytes (a short
 *                transfer).  A frontend must never report it as success:
 *                it answers -EIO (a short read's buffer is not all data).
 *
 * A backend that wraps another (faulty.c) hands a request on with rq->be
 * set to the inner backend, which finds its own state there.
 * A new backend is one file and one line in the table in backend.c.
 */
#include <stdbool.h>
#include <stdint.h>

#include "core/request.h"

enum cache_mode { CACHE_NONE, CACHE_WRITEBACK };

/*
 * --inject-fault OP:ERRNO:EVERY_N[:START-END], a testing tool: fail every
 * Nth request of the kinds in ops (a mask of 1 << enum req_type) touching
 * [start, end), with err, or cut it short when err is 0.
 */
#define FAULT_MAX_RULES 16

struct fault_rule {
	uint8_t ops;
	int err;		/* positive errno; 0: a short transfer */
	uint64_t every;
	uint64_t start, end;	/* end 0: anywhere */
};

struct backend_opts {
	enum cache_mode cache;
	bool read_only;
	uint64_t create_size;	/* --create: make the file this big */
	struct fault_rule faults[FAULT_MAX_RULES];
	unsigned nr_faults;
	/* rbd: */
	const char *ceph_conf;	/* NULL: librados's own search */
	const char *ceph_id;	/* NULL: admin */
	unsigned ceph_timeout;	/* seconds; 0: requests wait forever */
	bool exclusive;		/* hold the image's lock from the start */
};

#define CEPH_TIMEOUT_DEFAULT 30

struct backend {
	const struct backend_ops *ops;
	uint64_t size;
	uint32_t align;		/* I/O alignment; anything else bounces */
	uint32_t preferred;	/* preferred block size */
	bool read_only;
	bool can_trim;
	bool can_zero;
	bool can_fast_zero;
	bool can_cache;
	bool can_extents;
};

struct backend_ops {
	const char *name;
	const char *prefix;	/* "memory:"; NULL for the default (file) */
	int (*open)(const char *spec, const struct backend_opts *o,
		    struct backend **out);
	void (*close)(struct backend *b);
	/* a plain file the kernel may do the I/O on directly (FUSE
	 * passthrough), or -ENOTSUP; optional */
	int (*passthrough_fd)(struct backend *b);
	/* blocking: make everything written durable (shutdown) */
	int (*sync)(struct backend *b);
	void (*read)(struct backend *b, struct request *rq);
	void (*write)(struct backend *b, struct request *rq);
	void (*flush)(struct backend *b, struct request *rq);
	void (*trim)(struct backend *b, struct request *rq);
	void (*zero)(struct backend *b, struct request *rq);
	void (*cache)(struct backend *b, struct request *rq);
	/* fill rq->buf with struct extent, rq->nr_extents of them */
	void (*extents)(struct backend *b, struct request *rq);
};

extern const struct backend_ops file_backend;
extern const struct backend_ops memory_backend;
extern const struct backend_ops faulty_backend;
extern const struct backend_ops rbd_backend;

/* parse one --inject-fault value; on error *why says what was expected */
int fault_parse(const char *s, struct fault_rule *r, const char **why);
/* put a fault injector in front of *b (on success it owns *b) */
int faulty_wrap(struct backend **b, const struct fault_rule *rules,
		unsigned nr, const char *spec);

/* open by prefix; errors are logged naming the spec */
int backend_open(const char *spec, const struct backend_opts *o,
		 struct backend **out);
/* for --version: whether rbd: images can be opened here, and why not */
const char *rbd_state(void);
/* a path on the local file system, not a backend's own name (memory:) */
bool backend_spec_is_path(const char *spec);
/* start rq on its export's backend */
void backend_submit(struct backend *b, struct request *rq);

#endif
