// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * An NBD connection's byte streams: one receive and one send in flight at
 * most, partial transfers resumed, and the connection's end once nothing
 * of it is in flight any more.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "frontend/nbd/nbd.h"

#define container_of(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))

/*
 * A connection that holds pool memory while others wait for it, and has
 * not taken a reply or sent a write's payload for this long, is closed.
 */
#define STALL_SECONDS 10

static void tx_flush(struct task *t);

static void conn_stop(struct tenant *t, bool force)
{
	struct nbd_conn *c = container_of(t, struct nbd_conn, tenant);

	if (force) {
		/* ends the pending send and receive; the backend I/O in
		 * flight still completes before the slot is given back */
		conn_fail(c, -ESHUTDOWN);
		shutdown(c->fd, SHUT_RDWR);
	}
	conn_shutdown(c);
}

/* a client that holds pool memory others wait for and makes no progress */
static bool conn_stalled(struct nbd_conn *c, uint64_t now)
{
	const uint64_t limit = STALL_SECONDS * 1000000000ull;
	const char *what;

	if (!c->inflight)
		return false;
	if (c->txq && now - c->tx_since > limit)
		what = "a reply not taken";
	else if (c->rx_rq && now - c->rx_rq->start_ns > limit)
		what = "a write payload not sent";
	else
		return false;
	log_warn("%s: %s in %d s holds pool memory others wait for: "
		 "closing the connection", c->peer, what, STALL_SECONDS);
	return true;
}

/* a client that never finishes its handshake must not keep its slot */
static bool conn_handshake_late(struct nbd_conn *c, uint64_t now)
{
	uint64_t limit = c->srv->cfg.handshake_timeout * 1000000000ull;

	if (c->transmission || !limit || now - c->born_ns <= limit)
		return false;
	log_info("%s: handshake not finished in %u s: closing the "
		 "connection", c->peer, c->srv->cfg.handshake_timeout);
	return true;
}

static void conn_tick(struct tenant *t, uint64_t now, bool starved)
{
	struct nbd_conn *c = container_of(t, struct nbd_conn, tenant);

	if (c->dead)
		return;
	if (!conn_handshake_late(c, now) && !(starved && conn_stalled(c, now)))
		return;
	conn_fail(c, -ESHUTDOWN);
	shutdown(c->fd, SHUT_RDWR);
	conn_maybe_close(c);
}

static void conn_begin(struct task *t)
{
	struct nbd_conn *c = container_of(t, struct nbd_conn, start);

	worker_add_tenant(c->w, &c->tenant);
	if (c->w->stopping) {
		conn_shutdown(c);
		return;
	}
	nbd_handshake_start(c);
}

struct nbd_conn *conn_alloc(struct server *srv, int fd, const char *peer)
{
	struct nbd_frontend *fe = srv->frontend;
	struct nbd_conn *c;
	uint8_t *opt_buf, *hs_out;
	unsigned slot;

	pthread_mutex_lock(&fe->lock);
	if (!fe->nr_free) {
		pthread_mutex_unlock(&fe->lock);
		return NULL;
	}
	slot = fe->free_slots[--fe->nr_free];
	pthread_mutex_unlock(&fe->lock);
	atomic_fetch_add(&srv->conns_current, 1);
	atomic_fetch_add(&srv->conns_accepted, 1);

	c = &fe->conns[slot];
	opt_buf = fe->bufs + (size_t)slot * (NBD_OPT_MAX + NBD_HS_OUT);
	hs_out = opt_buf + NBD_OPT_MAX;
	memset(c, 0, sizeof(*c));
	c->srv = srv;
	c->w = server_pick_worker(srv);
	c->fd = fd;
	c->slot = slot;
	c->opt_buf = opt_buf;
	c->hs_out = hs_out;
	c->txq_tail = &c->txq;
	c->tenant.stop = conn_stop;
	c->tenant.tick = conn_tick;
	c->born_ns = stats_now_ns();
	c->start.run = conn_begin;
	c->tx_flush.run = tx_flush;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	worker_post(c->w, &c->start);
	return c;
}

uint8_t *conn_slot_buf(struct nbd_conn *c, uint32_t *len)
{
	/* conn_alloc put hs_out right after opt_buf */
	*len = NBD_OPT_MAX + NBD_HS_OUT;
	return c->opt_buf;
}

static void conn_free(struct nbd_conn *c)
{
	struct nbd_frontend *fe = c->srv->frontend;
	struct worker *w = c->w;

	log_debug("%s: connection closed", c->peer);
	c->closed = true;
	tls_conn_end(c);
	close(c->fd);
	worker_del_tenant(w, &c->tenant);
	pthread_mutex_lock(&fe->lock);
	fe->free_slots[fe->nr_free++] = c->slot;
	pthread_mutex_unlock(&fe->lock);
	atomic_fetch_sub(&c->srv->conns_current, 1);
}

