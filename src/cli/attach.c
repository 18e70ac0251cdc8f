// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lloop attach: IMAGE as /dev/loopN through a single-file FUSE mount and
 * the kernel loop driver.  The command forks a daemon that
 *  1. takes a mount namespace of its own, so that its FUSE mount is
 *     private and vanishes with it, whatever way it ends;
 *  2. mounts the image as a one-file FUSE file system and serves it;
 *  3. binds a loop device to that file (direct I/O, autoclear);
 * then tells the command the device name, which it prints.  SIGTERM
 * (from lloop detach) flushes, unbinds the device and stops.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sched.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "cli/options.h"
#include "core/control.h"
#include "core/devusers.h"
#include "core/log.h"
#include "core/memsafe.h"
#include "core/notify.h"
#include "core/parse.h"
#include "core/runtime.h"
#include "core/server.h"
#include "frontend/fuse/fuse.h"
#include "frontend/fuse/loopdev.h"
#include "frontend/fuse/selfcall.h"
#include "frontend/nbd/kernel.h"
#include "frontend/nbd/nbd.h"
#include "frontend/ublk/ublk.h"

#define FUSE_SLOTS 16
#define FUSE_MIN_BUFFER_MEMORY (64u << 20) /* the FUSE slots need 32M */

enum attach_frontend { FRONTEND_FUSE, FRONTEND_NBD, FRONTEND_UBLK };

/* ublk: requests in flight, each with its own buffer */
#define UBLK_DEPTH 64

struct attach_opts {
	enum attach_frontend frontend;
	bool read_only;
	unsigned sector_size;
	struct memsafe_opts mem;
	bool foreground;
	bool passthrough;
	bool fuse_uring;
	int log_level;		/* once the terminal is let go */
	/* the words that chose them, for config_where() */
	const char *frontend_word, *fuse_uring_word;
};

void attach_usage(void)
{
	printf("Usage: lloop attach [OPTIONS] IMAGE\n"
	       "\n"
	       "Make IMAGE a local block device and print its name once it is\n"
	       "ready: /dev/loopN through a one-file FUSE mount and the kernel\n"
	       "loop driver (the default), /dev/nbdN through the kernel nbd\n"
	       "driver, or /dev/ublkbN through the ublk driver. IMAGE is a\n"
	       "file, a block device, memory:SIZE or rbd:POOL/IMAGE (Ceph).\n"
	       "Needs root. 'lloop detach' undoes it; 'lloop list' shows it.\n"
	       "\n"
	       "Options:\n"
	       "      --frontend KIND      fuse (FUSE + loop, default), nbd\n"
	       "                           (the kernel nbd driver over a\n"
	       "                           socketpair; needs the nbd module)\n"
	       "                           or ublk (the ublk driver, Linux\n"
	       "                           6.4+; needs ublk_drv and io_uring)\n"
	       "  -r, --read-only          a read-only device\n"
	       "      --sector-size N      512 or 4096 (default 4096)\n"
	       "      --cache MODE         none (O_DIRECT, default) or writeback\n"
	       "      --engine ENGINE      uring or threads\n"
	       "      --queue-depth N      requests in flight (128)\n"
	       "      --buffer-memory SIZE buffer arena, a power of two (64M;\n"
	       "                           at least 64M for fuse, 4M for nbd)\n"
	       "      --no-mlock           do not lock memory (not for swap)\n"
	       "      --oom-score-adj N    -1000 to 1000 (default -1000)\n"
	       "      --log-level LEVEL    error, warning, info, debug\n"
	       "      --passthrough        reads and writes of a plain file go\n"
	       "                           straight to it (FUSE passthrough;\n"
	       "                           the default where the kernel has it)\n"
	       "      --no-passthrough     every request through lloop's engine\n"
	       "      --fuse-uring         FUSE over io_uring (Linux 6.14+); sets\n"
	       "                           the fuse module's enable_uring\n"
	       "      --foreground         stay in the foreground (systemd)\n"
	       OPERATOR_USAGE
	       INJECT_FAULT_USAGE
	       "  -h, --help               this text\n"
	       CEPH_USAGE
	       "\n"
	       "Files: $LLOOP_RUNTIME_DIR (default " RUNTIME_DIR_DEFAULT
	       ")/attach/PID.{state,log,sock}\n");
}

