// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The NBD side of the fuzz targets: the receive hook feeds the client's
 * stream, the send hook checks every reply as a strict client would.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frontend/nbd/nbd.h"
#include "harness.h"
#include "nbd_fuzz.h"

#define container_of(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))
#define NO_POS SIZE_MAX

static struct {
	struct server srv;
	int sock;		/* what every connection's fd is a dup of */
	const struct nbd_fz_tls *tls;	/* the client's TLS side, or NULL */
	const uint8_t *pre, *in;
	size_t pre_len, in_len, pos;
	size_t tx_start;	/* where the first request header began */
	unsigned replies;	/* transmission replies sent */
	bool greeted;
	bool cut;		/* the stream did not arrive intact */
	uint8_t plain[TLS_BUF];	/* what one send's records carry */
} N;

static size_t stream_len(void)
{
	return N.pre_len + N.in_len;
}

static uint8_t stream_at(size_t i)
{
	return i < N.pre_len ? N.pre[i] : N.in[i - N.pre_len];
}

size_t nbd_fz_pos(void)
{
	return N.pos;
}

size_t nbd_fz_take(uint8_t *dst, size_t max)
{
	size_t n = stream_len() - N.pos;

	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++)
		dst[i] = stream_at(N.pos + i);
	N.pos += n;
	return n;
}

void nbd_fz_tx_start(size_t pos)
{
	fz_assert(N.tx_start == NO_POS && pos <= stream_len(),
		  "transmission began twice, or at %zu of %zu", pos,
		  stream_len());
	N.tx_start = pos;
}

void nbd_fz_stream_cut(void)
{
	N.cut = true;
}

struct server *nbd_fz_server(void)
{
	return &N.srv;
}

static bool tls_server(void)
{
	const struct nbd_frontend *fe = N.srv.frontend;

	return fe->tls != NULL;
}

/* --tls=require: no export before TLS */
static bool tls_refused(const struct nbd_conn *c)
{
	const struct nbd_frontend *fe = N.srv.frontend;

	return fe->tls && fe->tls_mode == TLS_REQUIRE && !c->tls.active;
}

/* ---- what the server may read into ---- */

static void check_recv_buffer(struct nbd_conn *c, struct op *op)
{
	struct request *rq = c->rx_rq;
	struct worker *w = c->w;

	/* the slot's handshake buffers, reused in transmission, or a
	 * buffer of the connection itself */
	if (fz_inside(op->buf, op->len, c->opt_buf, NBD_OPT_MAX + NBD_HS_OUT) ||
	    fz_inside(op->buf, op->len, c, sizeof(*c)) ||
	    fz_inside(op->buf, op->len, w->discard_buf, w->discard_len))
		return;
	fz_assert(rq && rq->buf, "receive into %p (%llu bytes): no buffer of "
		  "the connection", op->buf, (unsigned long long)op->len);
	fz_assert(fz_inside(op->buf, op->len, rq->buf, rq->buf_len),
		  "a write's payload (%llu bytes) overruns its %llu-byte "
		  "buffer", (unsigned long long)op->len,
		  (unsigned long long)rq->buf_len);
}

