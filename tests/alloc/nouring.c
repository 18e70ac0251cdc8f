// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * LD_PRELOAD shim for tests/interop/uring_refused.sh: io_uring refused
 * as seccomp refuses it in some containers (EPERM at ring set-up), so
 * that the daemon's fall-back to the threads engine can be tested.
 */
#include <errno.h>
#include <liburing.h>

int io_uring_queue_init(unsigned entries, struct io_uring *ring,
			unsigned flags)
{
	return -EPERM;
}

int io_uring_queue_init_params(unsigned entries, struct io_uring *ring,
			       struct io_uring_params *p)
{
	return -EPERM;
}
