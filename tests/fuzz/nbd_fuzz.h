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
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nbd_conn;
struct nbd_frontend_opts;
struct op;
struct server;

/*
 * The client's side of TLS, for a target that serves it (fuzz_tls.c).
 * Once the server has a TLS session every receive is of ciphertext into
 * c->tls.in and every send of ciphertext from c->tls.out: those go to
 * these hooks instead of the plaintext stream, and the plaintext the
 * server's records carry is checked as it would be without TLS.
 */
struct nbd_fz_tls {
	/* a receive of ciphertext: fill op->buf, return the count or 0 */
	int (*recv)(struct nbd_conn *c, struct op *op);
	/* n bytes of ciphertext went to the client */
	void (*sent)(struct nbd_conn *c, const uint8_t *buf, uint64_t n);
	/* the plaintext that the records now being sent carry */
	void (*plain)(const uint8_t *p, size_t n);
	/* may this op of c be failed with err? (NULL: yes) */
	bool (*fault_ok)(struct nbd_conn *c, struct op *op, int err);
};

void nbd_fz_init(void);
/* with a frontend configured by o (TLS), and the client's TLS side */
void nbd_fz_init_opts(const struct nbd_frontend_opts *o,
		      const struct nbd_fz_tls *tls);
struct server *nbd_fz_server(void);
void nbd_fz_run(const uint8_t *prefix, size_t prefix_len,
		const uint8_t *data, size_t len);

/* the client's stream: where it is, and the next bytes of it */
size_t nbd_fz_pos(void);
size_t nbd_fz_take(uint8_t *dst, size_t max);
/* transmission began at this position of the stream (TLS: the server's
 * receives of plaintext are not the engine's) */
void nbd_fz_tx_start(size_t pos);
/* the client's stream did not all arrive intact: fewer replies are fine */
void nbd_fz_stream_cut(void);

#endif