/*
 * Called last by every handler that may have ended the connection's
 * work: after it, c may be another connection's slot.
 */
void conn_maybe_close(struct nbd_conn *c)
{
	if (c->closed) {
		log_error("%s: connection closed twice", c->peer);
		abort();
	}
	if (!(c->rx_closed || c->dead))
		return;
	if (c->rx_busy) {
		/* wake the pending receive so that it ends */
		if (c->dead || c->w->stopping)
			shutdown(c->fd, SHUT_RD);
		return;
	}
	if (c->tx_busy || c->resume.queued || c->tx_flush.queued ||
	    c->tls.again.queued || c->inflight)
		return;
	if (c->hs_pending && !c->dead)
		return;
	conn_free(c);
}

void conn_shutdown(struct nbd_conn *c)
{
	c->rx_closed = true;
	if (c->rx_busy)
		shutdown(c->fd, SHUT_RD);
	conn_maybe_close(c);
}

void conn_fail(struct nbd_conn *c, int err)
{
	if (!c->dead && err != -ECONNRESET && err != -EPIPE &&
	    err != -ESHUTDOWN)
		log_info("%s: connection failed: %s", c->peer, strerror(-err));
	struct request **p = &c->txq;

	c->dead = true;
	c->rx_closed = true;
	/*
	 * Replies that can no longer go out, but for those being sent: the
	 * kernel reads their buffers until the send completes.
	 */
	if (c->tx_busy && !c->hs_pending)
		for (unsigned i = 0; i < c->tx_rqs && *p; i++)
			p = &(*p)->next;
	while (*p) {
		struct request *rq = *p;

		*p = rq->next;
		conn_release(c, rq);
	}
	c->txq_tail = p;
}

/* ---- receive ---- */

static void rx_kick(struct nbd_conn *c);

/* no more reading: a write whose payload did not all come was never
 * acknowledged, so it is dropped */
static void rx_end(struct nbd_conn *c)
{
	struct request *rq = c->rx_rq;

	c->rx_closed = true;
	c->rx_rq = NULL;
	if (rq)
		conn_release(c, rq);
	conn_maybe_close(c);
}

/* a receive of res bytes (plaintext, under TLS) ended */
void conn_rx_done(struct nbd_conn *c, int res)
{
	c->rx_busy = false;
	if (res == -EINTR || res == -EAGAIN) {
		rx_kick(c);
		return;
	}
	/*
	 * Once reading has stopped, bytes that were already on their way
	 * are dropped like everything after them.
	 */
	if (res <= 0 || c->dead || c->rx_closed) {
		if (res < 0)
			conn_fail(c, res);
		rx_end(c);
		return;
	}
	c->rx_left -= res;
	if (c->rx_dst)
		c->rx_dst += res;
	if (c->rx_some) {
		c->rx_got = res;
		c->rx_left = 0;
	}
	if (c->rx_left) {
		rx_kick(c);
		return;
	}
	c->rx_done(c);
}

static void rx_op_done(struct op *op, int res)
{
	conn_rx_done(container_of(op, struct nbd_conn, rx_op), res);
}

static void rx_kick(struct nbd_conn *c)
{
	uint64_t n = c->rx_left;

	if (c->tls.active) {
		tls_rx_kick(c);
		return;
	}

	c->rx_op = (struct op){ .done = rx_op_done, .kind = OP_RECV,
				.fd = c->fd };
	if (c->rx_dst) {
		c->rx_op.buf = c->rx_dst;
	} else {
		c->rx_op.buf = c->w->discard_buf;
		if (n > c->w->discard_len)
			n = c->w->discard_len;
	}
	if (n > 1u << 30)
		n = 1u << 30;
	c->rx_op.len = n;
	c->rx_busy = true;
	c->w->eng->submit(c->w, &c->rx_op);
}

void conn_recv(struct nbd_conn *c, void *dst, uint64_t len, conn_fn done)
{
	if (c->rx_closed) {
		rx_end(c);
		return;
	}
	c->rx_dst = dst;
	c->rx_left = len;
	c->rx_done = done;
	c->rx_some = false;
	if (!len) {
		done(c);
		return;
	}
	rx_kick(c);
}

void conn_discard(struct nbd_conn *c, uint64_t len, conn_fn done)
{
	conn_recv(c, NULL, len, done);
}

void conn_recv_some(struct nbd_conn *c, void *dst, uint32_t max,
		    conn_fn done)
{
	if (c->rx_closed) {
		rx_end(c);
		return;
	}
	c->rx_dst = dst;
	c->rx_left = max;
	c->rx_done = done;
	c->rx_some = true;
	rx_kick(c);
}

