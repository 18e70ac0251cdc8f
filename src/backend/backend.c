// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <string.h>

#include "backend/backend.h"

/* the backends, by prefix; the last one, with no prefix, is the default */
static const struct backend_ops *const backends[] = {
	&memory_backend,
	&file_backend,
};

int backend_open(const char *spec, const struct backend_opts *o,
		 struct backend **out)
{
	for (unsigned i = 0; i < sizeof(backends) / sizeof(*backends); i++) {
		const struct backend_ops *ops = backends[i];
		size_t n = ops->prefix ? strlen(ops->prefix) : 0;

		if (ops->prefix && strncmp(spec, ops->prefix, n))
			continue;
		return ops->open(spec + n, o, out);
	}
	return -EINVAL;
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
