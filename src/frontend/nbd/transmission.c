// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The transmission phase.  Bytes are received into the connection's
 * buffer (the slot's handshake buffers, free by now), as many as have
 * come, and parsed from there: one receive usually carries several
 * request headers and small write payloads.  Each request takes a
 * descriptor and a buffer from the worker's pool, goes to the backend,
 * and is answered when it completes, in whatever order that is.  When
 * the pool is empty the connection stops parsing until something
 * returns: that is the whole of back-pressure.  A large payload is
 * received straight into its request's buffer.
 */
#include <errno.h>
#include <string.h>

#include "backend/align.h"
#include "core/log.h"
#include "frontend/nbd/nbd.h"

#define EXTENTS_BUF 4096

static void tm_run(struct nbd_conn *c);
static bool tm_dispatch(struct nbd_conn *c);

static const uint8_t cmd_to_req[] = {
	[NBD_CMD_READ] = REQ_READ,
	[NBD_CMD_WRITE] = REQ_WRITE,
	[NBD_CMD_FLUSH] = REQ_FLUSH,
	[NBD_CMD_TRIM] = REQ_TRIM,
	[NBD_CMD_CACHE] = REQ_CACHE,
	[NBD_CMD_WRITE_ZEROES] = REQ_ZERO,
	[NBD_CMD_BLOCK_STATUS] = REQ_EXTENTS,
};

static uint8_t req_flags(uint16_t f)
{
	return (f & NBD_CMD_FLAG_FUA ? REQ_FUA : 0) |
	       (f & NBD_CMD_FLAG_NO_HOLE ? REQ_NO_HOLE : 0) |
	       (f & NBD_CMD_FLAG_FAST_ZERO ? REQ_FAST_ZERO : 0) |
	       (f & NBD_CMD_FLAG_REQ_ONE ? REQ_ONE : 0);
}

/* ---- replies ---- */

static void encode_error_chunk(struct request *rq, uint32_t err)
{
	size_t n = nbd_encode_chunk(rq->hdr, NBD_REPLY_FLAG_DONE,
				    NBD_REPLY_TYPE_ERROR, rq->cookie, 6);

	put_be32(rq->hdr + n, err);
	put_be16(rq->hdr + n + 4, 0);
	rq->iov[0] = (struct iovec){ rq->hdr, n + 6 };
	rq->iovcnt = 1;
}

static void encode_extents(struct request *rq)
{
	struct extent *e = (struct extent *)rq->buf;
	uint8_t *out = (uint8_t *)rq->buf;
	size_t n;

	/* in place: an encoded descriptor is as big as a struct extent */
	for (unsigned i = 0; i < rq->nr_extents; i++) {
		struct extent x = e[i];

		put_be32(out + 8 * i, x.length);
		put_be32(out + 8 * i + 4, x.flags);
	}
	n = nbd_encode_chunk(rq->hdr, NBD_REPLY_FLAG_DONE,
			     NBD_REPLY_TYPE_BLOCK_STATUS, rq->cookie,
			     4 + 8 * rq->nr_extents);
	put_be32(rq->hdr + n, NBD_META_ID_BASE_ALLOCATION);
	rq->iov[0] = (struct iovec){ rq->hdr, n + 4 };
	rq->iov[1] = (struct iovec){ rq->buf, 8 * rq->nr_extents };
	rq->iovcnt = 2;
}

static void encode_reply(struct nbd_conn *c, struct request *rq)
{
	uint32_t err = nbd_errno_to_wire(rq->error, rq->wire_type,
					 rq->wire_flags);
	bool is_data = rq->wire_type == NBD_CMD_READ ||
		       rq->wire_type == NBD_CMD_BLOCK_STATUS;
	size_t n;

	if (c->structured && is_data) {
		if (err) {
			encode_error_chunk(rq, err);
		} else if (rq->wire_type == NBD_CMD_BLOCK_STATUS) {
			encode_extents(rq);
		} else {
			n = nbd_encode_chunk(rq->hdr, NBD_REPLY_FLAG_DONE,
					     NBD_REPLY_TYPE_OFFSET_DATA,
					     rq->cookie, 8 + rq->len);
			put_be64(rq->hdr + n, rq->offset);
			rq->iov[0] = (struct iovec){ rq->hdr, n + 8 };
			rq->iov[1] = (struct iovec){ rq->data, rq->len };
			rq->iovcnt = 2;
		}
		return;
	}
	n = nbd_encode_simple_reply(rq->hdr, err, rq->cookie);
	rq->iov[0] = (struct iovec){ rq->hdr, n };
	rq->iovcnt = 1;
	if (!err && rq->wire_type == NBD_CMD_READ) {
		rq->iov[1] = (struct iovec){ rq->data, rq->len };
		rq->iovcnt = 2;
	}
}

static void tm_reply(struct nbd_conn *c, struct request *rq, int error)
{
	rq->error = error;
	if (error && error != -ENOTSUP)
		log_debug("%s: request %u at %llu+%llu: %s", c->peer,
			  rq->wire_type, (unsigned long long)rq->offset,
			  (unsigned long long)rq->len, strerror(-error));
	encode_reply(c, rq);
	conn_queue_reply(c, rq);
}

static void tm_complete(struct request *rq, int res)
{
	struct nbd_conn *c = rq->conn;

	if (res > 0)
		res = -EIO; /* a short transfer is never a success */
	stats_record(rq->w, rq, res);
	stats_log_failure(rq, res);
	tm_reply(c, rq, res);
	conn_maybe_close(c);
}

/* ---- requests ---- */

static void tm_submit(struct nbd_conn *c, struct request *rq)
{
	backend_submit(rq->be, rq);
}


static void tm_resume(struct task *t)
{
	struct nbd_conn *c = (struct nbd_conn *)((char *)t -
						  offsetof(struct nbd_conn,
							   resume));

	if (c->rx_closed) {
		conn_maybe_close(c);
		return;
	}
	if (tm_dispatch(c))
		tm_run(c);
}

/*
 * Back-pressure: give rq back and take this header again later: when the
 * pool has room, or, for a connection at its share of the pool, when one
 * of its own replies has gone.  So a client that never reads its replies
 * stops being read, and the others on the worker go on.
 */
static void tm_wait(struct nbd_conn *c, struct request *rq, bool own_share)
{
	if (rq) {
		pool_put_request(&c->w->pool, rq);
		c->inflight--;
	}
	c->resume.run = tm_resume;
	if (own_share)
		c->cap_wait = true;
	else
		worker_wait_pool(c->w, &c->resume);
}

/* would `others` requests in flight plus `more` buffer bytes be too much? */
static bool over_share(struct nbd_conn *c, unsigned others, uint64_t more)
{
	const struct server_config *cfg = &c->srv->cfg;
	unsigned max_reqs = cfg->queue_depth > 1 ? cfg->queue_depth / 2 : 1;

	/* with nothing in flight, anything the pool can hold may go */
	if (!others)
		return false;
	return others >= max_reqs ||
	       c->buf_bytes + more > cfg->buffer_memory / 2;
}

static uint64_t buffer_len(struct request *rq)
{
	switch (rq->type) {
	case REQ_READ:
	case REQ_WRITE:
		return request_buffer_len(rq, rq->be->align);
	case REQ_EXTENTS:
		return EXTENTS_BUF;
	default:
		return 0;
	}
}

/* Returns whether to go on parsing: false once something must wait. */
static bool tm_dispatch(struct nbd_conn *c)
{
	const struct nbd_request *r = &c->cur;
	struct request *rq;
	uint64_t blen;
	int err;

	if (r->type == NBD_CMD_DISC) {
		log_debug("%s: disconnect requested", c->peer);
		conn_shutdown(c);
		return false;
	}
	if (over_share(c, c->inflight, 0)) {
		tm_wait(c, NULL, true);
		return false;
	}
	rq = pool_take_request(&c->w->pool);
	if (!rq) {
		tm_wait(c, NULL, false);
		return false;
	}
	c->inflight++;
	rq->w = c->w;
	rq->conn = c;
	rq->exp = c->exp;
	rq->be = c->exp->be;
	rq->complete = tm_complete;
	rq->cookie = r->cookie;
	rq->wire_type = r->type;
	rq->wire_flags = r->flags;
	rq->offset = r->offset;
	rq->len = r->length;
	rq->start_ns = stats_now_ns();
	if (r->type < sizeof(cmd_to_req) && r->type != NBD_CMD_DISC)
		rq->type = cmd_to_req[r->type];
	else
		rq->type = STATS_OPS; /* an unknown command: no operation */
	err = nbd_check_request(r, &c->sess);
	if (err) {
		stats_record(rq->w, rq, err);
		if (r->type == NBD_CMD_WRITE) {
			/* the payload is on the wire: read past it */
			rq->error = err;
			c->rx_rq = rq;
			c->rx_copied = 0;
			return true;
		}
		tm_reply(c, rq, err);
		return true;
	}
	rq->flags = req_flags(r->flags);
	blen = buffer_len(rq);
	if (blen) {
		if (over_share(c, c->inflight - 1, blen)) {
			tm_wait(c, rq, true);
			return false;
		}
		rq->buf = pool_take_buffer(&c->w->pool, blen);
		if (!rq->buf) {
			tm_wait(c, rq, false);
			return false;
		}
		rq->buf_len = blen;
		c->buf_bytes += blen;
		if (rq->type == REQ_EXTENTS)
			rq->max_extents = rq->flags & REQ_ONE ? 1 : blen / 8;
		else
			request_place_data(rq);
	}
	if (rq->type == REQ_WRITE) {
		c->rx_rq = rq;
		c->rx_copied = 0;
		return true;
	}
	tm_submit(c, rq);
	return true;
}

/* ---- receiving ---- */

/* a payload at least this big is received into its request directly */
#define RX_DIRECT_MIN 8192

static void tm_filled(struct nbd_conn *c)
{
	c->rend += c->rx_got;
	tm_run(c);
}

static void tm_payload_done(struct nbd_conn *c)
{
	c->rx_copied = c->rx_rq->len;
	tm_run(c);
}

/* receive more into the buffer, after what is still to be parsed */
static void tm_refill(struct nbd_conn *c)
{
	uint32_t left = c->rend - c->rpos;

	if (c->rpos) {
		memmove(c->rbuf, c->rbuf + c->rpos, left);
		c->rpos = 0;
		c->rend = left;
	}
	conn_recv_some(c, c->rbuf + c->rend, c->rcap - c->rend, tm_filled);
}

/*
 * The write payload arriving, from the buffer, or straight into the
 * request when much of it is still to come.  Returns whether it is all
 * there: then rx_rq is submitted, or answered with its error (its
 * payload dropped).
 */
static bool tm_payload(struct nbd_conn *c)
{
	struct request *rq = c->rx_rq;
	char *dst = rq->error ? NULL : rq->data;
	uint64_t want = rq->len - c->rx_copied;
	uint64_t n = c->rend - c->rpos;

	if (n > want)
		n = want;
	if (dst)
		memcpy(dst + c->rx_copied, c->rbuf + c->rpos, n);
	c->rpos += n;
	c->rx_copied += n;
	want -= n;
	if (want >= RX_DIRECT_MIN) {
		conn_recv(c, dst ? dst + c->rx_copied : NULL, want,
			  tm_payload_done);
		return false;
	}
	if (want) {
		tm_refill(c);
		return false;
	}
	c->rx_rq = NULL;
	if (rq->error)
		tm_reply(c, rq, rq->error);
	else
		tm_submit(c, rq);
	return true;
}

/*
 * Parse what the buffer holds until something must wait: more bytes, the
 * pool, or the end.
 */
static void tm_run(struct nbd_conn *c)
{
	for (;;) {
		if (c->rx_rq && !tm_payload(c))
			return;
		if (c->rend - c->rpos < NBD_REQUEST_SIZE) {
			tm_refill(c);
			return;
		}
		nbd_decode_request(c->rbuf + c->rpos, &c->cur);
		c->rpos += NBD_REQUEST_SIZE;
		if (c->cur.magic != NBD_REQUEST_MAGIC) {
			log_info("%s: bad request magic 0x%08x: disconnecting",
				 c->peer, c->cur.magic);
			conn_shutdown(c);
			return;
		}
		if (!tm_dispatch(c))
			return;
	}
}

void nbd_transmission_start(struct nbd_conn *c)
{
	c->rbuf = conn_slot_buf(c, &c->rcap);
	c->rpos = c->rend = 0;
	tm_run(c);
}
