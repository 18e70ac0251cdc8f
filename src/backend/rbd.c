// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rbd:POOL/IMAGE[@SNAP] - an image in a Ceph cluster, through librbd's
 * asynchronous C API only.
 *
 * One librados connection and one image handle per export, shared by
 * every worker (librbd is thread-safe; a handle per worker would make
 * the handles pass the image's exclusive lock to and fro).  A request
 * starts with an rbd_aio_* call on its worker, which does not block.
 * librbd completes it on one of its own threads; the callback only hands
 * the request's op back to the worker that owns it (helpers_finish: its
 * completion list and its wake-up eventfd, which that worker's io_uring
 * polls), so the rest runs on the worker, as for every other backend.
 * librbd's image notification eventfd (rbd_set_image_notification) would
 * need one worker to poll for all of them and pass the others on; the
 * callback reaches the right worker in one step.
 *
 * librbd allocates inside (a completion, its own buffers); what lloop
 * itself does per request allocates nothing.  docs/swap.md says what
 * that means for swap on an rbd: device.
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "backend/backend.h"
#include "core/engine.h"
#include "core/log.h"
#include "core/worker.h"

/*
 * librbd and librados are loaded when the first rbd: image is opened, not
 * linked: they and what they pull in add some 100 MB of mappings, which
 * mlockall would pin in every lloop that never serves an rbd: image.
 */
#define RBD_FUNCS(X) \
	X(rados_get_instance_id) \
	X(rados_conf_parse_env) \
	X(rados_conf_read_file) \
	X(rados_conf_set) \
	X(rados_connect) \
	X(rados_create) \
	X(rados_ioctx_create) \
	X(rados_ioctx_destroy) \
	X(rados_shutdown) \
	X(rbd_aio_create_completion) \
	X(rbd_aio_flush) \
	X(rbd_aio_get_return_value) \
	X(rbd_aio_read) \
	X(rbd_aio_release) \
	X(rbd_aio_write) \
	X(rbd_aio_write_zeroes) \
	X(rbd_close) \
	X(rbd_diff_iterate2) \
	X(rbd_flush) \
	X(rbd_get_features) \
	X(rbd_get_flags) \
	X(rbd_get_size) \
	X(rbd_get_stripe_count) \
	X(rbd_lock_acquire) \
	X(rbd_lock_get_owners) \
	X(rbd_lock_get_owners_cleanup) \
	X(rbd_open) \
	X(rbd_open_read_only) \
	X(rbd_stat) \
	X(rbd_update_unwatch) \
	X(rbd_update_watch) \
	X(rbd_watchers_list) \
	X(rbd_watchers_list_cleanup)

static struct {
#define X(f) typeof(&f) f;
	RBD_FUNCS(X)
#undef X
} L;

static int load_librbd(const char *spec)
{
	static void *lib;
	void *sym;

	if (lib)
		return 0;
	lib = dlopen("librbd.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		log_error("rbd:%s: cannot load librbd (package librbd1): %s",
			  spec, dlerror());
		return -ENOTSUP;
	}
#define X(f)                                                                   \
	sym = dlsym(lib, #f);                                                  \
	if (!sym) {                                                            \
		log_error("rbd:%s: librbd has no %s: too old (Ceph 15 or "     \
			  "later is needed)", spec, #f);                       \
		dlclose(lib);                                                  \
		lib = NULL;                                                    \
		return -ENOTSUP;                                               \
	}                                                                      \
	memcpy(&L.f, &sym, sizeof(sym));
	RBD_FUNCS(X)
#undef X
	return 0;
}

struct rbd {
	struct backend b;
	rados_t cluster;
	rados_ioctx_t io;
	rbd_image_t image;
	char spec[256];		/* "rbd:POOL/IMAGE[@SNAP]" for messages */
	uint64_t object_size;	/* block status starts on an object */
	/* the size now: an `rbd resize` while we serve (header watch) */
	_Atomic uint64_t live_size;
	uint64_t watch;		/* rbd_update_watch's handle */
	bool watching;
	atomic_bool shut_out;	/* said that the cluster blocklisted us */
};

/* stages of one request */
enum { S_IO, S_FLUSH };

static struct rbd *to_rbd(struct backend *b)
{
	return (struct rbd *)b;
}

static struct request *op_rq(struct op *op)
{
	return (struct request *)((char *)op - offsetof(struct request, op));
}

const char *rbd_state(void)
{
	void *lib = dlopen("librbd.so.1", RTLD_LAZY | RTLD_LOCAL);

	if (!lib)
		return "not available (librbd.so.1 not found: package librbd1)";
	dlclose(lib);
	return "available (rbd:POOL/IMAGE)";
}

/* ---- open and close ---- */

/* POOL/IMAGE[@SNAP], each part non-empty */
static int split_spec(char *s, char **pool, char **image, char **snap)
{
	char *slash = strchr(s, '/'), *at;

	if (!slash || slash == s || !slash[1])
		return -EINVAL;
	*slash = '\0';
	*pool = s;
	*image = slash + 1;
	at = strchr(*image, '@');
	*snap = NULL;
	if (at) {
		if (at == *image || !at[1])
			return -EINVAL;
		*at = '\0';
		*snap = at + 1;
	}
	return strchr(*image, '/') ? -EINVAL : 0;
}

static int conf_set_uint(rados_t c, const char *key, unsigned v)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%u", v);
	return L.rados_conf_set(c, key, buf);
}

