// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A TLS 1.3 NBD client that sends a KeyUpdate (asking for the server's)
 * and an option in one write, so that they reach the server in one
 * receive, then waits for the option's reply; then does it again with
 * the KeyUpdate and the option in two writes.  GnuTLS, not Python's ssl:
 * only it can start a KeyUpdate.  For tests/interop/tls_keyupdate.sh.
 *
 *     tls_keyupdate PORT CA_CERT
 *
 * Exit 0 with both replies, 1 with what went wrong.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define IHAVEOPT 0x49484156454F5054ULL
#define REP_MAGIC 0x3e889045565a9ULL
#define OPT_STARTTLS 5
#define OPT_LIST 3
#define REP_ACK 1

static unsigned char batch[4096];
static size_t batch_len;

static void die(const char *what, const char *why)
{
	fprintf(stderr, "tls_keyupdate: %s: %s\n", what, why);
	exit(1);
}

static void put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = v & 0xff;
}

static void put_be32(unsigned char *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = v & 0xff;
}

static uint64_t get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void option(unsigned char *p, uint32_t opt)
{
	put_be64(p, IHAVEOPT);
	put_be32(p + 8, opt);
	put_be32(p + 12, 0);
}

static void read_all(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);

		if (r <= 0)
			die("plaintext read", r ? strerror(errno) : "EOF");
		got += r;
	}
}

/* the writes GnuTLS makes while batching go to the batch buffer */
static ssize_t push_batch(gnutls_transport_ptr_t p, const void *buf,
			  size_t len)
{
	(void)p;
	if (len > sizeof(batch) - batch_len) {
		errno = ENOSPC;
		return -1;
	}
	memcpy(batch + batch_len, buf, len);
	batch_len += len;
	return len;
}

static ssize_t push_fd(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
	return send((int)(intptr_t)p, buf, len, MSG_NOSIGNAL);
}

static void tls_read_all(gnutls_session_t s, void *buf, size_t n,
			 const char *what)
{
	time_t end = time(NULL) + 10;
	size_t got = 0;

	while (got < n) {
		ssize_t r = gnutls_record_recv(s, (char *)buf + got, n - got);

		/* AGAIN: the socket's 10 s timeout, or GnuTLS took a
		 * handshake message (the server's KeyUpdate) */
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			if (time(NULL) >= end)
				die(what, "no reply within 10 s");
			continue;
		}
		if (r <= 0)
			die(what, r ? gnutls_strerror(r) : "EOF");
		got += r;
	}
}

/* the replies to LIST: SERVER ones, then ACK */
static void list_reply(gnutls_session_t s, const char *what)
{
	for (;;) {
		unsigned char h[20], skip[1024];
		uint32_t len;

		tls_read_all(s, h, sizeof(h), what);
		if (get_be(h, 8) != REP_MAGIC || get_be(h + 8, 4) != OPT_LIST)
			die(what, "not a reply to LIST");
		len = get_be(h + 16, 4);
		if (len > sizeof(skip))
			die(what, "reply too long");
		tls_read_all(s, skip, len, what);
		if (get_be(h + 12, 4) == REP_ACK)
			return;
		if (get_be(h + 12, 4) & 0x80000000u)
			die(what, "an error reply");
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 2 };
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	unsigned char buf[64];
	int fd, r;

	if (argc != 3)
		die("usage", "tls_keyupdate PORT CA_CERT");
	sin.sin_port = htons(atoi(argv[1]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("connect", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	read_all(fd, buf, 18);
	if (get_be(buf + 8, 8) != IHAVEOPT)
		die("greeting", "not newstyle");
	put_be32(buf, 3);	/* FIXED_NEWSTYLE | NO_ZEROES */
	option(buf + 4, OPT_STARTTLS);
	if (write(fd, buf, 20) != 20)
		die("STARTTLS", strerror(errno));
	read_all(fd, buf, 20);
	if (get_be(buf + 12, 4) != REP_ACK)
		die("STARTTLS", "refused");

	gnutls_global_init();
	gnutls_certificate_allocate_credentials(&cred);
	if (gnutls_certificate_set_x509_trust_file(cred, argv[2],
						   GNUTLS_X509_FMT_PEM) <= 0)
		die(argv[2], "no CA certificate");
	gnutls_init(&s, GNUTLS_CLIENT);
	gnutls_priority_set_direct(s, "NORMAL:-VERS-ALL:+VERS-TLS1.3", NULL);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_server_name_set(s, GNUTLS_NAME_DNS, "localhost", 9);
	gnutls_session_set_verify_cert(s, "localhost", 0);
	gnutls_transport_set_int(s, fd);
	do
		r = gnutls_handshake(s);
	while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0)
		die("handshake", gnutls_strerror(r));
	gnutls_transport_set_ptr(s, (gnutls_transport_ptr_t)(intptr_t)fd);
	gnutls_transport_set_push_function(s, push_fd);

	for (int round = 0; round < 2; round++) {
		const char *what = round ? "LIST after a KeyUpdate" :
					   "LIST sent with a KeyUpdate";

		/* round 0: both in one write; round 1: one write each */
		batch_len = 0;
		gnutls_transport_set_push_function(s, push_batch);
		r = gnutls_session_key_update(s, GNUTLS_KU_PEER);
		if (r < 0)
			die("KeyUpdate", gnutls_strerror(r));
		if (round) {
			if (write(fd, batch, batch_len) != (ssize_t)batch_len)
				die("write", strerror(errno));
			batch_len = 0;
			usleep(200000);
		}
		option(buf, OPT_LIST);
		r = gnutls_record_send(s, buf, 16);
		if (r != 16)
			die("LIST", r < 0 ? gnutls_strerror(r) : "short");
		if (write(fd, batch, batch_len) != (ssize_t)batch_len)
			die("write", strerror(errno));
		gnutls_transport_set_push_function(s, push_fd);
		list_reply(s, what);
		printf("ok: %s\n", what);
	}
	gnutls_bye(s, GNUTLS_SHUT_WR);
	close(fd);
	gnutls_deinit(s);
	gnutls_certificate_free_credentials(cred);
	gnutls_global_deinit();
	return 0;
}
