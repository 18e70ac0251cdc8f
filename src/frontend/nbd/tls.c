// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * TLS on an NBD connection.  GnuTLS sees two buffers of the connection's
 * slot instead of a socket: it pulls ciphertext that a receive on the
 * worker's ring put into tls.in, and pushes ciphertext into tls.out,
 * which one send on the ring then carries.  So a TLS connection costs no
 * thread and no blocking call; conn.c's receive and send paths stay the
 * same above this layer: a send completes for the plaintext its records
 * carry, a receive delivers plaintext.
 *
 * GnuTLS allocates per session and per record: swap over TLS is not
 * promised (docs/swap.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "frontend/nbd/nbd.h"

#define container_of(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))

/* TLS 1.3 preferred, 1.2 the oldest spoken */
#define DEFAULT_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define PSK_PRIORITY ":+ECDHE-PSK:+DHE-PSK:+PSK"
/* receives delivered in one go before the rest waits for a task */
#define MAX_DEPTH 16

struct psk_user {
	char *name;
	gnutls_datum_t key;
};

struct tls_server {
	struct tls_options o;
	gnutls_certificate_credentials_t x509;
	gnutls_psk_server_credentials_t psk;
	gnutls_priority_t priority;
	struct psk_user *users;
	unsigned nr_users;
};

const char *tls_mode_name(enum tls_mode m)
{
	return m == TLS_REQUIRE ? "require" : m == TLS_ON ? "on" : "off";
}

/* ---- start-up: keys and certificates ---- */

/* an unreadable file is named with the reason before GnuTLS sees it */
static int check_readable(const char *opt, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int err = errno;

		log_error("%s: %s: %s", opt, path, strerror(err));
		return -err;
	}
	close(fd);
	return 0;
}

static int load_x509(struct tls_server *ts)
{
	const char *dir = ts->o.certificates;
	char cert[4096], key[4096], ca[4096];
	int ret;

	snprintf(cert, sizeof(cert), "%s/server-cert.pem", dir);
	snprintf(key, sizeof(key), "%s/server-key.pem", dir);
	snprintf(ca, sizeof(ca), "%s/ca-cert.pem", dir);
	if (check_readable("--tls-certificates", cert) < 0 ||
	    check_readable("--tls-certificates", key) < 0)
		return -EINVAL;
	if (gnutls_certificate_allocate_credentials(&ts->x509) < 0)
		return -ENOMEM;
	ret = gnutls_certificate_set_x509_key_file(ts->x509, cert, key,
						   GNUTLS_X509_FMT_PEM);
	if (ret == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
		log_error("--tls-certificates: %s does not match %s", key,
			  cert);
		return -EINVAL;
	}
	if (ret < 0) {
		log_error("--tls-certificates: %s or %s: %s", cert, key,
			  gnutls_strerror(ret));
		return -EINVAL;
	}
	/* the CA is needed to check clients, and only then */
	if (access(ca, F_OK) == 0 || ts->o.verify_peer) {
		if (check_readable("--tls-certificates", ca) < 0)
			return -EINVAL;
		ret = gnutls_certificate_set_x509_trust_file(
			ts->x509, ca, GNUTLS_X509_FMT_PEM);
		if (ret <= 0) {
			log_error("--tls-certificates: %s: %s", ca,
				  ret ? gnutls_strerror(ret) :
					"no certificate in it");
			return -EINVAL;
		}
	}
	gnutls_certificate_set_known_dh_params(ts->x509,
					       GNUTLS_SEC_PARAM_MEDIUM);
	return 0;
}

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* one USER:HEXKEY line; "" when it is good, else why not */
static const char *psk_parse_line(char *line, struct psk_user *u)
{
	char *colon = strchr(line, ':');
	size_t hex, n;

	if (!colon)
		return "expected USER:HEXKEY";
	*colon = '\0';
	if (!line[0])
		return "empty user name";
	hex = strlen(colon + 1);
	if (!hex || hex % 2)
		return "the key is not an even number of hex digits";
	n = hex / 2;
	u->key.data = gnutls_malloc(n);
	if (!u->key.data)
		return "out of memory";
	u->key.size = n;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_value(colon[1 + 2 * i]);
		int lo = hex_value(colon[2 + 2 * i]);

		if (hi < 0 || lo < 0)
			return "the key is not hex";
		u->key.data[i] = hi << 4 | lo;
	}
	u->name = strdup(line);
	return u->name ? "" : "out of memory";
}

