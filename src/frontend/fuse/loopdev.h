/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_LOOPDEV_H
#define LLOOP_LOOPDEV_H
/*
 * The loop device over the daemon's own FUSE file.  Every call here that
 * may wait for a FUSE answer runs in a helper process (selfcall.h), so
 * that a SIGKILL always ends the daemon.  The rest of the loop device
 * API (loopdev_detach, _busy, _bound, _direct_io) is in fuse.h.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Open FILE (the FUSE file, which must have SIZE bytes) and bind a free
 * loop device to it: direct I/O, autoclear, SECTOR_SIZE, read-only or
 * not; IMAGE is the name the device records.  *dev gets /dev/loopN and
 * *loop_fd our descriptor of it.  0, or -errno after saying why.
 */
int loopdev_attach_file(const char *file, uint64_t size, const char *image,
			unsigned sector_size, bool read_only, char *dev,
			size_t dev_len, int *loop_fd);

#endif
