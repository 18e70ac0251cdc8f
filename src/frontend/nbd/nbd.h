/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_NBD_H
#define LLOOP_NBD_H
/*
 * The NBD frontend.  A connection lives on one worker for its life; its
 * slot, and the buffers the handshake needs, come from a table allocated
 * at start-up (--max-connections).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/server.h"
#include "frontend/nbd/allow.h"
#include "frontend/nbd/tls.h"
#include "frontend/nbd/wire.h"

#define NBD_HS_OUT 12288	/* handshake replies of one option */
#define NBD_TX_IOV OP_MAX_IOV	/* iovecs of one send: replies batched */

struct nbd_conn;
typedef void (*conn_fn)(struct nbd_conn *c);

struct nbd_conn {
	struct worker *w;
	struct server *srv;
	struct tenant tenant;
	struct task start;	/* posted to the worker to begin */
	struct task resume;	/* waits for the pool */
	int fd;
	unsigned slot;
	uint64_t born_ns;	/* accepted: the handshake's deadline */
	char peer[80];

	bool transmission;	/* handshake done */
	bool dead;		/* the socket failed: drop replies */
	bool rx_closed;		/* read nothing more */
	bool rx_busy, tx_busy;
	bool closed;		/* given back: a bug to touch */
	unsigned inflight;	/* requests taken from the pool */
	uint64_t buf_bytes;	/* pool buffer bytes those hold */
	bool cap_wait;		/* at its share of the pool: wait for a reply */

	/* receiving: into rx_dst, or discarding when rx_dst is NULL */
	struct op rx_op;
	char *rx_dst;
	uint64_t rx_left;
	conn_fn rx_done;
	struct request *rx_rq;	/* a write whose payload is arriving */

	/* handshake */
	uint8_t hs_in[16];
	uint32_t opt, opt_len;
	uint8_t *opt_buf;	/* NBD_OPT_MAX bytes */
	uint8_t *hs_out;	/* NBD_HS_OUT bytes */
	size_t hs_len, hs_sent;
	struct iovec hs_iov;
	bool hs_pending;
	conn_fn hs_after;
	unsigned list_next;	/* NBD_OPT_LIST progress */
	bool structured, no_zeroes, meta_alloc;
	struct export *meta_exp; /* the export base:allocation was set for */
	struct export *exp;
	struct nbd_session sess;

	/* transmission */
	uint8_t req_hdr[NBD_REQUEST_SIZE];
	struct nbd_request cur;
	struct op tx_op;
	struct request *txq, **txq_tail;
	uint64_t tx_since;	/* when the head of txq was ready to go */
	unsigned tx_rqs;	/* replies in the send in flight */
	struct task tx_flush;	/* send what a round of completions queued */
	struct iovec tx_iov[NBD_TX_IOV];
	bool rx_some;		/* one receive of up to rx_left bytes */
	uint32_t rx_got;	/* what it received */
	uint8_t *rbuf;		/* received, not yet parsed: [rpos, rend) */
	uint32_t rpos, rend, rcap;
	uint64_t rx_copied;	/* of rx_rq's payload */

	struct nbd_tls tls;	/* after STARTTLS */
};

struct nbd_listener {
	struct tenant tenant;
	struct op op;
	struct worker *w;
	int fd;
	char name[300];
	char unix_path[108];
	bool stopping;
};

/* how the NBD frontend listens and whom it lets in */
struct nbd_frontend_opts {
	const char *const *listen;
	unsigned nr_listen;
	struct tls_options tls;
	const struct cidr *allow;	/* TCP peers; none: everyone */
	unsigned nr_allow;
	unsigned socket_mode;		/* unix sockets' mode (0600) */
	long socket_gid;		/* their group, -1: unchanged */
};

struct nbd_frontend {
	struct server *srv;
	struct nbd_frontend_opts o;
	struct tls_server *tls;		/* NULL: --tls=off */
	enum tls_mode tls_mode;
	uint8_t *tls_bufs;		/* TLS_SLOT per slot */
	struct task start;	/* posted to worker 0 */
	pthread_mutex_t lock;	/* the free slots */
	struct nbd_conn *conns;
	unsigned nr_conns;
	unsigned *free_slots;
	unsigned nr_free;
	uint8_t *bufs;
	struct nbd_listener *listeners;
	unsigned nr_listeners;
};

/* listen.c */
/* o NULL: no listener, no TLS (the kernel nbd frontend's socketpair) */
int nbd_frontend_init(struct server *srv, const struct nbd_frontend_opts *o);
/* start accepting (posts to worker 0) */
void nbd_frontend_start(struct server *srv);
void nbd_frontend_fini(struct server *srv);
void nbd_frontend_log_listeners(struct server *srv);

/* conn.c */
struct nbd_conn *conn_alloc(struct server *srv, int fd, const char *peer);
void conn_recv(struct nbd_conn *c, void *dst, uint64_t len, conn_fn done);
void conn_discard(struct nbd_conn *c, uint64_t len, conn_fn done);
/* one receive of 1..max bytes into dst; done finds their count in rx_got */
void conn_recv_some(struct nbd_conn *c, void *dst, uint32_t max,
		    conn_fn done);
/* the slot's handshake buffers, free for other use in transmission */
uint8_t *conn_slot_buf(struct nbd_conn *c, uint32_t *len);
/* send c->hs_out[0..hs_len), then run after */
void conn_send_hs(struct nbd_conn *c, conn_fn after);
void conn_queue_reply(struct nbd_conn *c, struct request *rq);
void conn_release(struct nbd_conn *c, struct request *rq);
/* stop reading; close once in-flight requests are answered */
void conn_shutdown(struct nbd_conn *c);
void conn_maybe_close(struct nbd_conn *c);
/* the socket or the peer failed: drop what cannot be sent */
void conn_fail(struct nbd_conn *c, int err);
/* the ends of a receive and a send, for tls.c (plaintext byte counts) */
void conn_rx_done(struct nbd_conn *c, int res);
void conn_tx_done(struct nbd_conn *c, int res);

/* handshake.c */
void nbd_handshake_start(struct nbd_conn *c);

/* transmission.c */
void nbd_transmission_start(struct nbd_conn *c);

#endif
