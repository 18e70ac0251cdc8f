// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: NBD over TLS (STARTTLS), the real handshake.c, tls.c
 * and conn.c on the fake engine, the server's GnuTLS session fed from
 * the client side.
 *
 * Input: a schedule byte (as fuzz_handshake's), a config byte, then the
 * client's byte stream from its flags on.  Until the server begins TLS
 * (after its ACK to STARTTLS) the stream is plaintext options; what
 * follows is, by config bit 1:
 *
 *   raw     the ciphertext itself: a ClientHello and records for GnuTLS
 *           to parse (seeds: recorded first flights of a real client);
 *   client  plaintext that a real GnuTLS client in this process sends as
 *           records once its handshake with the server is done (options
 *           inside TLS, GO, requests): the server's record layer and
 *           everything above it under TLS.
 *
 * Config byte:
 *   bit 0     --tls=on (0) or --tls=require (1)
 *   bit 1     raw (0) or client (1)
 *   bit 2     client: PSK (0) or X.509 (1)
 *   bit 3     client: TLS 1.2 only
 *   bit 4     client: end with close_notify (else the socket just ends)
 *   bit 5     client: the next 3 input bytes tamper with its ciphertext:
 *             byte offset (u16 BE) into it, and a byte to XOR there
 *   bits 6-7  client, PSK: 0 or 3 the right key, 1 a wrong key, 2 an
 *             unknown user
 *
 * The server has both credentials: an X.509 certificate and key made at
 * start-up with GnuTLS (ECDSA P-256), and a PSK file, written to a
 * temporary directory for tls_server_init and removed at once.
 *
 * Checked, beyond what every NBD input is (nbd_fuzz.c): once TLS has
 * begun nothing goes in plaintext either way; under --tls=require no
 * option but STARTTLS and ABORT is answered and no transmission begins
 * before TLS; the plaintext the client decrypts is byte for byte what
 * the server meant to send (tls.c's accounting of what its records
 * carry); with good credentials and nothing injected the handshake
 * succeeds, and a wrong PSK never authenticates; the server's TLS
 * session is gone with the connection.  The worker's one-second tick
 * never fires (the engine swallows it: time does not pass here), so the
 * handshake timeout cannot end a connection behind the checks' back.
 */
#include <dlfcn.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "frontend/nbd/nbd.h"
#include "harness.h"
#include "nbd_fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	CF_REQUIRE = 1 << 0,
	CF_CLIENT = 1 << 1,
	CF_X509 = 1 << 2,
	CF_TLS12 = 1 << 3,
	CF_BYE = 1 << 4,
	CF_TAMPER = 1 << 5,
};
enum { PSK_GOOD, PSK_WRONG_KEY, PSK_UNKNOWN_USER };

#define PSK_USER "fuzz"
#define PSK_KEY "0123456789abcdef0123456789abcdef"
#define PSK_BAD_KEY "fedcba9876543210fedcba9876543210"
#define BUF_SIZE (1u << 20)

/* a byte queue: one direction of the connection */
struct queue {
	uint8_t *b;
	size_t pos, end;
};

static struct {
	gnutls_psk_client_credentials_t psk[3];
	gnutls_certificate_credentials_t x509;
	/* this run */
	unsigned cfg, psk_kind;
	bool tamper;
	size_t tamper_at;
	uint8_t tamper_xor;
	bool started;		/* the server's first ciphertext receive */
	size_t p0;		/* the stream's position then */
	size_t consumed;	/* plaintext the server's session gave up */
	bool tx_noted;
	gnutls_session_t cl;	/* the client, in client mode */
	bool cl_done, cl_failed, cl_bye, cl_eof;
	int cl_err;
	struct queue c2s, s2c, expect;
	size_t c2s_total;	/* ciphertext the client has produced */
	const char *record;	/* LLOOP_FUZZ_TLS_RECORD: a raw seed here */
	bool recorded;
	uint8_t sched;
	const uint8_t *pre_tls;
	size_t pre_tls_len;
} T;

/* ---- queues ---- */

static void q_reset(struct queue *q)
{
	q->pos = q->end = 0;
}