enum {
	O_SECTOR = 256,
	O_FOREGROUND,
	O_PASSTHROUGH,
	O_NO_PASSTHROUGH,
	O_FUSE_URING,
	O_FRONTEND,
};

static const struct option long_opts[] = {
	{ "read-only", no_argument, NULL, 'r' },
	{ "sector-size", required_argument, NULL, O_SECTOR },
	{ "foreground", no_argument, NULL, O_FOREGROUND },
	{ "passthrough", no_argument, NULL, O_PASSTHROUGH },
	{ "no-passthrough", no_argument, NULL, O_NO_PASSTHROUGH },
	{ "fuse-uring", no_argument, NULL, O_FUSE_URING },
	{ "frontend", required_argument, NULL, O_FRONTEND },
	{ "help", no_argument, NULL, 'h' },
	COMMON_LONG_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static int parse_attach(int argc, char **argv, struct server_config *cfg,
			struct attach_opts *ao)
{
	const struct common_opts common = {
		.cfg = cfg,
		.mem = &ao->mem,
		.log_level = &ao->log_level,
		.min_queue_depth = FUSE_SLOTS,
		.min_buffer_memory = 4u << 20, /* FUSE: checked below */
	};
	unsigned u;
	int c, ret;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":rh", long_opts, NULL)) != -1) {
		ret = common_option(c, optarg, &common);
		if (ret < 0)
			return ret;
		if (ret)
			continue;
		switch (c) {
		case 'r':
			ao->read_only = true;
			break;
		case O_SECTOR:
			if (parse_uint(optarg, 512, 4096, &u) < 0 ||
			    (u != 512 && u != 4096))
				return option_bad("--sector-size", optarg,
						  "expected 512 or 4096");
			ao->sector_size = u;
			break;
		case O_FOREGROUND:
			ao->foreground = true;
			break;
		case O_PASSTHROUGH:
			ao->passthrough = true;
			break;
		case O_NO_PASSTHROUGH:
			ao->passthrough = false;
			break;
		case O_FUSE_URING:
			ao->fuse_uring = true;
			ao->fuse_uring_word = argv[optind - 1];
			break;
		case O_FRONTEND:
			ao->frontend_word = optarg;
			if (!strcmp(optarg, "fuse"))
				ao->frontend = FRONTEND_FUSE;
			else if (!strcmp(optarg, "nbd"))
				ao->frontend = FRONTEND_NBD;
			else if (!strcmp(optarg, "ublk"))
				ao->frontend = FRONTEND_UBLK;
			else
				return option_bad("--frontend", optarg,
						  "expected fuse, nbd or ublk");
			break;
		case 'h':
			attach_usage();
			exit(0);
		default:
			return option_unknown("attach", c, argv);
		}
	}
	if (optind != argc - 1) {
		log_error(optind == argc ? "attach: no IMAGE given" :
					   "attach: one IMAGE at a time");
		return -EINVAL;
	}
	if (ao->frontend == FRONTEND_FUSE && cfg->buffer_memory &&
	    cfg->buffer_memory < FUSE_MIN_BUFFER_MEMORY) {
		log_error("--buffer-memory: the fuse frontend needs at least "
			  "%uM",
			  FUSE_MIN_BUFFER_MEMORY >> 20);
		return -EINVAL;
	}
	if (ao->frontend != FRONTEND_FUSE && ao->fuse_uring) {
		const char *where = config_where(ao->fuse_uring_word);

		/* the flag's line, else the line of the frontend */
		log_error("%s--fuse-uring is for --frontend fuse",
			  where[0] ? where : config_where(ao->frontend_word));
		return -EINVAL;
	}
	cfg->bopts.read_only = ao->read_only;
	return 0;
}

