/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_FUZZ_NBD_H
#define LLOOP_FUZZ_NBD_H
/*
 * One NBD connection per fuzz input, on the real frontend: the client's
 * byte stream is `prefix` (a fixed handshake, or nothing) then the input;
 * every reply the server sends is checked against the protocol, and at
 * the end the number of transmission replies against the requests that
 * the stream holds.
 */
#include <stddef.h>
#include <stdint.h>

void nbd_fz_init(void);
void nbd_fz_run(const uint8_t *prefix, size_t prefix_len,
		const uint8_t *data, size_t len);

#endif