/* read whole at start-up: a bad line is an error now, not at a client */
static int load_psk_file(struct tls_server *ts)
{
	const char *path = ts->o.psk_file;
	char line[1024];
	unsigned lineno = 0;
	FILE *f;
	int ret = 0;

	if (check_readable("--tls-psk", path) < 0)
		return -EINVAL;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		struct psk_user *u;
		const char *why;

		lineno++;
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		else if (!feof(f)) {
			log_error("--tls-psk %s:%u: line too long", path,
				  lineno);
			ret = -EINVAL;
			break;
		}
		if (!len)
			continue;
		u = realloc(ts->users, (ts->nr_users + 1) * sizeof(*u));
		if (!u) {
			ret = -ENOMEM;
			break;
		}
		ts->users = u;
		u = &ts->users[ts->nr_users++];
		memset(u, 0, sizeof(*u));
		why = psk_parse_line(line, u);
		if (why[0]) {
			log_error("--tls-psk %s:%u: %s", path, lineno, why);
			ret = -EINVAL;
			break;
		}
	}
	fclose(f);
	if (!ret && !ts->nr_users) {
		log_error("--tls-psk %s: no USER:HEXKEY line", path);
		ret = -EINVAL;
	}
	return ret;
}

static int psk_lookup(gnutls_session_t s, const char *name,
		      gnutls_datum_t *key)
{
	struct tls_server *ts = gnutls_session_get_ptr(s);
	struct nbd_conn *c = gnutls_transport_get_ptr(s);

	for (unsigned i = 0; i < ts->nr_users; i++) {
		struct psk_user *u = &ts->users[i];

		if (strcmp(u->name, name))
			continue;
		key->data = gnutls_malloc(u->key.size);
		if (!key->data)
			return -1;
		memcpy(key->data, u->key.data, u->key.size);
		key->size = u->key.size;
		return 0;
	}
	log_info("%s: TLS: unknown PSK user '%s'", c->peer, name);
	return -1;
}

static int load_psk(struct tls_server *ts)
{
	int ret = load_psk_file(ts);

	if (ret < 0)
		return ret;
	if (gnutls_psk_allocate_server_credentials(&ts->psk) < 0)
		return -ENOMEM;
	gnutls_psk_set_server_credentials_function(ts->psk, psk_lookup);
	gnutls_psk_set_server_known_dh_params(ts->psk,
					      GNUTLS_SEC_PARAM_MEDIUM);
	return 0;
}

