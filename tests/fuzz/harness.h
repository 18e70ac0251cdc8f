/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_FUZZ_HARNESS_H
#define LLOOP_FUZZ_HARNESS_H
/*
 * What the libFuzzer targets share: a fake engine that completes the
 * frontends' receives from the fuzz input and swallows their sends (each
 * target checks what is sent), a server with one real worker thread
 * running the real event loop on that engine, and the exports.
 *
 * The worker runs in its own thread, as in lloop; the fuzzing thread
 * hands it an input and waits until the worker has nothing left to do.
 * At that point the connection or session must be over and every
 * descriptor and buffer back in the pool: anything else is a hang or a
 * leak in lloop, reported as a crash so that libFuzzer keeps the input.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/server.h"

/* the exports every target serves, by index */
enum { FZ_EXP_DISK, FZ_EXP_RO, FZ_EXP_FILE, FZ_NR_EXPORTS };
#define FZ_DISK_SIZE (1024 * 1024)
#define FZ_RO_SIZE (64 * 1024)
/* not a multiple of the O_DIRECT block: the unaligned tail is served too */
#define FZ_FILE_SIZE (256 * 1024 + 1536)

/* what a target plugs into the engine */
struct fz_hooks {
	/* an OP_RECV or OP_READV to complete: the result */
	int (*recv)(struct op *op);
	/* an OP_SENDMSG or OP_WRITEV was submitted: check it */
	void (*send)(struct op *op);
	/* ... and is about to complete with n bytes sent (may be NULL) */
	void (*sent)(struct op *op, uint64_t n);
	/* any other op was submitted: check its buffer (may be NULL) */
	void (*io)(struct op *op);
	/*
	 * May this pending op complete now?  NULL: every op may.  A target
	 * that plays a kernel blocks its reads here until it has something
	 * for them; OP_READ_WAKE (an eventfd) is allowed only with it, and
	 * completes through ->recv.
	 */
	bool (*ready)(struct op *op);
	/*
	 * No pending op may complete: let the kernel move on (deliver what
	 * it held back, or unmount).  True if it did something; false: the
	 * worker is idle, and what is still pending is a hang.
	 */
	bool (*stall)(void);
	/* may op be failed with err now?  NULL: yes (a known bug masked) */
	bool (*fault_ok)(struct op *op, int err);
};

/*
 * The order ops complete in and how short transfers are: seed 0 is
 * in order and whole, anything else a pseudo-random schedule that the
 * fuzzer picks by picking the seed.  Odd seeds also fail an op now and
 * then: a socket with EINTR, EAGAIN, ECONNRESET or EPIPE, /dev/fuse with
 * EINTR or ENOENT, a file op with EIO (or EOPNOTSUPP for fallocate).
 */
void fz_schedule(unsigned seed);
/* this run, was a socket op failed for good (the peer gone)? */
bool fz_peer_failed(void);
/* a pseudo-random number from the schedule, below n (n > 0) */
uint32_t fz_rand(uint32_t n);
bool fz_scheduled(void);

/*
 * Set up srv with the exports and worker 0 on the fake engine, and start
 * the worker.  buffer_memory: the pool arena, a power of two.
 */
void fz_setup(struct server *srv, const struct fz_hooks *hooks,
	      unsigned queue_depth, size_t buffer_memory);
/* the file export back to zeroes and no blocks: runs repeat exactly */
void fz_reset_file(void);

/*
 * Run start() while the worker is idle (it posts work to the worker),
 * then wait until the worker has nothing left to do.
 */
void fz_run(struct server *srv, void (*start)(void *arg), void *arg);

/* after fz_run: the pool is whole and the worker holds nothing */
void fz_check_worker_clean(struct server *srv);

/* with LLOOP_FUZZ_DEBUG set in the environment: a trace line */
void fz_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* a bug found: say what, and crash so that libFuzzer keeps the input */
void fz_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
#define fz_assert(cond, ...)                                                   \
	do {                                                                   \
		if (!(cond))                                                   \
			fz_fail(__VA_ARGS__);                                  \
	} while (0)

/* is [p, p+len) inside [base, base+size)? */
static inline bool fz_inside(const void *p, uint64_t len, const void *base,
			     uint64_t size)
{
	const char *a = p, *b = base;

	return a >= b && (uint64_t)(a - b) <= size &&
	       len <= size - (uint64_t)(a - b);
}

#endif
