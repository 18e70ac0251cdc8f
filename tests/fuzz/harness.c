// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The fake engine and the server the fuzz targets run lloop's real
 * frontends on.  See harness.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "harness.h"

#define MAX_PENDING 4096

static struct {
	const struct fz_hooks *hooks;
	pthread_mutex_t lock;	/* idle, and the wake-up check with it */
	pthread_cond_t cond;
	bool idle;		/* the worker has nothing to do */
	struct op *wake;	/* the worker's eventfd read, when armed */
	struct op *pending[MAX_PENDING];
	bool cancelled[MAX_PENDING];
	unsigned nr;
	uint32_t rng;		/* 0: in order, whole transfers */
	bool faults;		/* fail an op now and then */
	bool peer_failed;	/* a socket op was failed for good */
	int report_fd;		/* stderr as it was before libFuzzer */
	int file_fd;		/* the memfd behind the file export */
} E = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.report_fd = 2,
	.file_fd = -1,
};

void fz_fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "lloop-fuzz: BUG: ");
	va_start(ap, fmt);
	n += vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(msg) - 2)
		n = sizeof(msg) - 2;
	msg[n++] = '\n';
	if (write(E.report_fd, msg, n) < 0)
		abort();
	abort();
}

static int debug = -1;

void fz_debug(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	if (debug < 0)
		debug = getenv("LLOOP_FUZZ_DEBUG") != NULL;
	if (!debug)
		return;
	n = snprintf(msg, sizeof(msg), "lloop-fuzz: ");
	va_start(ap, fmt);
	n += vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(msg) - 2)
		n = sizeof(msg) - 2;
	msg[n++] = '\n';
	if (write(E.report_fd, msg, n) < 0)
		return;
}

/* ---- the schedule ---- */

void fz_schedule(unsigned seed)
{
	E.rng = seed ? seed * 0x9e3779b9u : 0;
	E.faults = seed & 1;
	E.peer_failed = false;
}

bool fz_peer_failed(void)
{
	return E.peer_failed;
}

bool fz_scheduled(void)
{
	return E.rng != 0;
}

uint32_t fz_rand(uint32_t n)
{
	/* xorshift32: never reaches 0 from a non-zero state */
	E.rng ^= E.rng << 13;
	E.rng ^= E.rng >> 17;
	E.rng ^= E.rng << 5;
	return E.rng % n;
}

/* ---- the engine ---- */

static int fz_init(struct worker *w, unsigned entries)
{
	return 0;
}

static void fz_fini(struct worker *w)
{
}

static bool is_send(const struct op *op)
{
	return op->kind == OP_SENDMSG || op->kind == OP_WRITEV;
}

static bool is_recv(const struct op *op)
{
	return op->kind == OP_RECV || op->kind == OP_READV ||
	       op->kind == OP_READ_WAKE;
}

static void fz_submit(struct worker *w, struct op *op)
{
	if (op == &w->wake_op) {
		fz_assert(!E.wake, "the wake-up read armed twice");
		E.wake = op;
		return;
	}
	/* the worker's once-a-second tick: time does not pass here */
	if (op == &w->tick_op)
		return;
	for (unsigned i = 0; i < E.nr; i++)
		fz_assert(E.pending[i] != op,
			  "op %p (kind %u) submitted while in flight", op,
			  op->kind);
	fz_assert(op->done, "op kind %u submitted without ->done", op->kind);
	fz_assert(op->kind != OP_ACCEPT &&
			  (op->kind != OP_READ_WAKE || E.hooks->ready),
		  "unexpected op kind %u", op->kind);
	fz_assert(E.nr < MAX_PENDING, "more than %d ops in flight",
		  MAX_PENDING);
	if (is_send(op))
		E.hooks->send(op);
	else if (!is_recv(op) && E.hooks->io)
		E.hooks->io(op);
	E.cancelled[E.nr] = false;
	E.pending[E.nr++] = op;
}

static void fz_cancel(struct worker *w, struct op *op)
{
	for (unsigned i = 0; i < E.nr; i++)
		if (E.pending[i] == op)
			E.cancelled[i] = true;
}

static uint64_t iov_total(const struct msghdr *m)
{
	uint64_t n = 0;

	for (size_t i = 0; i < m->msg_iovlen; i++)
		n += m->msg_iov[i].iov_len;
	return n;
}

/* a file op, run for real on the memfd, sometimes cut short */
static int file_op(struct op *op)
{
	uint64_t len = op->len;
	int res;

	if ((op->kind == OP_READ || op->kind == OP_WRITE) && len > 1 &&
	    fz_scheduled() && fz_rand(4) == 0)
		op->len = 1 + fz_rand(len - 1);
	res = op_execute(op);
	op->len = len;
	return res;
}