int tls_server_init(struct tls_server **out, const struct tls_options *o)
{
	struct tls_server *ts;
	const char *err_pos = NULL;
	char prio[256];
	int ret;

	*out = NULL;
	if (o->mode == TLS_OFF)
		return 0;
	if (!o->certificates && !o->psk_file) {
		log_error("--tls %s: needs --tls-certificates DIR or "
			  "--tls-psk FILE", tls_mode_name(o->mode));
		return -EINVAL;
	}
	if (o->verify_peer && !o->certificates) {
		log_error("--tls-verify-peer: needs --tls-certificates DIR "
			  "(its ca-cert.pem signs the clients)");
		return -EINVAL;
	}
	ret = gnutls_global_init();
	if (ret < 0) {
		log_error("TLS: cannot start GnuTLS: %s", gnutls_strerror(ret));
		return -EINVAL;
	}
	ts = calloc(1, sizeof(*ts));
	if (!ts)
		return -ENOMEM;
	*out = ts;
	ts->o = *o;
	if (o->certificates && (ret = load_x509(ts)) < 0)
		return ret;
	if (o->psk_file && (ret = load_psk(ts)) < 0)
		return ret;
	snprintf(prio, sizeof(prio), "%s%s", DEFAULT_PRIORITY,
		 o->psk_file ? PSK_PRIORITY : "");
	ret = gnutls_priority_init(&ts->priority,
				   o->priority ? o->priority : prio, &err_pos);
	if (ret < 0) {
		log_error("--tls-priority %s: %s%s%s", o->priority ?
			  o->priority : prio, gnutls_strerror(ret),
			  err_pos ? " at " : "", err_pos ? err_pos : "");
		return -EINVAL;
	}
	return 0;
}

void tls_server_fini(struct tls_server *ts)
{
	if (!ts)
		return;
	if (ts->priority)
		gnutls_priority_deinit(ts->priority);
	if (ts->x509)
		gnutls_certificate_free_credentials(ts->x509);
	if (ts->psk)
		gnutls_psk_free_server_credentials(ts->psk);
	for (unsigned i = 0; i < ts->nr_users; i++) {
		free(ts->users[i].name);
		gnutls_free(ts->users[i].key.data);
	}
	free(ts->users);
	free(ts);
	gnutls_global_deinit();
}

/* ---- GnuTLS's transport: the slot's two buffers ---- */

static ssize_t tls_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct nbd_conn *c = p;
	struct nbd_tls *t = &c->tls;
	size_t n = t->in_end - t->in_pos;

	if (!n) {
		gnutls_transport_set_errno(t->session, EAGAIN);
		return -1;
	}
	if (n > len)
		n = len;
	memcpy(buf, t->in + t->in_pos, n);
	t->in_pos += n;
	return n;
}

/* GnuTLS asks only with a full buffer: never wait here */
static int tls_pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
	struct nbd_conn *c = p;

	return c->tls.in_end > c->tls.in_pos;
}

static ssize_t tls_push(gnutls_transport_ptr_t p, const void *buf,
			size_t len)
{
	struct nbd_conn *c = p;
	struct nbd_tls *t = &c->tls;
	size_t room = TLS_BUF - t->out_end;

	if (!room) {
		gnutls_transport_set_errno(t->session, EAGAIN);
		return -1;
	}
	if (len > room)
		len = room;
	memcpy(t->out + t->out_end, buf, len);
	t->out_end += len;
	return len;
}

static int tls_session_new(struct nbd_conn *c)
{
	struct nbd_frontend *fe = c->srv->frontend;
	struct tls_server *ts = fe->tls;
	gnutls_session_t s;
	int ret;

	ret = gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NONBLOCK |
				      GNUTLS_NO_SIGNAL);
	if (ret < 0)
		return ret;
	c->tls.session = s;
	gnutls_session_set_ptr(s, ts);
	gnutls_transport_set_ptr(s, c);
	gnutls_transport_set_pull_function(s, tls_pull);
	gnutls_transport_set_pull_timeout_function(s, tls_pull_timeout);
	gnutls_transport_set_push_function(s, tls_push);
	ret = gnutls_priority_set(s, ts->priority);
	if (!ret && ts->x509)
		ret = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE,
					     ts->x509);
	if (!ret && ts->psk)
		ret = gnutls_credentials_set(s, GNUTLS_CRD_PSK, ts->psk);
	if (ret)
		return ret;
	if (ts->o.verify_peer) {
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
		gnutls_session_set_verify_cert(s, NULL, 0);
	}
	return 0;
}

void tls_conn_end(struct nbd_conn *c)
{
	if (c->tls.session)
		gnutls_deinit(c->tls.session);
	c->tls.session = NULL;
	c->tls.active = false;
}