static int nbd_recv(struct op *op)
{
	struct nbd_conn *c = container_of(op, struct nbd_conn, rx_op);
	size_t left = stream_len() - N.pos, n;

	fz_assert(op->kind == OP_RECV, "NBD: op kind %u", op->kind);
	fz_assert(op->len > 0, "a receive of 0 bytes");
	fz_assert(!c->closed, "a receive on a closed connection");
	fz_assert(!(c->transmission && tls_refused(c)),
		  "transmission without TLS under --tls=require");
	if (c->tls.session) {
		/* under TLS only ciphertext comes from the socket */
		fz_assert(N.tls && c->tls.in &&
				  fz_inside(op->buf, op->len, c->tls.in,
					    TLS_BUF) &&
				  op->buf == c->tls.in + c->tls.in_end &&
				  op->len == TLS_BUF - c->tls.in_end,
			  "a receive under TLS outside the free part of "
			  "tls.in (%p, %llu bytes)", op->buf,
			  (unsigned long long)op->len);
		n = N.tls->recv(c, op);
		fz_assert(n <= op->len, "the TLS client gave %zu bytes", n);
		return n;
	}
	check_recv_buffer(c, op);
	/* the handshake reads exactly what it needs: the first receive in
	 * transmission starts at the first request */
	if (c->transmission && N.tx_start == NO_POS)
		N.tx_start = N.pos;
	n = op->len < left ? op->len : left;
	if (n > 1 && fz_scheduled() && fz_rand(4) == 0)
		n = 1 + fz_rand(n - 1);
	fz_debug("recv %llu at %zu: %zu bytes%s",
		 (unsigned long long)op->len, N.pos, n,
		 c->transmission ? " (transmission)" : "");
	for (size_t i = 0; i < n; i++)
		((uint8_t *)op->buf)[i] = stream_at(N.pos + i);
	N.pos += n;
	return n;
}

/* ---- handshake replies ---- */

static void check_greeting(const uint8_t *p, size_t len)
{
	fz_assert(len == 18, "greeting of %zu bytes", len);
	fz_assert(get_be64(p) == NBD_MAGIC && get_be64(p + 8) == NBD_IHAVEOPT,
		  "greeting magic");
	fz_assert(get_be16(p + 16) ==
			  (NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES),
		  "greeting flags 0x%x", get_be16(p + 16));
}

static void check_export_flags(uint16_t f, const struct export *e)
{
	fz_assert(f & NBD_FLAG_HAS_FLAGS, "export flags 0x%x lack HAS_FLAGS",
		  f);
	fz_assert(!(f & ~0xfffu), "unknown export flags 0x%x", f);
	fz_assert(!!(f & NBD_FLAG_READ_ONLY) == e->read_only,
		  "READ_ONLY flag %u on export '%s'",
		  !!(f & NBD_FLAG_READ_ONLY), e->name);
}

static void check_export_name_reply(struct nbd_conn *c, const uint8_t *p,
				    size_t len)
{
	fz_assert(c->exp, "EXPORT_NAME answered without an export");
	fz_assert(len == (c->no_zeroes ? 10u : 134u),
		  "EXPORT_NAME reply of %zu bytes (no_zeroes %d)", len,
		  c->no_zeroes);
	fz_assert(get_be64(p) == c->exp->be->size, "EXPORT_NAME size");
	check_export_flags(get_be16(p + 8), c->exp);
	for (size_t i = 10; i < len; i++)
		fz_assert(!p[i], "EXPORT_NAME padding not zero");
}

static void check_info(struct nbd_conn *c, const uint8_t *d, uint32_t len,
		       unsigned *exports)
{
	uint16_t type;

	fz_assert(c->opt == NBD_OPT_INFO || c->opt == NBD_OPT_GO,
		  "REP_INFO to option %u", c->opt);
	fz_assert(len >= 2, "REP_INFO of %u bytes", len);
	type = get_be16(d);
	switch (type) {
	case NBD_INFO_EXPORT:
		fz_assert(len == 12, "INFO_EXPORT of %u bytes", len);
		fz_assert(!(get_be16(d + 10) & ~0xfffu) &&
				  (get_be16(d + 10) & NBD_FLAG_HAS_FLAGS),
			  "INFO_EXPORT flags 0x%x", get_be16(d + 10));
		(*exports)++;
		break;
	case NBD_INFO_NAME:
	case NBD_INFO_DESCRIPTION:
		fz_assert(len - 2 <= NBD_MAX_NAME, "INFO name of %u bytes",
			  len);
		break;
	case NBD_INFO_BLOCK_SIZE: {
		uint32_t min, pref, max;

		fz_assert(len == 14, "INFO_BLOCK_SIZE of %u bytes", len);
		min = get_be32(d + 2);
		pref = get_be32(d + 6);
		max = get_be32(d + 10);
		fz_assert(min && !(min & (min - 1)) && min <= 65536 &&
				  pref >= 4096 && pref >= min &&
				  !(pref & (pref - 1)) && max >= pref &&
				  max <= 32u << 20,
			  "block sizes %u %u %u", min, pref, max);
		break;
	}
	default:
		fz_fail("REP_INFO of unknown type %u", type);
	}
}

