/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_ENGINE_H
#define LLOOP_ENGINE_H
/*
 * An engine carries a worker's asynchronous operations: socket and file
 * I/O alike.  The io_uring engine submits them to the worker's ring; the
 * threads engine (for when io_uring is refused) runs file operations on a
 * bounded thread pool and socket operations from poll(2) in the worker.
 *
 * An op is owned by its submitter until ->done runs, on the worker thread,
 * with the result: >= 0 or a negative errno.  Submitting never fails and
 * never allocates.
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

struct worker;

enum op_kind {
	OP_READ,	/* pread(fd, buf, len, off) */
	OP_WRITE,	/* pwritev2(fd, buf, len, off, flags) */
	OP_FSYNC,	/* fdatasync(fd) */
	OP_FALLOCATE,	/* fallocate(fd, flags, off, len) */
	OP_FADVISE,	/* posix_fadvise(fd, off, len, flags) */
	OP_RECV,	/* recv(fd, buf, len, 0) */
	OP_SENDMSG,	/* sendmsg(fd, {iov, iovcnt}, MSG_NOSIGNAL) */
	OP_ACCEPT,	/* accept4(fd, NULL, NULL, SOCK_NONBLOCK|SOCK_CLOEXEC) */
	OP_READ_WAKE,	/* read(fd, buf, 8) of an eventfd */
	OP_CALL,	/* fn(arg) on a helper thread: calls with no io_uring op */
	OP_READV,	/* readv(fd, msg.msg_iov, msg.msg_iovlen): /dev/fuse */
	OP_WRITEV,	/* writev(fd, msg.msg_iov, msg.msg_iovlen): /dev/fuse */
	OP_URING_CMD,	/* io_uring command flags on fd with the 16 bytes at
			 * buf (ublk); io_uring engine only: -EOPNOTSUPP */
};

/* the most iovecs an op may carry (the io_uring engine readies the
 * kernel's per-request state for that many at start) */
#define OP_MAX_IOV 64

struct op {
	void (*done)(struct op *op, int res);
	uint8_t kind;
	int fd;
	int flags;
	void *buf;
	uint64_t len;
	uint64_t off;
	struct msghdr msg;	/* OP_SENDMSG, READV, WRITEV: msg_iov, msg_iovlen
				 * (at most OP_MAX_IOV) */
	int (*fn)(void *arg);
	void *arg;
	/*
	 * The op never waits: the engine may do it at once on the worker
	 * thread, and ->done still runs later, never from submit.  For a
	 * read or write of a file in memory (tmpfs has no non-blocking
	 * I/O, so io_uring would hand it to an io-wq thread), or a reply
	 * to /dev/fuse that should not wait for the next round.
	 */
	bool now;
	/* engine-private */
	struct op *next;
	struct worker *next_worker;	/* helpers: whose op */
	int res;
};

struct engine_ops {
	const char *name;
	/* set up for one worker, entries: ops in flight at most */
	int (*init)(struct worker *w, unsigned entries);
	void (*fini)(struct worker *w);
	void (*submit)(struct worker *w, struct op *op);
	/* wait for at least one completion and run the ->done callbacks */
	int (*run)(struct worker *w);
	/* end a pending op soon: its ->done gets -ECANCELED, or its result
	 * if it finished first (not a ublk command: only its driver ends it) */
	void (*cancel)(struct worker *w, struct op *op);
	/* hand what was submitted to the kernel now, not at the next run
	 * (NULL: the engine has nothing queued between runs) */
	void (*flush)(struct worker *w);
};

extern const struct engine_ops uring_engine;
extern const struct engine_ops threads_engine;

/* Probe once whether io_uring can be used here (seccomp may refuse it). */
int uring_probe(void);

/*
 * The helper pool: bounded threads for blocking calls.  The threads
 * engine runs all file I/O on it; the io_uring engine only OP_CALL.
 */
int helpers_start(unsigned nthreads);
void helpers_stop(void);
void helpers_queue(struct worker *w, struct op *op);
/*
 * Hand op back to w, finished with res, from any thread: its ->done runs
 * on w's thread at w's next wake-up (helper threads, librbd callbacks).
 */
void helpers_finish(struct worker *w, struct op *op, int res);
/* run the ops helpers finished for this worker; returns how many */
int helpers_reap(struct worker *w);
/* do one op synchronously; shared by the helper threads */
int op_execute(struct op *op);
unsigned helpers_count(void);
/* PR_GET_IO_FLUSHER as helper i saw it on its own thread */
int helpers_io_flusher(unsigned i);

#endif
