// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fixed newstyle negotiation.  Every length the client sends is checked
 * against what it claims to contain; option payloads are bounded by
 * NBD_OPT_MAX and larger ones are read off the wire and refused, so
 * nothing is ever sized by the client.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "frontend/nbd/nbd.h"

static void hs_read_option(struct nbd_conn *c);

static void hs_start_tls(struct nbd_conn *c)
{
	tls_start(c, hs_read_option);
}

/* ---- building replies into c->hs_out ---- */

static void rep_begin(struct nbd_conn *c)
{
	c->hs_len = 0;
}

static uint8_t *rep_add(struct nbd_conn *c, uint32_t type, uint32_t len)
{
	uint8_t *p = c->hs_out + c->hs_len;

	/* callers bound len: names and descriptions fit NBD_MAX_NAME */
	nbd_encode_opt_reply(p, c->opt, type, len);
	c->hs_len += 20 + len;
	return p + 20;
}

static void reply_and_continue(struct nbd_conn *c, uint32_t type)
{
	rep_add(c, type, 0);
	conn_send_hs(c, hs_read_option);
}

static void reply_error(struct nbd_conn *c, uint32_t err, const char *why)
{
	size_t n = strlen(why);

	log_debug("%s: option %u refused: %s", c->peer, c->opt, why);
	rep_begin(c);
	memcpy(rep_add(c, err, n), why, n);
	conn_send_hs(c, hs_read_option);
}

/* ---- the start ---- */

static void hs_got_client_flags(struct nbd_conn *c)
{
	uint32_t flags = get_be32(c->hs_in);

	if (!(flags & NBD_FLAG_C_FIXED_NEWSTYLE) ||
	    (flags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES))) {
		log_info("%s: unsupported client flags 0x%x: disconnecting",
			 c->peer, flags);
		conn_shutdown(c);
		return;
	}
	c->no_zeroes = flags & NBD_FLAG_C_NO_ZEROES;
	hs_read_option(c);
}

static void hs_greeted(struct nbd_conn *c)
{
	conn_recv(c, c->hs_in, 4, hs_got_client_flags);
}