/* c->hs_out: the replies to one option, the last one final */
static void check_option_replies(struct nbd_conn *c, const uint8_t *p,
				 size_t len)
{
	unsigned n = 0, exports = 0;
	uint32_t type = 0;
	size_t at = 0;

	while (at < len) {
		uint32_t rlen;
		const uint8_t *d;

		fz_assert(len - at >= 20, "option reply header cut at %zu",
			  at);
		fz_assert(get_be64(p + at) == NBD_REP_MAGIC,
			  "option reply magic");
		fz_assert(get_be32(p + at + 8) == c->opt,
			  "reply to option %u while option %u is current",
			  get_be32(p + at + 8), c->opt);
		fz_assert(type != NBD_REP_ACK && !(type & (1u << 31)),
			  "a reply after the final one");
		type = get_be32(p + at + 12);
		rlen = get_be32(p + at + 16);
		fz_assert(rlen <= len - at - 20, "option reply length %u "
			  "overruns the %zu bytes sent", rlen, len);
		d = p + at + 20;
		if (type & (1u << 31)) {
			fz_assert(type >= NBD_REP_ERR_UNSUP &&
					  type <= NBD_REP_ERR_TOO_BIG,
				  "unknown error reply 0x%x", type);
			fz_assert(!memchr(d, 0, rlen),
				  "a NUL in an error message");
		} else {
			switch (type) {
			case NBD_REP_ACK:
				fz_assert(!rlen, "ACK of %u bytes", rlen);
				break;
			case NBD_REP_SERVER:
				fz_assert(c->opt == NBD_OPT_LIST &&
						  rlen >= 4 &&
						  get_be32(d) <= rlen - 4,
					  "bad REP_SERVER");
				break;
			case NBD_REP_INFO:
				check_info(c, d, rlen, &exports);
				break;
			case NBD_REP_META_CONTEXT:
				fz_assert(c->opt == NBD_OPT_LIST_META_CONTEXT ||
						  c->opt ==
							  NBD_OPT_SET_META_CONTEXT,
					  "REP_META_CONTEXT to option %u",
					  c->opt);
				/* LIST: the ID is reserved, zero */
				fz_assert(rlen > 4 &&
						  get_be32(d) ==
							  (c->opt == NBD_OPT_SET_META_CONTEXT ?
								   NBD_META_ID_BASE_ALLOCATION :
								   0),
					  "bad REP_META_CONTEXT");
				break;
			default:
				fz_fail("unknown option reply type %u", type);
			}
		}
		at += 20 + rlen;
		n++;
	}
	fz_assert(n, "an empty handshake send");
	/* LIST sends its exports one message each */
	fz_assert(type == NBD_REP_ACK || (type & (1u << 31)) ||
			  (c->opt == NBD_OPT_LIST && type == NBD_REP_SERVER &&
			   n == 1),
		  "option %u: the last reply (type %u) is not final", c->opt,
		  type);
	if ((c->opt == NBD_OPT_INFO || c->opt == NBD_OPT_GO) &&
	    type == NBD_REP_ACK)
		fz_assert(exports == 1, "INFO/GO success with %u INFO_EXPORT",
			  exports);
	if (c->opt != NBD_OPT_INFO && c->opt != NBD_OPT_GO)
		fz_assert(!exports, "INFO_EXPORT to option %u", c->opt);
}

