/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_ALIGN_H
#define LLOOP_ALIGN_H
/*
 * Bounds and alignment arithmetic for requests, kept pure so that the
 * unit tests can reach every edge.
 */
#include <stdbool.h>
#include <stdint.h>

#include "core/request.h"

/* len bytes at off lie inside an export of size bytes, without overflow */
static inline bool range_in_bounds(uint64_t off, uint64_t len, uint64_t size)
{
	return !(len > size || off > size - len);
}

static inline bool is_aligned(uint64_t off, uint64_t len, uint32_t align)
{
	return ((off | len) & (align - 1)) == 0;
}

/*
 * Set rq->span_off/span_len to the aligned range covering the request,
 * and return the buffer it needs: the span, plus for an unaligned write
 * two blocks of scratch for read-modify-write.  align: a power of two.
 */
uint64_t request_buffer_len(struct request *rq, uint32_t align);
/* point rq->data at the request's first byte inside rq->buf */
void request_place_data(struct request *rq);
/* the scratch for an unaligned write's edge blocks */
static inline char *request_edge_buf(struct request *rq)
{
	return rq->buf + rq->span_len;
}

#endif