static void q_put(struct queue *q, const void *p, size_t n, const char *what)
{
	if (q->pos == q->end)
		q->pos = q->end = 0;
	if (n > BUF_SIZE - q->end && q->pos) {
		memmove(q->b, q->b + q->pos, q->end - q->pos);
		q->end -= q->pos;
		q->pos = 0;
	}
	fz_assert(n <= BUF_SIZE - q->end, "%s: %zu bytes more overflow the "
		  "harness's %u-byte queue", what, n, BUF_SIZE);
	memcpy(q->b + q->end, p, n);
	q->end += n;
}

static size_t q_len(const struct queue *q)
{
	return q->end - q->pos;
}

/* ---- the client's transport: memory ---- */

static ssize_t cl_push(gnutls_transport_ptr_t p, const void *buf, size_t n)
{
	q_put(&T.c2s, buf, n, "client to server");
	T.c2s_total += n;
	return n;
}

static ssize_t cl_pull(gnutls_transport_ptr_t p, void *buf, size_t n)
{
	size_t k = q_len(&T.s2c);

	if (!k) {
		gnutls_transport_set_errno(T.cl, EAGAIN);
		return -1;
	}
	if (k > n)
		k = n;
	memcpy(buf, T.s2c.b + T.s2c.pos, k);
	T.s2c.pos += k;
	return k;
}

static int cl_pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
	return q_len(&T.s2c) > 0;
}

static bool cl_may_fail(void)
{
	/* a failure is the server's fault only when nothing was injected */
	return T.tamper || T.psk_kind != PSK_GOOD || fz_peer_failed();
}

static void cl_start(void)
{
	gnutls_session_t s;
	const char *prio;
	int ret;

	ret = gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NONBLOCK |
				      GNUTLS_NO_SIGNAL);
	fz_assert(ret == 0, "client gnutls_init: %s", gnutls_strerror(ret));
	T.cl = s;
	if (T.cfg & CF_X509) {
		prio = T.cfg & CF_TLS12 ? "NORMAL:-VERS-ALL:+VERS-TLS1.2" :
					  "NORMAL";
		ret = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE,
					     T.x509);
	} else {
		prio = T.cfg & CF_TLS12 ?
			       "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:"
			       "+ECDHE-PSK:+DHE-PSK:+PSK" :
			       "NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK";
		ret = gnutls_credentials_set(s, GNUTLS_CRD_PSK,
					     T.psk[T.psk_kind]);
	}
	fz_assert(ret == 0, "client credentials: %s", gnutls_strerror(ret));
	ret = gnutls_priority_set_direct(s, prio, NULL);
	fz_assert(ret == 0, "client priority: %s", gnutls_strerror(ret));
	gnutls_transport_set_push_function(s, cl_push);
	gnutls_transport_set_pull_function(s, cl_pull);
	gnutls_transport_set_pull_timeout_function(s, cl_pull_timeout);
}

/* the client gave up: the server's fault unless something was injected */
static void cl_fail(const char *what, int err)
{
	fz_debug("client %s: %s", what, gnutls_strerror(err));
	T.cl_failed = true;
	T.cl_err = err;
	nbd_fz_stream_cut();
}

/* what the client decrypted against what the server meant to send */
static void cl_check_plain(const uint8_t *p, size_t n)
{
	size_t have = q_len(&T.expect);

	fz_assert(n <= have, "the client decrypted %zu bytes, only %zu were "
		  "sent under TLS", n, have);
	if (memcmp(p, T.expect.b + T.expect.pos, n)) {
		size_t i = 0;

		while (p[i] == T.expect.b[T.expect.pos + i])
			i++;
		fz_fail("the client decrypted other bytes than were sent "
			"(at byte %zu of %zu)", i, n);
	}
	T.expect.pos += n;
}