static void check_handshake_send(struct nbd_conn *c)
{
	const uint8_t *p = c->hs_out;
	size_t len = c->hs_len;

	fz_assert(len > 0 && len <= NBD_HS_OUT,
		  "a handshake reply of %zu bytes", len);
	if (!N.greeted) {
		check_greeting(p, len);
		N.greeted = true;
		return;
	}
	fz_assert(!c->transmission, "a handshake send in transmission");
	if (tls_refused(c)) {
		/* only STARTTLS and ABORT are answered, others refused */
		fz_assert(c->opt == NBD_OPT_STARTTLS ||
				  c->opt == NBD_OPT_ABORT ||
				  (len == 20 + get_be32(p + 16) &&
				   get_be32(p + 12) == NBD_REP_ERR_TLS_REQD),
			  "option %u answered in plaintext under "
			  "--tls=require", c->opt);
	}
	if (c->opt == NBD_OPT_STARTTLS && len >= 20 &&
	    get_be32(p + 12) == NBD_REP_ACK)
		fz_assert(tls_server() && !c->tls.session,
			  "STARTTLS acknowledged %s",
			  c->tls.session ? "inside TLS" : "without TLS");
	if (c->opt == NBD_OPT_EXPORT_NAME)
		check_export_name_reply(c, p, len);
	else
		check_option_replies(c, p, len);
}

/* ---- transmission replies ---- */

static bool wire_error_known(uint32_t e)
{
	switch (e) {
	case 0:
	case NBD_EPERM:
	case NBD_EIO:
	case NBD_ENOMEM:
	case NBD_EINVAL:
	case NBD_ENOSPC:
	case NBD_EOVERFLOW:
	case NBD_ENOTSUP:
	case NBD_ESHUTDOWN:
		return true;
	}
	return false;
}

/* what must hold of a request that succeeded */
static void check_success(struct nbd_conn *c, struct request *rq)
{
	const struct nbd_session *s = &c->sess;
	uint16_t t = rq->wire_type;
	bool writes = t == NBD_CMD_WRITE || t == NBD_CMD_TRIM ||
		      t == NBD_CMD_WRITE_ZEROES;

	fz_assert(t <= NBD_CMD_BLOCK_STATUS && t != NBD_CMD_DISC,
		  "command %u succeeded", t);
	fz_assert(!(writes && s->read_only), "command %u succeeded on a "
		  "read-only export", t);
	fz_assert(t != NBD_CMD_BLOCK_STATUS || s->meta_alloc,
		  "BLOCK_STATUS succeeded without base:allocation");
	if (t == NBD_CMD_FLUSH)
		return;
	fz_assert(rq->len > 0 && rq->len <= s->size &&
			  rq->offset <= s->size - rq->len,
		  "command %u at %llu+%llu succeeded on a %llu-byte export",
		  t, (unsigned long long)rq->offset,
		  (unsigned long long)rq->len, (unsigned long long)s->size);
	if (t == NBD_CMD_READ || t == NBD_CMD_WRITE)
		fz_assert(rq->len <= s->max_payload,
			  "%llu bytes over the %u maximum succeeded",
			  (unsigned long long)rq->len, s->max_payload);
}

static void check_data_iov(struct request *rq, const struct iovec *v)
{
	fz_assert(v->iov_base == rq->data && v->iov_len == rq->len,
		  "read data is not the request's");
	fz_assert(fz_inside(v->iov_base, v->iov_len, rq->buf, rq->buf_len),
		  "read data overruns the buffer");
}

static void check_extents(struct request *rq, const uint8_t *h,
			  uint32_t clen)
{
	const uint8_t *x;
	uint64_t sum = 0;
	unsigned n;

	fz_assert(clen >= 12 && (clen - 4) % 8 == 0,
		  "BLOCK_STATUS chunk of %u bytes", clen);
	fz_assert(get_be32(h + 20) == NBD_META_ID_BASE_ALLOCATION,
		  "BLOCK_STATUS context id %u", get_be32(h + 20));
	n = (clen - 4) / 8;
	fz_assert(rq->iovcnt == 2 && rq->iov[1].iov_len == 8 * n,
		  "BLOCK_STATUS descriptors not where the length says");
	fz_assert(fz_inside(rq->iov[1].iov_base, 8 * n, rq->buf, rq->buf_len),
		  "BLOCK_STATUS descriptors overrun the buffer");
	fz_assert(!(rq->wire_flags & NBD_CMD_FLAG_REQ_ONE) || n == 1,
		  "REQ_ONE answered with %u extents", n);
	x = rq->iov[1].iov_base;
	for (unsigned i = 0; i < n; i++) {
		uint32_t len = get_be32(x + 8 * i);
		uint32_t flags = get_be32(x + 8 * i + 4);

		fz_assert(len > 0, "an extent of length 0");
		fz_assert(!(flags & ~3u), "extent flags 0x%x", flags);
		sum += len;
	}
	fz_assert(sum <= rq->len, "extents cover %llu of a %llu-byte request",
		  (unsigned long long)sum, (unsigned long long)rq->len);
}