/* the image as attachments name it: a real path, or memory:SIZE, rbd:... */
static int image_key(const char *image, char *out, size_t len)
{
	if (!backend_spec_is_path(image)) {
		snprintf(out, len, "%s", image);
		return 0;
	}
	if (!realpath(image, out)) {
		int err = -errno;

		log_error("%s%s: %s", config_where(image), image,
			  strerror(errno));
		return err;
	}
	return 0;
}

/*
 * A device whose daemon died stays bound while something holds it open,
 * and with passthrough the kernel still writes the image through it: an
 * image in that state must not get a second device.
 */
static int orphaned(const struct attachment *a, void *arg)
{
	struct attachment *want = arg;

	if (!backend_spec_is_path(a->image) || !same_file(a->image, want->image))
		return 0;
	if (attachment_alive(a) || !attachment_device_held(a))
		return 0;
	snprintf(want->device, sizeof(want->device), "%s", a->device);
	return 1;
}

/* ---- the daemon ---- */

struct daemon {
	struct server srv;
	struct export exp;
	struct fuse_session fs;
	struct attachment att;
	char mnt[4096];
	bool mounted;
	bool serving;		/* was ready: a detach may wait for our end */
	int fuse_fd, loop_fd;
	enum attach_frontend frontend;
	struct nbd_kernel nk;
	struct ublk_dev ub;
};

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] && s[3]) {
			*o++ = (s[1] - '0') << 6 | (s[2] - '0') << 3 |
			       (s[3] - '0');
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* is mount point m on the way to path p (p itself, or above it)? */
static bool on_path(const char *m, const char *p)
{
	size_t n = strlen(m);

	if (!strcmp(m, "/"))
		return true;
	return !strncmp(m, p, n) && (p[n] == '/' || p[n] == '\0');
}

/*
 * The new namespace starts with a copy of every mount there is.  A copy
 * would keep its file system alive after the host unmounts it, and its
 * device claimed: detach all but what the daemon needs.  Deepest first,
 * so that each is a leaf when it goes.  A pass takes up to 1024 lines of
 * the table; passes go on while one detaches something (a host with more
 * mounts than that, a Kubernetes node say, needs several).
 */
#define PRUNE_BATCH 1024

static int depth_of(const char *m)
{
	int d = 0;

	for (; *m; m++)
		d += *m == '/';
	return d;
}

/* deepest first */
static int by_depth(const void *a, const void *b)
{
	return depth_of(*(char *const *)b) - depth_of(*(char *const *)a);
}

/* one pass: how many it detached */
static unsigned prune_pass(const char *rundir)
{
	const char *keep[] = { "/dev", "/proc", "/sys", rundir };
	char line[8192];
	char *mounts[PRUNE_BATCH];
	unsigned n = 0, done = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return 0;
	while (n < PRUNE_BATCH && fgets(line, sizeof(line), f)) {
		char mnt[4096];
		bool needed = false;

		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		unescape(mnt);
		for (unsigned k = 0; k < 4; k++)
			needed |= on_path(mnt, keep[k]);
		if (!needed && (mounts[n] = strdup(mnt)))
			n++;
	}
	fclose(f);
	qsort(mounts, n, sizeof(*mounts), by_depth);
	for (unsigned i = 0; i < n; i++) {
		/* (one whose parent went first went with it: EINVAL) */
		if (umount2(mounts[i], MNT_DETACH) == 0)
			done++;
		free(mounts[i]);
	}
	return done;
}

static void prune_mounts(const char *rundir)
{
	for (int pass = 0; pass < 64 && prune_pass(rundir); pass++)
		;
}

static int private_mount(struct daemon *d, int fuse_fd)
{
	char opts[256];
	int fd;

	/* our mounts stay ours, and go when we go */
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		int err = -errno;

		log_error("attach: cannot make a private mount namespace: %s",
			  strerror(errno));
		return err;
	}
	prune_mounts(runtime_dir());
	/* it is named by our pid: one there already is a dead daemon's
	 * that had this pid before us, killed before it could remove it */
	unlink(d->mnt);
	fd = open(d->mnt, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		int err = -errno;

		log_error("%s: cannot create the mount point: %s", d->mnt,
			  strerror(errno));
		return err;
	}
	close(fd);
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=100000,user_id=0,group_id=0,allow_other,"
		 "max_read=%u",
		 fuse_fd, FUSE_MAX_WRITE);
	if (mount("lloop", d->mnt, "fuse.lloop",
		  MS_NOSUID | MS_NODEV | MS_NOEXEC |
			  (d->exp.read_only ? MS_RDONLY : 0),
		  opts) < 0) {
		int err = -errno;

		log_error("%s: cannot mount FUSE: %s", d->mnt,
			  strerror(errno));
		return err;
	}
	d->mounted = true;
	return 0;
}

