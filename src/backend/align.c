// SPDX-License-Identifier: GPL-2.0-or-later
#include "backend/align.h"

uint64_t request_buffer_len(struct request *rq, uint32_t align)
{
	uint64_t mask = (uint64_t)align - 1;
	uint64_t end = rq->offset + rq->len;

	rq->span_off = rq->offset & ~mask;
	rq->span_len = ((end + mask) & ~mask) - rq->span_off;
	if (rq->span_len == rq->len)
		return rq->len;
	if (rq->type == REQ_WRITE)
		return rq->span_len + 2 * (uint64_t)align;
	return rq->span_len;
}

void request_place_data(struct request *rq)
{
	rq->data = rq->buf + (rq->offset - rq->span_off);
}