static void check_reply(struct nbd_conn *c, struct request *rq)
{
	const uint8_t *h = rq->hdr;
	bool data_cmd = rq->wire_type == NBD_CMD_READ ||
			rq->wire_type == NBD_CMD_BLOCK_STATUS;
	uint32_t magic = get_be32(h), err;

	fz_assert(rq->iovcnt >= 1 && rq->iovcnt <= 3, "a reply of %d iovecs",
		  rq->iovcnt);
	fz_assert(fz_inside(rq->iov[0].iov_base, rq->iov[0].iov_len, rq->hdr,
			    sizeof(rq->hdr)),
		  "reply header overruns rq->hdr");
	if (magic == NBD_SIMPLE_REPLY_MAGIC) {
		fz_assert(!(c->structured && data_cmd),
			  "a simple reply to command %u with structured "
			  "replies on", rq->wire_type);
		fz_assert(rq->iov[0].iov_len == NBD_SIMPLE_REPLY_SIZE,
			  "simple reply header of %zu bytes",
			  rq->iov[0].iov_len);
		err = get_be32(h + 4);
		fz_assert(get_be64(h + 8) == rq->cookie, "cookie not echoed");
		fz_assert(wire_error_known(err), "wire error %u", err);
		if (!err) {
			check_success(c, rq);
		} else if (err == NBD_ENOTSUP) {
			fz_assert(rq->wire_type == NBD_CMD_WRITE_ZEROES &&
					  (rq->wire_flags &
					   NBD_CMD_FLAG_FAST_ZERO),
				  "ENOTSUP to command %u", rq->wire_type);
		}
		if (!err && rq->wire_type == NBD_CMD_READ) {
			fz_assert(rq->iovcnt == 2, "a read reply without data");
			check_data_iov(rq, &rq->iov[1]);
		} else {
			fz_assert(rq->iovcnt == 1,
				  "data after a reply to command %u (err %u)",
				  rq->wire_type, err);
		}
		return;
	}
	fz_assert(magic == NBD_STRUCTURED_REPLY_MAGIC, "reply magic 0x%08x",
		  magic);
	fz_assert(c->structured, "a chunk without structured replies");
	fz_assert(get_be16(h + 4) == NBD_REPLY_FLAG_DONE, "chunk flags 0x%x",
		  get_be16(h + 4));
	fz_assert(get_be64(h + 8) == rq->cookie, "chunk cookie not echoed");
	{
		uint32_t clen = get_be32(h + 16);
		uint64_t total = 0;

		for (int i = 0; i < rq->iovcnt; i++)
			total += rq->iov[i].iov_len;
		fz_assert(clen == total - NBD_CHUNK_HEADER_SIZE,
			  "chunk length %u, %llu bytes follow", clen,
			  (unsigned long long)(total - 20));
		switch (get_be16(h + 6)) {
		case NBD_REPLY_TYPE_OFFSET_DATA:
			fz_assert(rq->wire_type == NBD_CMD_READ,
				  "OFFSET_DATA to command %u", rq->wire_type);
			fz_assert(get_be64(h + 20) == rq->offset &&
					  clen == 8 + rq->len,
				  "OFFSET_DATA offset or length");
			check_success(c, rq);
			check_data_iov(rq, &rq->iov[1]);
			break;
		case NBD_REPLY_TYPE_BLOCK_STATUS:
			fz_assert(rq->wire_type == NBD_CMD_BLOCK_STATUS,
				  "BLOCK_STATUS to command %u", rq->wire_type);
			check_success(c, rq);
			check_extents(rq, h, clen);
			break;
		case NBD_REPLY_TYPE_ERROR:
			fz_assert(data_cmd, "an error chunk to command %u",
				  rq->wire_type);
			fz_assert(clen == 6 && get_be16(h + 24) == 0,
				  "error chunk of %u bytes", clen);
			err = get_be32(h + 20);
			fz_assert(err && wire_error_known(err) &&
					  err != NBD_ENOTSUP,
				  "error chunk with error %u", err);
			break;
		default:
			fz_fail("chunk type %u", get_be16(h + 6));
		}
	}
}