static void daemon_cleanup(struct daemon *d)
{
	if (d->mounted && umount2(d->mnt, MNT_DETACH) < 0)
		log_warn("%s: unmount: %s", d->mnt, strerror(errno));
	d->mounted = false;
}

static int serve_until_detached(struct daemon *d, sigset_t *set)
{
	char who[512];
	int sig, flush_err = 0;

	for (;;) {
		sigwait(set, &sig);
		if (atomic_load(&d->srv.failed))
			return 1;
		if (!loopdev_busy(d->att.device))
			break;
		log_error("%s is in use (mounted?): not detaching; unmount it "
			  "and try again",
			  d->att.device);
	}
	log_info("%s: detaching", d->att.device);
	notify_stopping();
	if (d->frontend == FRONTEND_NBD)
		return nbd_kernel_detach(&d->nk, &flush_err) < 0 ||
		       flush_err < 0;
	if (d->frontend == FRONTEND_UBLK) {
		struct timespec tick = { 0, 200000000 };

		/*
		 * The driver has no unbinding at the last close, as loop and
		 * nbd have: STOP_DEV would fail a holder's I/O.  Wait for
		 * that close here, serving; a mount that came meanwhile
		 * (O_EXCL) counts too.  A second SIGTERM, or a failure,
		 * stops the wait.
		 */
		for (int i = 0;
		     (dev_users(d->att.device, getpid(), who, sizeof(who)) > 0 ||
		      loopdev_busy(d->att.device)) &&
		     !atomic_load(&d->srv.failed);
		     i++) {
			if (i == 0)
				log_info("%s: still in use (%s); serving until "
					 "its last user closes it",
					 d->att.device, who[0] ? who :
					 "claimed");
			if (sigtimedwait(set, NULL, &tick) > 0) {
				log_warn("%s: stopping it under its users",
					 d->att.device);
				break;
			}
		}
		/* the driver drains what is in flight, which we serve */
		ublk_dev_remove(&d->ub);
		return 0;
	}
	if (loopdev_detach(d->loop_fd, d->att.device, &flush_err) < 0)
		return 1;
	/*
	 * With another opener the kernel only marks the device to clear on
	 * its last close: serve until then, or that opener would hang.
	 * Bound to our file, that is: once free, the number may be bound
	 * again at once, by anyone.
	 */
	for (int i = 0; attachment_device_held(&d->att); i++) {
		if (i == 50)
			log_info("%s: still open elsewhere; serving until its "
				 "last user closes it",
				 d->att.device);
		usleep(20000);
	}
	return flush_err < 0;
}