static int fault_pick(struct op *op);

/* an error to fail op with instead of doing it, or 0 */
static int fault(struct op *op)
{
	bool peer_failed = E.peer_failed;
	int err = fault_pick(op);

	if (err && E.hooks->fault_ok && !E.hooks->fault_ok(op, err)) {
		E.peer_failed = peer_failed;
		return 0;
	}
	return err;
}

static int fault_pick(struct op *op)
{
	if (!E.faults || fz_rand(32))
		return 0;
	switch (op->kind) {
	case OP_RECV:
	case OP_SENDMSG:
		if (fz_rand(2))
			return fz_rand(2) ? -EINTR : -EAGAIN;
		E.peer_failed = true;
		return op->kind == OP_RECV ? -ECONNRESET : -EPIPE;
	case OP_READV:
		return fz_rand(2) ? -EINTR : -ENOENT;
	case OP_WRITEV:
		return -ENOENT; /* the request was interrupted meanwhile */
	case OP_FALLOCATE:
		return fz_rand(2) ? -EOPNOTSUPP : -EIO;
	case OP_READ:
	case OP_WRITE:
	case OP_FSYNC:
		return -EIO;
	default:
		return 0;
	}
}

static void complete(struct op *op, bool cancelled)
{
	uint64_t n;
	int res;

	if (cancelled) {
		op->done(op, -ECANCELED);
		return;
	}
	res = fault(op);
	if (res) {
		fz_debug("op kind %u failed: %s", op->kind, strerror(-res));
		op->done(op, res);
		return;
	}
	switch (op->kind) {
	case OP_RECV:
	case OP_READV:
	case OP_READ_WAKE:
		res = E.hooks->recv(op);
		break;
	case OP_SENDMSG:
	case OP_WRITEV:
		n = iov_total(&op->msg);
		fz_assert(n <= INT32_MAX, "a send of %llu bytes",
			  (unsigned long long)n);
		/* a socket may take part of it; /dev/fuse takes all */
		if (op->kind == OP_SENDMSG && n > 1 && fz_scheduled() &&
		    fz_rand(4) == 0)
			n = 1 + fz_rand(n - 1);
		if (E.hooks->sent)
			E.hooks->sent(op, n);
		res = n;
		break;
	default:
		res = file_op(op);
		break;
	}
	op->done(op, res);
}

/* how many pending ops may complete now (cancelled ones always may) */
static unsigned nr_ready(void)
{
	unsigned n = 0;

	if (!E.hooks->ready)
		return E.nr;
	for (unsigned i = 0; i < E.nr; i++)
		n += E.cancelled[i] || E.hooks->ready(E.pending[i]);
	return n;
}

/* the index of the k-th op that may complete */
static unsigned nth_ready(unsigned k)
{
	if (!E.hooks->ready)
		return k;
	for (unsigned i = 0; i < E.nr; i++)
		if ((E.cancelled[i] || E.hooks->ready(E.pending[i])) && !k--)
			return i;
	fz_fail("no ready op %u", k);
}

static int fz_engine_run(struct worker *w)
{
	struct pollfd pfd = { .fd = w->wake_fd, .events = POLLIN };
	uint64_t v;
	struct op *op;
	unsigned i, n;
	bool cancelled;

	pthread_mutex_lock(&E.lock);
	if (read(w->wake_fd, &v, sizeof(v)) == sizeof(v)) {
		pthread_mutex_unlock(&E.lock);
		op = E.wake;
		fz_assert(op, "woken with no wake-up read armed");
		E.wake = NULL;
		memcpy(op->buf, &v, sizeof(v));
		op->done(op, sizeof(v));
		return 0;
	}
	n = nr_ready();
	while (!n && E.hooks->stall && E.hooks->stall())
		n = nr_ready();
	if (!n) {
		/* nothing can happen until the fuzzing thread posts */
		E.idle = true;
		pthread_cond_broadcast(&E.cond);
		pthread_mutex_unlock(&E.lock);
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return -errno;
		return 0;
	}
	pthread_mutex_unlock(&E.lock);
	i = nth_ready(fz_scheduled() ? fz_rand(n) : 0);
	op = E.pending[i];
	cancelled = E.cancelled[i];
	memmove(&E.pending[i], &E.pending[i + 1],
		(E.nr - i - 1) * sizeof(*E.pending));
	memmove(&E.cancelled[i], &E.cancelled[i + 1],
		(E.nr - i - 1) * sizeof(*E.cancelled));
	E.nr--;
	complete(op, cancelled);
	return 0;
}

static const struct engine_ops fz_engine = {
	.name = "fuzz",
	.init = fz_init,
	.fini = fz_fini,
	.submit = fz_submit,
	.run = fz_engine_run,
	.cancel = fz_cancel,
};