static int connect_cluster(struct rbd *r, const struct backend_opts *o)
{
	const char *id = o->ceph_id ? o->ceph_id : "admin";
	unsigned t = o->ceph_timeout;
	int ret;

	ret = L.rados_create(&r->cluster, id);
	if (ret < 0) {
		log_error("%s: --ceph-id %s: %s", r->spec, id, strerror(-ret));
		return ret;
	}
	ret = L.rados_conf_read_file(r->cluster, o->ceph_conf);
	if (ret < 0) {
		if (o->ceph_conf)
			log_error("%s: --ceph-conf %s: %s", r->spec,
				  o->ceph_conf, ret == -ENOENT ?
				  "no such file" : strerror(-ret));
		else
			log_error("%s: no Ceph configuration found ($CEPH_CONF, "
				  "/etc/ceph/ceph.conf, ~/.ceph/config, "
				  "./ceph.conf); give one with --ceph-conf",
				  r->spec);
		return ret;
	}
	L.rados_conf_parse_env(r->cluster, NULL);
	/*
	 * --cache none (the default): librbd's own cache off too, so that a
	 * write is answered once the OSDs have it, as qemu's cache=none does.
	 */
	L.rados_conf_set(r->cluster, "rbd_cache",
		       o->cache == CACHE_WRITEBACK ? "true" : "false");
	/*
	 * A write's data stays in its pool buffer, untouched, until librbd
	 * completes it, and librbd completes a zero-copy write only once the
	 * messenger has let go of the buffer: so librbd may send from it
	 * instead of copying it first.  That copy was a fifth of lloop's
	 * CPU per GiB of 4 MiB writes.  With its cache on, librbd copies
	 * anyway.
	 */
	L.rados_conf_set(r->cluster, "rbd_disable_zero_copy_writes", "false");
	/* our own one line says what went wrong; librados's would repeat it */
	L.rados_conf_set(r->cluster, "log_to_stderr", "false");
	L.rados_conf_set(r->cluster, "err_to_stderr", "false");
	/* connecting is bounded even with 0, which bounds requests only */
	conf_set_uint(r->cluster, "client_mount_timeout",
		      t ? t : CEPH_TIMEOUT_DEFAULT);
	conf_set_uint(r->cluster, "rados_mon_op_timeout", t);
	conf_set_uint(r->cluster, "rados_osd_op_timeout", t);
	ret = L.rados_connect(r->cluster);
	if (ret == -ETIMEDOUT || ret == -ENOTCONN) {
		log_error("%s: no Ceph monitor answered within %u s as "
			  "client.%s (--ceph-timeout; mon_host in %s)", r->spec,
			  t ? t : CEPH_TIMEOUT_DEFAULT, id,
			  o->ceph_conf ? o->ceph_conf : "the configuration");
	} else if (ret == -EACCES || ret == -EPERM) {
		log_error("%s: the cluster refused client.%s: wrong or missing "
			  "key (the keyring %s names)", r->spec, id,
			  o->ceph_conf ? o->ceph_conf : "the configuration");
	} else if (ret == -ENOENT) {
		log_error("%s: no keyring with a key for client.%s (the "
			  "keyring setting of %s)", r->spec, id,
			  o->ceph_conf ? o->ceph_conf : "the configuration");
	} else if (ret < 0) {
		log_error("%s: cannot connect to the Ceph cluster as "
			  "client.%s: %s", r->spec, id, strerror(-ret));
	}
	return ret;
}