void nbd_handshake_start(struct nbd_conn *c)
{
	put_be64(c->hs_out, NBD_MAGIC);
	put_be64(c->hs_out + 8, NBD_IHAVEOPT);
	put_be16(c->hs_out + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	c->hs_len = 18;
	conn_send_hs(c, hs_greeted);
}

/* ---- entering transmission ---- */

/* the transmission flags the client is told */
static uint16_t export_flags(struct nbd_conn *c, struct export *e)
{
	return nbd_transmission_flags(e->be, e->read_only, c->structured);
}

static void hs_enter_transmission(struct nbd_conn *c)
{
	struct export *e = c->exp;

	c->transmission = true;
	/* a context set for another export's name is not selected for this */
	c->meta_alloc = c->meta_alloc && c->meta_exp == e;
	c->sess = (struct nbd_session){
		.size = e->be->size,
		.max_payload = c->srv->max_payload,
		.read_only = e->read_only,
		.structured = c->structured,
		.meta_alloc = c->meta_alloc,
		.fast_zero = !!(export_flags(c, e) & NBD_FLAG_SEND_FAST_ZERO),
	};
	log_debug("%s: export '%s' (%s)", c->peer, e->name, e->spec);
	nbd_transmission_start(c);
}

static void opt_export_name(struct nbd_conn *c)
{
	struct export *e;

	c->opt_buf[c->opt_len] = '\0';
	e = strlen((char *)c->opt_buf) == c->opt_len ?
		    server_find_export(c->srv, (char *)c->opt_buf) :
		    NULL;
	if (!e) {
		/* this option has no way to say no but to hang up */
		log_info("%s: no export named '%s': disconnecting", c->peer,
			 (char *)c->opt_buf);
		conn_shutdown(c);
		return;
	}
	c->exp = e;
	put_be64(c->hs_out, e->be->size);
	put_be16(c->hs_out + 8, export_flags(c, e));
	c->hs_len = 10;
	if (!c->no_zeroes) {
		memset(c->hs_out + 10, 0, 124);
		c->hs_len += 124;
	}
	conn_send_hs(c, hs_enter_transmission);
}

/* ---- LIST: one reply per export, then ACK ---- */

static void opt_list_next(struct nbd_conn *c)
{
	struct server *srv = c->srv;
	uint8_t *p;

	rep_begin(c);
	if (c->list_next >= srv->nr_exports) {
		reply_and_continue(c, NBD_REP_ACK);
		return;
	}
	const char *name = srv->exports[c->list_next++].name;
	size_t n = strlen(name);

	p = rep_add(c, NBD_REP_SERVER, 4 + n);
	put_be32(p, n);
	memcpy(p + 4, name, n);
	conn_send_hs(c, opt_list_next);
}

/*
 * Names in option payloads are counted strings; a name with a NUL in it
 * is refused.  NULL when the lengths do not add up.
 */
static const char *take_name(struct nbd_conn *c, uint32_t at, uint32_t len)
{
	static const char empty[] = "";
	char *name;

	if (len > NBD_MAX_NAME || at > c->opt_len || len > c->opt_len - at)
		return NULL;
	if (!len)
		return empty;
	name = (char *)c->opt_buf + at;
	if (memchr(name, '\0', len))
		return NULL;
	return name;
}

static int copy_name(struct nbd_conn *c, uint32_t at, uint32_t len,
		     char *out)
{
	const char *n = take_name(c, at, len);

	if (!n)
		return -EINVAL;
	memcpy(out, n, len);
	out[len] = '\0';
	return 0;
}

/* ---- INFO and GO ---- */

static void opt_info_go(struct nbd_conn *c)
{
	char name[NBD_MAX_NAME + 1];
	uint32_t namelen, nreq;
	struct export *e;
	bool want_name = false, want_desc = false;
	uint8_t *p;

	if (c->opt_len < 6)
		return reply_error(c, NBD_REP_ERR_INVALID, "option too short");
	namelen = get_be32(c->opt_buf);
	if (namelen > NBD_MAX_NAME || namelen > c->opt_len - 6)
		return reply_error(c, NBD_REP_ERR_INVALID, "bad name length");
	nreq = get_be16(c->opt_buf + 4 + namelen);
	if (c->opt_len != 6 + namelen + 2 * nreq)
		return reply_error(c, NBD_REP_ERR_INVALID,
				   "length does not match the requests");
	if (copy_name(c, 4, namelen, name) < 0)
		return reply_error(c, NBD_REP_ERR_INVALID, "bad export name");
	e = server_find_export(c->srv, name);
	if (!e)
		return reply_error(c, NBD_REP_ERR_UNKNOWN, "no such export");
	for (uint32_t i = 0; i < nreq; i++) {
		uint16_t t = get_be16(c->opt_buf + 6 + namelen + 2 * i);

		want_name |= t == NBD_INFO_NAME;
		want_desc |= t == NBD_INFO_DESCRIPTION;
	}

	rep_begin(c);
	p = rep_add(c, NBD_REP_INFO, 12);
	put_be16(p, NBD_INFO_EXPORT);
	put_be64(p + 2, e->be->size);
	put_be16(p + 10, export_flags(c, e));
	if (want_name) {
		size_t n = strlen(e->name);

		p = rep_add(c, NBD_REP_INFO, 2 + n);
		put_be16(p, NBD_INFO_NAME);
		memcpy(p + 2, e->name, n);
	}
	if (want_desc && e->description) {
		size_t n = strnlen(e->description, NBD_MAX_NAME);

		p = rep_add(c, NBD_REP_INFO, 2 + n);
		put_be16(p, NBD_INFO_DESCRIPTION);
		memcpy(p + 2, e->description, n);
	}
	/* always: clients that did not ask still learn our maximum */
	p = rep_add(c, NBD_REP_INFO, 14);
	put_be16(p, NBD_INFO_BLOCK_SIZE);
	put_be32(p + 2, 1);
	put_be32(p + 6, e->be->preferred);
	put_be32(p + 10, c->srv->max_payload);
	rep_add(c, NBD_REP_ACK, 0);

	if (c->opt == NBD_OPT_GO) {
		c->exp = e;
		conn_send_hs(c, hs_enter_transmission);
	} else {
		conn_send_hs(c, hs_read_option);
	}
}

/* ---- meta contexts: base:allocation only ---- */

static void opt_meta_context(struct nbd_conn *c)
{
	bool set = c->opt == NBD_OPT_SET_META_CONTEXT;
	char name[NBD_MAX_NAME + 1];
	uint32_t namelen, nq, at;
	struct export *e;
	bool any = false, all;

	/* a SET replaces the selection, even when it fails */
	if (set)
		c->meta_alloc = false;
	if (set && !c->structured)
		return reply_error(c, NBD_REP_ERR_INVALID,
				   "structured replies not negotiated");
	if (c->opt_len < 8)
		return reply_error(c, NBD_REP_ERR_INVALID, "option too short");
	namelen = get_be32(c->opt_buf);
	if (namelen > NBD_MAX_NAME || namelen > c->opt_len - 8)
		return reply_error(c, NBD_REP_ERR_INVALID, "bad name length");
	if (copy_name(c, 4, namelen, name) < 0)
		return reply_error(c, NBD_REP_ERR_INVALID, "bad export name");
	nq = get_be32(c->opt_buf + 4 + namelen);
	at = 8 + namelen;
	/* check every query's length before acting on any */
	for (uint32_t i = 0, pos = at; i < nq; i++) {
		uint32_t qlen;

		if (c->opt_len - pos < 4)
			return reply_error(c, NBD_REP_ERR_INVALID,
					   "queries overrun the option");
		qlen = get_be32(c->opt_buf + pos);
		if (qlen > c->opt_len - pos - 4)
			return reply_error(c, NBD_REP_ERR_INVALID,
					   "query overruns the option");
		pos += 4 + qlen;
		if (i == nq - 1 && pos != c->opt_len)
			return reply_error(c, NBD_REP_ERR_INVALID,
					   "trailing bytes after the queries");
	}
	if (nq == 0 && at != c->opt_len)
		return reply_error(c, NBD_REP_ERR_INVALID,
				   "trailing bytes after the queries");
	e = server_find_export(c->srv, name);
	if (!e)
		return reply_error(c, NBD_REP_ERR_UNKNOWN, "no such export");

	rep_begin(c);
	/* LIST with no query lists all; SET with none selects none */
	all = !set && nq == 0;
	for (uint32_t i = 0, pos = at; i < nq; i++) {
		uint32_t qlen = get_be32(c->opt_buf + pos);
		const char *q = (const char *)c->opt_buf + pos + 4;

		pos += 4 + qlen;
		if ((qlen == strlen(NBD_META_BASE_ALLOCATION) &&
		     !memcmp(q, NBD_META_BASE_ALLOCATION, qlen)) ||
		    (!set && qlen == 5 && !memcmp(q, "base:", 5)))
			any = true;
	}
	if (all || any) {
		uint8_t *p = rep_add(c, NBD_REP_META_CONTEXT,
				     4 + strlen(NBD_META_BASE_ALLOCATION));

		/* LIST: the ID is reserved, zero */
		put_be32(p, set ? NBD_META_ID_BASE_ALLOCATION : 0);
		memcpy(p + 4, NBD_META_BASE_ALLOCATION,
		       strlen(NBD_META_BASE_ALLOCATION));
	}
	if (set) {
		c->meta_alloc = any;
		c->meta_exp = e;
	}
	reply_and_continue(c, NBD_REP_ACK);
}

/* ---- TLS ---- */

static void opt_starttls(struct nbd_conn *c)
{
	struct nbd_frontend *fe = c->srv->frontend;

	if (!fe->tls)
		return reply_error(c, NBD_REP_ERR_UNSUP, "TLS not enabled");
	if (c->tls.session)
		return reply_error(c, NBD_REP_ERR_INVALID,
				   "TLS already negotiated");
	if (c->opt_len)
		return reply_error(c, NBD_REP_ERR_INVALID,
				   "STARTTLS takes no data");
	/* the ACK in plaintext, then TLS; options go on inside it.  What
	 * was negotiated in plaintext is forgotten (an attacker on the wire
	 * could have said it): the client asks again inside TLS */
	c->structured = false;
	c->meta_alloc = false;
	c->meta_exp = NULL;
	c->exp = NULL;
	rep_begin(c);
	rep_add(c, NBD_REP_ACK, 0);
	conn_send_hs(c, hs_start_tls);
}

/* ABORT: acknowledged, then the connection closes */
static void opt_abort(struct nbd_conn *c)
{
	rep_begin(c);
	rep_add(c, NBD_REP_ACK, 0);
	conn_send_hs(c, conn_shutdown);
}

/*
 * --tls=require: before TLS only STARTTLS and ABORT; EXPORT_NAME cannot
 * be refused but by hanging up.
 */
static bool tls_required(struct nbd_conn *c)
{
	struct nbd_frontend *fe = c->srv->frontend;

	if (fe->tls_mode != TLS_REQUIRE || c->tls.active ||
	    c->opt == NBD_OPT_STARTTLS || c->opt == NBD_OPT_ABORT)
		return false;
	if (c->opt == NBD_OPT_EXPORT_NAME) {
		log_info("%s: EXPORT_NAME without TLS under --tls=require: "
			 "disconnecting", c->peer);
		conn_shutdown(c);
		return true;
	}
	reply_error(c, NBD_REP_ERR_TLS_REQD, "TLS required");
	return true;
}

/* ---- the option loop ---- */

static void hs_option_payload(struct nbd_conn *c)
{
	if (tls_required(c))
		return;
	switch (c->opt) {
	case NBD_OPT_STARTTLS:
		opt_starttls(c);
		return;
	case NBD_OPT_EXPORT_NAME:
		opt_export_name(c);
		return;
	case NBD_OPT_ABORT:
		opt_abort(c);
		return;
	case NBD_OPT_LIST:
		if (c->opt_len)
			return reply_error(c, NBD_REP_ERR_INVALID,
					   "LIST takes no data");
		c->list_next = 0;
		opt_list_next(c);
		return;
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		opt_info_go(c);
		return;
	case NBD_OPT_STRUCTURED_REPLY:
		if (c->opt_len)
			return reply_error(c, NBD_REP_ERR_INVALID,
					   "STRUCTURED_REPLY takes no data");
		if (c->structured)
			return reply_error(c, NBD_REP_ERR_INVALID,
					   "already negotiated");
		c->structured = true;
		rep_begin(c);
		reply_and_continue(c, NBD_REP_ACK);
		return;
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		opt_meta_context(c);
		return;
	default:
		reply_error(c, NBD_REP_ERR_UNSUP, "option not supported");
		return;
	}
}

static void hs_option_discarded(struct nbd_conn *c)
{
	if (tls_required(c))
		return;
	/* an ABORT's data, however long, is ignored (proto.md) */
	if (c->opt == NBD_OPT_ABORT)
		return opt_abort(c);
	reply_error(c, NBD_REP_ERR_TOO_BIG, "option too large");
}

static void hs_got_option(struct nbd_conn *c)
{
	uint64_t magic = get_be64(c->hs_in);

	c->opt = get_be32(c->hs_in + 8);
	c->opt_len = get_be32(c->hs_in + 12);
	if (magic != NBD_IHAVEOPT) {
		log_info("%s: bad option magic: disconnecting", c->peer);
		conn_shutdown(c);
		return;
	}
	if (c->opt_len > NBD_OPT_MAX - 1) {
		if (c->opt == NBD_OPT_EXPORT_NAME) {
			log_info("%s: export name too long: disconnecting",
				 c->peer);
			conn_shutdown(c);
			return;
		}
		conn_discard(c, c->opt_len, hs_option_discarded);
		return;
	}
	conn_recv(c, c->opt_buf, c->opt_len, hs_option_payload);
}

static void hs_read_option(struct nbd_conn *c)
{
	conn_recv(c, c->hs_in, 16, hs_got_option);
}
