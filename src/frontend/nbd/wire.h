/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_NBD_WIRE_H
#define LLOOP_NBD_WIRE_H
/*
 * Encoding and checking of NBD messages: pure functions, no I/O, so the
 * unit tests and the fuzzers drive exactly what the server runs.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "frontend/nbd/proto.h"

struct backend;

struct nbd_request {
	uint32_t magic;
	uint16_t flags;
	uint16_t type;
	uint64_t cookie;
	uint64_t offset;
	uint32_t length;
};

/* what a connection negotiated, for checking its requests */
struct nbd_session {
	uint64_t size;
	uint32_t max_payload;
	bool read_only;
	bool structured;
	bool meta_alloc;	/* base:allocation selected */
	bool fast_zero;		/* NBD_FLAG_SEND_FAST_ZERO advertised */
};

void nbd_decode_request(const uint8_t *buf, struct nbd_request *r);
/* 0, or the negative errno the request is answered with */
int nbd_check_request(const struct nbd_request *r,
		      const struct nbd_session *s);
/* a negative errno to its wire value (one table) for a request of TYPE
 * with FLAGS: EOVERFLOW and ENOTSUP only where the spec allows them */
uint32_t nbd_errno_to_wire(int err, uint16_t type, uint16_t flags);
/* the transmission flags for an export */
uint16_t nbd_transmission_flags(const struct backend *be, bool read_only,
				bool structured);

size_t nbd_encode_simple_reply(uint8_t *p, uint32_t wire_err,
			       uint64_t cookie);
size_t nbd_encode_chunk(uint8_t *p, uint16_t flags, uint16_t type,
			uint64_t cookie, uint32_t length);
/* option reply header; the payload follows it */
size_t nbd_encode_opt_reply(uint8_t *p, uint32_t opt, uint32_t type,
			    uint32_t length);

/* drop n sent bytes from the front of an iovec array */
void iov_advance(struct iovec **iov, int *cnt, size_t n);

#endif