static int open_image(struct rbd *r, const char *pool, const char *name,
		      const char *snap, bool read_only,
		      const struct backend_opts *o)
{
	const char *id = o->ceph_id ? o->ceph_id : "admin";
	int ret = L.rados_ioctx_create(r->cluster, pool, &r->io);

	if (ret < 0) {
		log_error("%s: pool %s: %s", r->spec, pool,
			  ret == -ENOENT ? "no such pool" : strerror(-ret));
		return ret;
	}
	if (read_only)
		ret = L.rbd_open_read_only(r->io, name, &r->image, snap);
	else
		ret = L.rbd_open(r->io, name, &r->image, snap);
	if (ret == -ENOENT && snap)
		log_error("%s: no image %s with a snapshot %s in pool %s",
			  r->spec, name, snap, pool);
	else if (ret == -ENOENT)
		log_error("%s: no image %s in pool %s", r->spec, name, pool);
	else if (ret == -EPERM || ret == -EACCES)
		log_error("%s: client.%s may not open it (its caps on pool "
			  "%s): %s", r->spec, id, pool, strerror(-ret));
	else if (ret < 0)
		log_error("%s: cannot open it: %s", r->spec, strerror(-ret));
	return ret;
}

/*
 * Another client with the image open for writing: a read-write open
 * registers a watch on the image's header, a read-only one (a snapshot,
 * --read-only) does not.  A client that died keeps its watch until it
 * lapses (osd_client_watch_timeout, 30 s by default).  0: none; 1: one,
 * named in who; -errno: cannot tell.
 */
static int other_writer(struct rbd *r, char *who, size_t len)
{
	uint64_t self = L.rados_get_instance_id(r->cluster);
	rbd_image_watcher_t few[16], *w = few;
	size_t n = 16;
	int ret, found = 0;

	ret = L.rbd_watchers_list(r->image, w, &n);
	/* more than we had room for: n says how many; one may come between
	 * two calls (at open, not on the I/O path) */
	for (int tries = 0; ret == -ERANGE && tries < 3; tries++) {
		if (w != few)
			free(w);
		n += 8;
		w = calloc(n, sizeof(*w));
		if (!w)
			return -ENOMEM;
		ret = L.rbd_watchers_list(r->image, w, &n);
	}
	if (ret < 0)
		goto out;
	for (size_t i = 0; i < n && !found; i++) {
		if ((uint64_t)w[i].id == self)
			continue;
		snprintf(who, len, "client.%lld at %s", (long long)w[i].id,
			 w[i].addr);
		found = 1;
	}
	L.rbd_watchers_list_cleanup(w, n);
	ret = found;
out:
	if (w != few)
		free(w);
	return ret;
}

/*
 * Two writers on one image corrupt whatever file system is on it.  A
 * read-write open is refused while another client has the image open for
 * writing (lloop, rbd-nbd, qemu); read-only ones never conflict.  With
 * --exclusive, lloop also takes the image's lock now and keeps it, so
 * that a writer that comes later is refused instead of being handed the
 * lock on its first write.  The lock of a client that died is taken
 * over.
 */
static int claim_image(struct rbd *r, const struct backend_opts *o)
{
	rbd_lock_mode_t mode;
	char *owners[4], who[128];
	size_t n = 4;
	uint64_t features = 0;
	int ret;

	ret = other_writer(r, who, sizeof(who));
	if (ret < 0) {
		log_error("%s: cannot list the image's watchers: %s", r->spec,
			  strerror(-ret));
		return ret;
	}
	if (ret > 0) {
		log_error("%s: another client has the image open for writing "
			  "(%s): serve it --read-only, or stop that writer "
			  "(one that died lets go when its watch lapses, "
			  "osd_client_watch_timeout: 30 s by default)",
			  r->spec, who);
		return -EBUSY;
	}
	L.rbd_get_features(r->image, &features);
	if (!(features & RBD_FEATURE_EXCLUSIVE_LOCK)) {
		if (!o->exclusive)
			return 0;
		log_error("%s: --exclusive: the image has no exclusive-lock "
			  "feature ('rbd feature enable POOL/IMAGE "
			  "exclusive-lock')", r->spec);
		return -EINVAL;
	}
	/* no other writer, so a holder of the lock is gone */
	if (L.rbd_lock_get_owners(r->image, &mode, owners, &n) == 0 && n) {
		log_info("%s: the lock holder %s is gone: taking the image "
			 "over", r->spec, owners[0]);
		L.rbd_lock_get_owners_cleanup(owners, n);
	}
	if (!o->exclusive)
		return 0;
	ret = L.rbd_lock_acquire(r->image, RBD_LOCK_MODE_EXCLUSIVE);
	if (ret < 0)
		log_error("%s: --exclusive: cannot take the image's lock: %s",
			  r->spec, ret == -EROFS || ret == -EBUSY ?
			  "another client holds it" : strerror(-ret));
	return ret;
}