/* ---- send ---- */

static void tx_kick(struct nbd_conn *c);

static size_t iov_bytes(const struct iovec *iov, int cnt)
{
	size_t n = 0;

	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

/* n bytes of the replies at the head of the queue have gone */
static void tx_sent(struct nbd_conn *c, size_t n)
{
	while (n && c->txq) {
		struct request *rq = c->txq;
		size_t len = iov_bytes(rq->iov, rq->iovcnt);
		struct iovec *iov = rq->iov;

		if (n < len) {
			iov_advance(&iov, &rq->iovcnt, n);
			memmove(rq->iov, iov, rq->iovcnt * sizeof(*iov));
			return;
		}
		n -= len;
		c->txq = rq->next;
		if (!c->txq)
			c->txq_tail = &c->txq;
		else
			c->tx_since = stats_now_ns();
		conn_release(c, rq);
	}
}

/* a send of res bytes (plaintext, under TLS) ended */
void conn_tx_done(struct nbd_conn *c, int res)
{
	c->tx_busy = false;
	if (res == -EINTR || res == -EAGAIN)
		res = 0;
	if (res < 0 || c->dead) {
		/* not busy any more: every queued reply goes, sent or not */
		conn_fail(c, res < 0 ? res : -EPIPE);
		conn_maybe_close(c);
		return;
	}
	if (c->hs_pending) {
		c->hs_sent += res;
		if (c->hs_sent == c->hs_len) {
			c->hs_pending = false;
			c->hs_after(c);
			return;
		}
	} else {
		tx_sent(c, res);
	}
	tx_kick(c);
	conn_maybe_close(c);
}

static void tx_op_done(struct op *op, int res)
{
	conn_tx_done(container_of(op, struct nbd_conn, tx_op), res);
}

/*
 * As many queued replies as fit in one send: fewer system calls, and the
 * client is woken once for all of them.
 */
static unsigned tx_gather(struct nbd_conn *c)
{
	unsigned n = 0;

	c->tx_rqs = 0;
	for (struct request *rq = c->txq; rq; rq = rq->next) {
		if (n + rq->iovcnt > NBD_TX_IOV)
			break;
		memcpy(&c->tx_iov[n], rq->iov, rq->iovcnt * sizeof(*rq->iov));
		n += rq->iovcnt;
		c->tx_rqs++;
	}
	return n;
}

static void tx_kick(struct nbd_conn *c)
{
	struct msghdr *m = &c->tx_op.msg;

	if (c->tx_busy || c->dead)
		return;
	c->tx_op = (struct op){ .done = tx_op_done, .kind = OP_SENDMSG,
				.fd = c->fd };
	if (c->hs_pending) {
		c->hs_iov.iov_base = c->hs_out + c->hs_sent;
		c->hs_iov.iov_len = c->hs_len - c->hs_sent;
		m->msg_iov = &c->hs_iov;
		m->msg_iovlen = 1;
	} else if (c->txq) {
		m->msg_iov = c->tx_iov;
		m->msg_iovlen = tx_gather(c);
	} else {
		return;
	}
	if (c->tls.active) {
		tls_tx_kick(c, m->msg_iov, m->msg_iovlen);
		return;
	}
	c->tx_busy = true;
	c->w->eng->submit(c->w, &c->tx_op);
}

void conn_send_hs(struct nbd_conn *c, conn_fn after)
{
	c->hs_pending = true;
	c->hs_sent = 0;
	c->hs_after = after;
	tx_kick(c);
	if (c->dead)
		conn_maybe_close(c);
}

/* after a round of completions: its replies go out in one send */
static void tx_flush(struct task *t)
{
	struct nbd_conn *c = container_of(t, struct nbd_conn, tx_flush);

	tx_kick(c);
	conn_maybe_close(c);
}

void conn_queue_reply(struct nbd_conn *c, struct request *rq)
{
	/* the caller ends its handler with conn_maybe_close */
	if (c->dead) {
		conn_release(c, rq);
		return;
	}
	rq->next = NULL;
	if (!c->txq)
		c->tx_since = stats_now_ns();
	*c->txq_tail = rq;
	c->txq_tail = &rq->next;
	if (!c->tx_busy)
		worker_soon(c->w, &c->tx_flush);
}

void conn_release(struct nbd_conn *c, struct request *rq)
{
	if (rq->buf)
		c->buf_bytes -= rq->buf_len;
	pool_put_request(&c->w->pool, rq);
	c->inflight--;
	worker_pool_returned(c->w);
	if (c->cap_wait) {
		c->cap_wait = false;
		worker_soon(c->w, &c->resume);
	}
}
