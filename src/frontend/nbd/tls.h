/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_NBD_TLS_H
#define LLOOP_NBD_TLS_H
/*
 * TLS for NBD connections (STARTTLS), with GnuTLS over the connection's
 * own io_uring receives and sends: GnuTLS reads ciphertext from, and
 * writes it to, two buffers of the connection's slot, and never touches
 * the socket.  No thread per connection.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/task.h"

enum tls_mode { TLS_OFF, TLS_ON, TLS_REQUIRE };

struct tls_options {
	enum tls_mode mode;
	const char *certificates;	/* DIR: ca-cert.pem, server-cert.pem,
					 * server-key.pem */
	const char *psk_file;		/* psktool's USER:HEXKEY lines */
	const char *priority;		/* GnuTLS priority string */
	bool verify_peer;
};

/* ciphertext buffered per direction: room for a few full records */
#define TLS_BUF (64 * 1024)
/* the most plaintext one record carries (RFC 8446 5.1) */
#define TLS_REC (16 * 1024)
/* per connection slot: in, out, and a record's plaintext being gathered */
#define TLS_SLOT (2 * TLS_BUF + TLS_REC)

struct nbd_conn;
struct tls_server;

/* one TLS connection; zero while plaintext */
struct nbd_tls {
	void *session;		/* gnutls_session_t */
	bool hs_done;		/* gnutls_handshake said so */
	bool active;		/* handshake flushed: records only */
	uint8_t *in, *out;	/* TLS_BUF each, from the slot */
	uint8_t *stage;		/* TLS_REC: small pieces made one record */
	uint32_t in_pos, in_end;
	uint32_t out_pos, out_end;
	size_t pt;		/* plaintext that out's ciphertext carries */
	size_t held;		/* plaintext GnuTLS took but could not push */
	unsigned depth;		/* receives delivered without returning */
	struct task again;	/* deliver later: the stack is deep enough */
	void (*after)(struct nbd_conn *c);
};

/* start-up: read and check keys; one line naming the file on error */
int tls_server_init(struct tls_server **ts, const struct tls_options *o);
void tls_server_fini(struct tls_server *ts);
const char *tls_mode_name(enum tls_mode m);

/* after the ACK to STARTTLS: the TLS handshake, then after(c) */
void tls_start(struct nbd_conn *c, void (*after)(struct nbd_conn *c));
/* the records path of conn.c's receive and send */
void tls_rx_kick(struct nbd_conn *c);
void tls_tx_kick(struct nbd_conn *c, const struct iovec *iov, int cnt);
void tls_conn_end(struct nbd_conn *c);

#endif
