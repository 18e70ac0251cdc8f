// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rbd: in a build without librbd (the static guest build of tests/vm):
 * the prefix is still known, so that an rbd: image gets a clear answer
 * instead of being taken for a file name.
 */
#include <errno.h>

#include "backend/backend.h"
#include "core/log.h"

static int rbd_none_open(const char *spec, const struct backend_opts *o,
			 struct backend **out)
{
	log_error("rbd:%s: this lloop was built without Ceph RBD support "
		  "(librbd-dev was missing at build time)", spec);
	return -ENOTSUP;
}

const char *rbd_state(void)
{
	return "not in this build";
}

const struct backend_ops rbd_backend = {
	.name = "rbd",
	.prefix = "rbd:",
	.open = rbd_none_open,
};