static int can_diff(struct rbd *r)
{
	uint64_t features = 0, flags = 0, stripes = 1;

	if (L.rbd_get_features(r->image, &features) < 0 ||
	    L.rbd_get_flags(r->image, &flags) < 0 ||
	    L.rbd_get_stripe_count(r->image, &stripes) < 0)
		return false;
	/*
	 * With fancy striping an object holds pieces of many ranges of the
	 * image, and librbd before 17.2 reports them out of order, which
	 * would read as holes where there is data: all data instead.
	 */
	return stripes == 1 && (features & RBD_FEATURE_OBJECT_MAP) &&
	       (features & RBD_FEATURE_FAST_DIFF) &&
	       !(flags & (RBD_FLAG_OBJECT_MAP_INVALID |
			  RBD_FLAG_FAST_DIFF_INVALID));
}

static void rbd_close_all(struct rbd *r)
{
	if (r->watching)
		L.rbd_update_unwatch(r->image, r->watch);
	if (r->image)
		L.rbd_close(r->image);
	if (r->io)
		L.rados_ioctx_destroy(r->io);
	if (r->cluster)
		L.rados_shutdown(r->cluster);
	free(r);
}

/*
 * On a librbd thread, when the image's header changes: an `rbd resize`
 * while we serve.  The export's size stays what clients were told;
 * requests past the new end fail at once (librbd 16 kept a write there
 * waiting for ever).
 */
static void header_changed(void *arg)
{
	struct rbd *r = arg;
	uint64_t size, was = atomic_load(&r->live_size);

	if (L.rbd_get_size(r->image, &size) < 0 || size == was)
		return;
	atomic_store(&r->live_size, size);
	if (size < r->b.size)
		log_warn("%s: shrunk in the cluster to %" PRIu64 " bytes while "
			 "served as %" PRIu64 ": requests past %" PRIu64
			 " fail", r->spec, size, r->b.size, size);
	else if (was < r->b.size)
		log_info("%s: %" PRIu64 " bytes again", r->spec, size);
}

static int rbd_backend_open(const char *spec, const struct backend_opts *o,
			    struct backend **out)
{
	char buf[256], *pool, *name, *snap;
	rbd_image_info_t info;
	struct rbd *r;
	bool ro;
	int ret;

	if (snprintf(buf, sizeof(buf), "%s", spec) >= (int)sizeof(buf) ||
	    split_spec(buf, &pool, &name, &snap) < 0) {
		log_error("rbd:%s: expected rbd:POOL/IMAGE or "
			  "rbd:POOL/IMAGE@SNAPSHOT", spec);
		return -EINVAL;
	}
	ret = load_librbd(spec);
	if (ret < 0)
		return ret;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	snprintf(r->spec, sizeof(r->spec), "rbd:%s", spec);
	/* a snapshot cannot be written */
	ro = o->read_only || snap;
	ret = connect_cluster(r, o);
	if (ret < 0)
		goto fail;
	ret = open_image(r, pool, name, snap, ro, o);
	if (ret < 0)
		goto fail;
	if (!ro) {
		ret = claim_image(r, o);
		if (ret < 0)
			goto fail;
	}
	ret = L.rbd_stat(r->image, &info, sizeof(info));
	if (ret < 0) {
		log_error("%s: cannot read its size: %s", r->spec,
			  strerror(-ret));
		goto fail;
	}
	if (snap && !o->read_only)
		log_info("%s: a snapshot: served read-only", r->spec);
	r->b = (struct backend){
		.ops = &rbd_backend,
		.size = info.size,
		.align = 1,		/* librbd takes any byte range */
		.preferred = 4096,
		.read_only = ro,
		.can_trim = true,
		.can_zero = true,
		.can_fast_zero = true,
		.can_extents = can_diff(r),
	};
	r->object_size = info.obj_size ? info.obj_size : 1;
	atomic_store(&r->live_size, info.size);
	/* a snapshot does not change size */
	if (!snap && L.rbd_update_watch(r->image, &r->watch, header_changed,
					r) == 0)
		r->watching = true;
	*out = &r->b;
	return 0;
fail:
	rbd_close_all(r);
	return ret;
}