/* run the client as far as what the server sent takes it */
static void cl_pump(void)
{
	static uint8_t buf[65536];
	ssize_t r;

	if (!T.cl || T.cl_failed)
		return;
	while (!T.cl_done) {
		int ret = gnutls_handshake(T.cl);

		if (ret == 0) {
			T.cl_done = true;
			fz_debug("client: handshake done");
			if (gnutls_auth_get_type(T.cl) == GNUTLS_CRD_PSK)
				fz_assert(T.psk_kind == PSK_GOOD,
					  "a client with a wrong PSK got in");
			break;
		}
		if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
			return;
		if (gnutls_error_is_fatal(ret)) {
			cl_fail("handshake", ret);
			return;
		}
	}
	for (;;) {
		r = gnutls_record_recv(T.cl, buf, sizeof(buf));
		if (r > 0) {
			cl_check_plain(buf, r);
			continue;
		}
		if (r == 0) {
			/* the server never sends close_notify */
			T.cl_eof = true;
			return;
		}
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			return;
		if (gnutls_error_is_fatal(r)) {
			cl_fail("receive", r);
			return;
		}
	}
}

/* more ciphertext from the client, if it has any to give */
static void cl_produce(void)
{
	static uint8_t chunk[65536];
	size_t n, max = sizeof(chunk);
	ssize_t r;

	cl_pump();
	if (q_len(&T.c2s) || !T.cl_done || T.cl_failed)
		return;
	if (fz_scheduled())
		max = 1 + fz_rand(sizeof(chunk));
	n = nbd_fz_take(chunk, max);
	if (n) {
		/* every record the client sends carries up to 16 KiB */
		for (size_t at = 0; at < n;) {
			r = gnutls_record_send(T.cl, chunk + at, n - at);
			if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
				continue; /* the push never refuses */
			fz_assert(r > 0, "client send: %s",
				  gnutls_strerror(r));
			at += r;
		}
		return;
	}
	if ((T.cfg & CF_BYE) && !T.cl_bye) {
		T.cl_bye = true;
		gnutls_bye(T.cl, GNUTLS_SHUT_WR);
	}
}

/* ---- the hooks nbd_fuzz.c calls under TLS ---- */

static void record_seed(void);

static int tls_recv(struct nbd_conn *c, struct op *op)
{
	uint8_t *dst = op->buf;
	size_t n, max = op->len;

	if (!T.started) {
		T.started = true;
		T.p0 = nbd_fz_pos();
		if (T.cfg & CF_CLIENT)
			cl_start();
	}
	if (max > 1 && fz_scheduled() && fz_rand(4) == 0)
		max = 1 + fz_rand(max - 1);
	if (!(T.cfg & CF_CLIENT))
		return nbd_fz_take(dst, max);

	cl_produce();
	n = q_len(&T.c2s);
	if (!n) {
		/*
		 * The client has nothing to say: it is done, it gave up, or
		 * it waits for the server, which waits for it.  A server
		 * that receives before its own flight has all gone would
		 * hang a real client.
		 */
		fz_assert(T.cl_done || T.cl_failed || c->tx_busy ||
				  cl_may_fail(),
			  "the server waits for the client, which waits for "
			  "the server (TLS handshake)");
		if (T.cl_done)
			record_seed();
		return 0;
	}
	if (!T.cl_done)
		record_seed();
	if (n > max)
		n = max;
	memcpy(dst, T.c2s.b + T.c2s.pos, n);
	if (T.tamper) {
		size_t first = T.c2s_total - q_len(&T.c2s);

		if (T.tamper_at >= first && T.tamper_at < first + n)
			dst[T.tamper_at - first] ^= T.tamper_xor;
	}
	T.c2s.pos += n;
	return n;
}

static void tls_sent(struct nbd_conn *c, const uint8_t *buf, uint64_t n)
{
	if (!(T.cfg & CF_CLIENT))
		return;
	q_put(&T.s2c, buf, n, "server to client");
	cl_pump();
}

static void tls_plain(const uint8_t *p, size_t n)
{
	if (T.cfg & CF_CLIENT)
		q_put(&T.expect, p, n, "plaintext sent");
}

/*
 * A send of records that fails with EINTR or EAGAIN must go again as it
 * was (tls.c once sealed the plaintext again, and the client got it
 * twice; reproducer corpus/tls/crash-tls-send-eintr-dup).  Kept as a
 * switch to show what the fault injection covers.
 */
#define TLS_SEND_RETRY_FIXED true

static bool tls_fault_ok(struct nbd_conn *c, struct op *op, int err)
{
	return TLS_SEND_RETRY_FIXED || !c->tls.session ||
	       (err != -EINTR && err != -EAGAIN);
}

