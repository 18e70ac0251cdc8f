// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kernel loop driver over our FUSE file: LOOP_CONFIGURE in one call
 * (before Linux 5.8, the four calls it replaced), with direct I/O (no
 * second copy in the page cache), the sector size asked for, and
 * autoclear, so that the device goes away by itself when the daemon,
 * which holds it open, dies.  What waits for our own FUSE
 * answers (opening the file, LOOP_CONFIGURE, the flush and the unbinding
 * at detach) is done by a helper process, so that SIGKILL always ends the
 * daemon (selfcall.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/kversion.h"
#include "core/log.h"
#include "frontend/fuse/fuse.h"
#include "frontend/fuse/loopdev.h"
#include "frontend/fuse/selfcall.h"

#define LOOP_TRIES 16

/* what the helper of loopdev_attach_file got to */
enum { STEP_NONE, STEP_OPEN, STEP_SIZE, STEP_CONFIGURE };

/* by value: it travels to the helper and back (selfcall.h) */
struct attach_call {
	char file[4096];
	int flags;
	uint64_t size;
	struct loop_config cfg;
	bool legacy;		/* no LOOP_CONFIGURE: four calls */
	int step;		/* out */
	long long st_size;	/* out */
};

/*
 * Before Linux 5.8 there is no LOOP_CONFIGURE: the same in the calls
 * losetup makes there.  Read-only comes from fd's mode.  Undone if one
 * fails, but for direct I/O, which LOOP_CONFIGURE too leaves off where
 * the file cannot take it (the daemon looks afterwards).
 */
static int configure_legacy(int loop, int fd, const struct loop_config *cfg)
{
	struct loop_info64 info = cfg->info;
	int err;

	if (ioctl(loop, LOOP_SET_FD, fd) < 0)
		return -errno;
	info.lo_flags &= LO_FLAGS_AUTOCLEAR;
	if (ioctl(loop, LOOP_SET_STATUS64, &info) < 0 ||
	    ioctl(loop, LOOP_SET_BLOCK_SIZE, (unsigned long)cfg->block_size) < 0) {
		err = -errno;
		ioctl(loop, LOOP_CLR_FD, 0);
		return err;
	}
	if (cfg->info.lo_flags & LO_FLAGS_DIRECT_IO)
		ioctl(loop, LOOP_SET_DIRECT_IO, 1UL);
	return 0;
}

/*
 * In the helper (selfcall.c says what it may do), fds[0] the loop device:
 * the three calls that wait for our own workers' answers, and the close,
 * which sends FLUSH.
 */
static int attach_child(void *p, const int *fds)
{
	struct attach_call *c = p;
	struct stat st;
	int fd, err = 0;

	c->step = STEP_OPEN;
	fd = open(c->file, c->flags | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/*
	 * The root inode starts with size 0 and some kernels (6.12) size the
	 * loop device from it without asking: a GETATTR first.
	 */
	c->step = STEP_SIZE;
	if (fstat(fd, &st) < 0) {
		err = -errno;
	} else if ((uint64_t)st.st_size != c->size) {
		c->st_size = st.st_size;
		err = -EINVAL;
	} else {
		c->step = STEP_CONFIGURE;
		c->cfg.fd = fd;
		if (c->legacy)
			err = configure_legacy(fds[0], fd, &c->cfg);
		else if (ioctl(fds[0], LOOP_CONFIGURE, &c->cfg) < 0)
			err = -errno;
	}
	close(fd);
	return err;
}

int loopdev_attach_file(const char *file, uint64_t size, const char *image,
			unsigned sector_size, bool read_only, char *dev,
			size_t dev_len, int *loop_fd)
{
	static struct attach_call c;
	struct loop_config *cfg = &c.cfg;
	int ctl, fd = -1, n, err = 0;

	if (strlen(file) >= sizeof(c.file)) {
		log_error("%s: %s", file, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	memset(&c, 0, sizeof(c));
	snprintf(c.file, sizeof(c.file), "%s", file);
	c.flags = read_only ? O_RDONLY : O_RDWR;
	c.size = size;
	c.legacy = !kernel_at_least(5, 8);
	if (c.legacy)
		log_info("%s: Linux before 5.8 has no LOOP_CONFIGURE: binding "
			 "with LOOP_SET_FD, LOOP_SET_STATUS64, "
			 "LOOP_SET_BLOCK_SIZE and LOOP_SET_DIRECT_IO", file);

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		err = -errno;
		log_error("/dev/loop-control: %s (is the loop driver "
			  "available?)",
			  strerror(errno));
		return err;
	}
	cfg->block_size = sector_size;
	cfg->info.lo_flags = LO_FLAGS_DIRECT_IO | LO_FLAGS_AUTOCLEAR |
			     (read_only ? LO_FLAGS_READ_ONLY : 0);
	snprintf((char *)cfg->info.lo_file_name, LO_NAME_SIZE, "%s", image);

	/* another process may take the free device first: try again */
	for (int i = 0; i < LOOP_TRIES; i++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			err = -errno;
			log_error("no free loop device: %s", strerror(errno));
			break;
		}
		snprintf(dev, dev_len, "/dev/loop%d", n);
		/*
		 * Ours before the helper binds it: the helper's descriptor
		 * must not be the last, or autoclear would unbind the
		 * device when the helper exits.
		 */
		fd = open(dev, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			log_error("%s: %s", dev, strerror(errno));
			break;
		}
		c.step = STEP_NONE;
		err = selfcall(attach_child, &c, sizeof(c), &fd, 1, -1);
		if (!err)
			break;
		close(fd);
		fd = -1;
		if (err == -ECHILD) {
			log_error("%s: the helper process that binds the loop "
				  "device died",
				  file);
			break;
		}
		if (c.step == STEP_OPEN) {
			log_error("%s: cannot open the FUSE file: %s", file,
				  strerror(-err));
			break;
		}
		if (c.step == STEP_SIZE) {
			log_error("%s: the FUSE file has size %lld, expected "
				  "%llu",
				  file, c.st_size, (unsigned long long)size);
			break;
		}
		if (err != -EBUSY) {
			log_error("%s: %s: %s", dev, c.legacy ?
				  "LOOP_SET_FD and its settings" :
				  "LOOP_CONFIGURE", strerror(-err));
			break;
		}
	}
	close(ctl);
	if (err == -EBUSY)
		log_error("no free loop device: each one offered was taken "
			  "by another process first (%d tries)", LOOP_TRIES);
	if (err)
		return err;
	*loop_fd = fd;
	return 0;
}

bool loopdev_bound(const char *dev)
{
	char path[128];
	const char *name = strrchr(dev, '/');

	snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file",
		 name ? name + 1 : dev);
	return access(path, F_OK) == 0;
}

bool loopdev_busy(const char *dev)
{
	/* O_EXCL on a block device fails while it is mounted or claimed */
	int fd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC);

	if (fd < 0)
		return errno == EBUSY;
	close(fd);
	return false;
}

