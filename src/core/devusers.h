/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_DEVUSERS_H
#define LLOOP_DEVUSERS_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Who uses block device dev, for an error message: its mounts (in our
 * mount namespace), a swap area on it, the devices stacked on it
 * (/sys/.../holders) and the processes that have it open (but not pid
 * skip, nor its children: a daemon and its helpers).  Writes "mounted on
 * /mnt, open by pid 42 (sleep)" or so into buf; returns how many users
 * it found, 0 for none, or a negative errno when dev is not a block
 * device.
 */
int dev_users(const char *dev, pid_t skip, char *buf, size_t len);

#endif