static void tls_failed(struct nbd_conn *c, const char *what, int err)
{
	log_info("%s: TLS %s failed: %s", c->peer, what, gnutls_strerror(err));
	conn_fail(c, -ECONNRESET);
	shutdown(c->fd, SHUT_RDWR);
	conn_maybe_close(c);
}

/* ---- the handshake ---- */

typedef void (*op_done_fn)(struct op *op, int res);

static void hs_step(struct nbd_conn *c);
static void tls_submit_recv(struct nbd_conn *c, op_done_fn done);
static void tls_submit_send(struct nbd_conn *c, op_done_fn done);

static void hs_sent(struct op *op, int res)
{
	struct nbd_conn *c = container_of(op, struct nbd_conn, tx_op);
	struct nbd_tls *t = &c->tls;

	c->tx_busy = false;
	if ((res == -EINTR || res == -EAGAIN) && !c->dead) {
		tls_submit_send(c, hs_sent);	/* the same bytes again */
		return;
	}
	if (res < 0 || c->dead) {
		conn_fail(c, res < 0 ? res : -EPIPE);
		conn_maybe_close(c);
		return;
	}
	t->out_pos += res;
	hs_step(c);
}

static void hs_received(struct op *op, int res)
{
	struct nbd_conn *c = container_of(op, struct nbd_conn, rx_op);

	c->rx_busy = false;
	if ((res == -EINTR || res == -EAGAIN) && !c->dead && !c->rx_closed) {
		tls_submit_recv(c, hs_received);
		return;
	}
	if (res <= 0 || c->dead || c->rx_closed) {
		if (res < 0)
			conn_fail(c, res);
		c->rx_closed = true;
		conn_maybe_close(c);
		return;
	}
	c->tls.in_end += res;
	hs_step(c);
}

static void tls_submit_send(struct nbd_conn *c, op_done_fn done)
{
	struct nbd_tls *t = &c->tls;

	c->tx_op = (struct op){ .done = done, .kind = OP_SENDMSG,
				.fd = c->fd };
	c->hs_iov.iov_base = t->out + t->out_pos;
	c->hs_iov.iov_len = t->out_end - t->out_pos;
	c->tx_op.msg.msg_iov = &c->hs_iov;
	c->tx_op.msg.msg_iovlen = 1;
	c->tx_busy = true;
	c->w->eng->submit(c->w, &c->tx_op);
}

/* what is left of in moves to the front; the rest of it is free */
static void tls_submit_recv(struct nbd_conn *c, op_done_fn done)
{
	struct nbd_tls *t = &c->tls;
	uint32_t left = t->in_end - t->in_pos;

	memmove(t->in, t->in + t->in_pos, left);
	t->in_pos = 0;
	t->in_end = left;
	c->rx_op = (struct op){ .done = done, .kind = OP_RECV, .fd = c->fd,
				.buf = t->in + left, .len = TLS_BUF - left };
	c->rx_busy = true;
	c->w->eng->submit(c->w, &c->rx_op);
}

static void hs_step(struct nbd_conn *c)
{
	struct nbd_tls *t = &c->tls;
	int ret;

	if (c->dead || c->rx_closed) {
		conn_maybe_close(c);
		return;
	}
	/* what GnuTLS wrote goes out before it is asked again */
	while (t->out_pos == t->out_end && !t->hs_done) {
		t->out_pos = t->out_end = 0;
		ret = gnutls_handshake(t->session);
		if (ret == 0) {
			t->hs_done = true;
		} else if (ret == GNUTLS_E_AGAIN ||
			   ret == GNUTLS_E_INTERRUPTED) {
			if (t->out_pos < t->out_end)
				break;
			tls_submit_recv(c, hs_received);
			return;
		} else if (gnutls_error_is_fatal(ret)) {
			tls_failed(c, "handshake", ret);
			return;
		}
	}
	if (t->out_pos < t->out_end) {
		tls_submit_send(c, hs_sent);
		return;
	}
	/* never again: on TLS 1.2 a second call would renegotiate */
	t->out_pos = t->out_end = 0;
	t->active = true;
	if (log_level >= LOG_DEBUG) {
		char *desc = gnutls_session_get_desc(t->session);

		log_debug("%s: TLS %s", c->peer, desc ? desc : "");
		gnutls_free(desc);
	}
	t->after(c);
}