struct detach_call {
	int fsync_err;		/* out */
};

/* in the helper, fds[0] the loop device: flush and unbind; the helper's
 * close after this is the last one (handed off) */
static int detach_child(void *p, const int *fds)
{
	struct detach_call *c = p;

	/* durable first: the loop driver's flush reaches us as FSYNC */
	if (fsync(fds[0]) < 0)
		c->fsync_err = -errno;
	/*
	 * The device is cleared on its last close, which writes back its
	 * page cache and waits for what is in flight, through us: the
	 * helper's close, not the daemon's.
	 */
	if (ioctl(fds[0], LOOP_CLR_FD, 0) < 0)
		return -errno;
	return 0;
}

int loopdev_detach(int loop_fd, const char *dev, int *flush_err)
{
	struct detach_call c = { 0 };
	int err;

	/* loop_fd passes to the helper, which closes it */
	err = selfcall(detach_child, &c, sizeof(c), &loop_fd, 1, loop_fd);
	if (flush_err)
		*flush_err = c.fsync_err;
	if (c.fsync_err)
		log_error("%s: the flush before detach failed (%s): what "
			  "was written through it may not be durable",
			  dev, strerror(-c.fsync_err));
	if (err == -ECHILD) {
		log_error("%s: the helper process that unbinds the device "
			  "died",
			  dev);
		return err;
	}
	if (err < 0) {
		log_error("%s: LOOP_CLR_FD: %s", dev, strerror(-err));
		return err;
	}
	return 0;
}