static const struct nbd_fz_tls tls_hooks = {
	.recv = tls_recv,
	.sent = tls_sent,
	.plain = tls_plain,
	.fault_ok = tls_fault_ok,
};

/*
 * Where transmission begins in the stream, under TLS: the plaintext the
 * server's session gave up before it (the handshake reads exactly what
 * it needs).  GnuTLS's receive is wrapped to count it.
 */
ssize_t gnutls_record_recv(gnutls_session_t s, void *data, size_t len);

ssize_t gnutls_record_recv(gnutls_session_t s, void *data, size_t len)
{
	static ssize_t (*real)(gnutls_session_t, void *, size_t);
	struct nbd_frontend *fe = nbd_fz_server()->frontend;
	struct nbd_conn *c = fe ? &fe->conns[0] : NULL;
	bool server = c && !c->closed && s == c->tls.session;
	ssize_t r;

	if (!real) {
		real = (ssize_t (*)(gnutls_session_t, void *, size_t))dlsym(
			RTLD_NEXT, "gnutls_record_recv");
		if (!real)
			fz_fail("dlsym gnutls_record_recv: %s", dlerror());
	}
	if (server && c->transmission && !T.tx_noted) {
		T.tx_noted = true;
		nbd_fz_tx_start(T.p0 + T.consumed);
	}
	r = real(s, data, len);
	if (server && r > 0)
		T.consumed += r;
	return r;
}

/*
 * LLOOP_FUZZ_TLS_RECORD=FILE: write the client's first flight as a raw
 * seed (the same input with the client bit cleared and the ciphertext in
 * place of the plaintext), for the corpus.
 */
static void record_seed(void)
{
	FILE *f;
	uint8_t cfg = T.cfg & ~(CF_CLIENT | CF_TAMPER);

	if (!T.record || T.recorded || !q_len(&T.c2s))
		return;
	T.recorded = true;
	f = fopen(T.record, "we");
	if (!f)
		fz_fail("%s: %s", T.record, strerror(errno));
	fputc(T.sched, f);
	fputc(cfg, f);
	fwrite(T.pre_tls, 1, T.p0, f);
	fwrite(T.c2s.b + T.c2s.pos, 1, q_len(&T.c2s), f);
	fclose(f);
}

/* ---- start-up: the server's credentials ---- */

static void write_file(const char *dir, const char *name, const void *p,
		       size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f))
		fz_fail("cannot write %s: %s", path, strerror(errno));
}

static void remove_file(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

#define GT(call)                                                               \
	do {                                                                   \
		int ret_ = (call);                                             \
		if (ret_ < 0)                                                  \
			fz_fail("%s: %s", #call, gnutls_strerror(ret_));       \
	} while (0)

/* a self-signed ECDSA P-256 certificate and its key, as PEM files */
static void make_x509(const char *dir)
{
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
	gnutls_datum_t pem;
	const char cn[] = "localhost";
	const uint8_t serial = 1;
	time_t now = time(NULL);

	GT(gnutls_x509_privkey_init(&key));
	GT(gnutls_x509_privkey_generate(
		key, GNUTLS_PK_ECDSA,
		GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0));
	GT(gnutls_x509_crt_init(&crt));
	GT(gnutls_x509_crt_set_version(crt, 3));
	GT(gnutls_x509_crt_set_serial(crt, &serial, 1));
	GT(gnutls_x509_crt_set_activation_time(crt, now - 86400));
	GT(gnutls_x509_crt_set_expiration_time(crt, now + 10 * 365 * 86400));
	GT(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
					 cn, strlen(cn)));
	GT(gnutls_x509_crt_set_key(crt, key));
	GT(gnutls_x509_crt_set_key_usage(crt,
					 GNUTLS_KEY_DIGITAL_SIGNATURE));
	GT(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER,
					       0));
	GT(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0));
	GT(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem));
	write_file(dir, "server-cert.pem", pem.data, pem.size);
	gnutls_free(pem.data);
	GT(gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &pem));
	write_file(dir, "server-key.pem", pem.data, pem.size);
	gnutls_free(pem.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
}