/*
 * A send in transmission carries the queued replies in order, one or
 * several, the first maybe partly sent already.
 */
static void check_reply_send(struct nbd_conn *c, const struct msghdr *m)
{
	size_t at = 0;

	for (struct request *rq = c->txq; rq && at < m->msg_iovlen;
	     rq = rq->next) {
		fz_assert(rq->iovcnt >= 1 &&
				  m->msg_iovlen - at >= (size_t)rq->iovcnt,
			  "a send stops inside a reply");
		for (int i = 0; i < rq->iovcnt; i++)
			fz_assert(m->msg_iov[at + i].iov_base ==
						  rq->iov[i].iov_base &&
					  m->msg_iov[at + i].iov_len ==
						  rq->iov[i].iov_len,
				  "a send is not the queued replies");
		at += rq->iovcnt;
	}
	fz_assert(at == m->msg_iovlen, "a send beyond the queued replies");
}

/*
 * n bytes of a send went: each reply whose first byte is among them is
 * checked (and counted) now, before the connection gives it back.  (A
 * send that fails, EAGAIN say, is made again: not checked until then.)
 */
static void replies_sent(struct nbd_conn *c, uint64_t n);

/*
 * The plaintext that tls.out's records carry: the head of what conn.c
 * had to send when it sealed them (pt bytes), to check and to count as
 * if it went in plaintext, and for the client to compare with what it
 * decrypts.
 */
static void tls_records_sent(struct nbd_conn *c)
{
	size_t pt = c->tls.pt, at = 0;

	fz_assert(pt <= sizeof(N.plain), "records carry %zu bytes", pt);
	if (c->hs_pending) {
		fz_assert(pt <= c->hs_len - c->hs_sent,
			  "records carry %zu bytes of a %zu-byte reply", pt,
			  c->hs_len - c->hs_sent);
		if (c->hs_sent == 0)
			check_handshake_send(c);
		memcpy(N.plain, c->hs_out + c->hs_sent, pt);
		N.tls->plain(N.plain, pt);
		return;
	}
	fz_assert(c->transmission, "records before transmission");
	for (struct request *rq = c->txq; rq && at < pt; rq = rq->next)
		for (int i = 0; i < rq->iovcnt && at < pt; i++) {
			size_t k = rq->iov[i].iov_len;

			if (k > pt - at)
				k = pt - at;
			memcpy(N.plain + at, rq->iov[i].iov_base, k);
			at += k;
		}
	fz_assert(at == pt, "records carry %zu bytes, %zu queued", pt, at);
	replies_sent(c, pt);
	N.tls->plain(N.plain, pt);
}

static void nbd_sent(struct op *op, uint64_t n)
{
	struct nbd_conn *c = container_of(op, struct nbd_conn, tx_op);

	if (c->tls.session) {
		/* the first bytes of these records go: what they carry */
		if (c->tls.active && c->tls.out_pos == 0)
			tls_records_sent(c);
		N.tls->sent(c, c->tls.out + c->tls.out_pos, n);
		return;
	}
	if (c->hs_pending) {
		/* checked once, when its first bytes go */
		if (c->hs_sent == 0)
			check_handshake_send(c);
		return;
	}
	replies_sent(c, n);
}