void tls_start(struct nbd_conn *c, void (*after)(struct nbd_conn *c))
{
	struct nbd_frontend *fe = c->srv->frontend;
	struct nbd_tls *t = &c->tls;
	int ret;

	t->in = fe->tls_bufs + (size_t)c->slot * TLS_SLOT;
	t->out = t->in + TLS_BUF;
	t->stage = t->out + TLS_BUF;
	t->after = after;
	ret = tls_session_new(c);
	if (ret < 0) {
		tls_failed(c, "set-up", ret);
		return;
	}
	hs_step(c);
}

/* ---- records: receive ---- */

static void rx_received(struct op *op, int res)
{
	struct nbd_conn *c = container_of(op, struct nbd_conn, rx_op);

	if (res <= 0 || c->dead || c->rx_closed) {
		conn_rx_done(c, res);
		return;
	}
	c->rx_busy = false;
	c->tls.in_end += res;
	c->tls.depth = 0;
	tls_rx_kick(c);
}

static void rx_again(struct task *task)
{
	struct nbd_conn *c = container_of(task, struct nbd_conn, tls.again);

	c->tls.depth = 0;
	if (c->rx_closed || c->dead)
		conn_rx_done(c, 0);	/* ends the receive side */
	else
		tls_rx_kick(c);
}

/*
 * Plaintext for the receive conn.c wants, from what GnuTLS has buffered
 * or can decrypt from tls.in; else one more receive of ciphertext.
 */
void tls_rx_kick(struct nbd_conn *c)
{
	struct nbd_tls *t = &c->tls;
	void *dst = c->rx_dst ? c->rx_dst : c->w->discard_buf;
	uint64_t n = c->rx_left;
	ssize_t r;

	if (!c->rx_dst && n > c->w->discard_len)
		n = c->w->discard_len;
	if (n > 1u << 30)
		n = 1u << 30;
	/* each delivery may ask for the next: bound the recursion */
	if (++t->depth > MAX_DEPTH) {
		t->again.run = rx_again;
		worker_soon(c->w, &t->again);
		return;
	}
	for (unsigned spins = 0;; spins++) {
		size_t at = t->in_pos;

		r = gnutls_record_recv(t->session, dst, n);
		if (r >= 0 || gnutls_error_is_fatal(r))
			break;
		/*
		 * Not an end: after a post-handshake message (a TLS 1.3
		 * KeyUpdate) GnuTLS says AGAIN with the records that came
		 * with it still unread, and a warning alert or a TLS 1.2
		 * renegotiation request (refused by going on) says so too.
		 * Ask again while it reads something from tls.in; only
		 * when it reads nothing does it need another receive.
		 */
		if (t->in_pos != at) {
			if (spins < MAX_DEPTH)
				continue;
			/* many in a row: the others get their turn first */
			t->again.run = rx_again;
			worker_soon(c->w, &t->again);
			return;
		}
		if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED)
			log_debug("%s: TLS: %s: going on", c->peer,
				 gnutls_strerror(r));
		tls_submit_recv(c, rx_received);
		return;
	}
	if (r < 0) {
		/* a client that closes without close_notify: an end */
		if (r != GNUTLS_E_PREMATURE_TERMINATION)
			log_info("%s: TLS receive failed: %s", c->peer,
				 gnutls_strerror(r));
		conn_rx_done(c, r == GNUTLS_E_PREMATURE_TERMINATION ?
					0 : -ECONNRESET);
		return;
	}
	conn_rx_done(c, r);
}