static void client_psk(gnutls_psk_client_credentials_t *c, const char *user,
		       const char *hex)
{
	gnutls_datum_t key = { (unsigned char *)hex, strlen(hex) };

	GT(gnutls_psk_allocate_client_credentials(c));
	GT(gnutls_psk_set_client_credentials(*c, user, &key,
					     GNUTLS_PSK_KEY_HEX));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	struct nbd_frontend_opts o = { .socket_gid = -1 };
	static const char psk[] = PSK_USER ":" PSK_KEY "\n"
				  "other:00112233445566778899aabbccddeeff\n";
	char dir[4096], pskfile[4200];

	T.c2s.b = malloc(BUF_SIZE);
	T.s2c.b = malloc(BUF_SIZE);
	T.expect.b = malloc(BUF_SIZE);
	if (!T.c2s.b || !T.s2c.b || !T.expect.b)
		fz_fail("out of memory");
	T.record = getenv("LLOOP_FUZZ_TLS_RECORD");
	GT(gnutls_global_init());

	snprintf(dir, sizeof(dir), "%s/lloop-fuzz-tls-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		fz_fail("mkdtemp %s: %s", dir, strerror(errno));
	make_x509(dir);
	write_file(dir, "psk", psk, strlen(psk));
	snprintf(pskfile, sizeof(pskfile), "%s/psk", dir);
	o.tls = (struct tls_options){ .mode = TLS_ON, .certificates = dir,
				      .psk_file = pskfile };
	nbd_fz_init_opts(&o, &tls_hooks);
	/* read at start-up: not needed any more */
	remove_file(dir, "server-cert.pem");
	remove_file(dir, "server-key.pem");
	remove_file(dir, "psk");
	rmdir(dir);

	client_psk(&T.psk[PSK_GOOD], PSK_USER, PSK_KEY);
	client_psk(&T.psk[PSK_WRONG_KEY], PSK_USER, PSK_BAD_KEY);
	client_psk(&T.psk[PSK_UNKNOWN_USER], "nobody", PSK_KEY);
	GT(gnutls_certificate_allocate_credentials(&T.x509));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nbd_frontend *fe = nbd_fz_server()->frontend;
	size_t hdr = 2;

	if (size < 2)
		return 0;
	fz_schedule(data[0]);
	T.sched = data[0];
	T.cfg = data[1];
	T.psk_kind = (T.cfg >> 6) % 3;
	T.tamper = (T.cfg & CF_TAMPER) && (T.cfg & CF_CLIENT);
	if (T.tamper) {
		if (size < 5)
			return 0;
		T.tamper_at = (size_t)data[2] << 8 | data[3];
		T.tamper_xor = data[4];
		T.tamper = T.tamper_xor != 0;
		hdr = 5;
	}
	fe->tls_mode = T.cfg & CF_REQUIRE ? TLS_REQUIRE : TLS_ON;
	T.started = T.tx_noted = false;
	T.p0 = T.consumed = T.c2s_total = 0;
	T.cl = NULL;
	T.cl_done = T.cl_failed = T.cl_bye = T.cl_eof = false;
	T.cl_err = 0;
	T.recorded = false;
	T.pre_tls = data + hdr;
	q_reset(&T.c2s);
	q_reset(&T.s2c);
	q_reset(&T.expect);

	nbd_fz_run(NULL, 0, data + hdr, size - hdr);

	if (T.cl) {
		cl_pump();
		fz_debug("client: handshake %s, %zu plaintext bytes not "
			 "decrypted", T.cl_done ? "done" :
			 T.cl_failed ? gnutls_strerror(T.cl_err) : "unfinished",
			 q_len(&T.expect));
		if (!cl_may_fail()) {
			fz_assert(!T.cl_failed, "the client failed: %s",
				  gnutls_strerror(T.cl_err));
			fz_assert(T.cl_done, "the TLS handshake never "
				  "finished, and nothing was injected");
			fz_assert(!q_len(&T.expect),
				  "%zu bytes sent under TLS never reached "
				  "the client whole", q_len(&T.expect));
		}
		gnutls_deinit(T.cl);
		T.cl = NULL;
	}
	return 0;
}