static void replies_sent(struct nbd_conn *c, uint64_t n)
{
	uint64_t off = 0;

	for (struct request *rq = c->txq; rq && off < n; rq = rq->next) {
		if (rq->iov[0].iov_base == rq->hdr) {
			fz_debug("reply to command %u cookie %llu: error %d",
				 rq->wire_type, (unsigned long long)rq->cookie,
				 rq->error);
			check_reply(c, rq);
			N.replies++;
		}
		for (int i = 0; i < rq->iovcnt; i++)
			off += rq->iov[i].iov_len;
	}
}

static void nbd_send(struct op *op)
{
	struct nbd_conn *c = container_of(op, struct nbd_conn, tx_op);
	struct msghdr *m = &op->msg;

	fz_assert(op->kind == OP_SENDMSG, "NBD: op kind %u", op->kind);
	fz_assert(!c->closed, "a send on a closed connection");
	fz_assert(m->msg_iovlen >= 1, "a send of no iovecs");
	fz_assert(!(c->transmission && tls_refused(c)),
		  "transmission without TLS under --tls=require");
	if (c->tls.session) {
		struct nbd_tls *t = &c->tls;
		const struct iovec *v = m->msg_iov;

		/* nothing in plaintext once TLS has begun */
		fz_assert(m->msg_iovlen == 1 && t->out_pos < t->out_end &&
				  t->out_end <= TLS_BUF &&
				  v->iov_base == t->out + t->out_pos &&
				  v->iov_len == t->out_end - t->out_pos,
			  "a send under TLS that is not tls.out[%u..%u)",
			  t->out_pos, t->out_end);
		fz_assert(!t->active || c->hs_pending ||
				  (c->transmission && c->txq),
			  "records sent with nothing to send");
		return;
	}
	if (c->hs_pending) {
		fz_assert(m->msg_iovlen == 1 &&
				  fz_inside(m->msg_iov[0].iov_base,
					    m->msg_iov[0].iov_len, c->hs_out,
					    c->hs_len),
			  "handshake send outside hs_out[0..hs_len)");
		return;
	}
	fz_assert(c->transmission, "a reply before transmission");
	fz_assert(c->txq, "a send with no reply queued");
	check_reply_send(c, m);
}

/* file I/O of a request: inside its buffer and inside the file */
static void nbd_io(struct op *op)
{
	struct request *rq = (struct request *)op; /* op is its first member */
	struct pool *p = &rq->w->pool;

	if ((op->kind == OP_READ || op->kind == OP_WRITE) &&
	    fz_inside(op->buf, 1, p->arena, p->buddy.size))
		fz_assert(fz_inside(op->buf, op->len, rq->buf, rq->buf_len),
			  "file I/O of %llu bytes outside its %llu-byte "
			  "buffer", (unsigned long long)op->len,
			  (unsigned long long)rq->buf_len);
	if (op->kind == OP_WRITE || op->kind == OP_FALLOCATE)
		fz_assert(op->len <= FZ_FILE_SIZE &&
				  op->off <= FZ_FILE_SIZE - op->len,
			  "file op %u at %llu+%llu past the end", op->kind,
			  (unsigned long long)op->off,
			  (unsigned long long)op->len);
}

static bool nbd_fault_ok(struct op *op, int err)
{
	struct nbd_conn *c;

	if (!N.tls || !N.tls->fault_ok || op->kind != OP_SENDMSG)
		return true;
	c = container_of(op, struct nbd_conn, tx_op);
	return N.tls->fault_ok(c, op, err);
}

static const struct fz_hooks nbd_hooks = {
	.recv = nbd_recv,
	.send = nbd_send,
	.sent = nbd_sent,
	.io = nbd_io,
	.fault_ok = nbd_fault_ok,
};

/* ---- a run ---- */

