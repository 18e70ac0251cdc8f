// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kernel loop driver over our FUSE file: LOOP_CONFIGURE in one call,
 * with direct I/O (no second copy in the page cache), the sector size
 * asked for, and autoclear, so that the device goes away by itself when
 * the daemon, which holds it open, dies.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/log.h"
#include "frontend/fuse/fuse.h"

#define LOOP_TRIES 16

int loopdev_attach(int file_fd, const char *image, unsigned sector_size,
		   bool read_only, char *dev, size_t dev_len, int *loop_fd)
{
	struct loop_config cfg = { 0 };
	int ctl, fd = -1, n, err = 0;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		err = -errno;
		log_error("/dev/loop-control: %s (is the loop driver "
			  "available?)",
			  strerror(errno));
		return err;
	}
	cfg.fd = file_fd;
	cfg.block_size = sector_size;
	cfg.info.lo_flags = LO_FLAGS_DIRECT_IO | LO_FLAGS_AUTOCLEAR |
			    (read_only ? LO_FLAGS_READ_ONLY : 0);
	snprintf((char *)cfg.info.lo_file_name, LO_NAME_SIZE, "%s", image);

	/* another process may take the free device first: try again */
	for (int i = 0; i < LOOP_TRIES; i++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			err = -errno;
			log_error("no free loop device: %s", strerror(errno));
			break;
		}
		snprintf(dev, dev_len, "/dev/loop%d", n);
		fd = open(dev, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			log_error("%s: %s", dev, strerror(errno));
			break;
		}
		if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
			err = 0;
			break;
		}
		err = -errno;
		close(fd);
		fd = -1;
		if (err != -EBUSY) {
			log_error("%s: LOOP_CONFIGURE: %s", dev, strerror(-err));
			break;
		}
	}
	close(ctl);
	if (fd < 0 && !err)
		err = -EBUSY;
	if (err)
		return err;
	*loop_fd = fd;
	return 0;
}

bool loopdev_direct_io(int loop_fd)
{
	struct loop_info64 info;

	return ioctl(loop_fd, LOOP_GET_STATUS64, &info) == 0 &&
	       (info.lo_flags & LO_FLAGS_DIRECT_IO);
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

int loopdev_detach(int loop_fd, const char *dev)
{
	/* durable first: the loop driver's flush reaches us as FSYNC */
	if (fsync(loop_fd) < 0)
		log_warn("%s: flush before detach: %s", dev, strerror(errno));
	if (ioctl(loop_fd, LOOP_CLR_FD, 0) < 0) {
		int err = -errno;

		log_error("%s: LOOP_CLR_FD: %s", dev, strerror(errno));
		return err;
	}
	close(loop_fd);
	return 0;
}