/* ---- the server ---- */

static void open_export(struct export *e, const char *name, const char *spec,
			const char *desc, bool ro)
{
	struct backend_opts o = { .cache = CACHE_NONE, .read_only = ro };

	if (backend_open(spec, &o, &e->be) < 0)
		fz_fail("cannot open the export %s (%s)", name, spec);
	e->name = strdup(name);
	e->spec = strdup(spec);
	e->description = desc ? strdup(desc) : NULL;
	e->read_only = ro;
}

void fz_reset_file(void)
{
	if (ftruncate(E.file_fd, 0) < 0 ||
	    ftruncate(E.file_fd, FZ_FILE_SIZE) < 0)
		fz_fail("cannot reset the file export: %s", strerror(errno));
}

static void wait_idle(void)
{
	pthread_mutex_lock(&E.lock);
	while (!E.idle)
		pthread_cond_wait(&E.cond, &E.lock);
	pthread_mutex_unlock(&E.lock);
}

void fz_setup(struct server *srv, const struct fz_hooks *hooks,
	      unsigned queue_depth, size_t buffer_memory)
{
	char path[64];
	int ret;

	/* libFuzzer may close stderr later (-close_fd_mask=2): keep it */
	E.report_fd = dup(2);
	if (E.report_fd < 0)
		E.report_fd = 2;
	/* every log line is formatted (format bugs show), output or not */
	log_level = LOG_DEBUG;
	E.hooks = hooks;

	E.file_fd = memfd_create("lloop-fuzz-file", MFD_CLOEXEC);
	if (E.file_fd < 0)
		fz_fail("memfd_create: %s", strerror(errno));
	fz_reset_file();
	/* the file backend opens a path: O_DIRECT on tmpfs, 4 KiB blocks */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", E.file_fd);

	memset(srv, 0, sizeof(*srv));
	server_config_defaults(&srv->cfg);
	srv->cfg.threads = 1;
	srv->cfg.queue_depth = queue_depth;
	srv->cfg.buffer_memory = buffer_memory;
	srv->cfg.max_connections = 1;
	srv->engine = &fz_engine;
	srv->max_payload = buffer_memory / 2; /* as server_setup does */
	srv->exports = calloc(FZ_NR_EXPORTS, sizeof(*srv->exports));
	if (!srv->exports)
		fz_fail("out of memory");
	open_export(&srv->exports[FZ_EXP_DISK], "disk", "memory:1M",
		    "a RAM disk to fuzz", false);
	open_export(&srv->exports[FZ_EXP_RO], "ro", "memory:64K", NULL, true);
	open_export(&srv->exports[FZ_EXP_FILE], "file", path, "a memfd",
		    false);
	srv->nr_exports = FZ_NR_EXPORTS;
	if (srv->exports[FZ_EXP_FILE].be->size != FZ_FILE_SIZE)
		fz_fail("the file export has the wrong size");

	srv->workers = calloc(1, sizeof(*srv->workers));
	if (!srv->workers)
		fz_fail("out of memory");
	ret = worker_init(&srv->workers[0], srv, 0);
	if (ret < 0)
		fz_fail("worker_init: %s", strerror(-ret));
	srv->nr_workers = 1;
	ret = worker_start(&srv->workers[0]);
	if (ret < 0)
		fz_fail("worker_start: %s", strerror(-ret));
	wait_idle();
}

void fz_run(struct server *srv, void (*start)(void *arg), void *arg)
{
	pthread_mutex_lock(&E.lock);
	E.idle = false;
	start(arg);
	/* in case start posted nothing: the worker must look again */
	worker_wake(&srv->workers[0]);
	pthread_mutex_unlock(&E.lock);
	wait_idle();
}

void fz_check_worker_clean(struct server *srv)
{
	struct worker *w = &srv->workers[0];
	struct stat st;

	fz_assert(!E.nr, "%u ops still in flight", E.nr);
	fz_assert(w->pool.reqs_in_use == 0,
		  "%u request descriptors not given back to the pool",
		  w->pool.reqs_in_use);
	fz_assert(w->pool.buddy.in_use == 0,
		  "%zu buffer bytes not given back to the pool",
		  w->pool.buddy.in_use);
	fz_assert(!w->waiting && !w->deferred && !w->soon,
		  "tasks left waiting on the worker");
	fz_assert(w->nr_tenants == 0, "%u tenants left on the worker",
		  w->nr_tenants);
	fz_assert(fstat(E.file_fd, &st) == 0 && st.st_size == FZ_FILE_SIZE,
		  "the file export changed size to %lld",
		  (long long)st.st_size);
}