/* the replies a correct server sends to the stream from tx_start on */
static unsigned expected_replies(void)
{
	size_t at = N.tx_start, end = stream_len();
	unsigned n = 0;

	if (at == NO_POS)
		return 0;
	while (end - at >= NBD_REQUEST_SIZE) {
		uint8_t h[NBD_REQUEST_SIZE];
		struct nbd_request r;

		for (size_t i = 0; i < sizeof(h); i++)
			h[i] = stream_at(at + i);
		nbd_decode_request(h, &r);
		fz_debug("request %u cookie %llu at %llu+%u", r.type,
			 (unsigned long long)r.cookie,
			 (unsigned long long)r.offset, r.length);
		if (r.magic != NBD_REQUEST_MAGIC || r.type == NBD_CMD_DISC)
			break;
		at += NBD_REQUEST_SIZE;
		if (r.type == NBD_CMD_WRITE) {
			/* a write cut short is never acknowledged */
			if (end - at < r.length)
				break;
			at += r.length;
		}
		n++;
	}
	return n;
}

static void start_conn(void *arg)
{
	int fd = dup(N.sock);

	fz_assert(fd >= 0, "dup: %s", strerror(errno));
	fz_assert(conn_alloc(&N.srv, fd, "fuzz"), "no connection slot free");
}

void nbd_fz_init(void)
{
	nbd_fz_init_opts(NULL, NULL);
}

void nbd_fz_init_opts(const struct nbd_frontend_opts *o,
		      const struct nbd_fz_tls *tls)
{
	struct nbd_frontend *fe;
	int sv[2];

	/* a small pool, so that back-pressure is reached */
	fz_setup(&N.srv, &nbd_hooks, 8, 256 * 1024);
	N.tls = tls;
	if (nbd_frontend_init(&N.srv, o) < 0)
		fz_fail("nbd_frontend_init");
	fz_assert(!o || !o->tls.mode || (tls_server() && tls),
		  "TLS asked for, but not set up");
	/*
	 * The handshake buffers are an mmap, which ASan does not watch:
	 * put them on the heap so that an overrun of hs_out is caught.
	 */
	fe = N.srv.frontend;
	munmap(fe->bufs, NBD_OPT_MAX + NBD_HS_OUT);
	fe->bufs = malloc(NBD_OPT_MAX + NBD_HS_OUT);
	if (!fe->bufs)
		fz_fail("out of memory");
	/* the same for the TLS buffers: tls.in, tls.out and tls.stage */
	if (fe->tls_bufs) {
		munmap(fe->tls_bufs, TLS_SLOT);
		fe->tls_bufs = malloc(TLS_SLOT);
		if (!fe->tls_bufs)
			fz_fail("out of memory");
	}
	/* shutdown(2) needs a socket; nothing is ever sent on it */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		fz_fail("socketpair: %s", strerror(errno));
	N.sock = sv[0];
}

void nbd_fz_run(const uint8_t *prefix, size_t prefix_len,
		const uint8_t *data, size_t len)
{
	struct nbd_frontend *fe = N.srv.frontend;
	unsigned want;

	N.pre = prefix;
	N.pre_len = prefix_len;
	N.in = data;
	N.in_len = len;
	N.pos = 0;
	N.tx_start = NO_POS;
	N.replies = 0;
	N.greeted = false;
	N.cut = false;
	fz_reset_file();
	fz_run(&N.srv, start_conn, NULL);

	fz_assert(fe->nr_free == fe->nr_conns &&
			  atomic_load(&N.srv.conns_current) == 0,
		  "the connection is stuck: it never closed (rx_busy %d "
		  "tx_busy %d inflight %u)", fe->conns[0].rx_busy,
		  fe->conns[0].tx_busy, fe->conns[0].inflight);
	fz_assert(fe->conns[0].closed && !fe->conns[0].tls.session,
		  "the connection's slot was given back without conn_free");
	fz_check_worker_clean(&N.srv);
	want = expected_replies();
	/* a connection that failed drops the replies it had not sent */
	fz_assert(N.replies == want ||
			  ((fz_peer_failed() || N.cut) && N.replies < want),
		  "%u replies to a stream of %u requests", N.replies, want);
}