static void rbd_backend_close(struct backend *b)
{
	rbd_close_all(to_rbd(b));
}

static int rbd_backend_sync(struct backend *b)
{
	return L.rbd_flush(to_rbd(b)->image);
}

static int rbd_no_passthrough(struct backend *b)
{
	return -ENOTSUP;
}

/* ---- the I/O path ---- */

/* on a librbd thread: give the request back to its worker */
static void aio_callback(rbd_completion_t c, void *arg)
{
	struct request *rq = arg;
	ssize_t res = L.rbd_aio_get_return_value(c);

	L.rbd_aio_release(c);
	if (res > INT_MAX)
		res = INT_MAX;
	helpers_finish(rq->w, &rq->op, (int)res);
}

static void aio_done(struct op *op, int res);

/* start stage of rq; a refusal completes it at once */
static void start(struct request *rq, int stage)
{
	struct rbd *r = to_rbd(rq->be);
	rbd_image_t img = r->image;
	uint64_t live = atomic_load(&r->live_size), len = rq->len;
	rbd_completion_t c;
	int ret;

	rq->stage = stage;
	rq->op.done = aio_done;
	/* past a shrunk end: nothing to trim there, and no room */
	if (stage == S_IO && rq->type != REQ_FLUSH && rq->offset + len > live) {
		if (rq->type == REQ_TRIM && rq->offset < live) {
			len = live - rq->offset;
		} else if (rq->type == REQ_TRIM) {
			rq->complete(rq, 0);
			return;
		} else {
			rq->complete(rq, rq->type == REQ_READ ? -EIO : -ENOSPC);
			return;
		}
	}
	ret = L.rbd_aio_create_completion(rq, aio_callback, &c);
	if (ret < 0) {
		rq->complete(rq, ret);
		return;
	}
	if (stage == S_FLUSH) {
		ret = L.rbd_aio_flush(img, c);
	} else {
		switch (rq->type) {
		case REQ_READ:
			ret = L.rbd_aio_read(img, rq->offset, rq->len, rq->data,
					   c);
			break;
		case REQ_WRITE:
			ret = L.rbd_aio_write(img, rq->offset, rq->len, rq->data,
					    c);
			break;
		case REQ_FLUSH:
			ret = L.rbd_aio_flush(img, c);
			break;
		case REQ_TRIM:
			/*
			 * librbd drops the parts of a discard that do not
			 * fill its granularity (64 KiB); zeroing without
			 * thick provisioning discards what it can and zeroes
			 * the rest, so a trimmed range always reads zeroes,
			 * as FUSE's punch hole promises.
			 */
			ret = L.rbd_aio_write_zeroes(img, rq->offset, len, c,
						   0, 0);
			break;
		case REQ_ZERO:
			ret = L.rbd_aio_write_zeroes(
				img, rq->offset, rq->len, c,
				rq->flags & REQ_NO_HOLE ?
				RBD_WRITE_ZEROES_FLAG_THICK_PROVISION : 0, 0);
			break;
		default:
			ret = -EINVAL;
		}
	}
	if (ret < 0) {
		L.rbd_aio_release(c);
		rq->complete(rq, ret);
	}
}

/* on the worker */
static void aio_done(struct op *op, int res)
{
	struct request *rq = op_rq(op);
	struct rbd *r = to_rbd(rq->be);

	if (res < 0) {
		/* EBLOCKLISTED: the cluster has shut us out, for good */
		if (res == -ESHUTDOWN && !atomic_exchange(&r->shut_out, true))
			log_error("%s: the cluster has blocklisted this "
				  "client: every request fails from now on "
				  "(ceph osd blocklist ls; restart lloop "
				  "once it is lifted)",
				  r->spec);
		rq->complete(rq, res);
		return;
	}
	if (rq->stage == S_IO && rq->type == REQ_READ &&
	    (uint64_t)res < rq->len) {
		rq->complete(rq, res ? res : -EIO); /* short */
		return;
	}
	/* FUA: durable before the answer, so flush after the write */
	if (rq->stage == S_IO && (rq->flags & REQ_FUA) &&
	    rq->type != REQ_FLUSH && rq->type != REQ_READ) {
		start(rq, S_FLUSH);
		return;
	}
	rq->complete(rq, 0);
}

static void rbd_io(struct backend *b, struct request *rq)
{
	start(rq, S_IO);
}

