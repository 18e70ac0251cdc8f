// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <string.h>

#include "backend/backend.h"
#include "core/log.h"

/* the backends, by prefix; the last one, with no prefix, is the default */
static const struct backend_ops *const backends[] = {
	&memory_backend,
	&rbd_backend,
	&file_backend,
};

/* open, then put the fault injector in front if --inject-fault asks */
static int open_wrapped(const struct backend_ops *ops, const char *spec,
			size_t prefix_len, const struct backend_opts *o,
			struct backend **out)
{
	int ret = ops->open(spec + prefix_len, o, out);

	if (ret < 0 || !o->nr_faults)
		return ret;
	ret = faulty_wrap(out, o->faults, o->nr_faults, spec);
	if (ret < 0) {
		log_error("%s: cannot set up --inject-fault: %s", spec,
			  strerror(-ret));
		(*out)->ops->close(*out);
		*out = NULL;
	}
	return ret;
}

int backend_open(const char *spec, const struct backend_opts *o,
		 struct backend **out)
{
	for (unsigned i = 0; i < sizeof(backends) / sizeof(*backends); i++) {
		const struct backend_ops *ops = backends[i];
		size_t n = ops->prefix ? strlen(ops->prefix) : 0;

		if (ops->prefix && strncmp(spec, ops->prefix, n))
			continue;
		return open_wrapped(ops, spec, n, o, out);
	}
	return -EINVAL;
}

bool backend_spec_is_path(const char *spec)
{
	for (unsigned i = 0; i < sizeof(backends) / sizeof(*backends); i++) {
		const char *p = backends[i]->prefix;

		if (p && !strncmp(spec, p, strlen(p)))
			return false;
	}
	return true;
}

void backend_submit(struct backend *b, struct request *rq)
{
	const struct backend_ops *ops = b->ops;

	switch (rq->type) {
	case REQ_READ:
		ops->read(b, rq);
		break;
	case REQ_WRITE:
		ops->write(b, rq);
		break;
	case REQ_FLUSH:
		ops->flush(b, rq);
		break;
	case REQ_TRIM:
		ops->trim(b, rq);
		break;
	case REQ_ZERO:
		ops->zero(b, rq);
		break;
	case REQ_CACHE:
		ops->cache(b, rq);
		break;
	case REQ_EXTENTS:
		ops->extents(b, rq);
		break;
	default:
		rq->complete(rq, -EINVAL);
	}
}