/* ---- records: send ---- */

static void tx_sent(struct op *op, int res)
{
	struct nbd_conn *c = container_of(op, struct nbd_conn, tx_op);
	struct nbd_tls *t = &c->tls;

	/* sealed records go out as they are: sealing again would repeat */
	if ((res == -EINTR || res == -EAGAIN) && !c->dead) {
		tls_submit_send(c, tx_sent);
		return;
	}
	if (res <= 0 || c->dead) {
		conn_tx_done(c, res < 0 ? res : -EPIPE);
		return;
	}
	t->out_pos += res;
	if (t->out_pos < t->out_end) {
		tls_submit_send(c, tx_sent);
		return;
	}
	t->out_pos = t->out_end = 0;
	conn_tx_done(c, t->pt);
}

/*
 * Plaintext into records while a whole record still fits in out.  Each
 * record is as full as the plaintext allows: a reply's header, its data
 * and the next replies go out together, as they would on a socket,
 * instead of a record per piece (a 4k read would be two records, each
 * sealed here and opened by the client).  A piece that fills a record on
 * its own is sealed where it lies; smaller ones are gathered in stage.
 */
static int tls_seal(struct nbd_conn *c, const struct iovec *iov, int cnt)
{
	struct nbd_tls *t = &c->tls;
	gnutls_session_t s = t->session;
	size_t rec = gnutls_record_get_max_size(s);
	size_t room, skip = 0, off = 0;
	int i = 0;
	ssize_t r;

	if (rec > TLS_REC)
		rec = TLS_REC;
	room = rec + gnutls_record_overhead_size(s) + 256;
	t->pt = 0;
	if (t->held) {
		/* GnuTLS kept a record it could not push: push it now */
		r = gnutls_record_send(s, NULL, 0);
		if (r < 0)
			return r;
		t->pt = r;
		skip = r;
		t->held = 0;
	}
	/* the cursor (i, off): the first byte not yet sealed */
	for (; i < cnt && skip >= iov[i].iov_len; i++)
		skip -= iov[i].iov_len;
	off = skip;
	while (i < cnt && TLS_BUF - t->out_end >= room) {
		const uint8_t *p;
		size_t len;

		if (iov[i].iov_len - off >= rec) {
			p = (const uint8_t *)iov[i].iov_base + off;
			len = rec;
			off += rec;
		} else {
			len = 0;
			while (i < cnt && len < rec) {
				size_t n = iov[i].iov_len - off;

				if (n > rec - len)
					n = rec - len;
				memcpy(t->stage + len,
				       (const uint8_t *)iov[i].iov_base + off, n);
				len += n;
				off += n;
				if (off < iov[i].iov_len)
					break;
				i++;
				off = 0;
			}
			if (!len)
				break;
			p = t->stage;
		}
		if (i < cnt && off == iov[i].iov_len) {
			i++;
			off = 0;
		}
		r = gnutls_record_send(s, p, len);
		if (r == GNUTLS_E_AGAIN) {
			/* sealed and kept: sent by the next call, not again */
			t->held = len;
			return 0;
		}
		if (r < 0)
			return r;
		t->pt += r;
		/* a shorter record: conn.c offers the rest again */
		if ((size_t)r < len)
			return 0;
	}
	return 0;
}

/* the plaintext at the head of conn.c's send: seal, then one send */
void tls_tx_kick(struct nbd_conn *c, const struct iovec *iov, int cnt)
{
	int ret = tls_seal(c, iov, cnt);

	if (ret < 0) {
		log_info("%s: TLS send failed: %s", c->peer,
			 gnutls_strerror(ret));
		c->tx_busy = true;	/* conn_tx_done ends it */
		conn_tx_done(c, -ECONNRESET);
		return;
	}
	tls_submit_send(c, tx_sent);
}