static void rbd_zero(struct backend *b, struct request *rq)
{
	/* a thick zeroing writes every byte: never fast */
	if ((rq->flags & REQ_FAST_ZERO) && (rq->flags & REQ_NO_HOLE)) {
		rq->complete(rq, -ENOTSUP);
		return;
	}
	start(rq, S_IO);
}

static void rbd_cache(struct backend *b, struct request *rq)
{
	rq->complete(rq, 0);
}

/*
 * Block status from the object map (fast-diff), whole objects at a
 * time.  rbd_diff_iterate2 waits for the cluster, so it runs on a helper
 * thread; it reports the allocated objects in order and we fill the
 * gaps with holes.
 */
struct diff_walk {
	struct request *rq;
	struct extent *e;
	uint64_t pos, end;
};

static int walk_add(struct diff_walk *d, uint64_t to, uint32_t flags)
{
	struct request *rq = d->rq;

	if (to > d->end)
		to = d->end;
	while (d->pos < to) {
		uint64_t len = to - d->pos;
		struct extent *last = rq->nr_extents ?
				      &d->e[rq->nr_extents - 1] : NULL;

		if (len > UINT32_MAX - 4095)
			len = UINT32_MAX - 4095;
		if (last && last->flags == flags &&
		    (uint64_t)last->length + len <= UINT32_MAX - 4095) {
			last->length += len;
		} else {
			if (rq->nr_extents == rq->max_extents ||
			    (rq->nr_extents && (rq->flags & REQ_ONE)))
				return -ECANCELED; /* full: enough said */
			d->e[rq->nr_extents++] =
				(struct extent){ .length = len,
						 .flags = flags };
		}
		d->pos += len;
	}
	return d->pos >= d->end ? -ECANCELED : 0;
}

static int diff_cb(uint64_t off, size_t len, int exists, void *arg)
{
	struct diff_walk *d = arg;
	int ret;

	if (off + len <= d->pos)
		return 0;
	ret = walk_add(d, off, EXTENT_HOLE | EXTENT_ZERO);
	if (ret < 0)
		return ret;
	return walk_add(d, off + len, exists ? 0 :
				      EXTENT_HOLE | EXTENT_ZERO);
}

static int diff_call(void *arg)
{
	struct request *rq = arg;
	struct rbd *r = to_rbd(rq->be);
	struct diff_walk d = {
		.rq = rq,
		.e = (struct extent *)rq->buf,
		.pos = rq->offset,
		.end = rq->offset + rq->len,
	};
	/* librbd before 16.2.8 reports the wrong offsets for a start that
	 * is not an object's (as qemu does, ask from the object's start;
	 * diff_cb skips what lies before the request) */
	uint64_t from = rq->offset / r->object_size * r->object_size;
	/* past a shrunk end librbd says EINVAL: a hole there */
	uint64_t to = d.end < atomic_load(&r->live_size) ?
			      d.end :
			      atomic_load(&r->live_size);
	int ret = 0;

	rq->nr_extents = 0;
	if (to > from)
		ret = L.rbd_diff_iterate2(r->image, NULL, from, to - from, 1,
					1, diff_cb, &d);
	if (ret == -ECANCELED)
		return 0;
	if (ret < 0)
		return ret;
	walk_add(&d, d.end, EXTENT_HOLE | EXTENT_ZERO);
	return 0;
}

static void diff_done(struct op *op, int res)
{
	struct request *rq = op_rq(op);

	rq->complete(rq, res < 0 ? res : 0);
}

static void rbd_extents(struct backend *b, struct request *rq)
{
	if (!b->can_extents) {
		/*
		 * Without a valid object map librbd would stat every object
		 * of the range, one round trip each: say "all data", which
		 * is never wrong.
		 */
		struct extent *e = (struct extent *)rq->buf;

		e->length = rq->len;
		e->flags = 0;
		rq->nr_extents = 1;
		rq->complete(rq, 0);
		return;
	}
	rq->op = (struct op){
		.done = diff_done,
		.kind = OP_CALL,
		.fn = diff_call,
		.arg = rq,
	};
	rq->w->eng->submit(rq->w, &rq->op);
}

const struct backend_ops rbd_backend = {
	.name = "rbd",
	.prefix = "rbd:",
	.open = rbd_backend_open,
	.close = rbd_backend_close,
	.passthrough_fd = rbd_no_passthrough,
	.sync = rbd_backend_sync,
	.read = rbd_io,
	.write = rbd_io,
	.flush = rbd_io,
	.trim = rbd_io,
	.zero = rbd_zero,
	.cache = rbd_cache,
	.extents = rbd_extents,
};