/* FUSE + loop, before the workers: the FUSE mount */
static int fuse_prepare(struct daemon *d)
{
	d->fuse_fd = open("/dev/fuse", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (d->fuse_fd < 0) {
		log_error("FUSE is not available: /dev/fuse: %s",
			  strerror(errno));
		return -1;
	}
	if (private_mount(d, d->fuse_fd) < 0)
		return -1;
	/*
	 * The helper that makes the calls on our own FUSE file
	 * (selfcall.h): forked now, in our mount namespace, while we are
	 * small.  Without it those calls are made here, as they were.
	 */
	selfcall_start();
	return 0;
}

/* FUSE + loop, once the workers run: the session, then the loop device */
static int fuse_bind(struct daemon *d, const struct attach_opts *ao)
{
	fuse_session_start(&d->fs);
	/*
	 * The workers answer the FUSE requests that opening the file and
	 * binding the loop device make; a helper process makes them
	 * (loopdev.h), never this thread, or a SIGKILL could not end us.
	 */
	if (loopdev_attach_file(d->mnt, d->att.size, d->att.image,
				ao->sector_size, d->exp.read_only,
				d->att.device, sizeof(d->att.device),
				&d->loop_fd) < 0)
		return -1;
	if (loop_backing(d->loop_fd, &d->att.backing_dev, &d->att.backing_ino,
			 &d->att.direct_io) < 0)
		d->att.direct_io = false;
	snprintf(d->att.path, sizeof(d->att.path), "%s%s",
		 atomic_load(&d->fs.passthrough_used) ? "passthrough" :
							 "engine",
		 atomic_load(&d->fs.uring_active) ? "+uring" : "");
	if (!d->att.direct_io)
		log_warn("%s: the loop driver did not take direct I/O",
			 d->att.device);
	return 0;
}

/*
 * The kernel nbd driver, once the workers run: a socketpair whose one end
 * is an NBD connection like any other, whose other end we negotiate on
 * and then give to the driver.
 */
static int nbd_bind(struct daemon *d, const struct attach_opts *ao)
{
	int sv[2], ret;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error("nbd: socketpair: %s", strerror(errno));
		return -1;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	if (!conn_alloc(&d->srv, sv[0], "kernel nbd")) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	ret = nbd_kernel_negotiate(sv[1], &d->nk);
	if (ret < 0) {
		log_error("nbd: the handshake failed: %s", strerror(-ret));
		close(sv[1]);
		return -1;
	}
	ret = nbd_kernel_connect(&d->nk, sv[1], ao->sector_size,
				 d->att.image);
	/* the driver holds its own reference to the socket */
	close(sv[1]);
	if (ret < 0)
		return -1;
	nbd_kernel_limit_requests(&d->nk);
	snprintf(d->att.device, sizeof(d->att.device), "%s", d->nk.device);
	/* no page cache of the image's besides the device's own */
	d->att.direct_io = true;
	snprintf(d->att.path, sizeof(d->att.path), "nbd");
	return 0;
}

/* the ublk driver, once the workers run */
static int ublk_bind(struct daemon *d)
{
	if (ublk_dev_start(&d->ub) < 0) {
		/* STOP_DEV ends the fetches, started or not */
		ublk_dev_remove(&d->ub);
		return -1;
	}
	snprintf(d->att.device, sizeof(d->att.device), "%s", d->ub.device);
	/* the driver copies into our buffers: no page cache of the image's */
	d->att.direct_io = true;
	snprintf(d->att.path, sizeof(d->att.path), "ublk");
	return 0;
}

static int frontend_bind(struct daemon *d, const struct attach_opts *ao)
{
	switch (d->frontend) {
	case FRONTEND_NBD:
		return nbd_bind(d, ao);
	case FRONTEND_UBLK:
		return ublk_bind(d);
	default:
		return fuse_bind(d, ao);
	}
}

static void frontend_unbind(struct daemon *d)
{
	switch (d->frontend) {
	case FRONTEND_NBD:
		nbd_kernel_disconnect(&d->nk, NULL);
		break;
	case FRONTEND_UBLK:
		ublk_dev_remove(&d->ub);
		break;
	default:
		loopdev_detach(d->loop_fd, d->att.device, NULL);
	}
}

static int run_daemon(struct daemon *d, const struct attach_opts *ao,
		      int ready_fd)
{
	char sock[4200], logf[4200];
	sigset_t set;
	int ret, status = 1;

	d->att.pid = getpid();
	d->att.start_time = pid_start_time(d->att.pid);
	d->frontend = ao->frontend;
	d->fuse_fd = -1;
	d->nk.index = -1;
	d->ub.ctrl_fd = d->ub.cdev_fd = d->ub.id = -1;
	runtime_file(d->mnt, sizeof(d->mnt), d->att.pid, "img");
	runtime_file(sock, sizeof(sock), d->att.pid, "sock");
	runtime_file(logf, sizeof(logf), d->att.pid, "log");
	/* what a daemon that had this pid before us left is not ours */
	attachment_keep_dead(d->att.pid);
	attachment_fail_clear(d->att.pid);

	/* before any thread: the control thread's, librados's, the workers' */
	server_block_signals(&set);

	ret = backend_open(d->exp.spec, &d->srv.cfg.bopts, &d->exp.be);
	if (ret < 0)
		return 1;
	d->srv.nr_exports = 1;
	/* the backend may know better: a snapshot is never written */
	d->exp.read_only = d->exp.read_only || d->exp.be->read_only;
	d->att.read_only = d->exp.read_only;
	d->att.size = d->exp.be->size;
	if (d->att.size % ao->sector_size) {
		log_error("%s: its size, %llu bytes, is not a multiple of the "
			  "sector size %u (--sector-size)",
			  d->exp.spec, (unsigned long long)d->att.size,
			  ao->sector_size);
		return 1;
	}
	/* ublk gives the backend the kernel's requests as they are: no
	 * bounce span for what direct I/O cannot take (nbd and FUSE have one) */
	if (d->frontend == FRONTEND_UBLK &&
	    ao->sector_size < d->exp.be->align) {
		log_error("--sector-size %u: %s takes direct I/O aligned to %u "
			  "bytes only, and the ublk frontend does not bounce "
			  "smaller sectors: use %s--cache writeback",
			  ao->sector_size, d->exp.spec, d->exp.be->align,
			  d->exp.be->align <= 4096 ? "--sector-size 4096 or " :
						    "");
		return 1;
	}
	if (d->frontend == FRONTEND_FUSE && fuse_prepare(d) < 0)
		goto out;
	if (server_setup(&d->srv) < 0)
		goto out;
	if (d->frontend == FRONTEND_NBD) {
		if (nbd_frontend_init(&d->srv, NULL) < 0) {
			log_error("attach: cannot set up the nbd frontend");
			goto out;
		}
	} else if (d->frontend == FRONTEND_UBLK) {
		if (ublk_dev_add(&d->ub, &d->srv, &d->exp, ao->sector_size,
				 UBLK_DEPTH) < 0)
			goto out;
	} else if (fuse_session_init(&d->fs, &d->srv, &d->exp, d->fuse_fd,
				     FUSE_SLOTS, ao->passthrough) < 0) {
		log_error("attach: the pool cannot hold %d FUSE slots",
			  FUSE_SLOTS);
		goto out;
	}
	d->fs.want_uring = ao->fuse_uring;
	/*
	 * An inode number no other daemon's file has had since boot: a
	 * dead daemon's device shows its file as "/", and the anonymous
	 * device number of a FUSE mount is used again by the next one, so
	 * this number tells whose device it is (attachment_device_held).
	 * pid_max is at most 2^22.
	 */
	d->fs.ino = d->att.start_time << 22 | (uint64_t)d->att.pid;
	if (control_start(&d->srv, sock) < 0 || memsafe_apply(&ao->mem) < 0)
		goto out;

	if (server_start(&d->srv) < 0)
		goto stop;
	if (frontend_bind(d, ao) < 0)
		goto stop;
	if (attachment_write(&d->att) < 0) {	/* it says why */
		frontend_unbind(d);
		goto stop;
	}
	log_info("%s: %s, %llu bytes, %u-byte sectors%s", d->att.device,
		 d->att.image, (unsigned long long)d->att.size,
		 ao->sector_size, d->exp.read_only ? ", read-only" : "");
	notify_ready(d->att.device);

	if (ready_fd >= 0) {
		int lfd = open(logf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			       0600);
		char ack;

		if (lfd >= 0) {
			dup2(lfd, STDERR_FILENO);
			close(lfd);
		}
		log_level = ao->log_level;
		/*
		 * The command prints the device, then says so: without that
		 * (it was killed, say) nobody knows of the device.  SIGPIPE
		 * is ignored: a gone command is EPIPE, or no answer.
		 */
		if (dprintf(ready_fd, "%s\n", d->att.device) < 0 ||
		    read(ready_fd, &ack, 1) != 1) {
			log_error("%s: the attach command was gone before it "
				  "could print the device: detaching",
				  d->att.device);
			close(ready_fd);
			frontend_unbind(d);
			goto stop;
		}
		close(ready_fd);
		lfd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (lfd >= 0) {
			dup2(lfd, STDIN_FILENO);
			dup2(lfd, STDOUT_FILENO);
			close(lfd);
		}
	} else {
		printf("%s\n", d->att.device);
		fflush(stdout);
	}
	d->serving = true;
	status = serve_until_detached(d, &set);
stop:
	daemon_cleanup(d);
	server_stop(&d->srv);
	log_flush();
	ret = d->exp.read_only ? 0 : d->exp.be->ops->sync(d->exp.be);
	if (ret < 0) {
		log_error("%s: the final flush failed: %s", d->exp.spec,
			  strerror(-ret));
		status = 1;
	}
out:
	daemon_cleanup(d);
	selfcall_stop();
	control_stop();
	free(d->fs.slots);
	nbd_frontend_fini(&d->srv);
	/* after the workers: the char device closed, then DEL_DEV */
	ublk_dev_fini(&d->ub);
	server_fini(&d->srv);
	if (d->fuse_fd >= 0)
		close(d->fuse_fd);
	/*
	 * A loop device still bound to our file after an error (mounted: it
	 * goes at the last close, and passthrough I/O goes on meanwhile)
	 * keeps its record, as after a SIGKILL: it stops a second attach of
	 * the image, and 'lloop detach' cleans up once it is free.
	 */
	if (status && d->serving && attachment_device_held(&d->att))
		log_error("%s: still in use: its record stays until 'lloop "
			  "detach %s' once it is free", d->att.device,
			  d->att.device);
	else
		attachment_remove(d->att.pid);
	if (status && d->serving) {
		char msg[512];

		if (!log_last_error(msg, sizeof(msg)))
			snprintf(msg, sizeof(msg), "stopped with an error");
		attachment_fail_write(d->att.pid, msg);
	}
	return status;
}

int attach_main(int argc, char **argv)
{
	struct attach_opts ao = {
		.sector_size = 4096,
		.passthrough = true,
		.mem = { .mlock = true, .oom_score_adj = -1000,
			 .set_oom_score_adj = true },
	};
	static struct daemon d;
	char dev[64];
	int p[2];
	pid_t pid;
	ssize_t n;

	int want_level;

	server_config_defaults(&d.srv.cfg);
	d.srv.cfg.threads = 1; /* one FUSE session, on worker 0 */
	ao.log_level = -1;
	if (config_expand(&argc, &argv, "attach", long_opts) < 0)
		return 2;
	if (parse_attach(argc, argv, &d.srv.cfg, &ao) < 0)
		return 2;
	if (ao.frontend == FRONTEND_NBD)
		d.srv.cfg.max_connections = 1; /* the kernel's socket */
	/* like losetup, the terminal gets the device, warnings and errors;
	 * the daemon's log file gets the rest */
	want_level = ao.log_level < 0 ? LOG_INFO : ao.log_level;
	log_level = ao.log_level < 0 ? LOG_WARN : ao.log_level;
	ao.log_level = want_level;
	if (geteuid() != 0) {
		log_error("attach: needs root (it mounts FUSE and configures "
			  "a loop device)");
		return 1;
	}
	d.exp.name = "";
	d.exp.spec = argv[optind];
	d.exp.description = argv[optind];
	d.exp.read_only = ao.read_only;
	d.srv.exports = &d.exp;
	d.att.sector_size = ao.sector_size;
	d.att.read_only = ao.read_only;
	if (image_key(argv[optind], d.att.image, sizeof(d.att.image)) < 0)
		return 1;
	if (strchr(d.att.image, '\n')) {
		/* the state file is one key=value a line */
		log_error("attach: %s: a newline in the image's path is not "
			  "supported", argv[optind]);
		return 1;
	}
	if (ao.frontend == FRONTEND_UBLK && !ublk_available()) {
		log_error("attach: --frontend ublk: this kernel has no ublk "
			  "driver (no %s; modprobe ublk_drv)", UBLK_CONTROL);
		return 1;
	}
	if (ao.frontend == FRONTEND_UBLK && d.srv.cfg.engine == ENGINE_THREADS) {
		log_error("attach: --frontend ublk needs the io_uring engine "
			  "(--engine uring)");
		return 1;
	}
	if (ao.frontend == FRONTEND_NBD && !nbd_kernel_available()) {
		log_error("attach: --frontend nbd: this kernel has no nbd driver "
			  "(no netlink family 'nbd', no /dev/nbd0; modprobe nbd)");
		return 1;
	}
	if (runtime_make_dirs() < 0)
		return 1;
	if (attachment_each(orphaned, &d.att) > 0) {
		log_error("%s: still bound to %s, whose daemon died; unmount "
			  "it, then 'lloop detach %s'",
			  d.att.image, d.att.device, d.att.device);
		return 1;
	}
	/*
	 * Two devices writing one image would corrupt it.  The lock passes
	 * to the daemon with the fork and the kernel drops it when the
	 * daemon ends, however it ends.  An rbd: image has the cluster's
	 * own lock, which holds across hosts (backend/rbd.c).
	 */
	if (backend_spec_is_path(d.att.image)) {
		int lock = image_lock(d.att.image);

		if (lock == -EBUSY) {
			log_error("%s: already attached (see 'lloop list')",
				  d.att.image);
			return 1;
		}
		if (lock < 0) {
			log_error("%s: cannot lock it in %s: %s", d.att.image,
				  runtime_dir(), strerror(-lock));
			return 1;
		}
	}
	if (ao.foreground)
		return run_daemon(&d, &ao, -1);

	/* both ways: the device to us, and back that we printed it */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0) {
		log_error("attach: socketpair: %s", strerror(errno));
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		log_error("attach: fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(p[0]);
		setsid();
		exit(run_daemon(&d, &ao, p[1]));
	}
	close(p[1]);
	n = read(p[0], dev, sizeof(dev) - 1);
	if (n <= 0) {
		int st = 0;

		/* the daemon said why on stderr, and left nothing behind;
		 * unless a signal ended it, which it cannot say */
		if (waitpid(pid, &st, 0) == pid && WIFSIGNALED(st))
			log_error("attach: the daemon (pid %d) was killed by "
				  "signal %d (%s) before the device was ready",
				  pid, WTERMSIG(st), strsignal(WTERMSIG(st)));
		return 1;
	}
	dev[n] = '\0';
	/* a device nobody was told of is a leftover: take it back */
	if (fputs(dev, stdout) == EOF || fflush(stdout) == EOF) {
		int err = errno;

		dev[strcspn(dev, "\n")] = '\0';
		/* no word back: the daemon detaches */
		log_error("attach: cannot print the device (%s): detaching %s",
			  strerror(err), dev);
		/* gone once it has: an attach tried again finds it free */
		close(p[0]);
		waitpid(pid, NULL, 0);
		return 1;
	}
	if (send(p[0], "p", 1, MSG_NOSIGNAL) != 1) {
		dev[strcspn(dev, "\n")] = '\0';
		log_error("attach: the daemon (pid %d) of %s ended before it "
			  "was told the device was printed: see 'lloop list'",
			  pid, dev);
		return 1;
	}
	return 0;
}
