// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Listening sockets and the connection table.  Worker 0 accepts; each new
 * connection takes a slot from the table (or is refused when it is full)
 * and goes to the next worker in turn.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/parse.h"
#include "frontend/nbd/nbd.h"

#define container_of(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))

/*
 * Anyone who can connect can read and overwrite the exports: say so for
 * a listener beyond this host that does not insist on TLS.
 */
static void warn_exposed(struct nbd_listener *l, const struct sockaddr *sa,
			 const struct nbd_frontend *fe)
{
	if (addr_is_loopback(sa) || fe->tls_mode == TLS_REQUIRE)
		return;
	log_warn("--listen %s: reachable from the network without "
		 "--tls=require: any client that can connect can read and "
		 "write the exports%s", l->name,
		 fe->o.nr_allow ? " (--allow limits which)" : "");
}

static int listen_tcp(struct nbd_listener *l, const struct listen_addr *a,
		      const struct nbd_frontend *fe)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res;
	int one = 1, fd, ret;

	ret = getaddrinfo(a->host, a->port, &hints, &res);
	if (ret) {
		log_error("--listen %s: cannot resolve '%s': %s", l->name,
			  a->host, gai_strerror(ret));
		return -EINVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		ret = -errno;
		log_error("--listen %s: socket: %s", l->name, strerror(errno));
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		ret = -errno;
		log_error("--listen %s: cannot listen: %s", l->name,
			  strerror(errno));
		close(fd);
		goto out;
	}
	l->fd = fd;
	warn_exposed(l, res->ai_addr, fe);
	ret = 0;
out:
	freeaddrinfo(res);
	return ret;
}

static int listen_unix(struct nbd_listener *l, const struct listen_addr *a,
		       const struct nbd_frontend *fe)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t umask_old;
	int fd, ret;

	/* a socket left by a previous run is replaced; anything else kept */
	if (lstat(a->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("--listen %s: %s exists and is not a socket",
				  l->name, a->path);
			return -EEXIST;
		}
		unlink(a->path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(sun.sun_path, a->path);
	/* the socket is private from its first moment, then opened up */
	umask_old = umask(0177);
	ret = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(umask_old);
	if (ret < 0 || chmod(a->path, fe->o.socket_mode) < 0 ||
	    (fe->o.socket_gid >= 0 &&
	     chown(a->path, -1, fe->o.socket_gid) < 0) ||
	    listen(fd, SOMAXCONN) < 0) {
		int err = errno;

		log_error("--listen %s: cannot listen: %s", l->name,
			  strerror(err));
		close(fd);
		return -err;
	}
	strcpy(l->unix_path, a->path);
	l->fd = fd;
	return 0;
}

int nbd_frontend_init(struct server *srv, const struct nbd_frontend_opts *o)
{
	static const struct nbd_frontend_opts none = { .socket_gid = -1 };
	struct nbd_frontend *fe = calloc(1, sizeof(*fe));
	unsigned n = srv->cfg.max_connections;
	size_t bufs = (size_t)n * (NBD_OPT_MAX + NBD_HS_OUT);
	int ret;

	if (!fe)
		return -ENOMEM;
	srv->frontend = fe;
	fe->srv = srv;
	fe->o = o ? *o : none;
	pthread_mutex_init(&fe->lock, NULL);
	ret = tls_server_init(&fe->tls, &fe->o.tls);
	if (ret < 0)
		return ret;
	fe->tls_mode = fe->o.tls.mode;
	fe->conns = calloc(n, sizeof(*fe->conns));
	fe->free_slots = calloc(n, sizeof(*fe->free_slots));
	fe->bufs = mmap(NULL, bufs, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (fe->tls)
		fe->tls_bufs = mmap(NULL, (size_t)n * TLS_SLOT,
				    PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
				    -1, 0);
	fe->listeners = calloc(fe->o.nr_listen ? fe->o.nr_listen : 1,
			       sizeof(*fe->listeners));
	if (!fe->conns || !fe->free_slots || fe->bufs == MAP_FAILED ||
	    fe->tls_bufs == MAP_FAILED || !fe->listeners) {
		if (fe->bufs == MAP_FAILED)
			fe->bufs = NULL;
		if (fe->tls_bufs == MAP_FAILED)
			fe->tls_bufs = NULL;
		return -ENOMEM;
	}
	fe->nr_conns = n;
	for (unsigned i = 0; i < n; i++)
		fe->free_slots[fe->nr_free++] = n - 1 - i;

	for (unsigned i = 0; i < fe->o.nr_listen; i++) {
		struct nbd_listener *l = &fe->listeners[i];
		const char *uri = fe->o.listen[i];
		struct listen_addr a;

		l->fd = -1;
		snprintf(l->name, sizeof(l->name), "%s", uri);
		if (parse_listen(uri, &a) < 0) {
			log_error("--listen %s: expected tcp://HOST:PORT, "
				  "tcp://[IPV6]:PORT or unix:PATH", uri);
			return -EINVAL;
		}
		ret = a.kind == LISTEN_TCP ? listen_tcp(l, &a, fe) :
					     listen_unix(l, &a, fe);
		if (ret < 0)
			return ret;
		fe->nr_listeners++;
	}
	return 0;
}

void nbd_frontend_log_listeners(struct server *srv)
{
	struct nbd_frontend *fe = srv->frontend;

	for (unsigned i = 0; i < fe->nr_listeners; i++)
		log_info("listening on %s%s%s", fe->listeners[i].name,
			 fe->tls ? ", TLS " : "",
			 fe->tls ? tls_mode_name(fe->tls_mode) : "");
}

static void peer_name(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(out, len, "fd %d", fd);
		return;
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		port = ntohs(s->sin_port);
		snprintf(out, len, "%s:%u", host, port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		port = ntohs(s->sin6_port);
		snprintf(out, len, "[%s]:%u", host, port);
	} else {
		snprintf(out, len, "unix socket (fd %d)", fd);
	}
}

static void accept_arm(struct nbd_listener *l);

/* --allow: a TCP peer outside every range goes before its handshake */
static bool peer_allowed(struct nbd_listener *l, int fd, const char *peer)
{
	struct nbd_frontend *fe = l->w->srv->frontend;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (!fe->o.nr_allow)
		return true;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		for (unsigned i = 0; i < fe->o.nr_allow; i++)
			if (cidr_match(&fe->o.allow[i],
				       (struct sockaddr *)&ss))
				return true;
	log_warn("%s: refusing %s: not in any --allow range", l->name, peer);
	atomic_fetch_add(&l->w->srv->conns_refused, 1);
	return false;
}

static void accept_done(struct op *op, int res)
{
	struct nbd_listener *l = container_of(op, struct nbd_listener, op);
	char peer[80];

	if (l->stopping) {
		if (res >= 0)
			close(res);
		close(l->fd);
		l->fd = -1;
		worker_del_tenant(l->w, &l->tenant);
		return;
	}
	if (res < 0) {
		if (res != -EAGAIN && res != -EINTR && res != -ECONNABORTED)
			log_warn("%s: accept: %s", l->name, strerror(-res));
		accept_arm(l);
		return;
	}
	peer_name(res, peer, sizeof(peer));
	if (l->unix_path[0] == '\0') {
		int one = 1;

		if (!peer_allowed(l, res, peer)) {
			close(res);
			accept_arm(l);
			return;
		}
		setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (!conn_alloc(l->w->srv, res, peer)) {
		log_warn("%s: connection limit reached (--max-connections "
			 "%u): refusing %s",
			 l->name, l->w->srv->cfg.max_connections, peer);
		atomic_fetch_add(&l->w->srv->conns_refused, 1);
		close(res);
	} else {
		log_debug("%s: connection from %s", l->name, peer);
	}
	accept_arm(l);
}

static void accept_arm(struct nbd_listener *l)
{
	l->op = (struct op){ .done = accept_done, .kind = OP_ACCEPT,
			     .fd = l->fd };
	l->w->eng->submit(l->w, &l->op);
}

static void listener_stop(struct tenant *t, bool force)
{
	struct nbd_listener *l = container_of(t, struct nbd_listener, tenant);

	if (l->stopping)
		return;
	l->stopping = true;
	l->w->eng->cancel(l->w, &l->op);
}

/* on worker 0: listeners are its tenants and accept from its ring */
static void listeners_begin(struct task *t)
{
	struct nbd_frontend *fe = container_of(t, struct nbd_frontend, start);
	struct worker *w = &fe->srv->workers[0];

	for (unsigned i = 0; i < fe->nr_listeners; i++) {
		struct nbd_listener *l = &fe->listeners[i];

		l->w = w;
		l->tenant.stop = listener_stop;
		worker_add_tenant(w, &l->tenant);
		if (w->stopping)
			listener_stop(&l->tenant, false);
		accept_arm(l);
	}
}

void nbd_frontend_start(struct server *srv)
{
	struct nbd_frontend *fe = srv->frontend;

	fe->start.run = listeners_begin;
	worker_post(&srv->workers[0], &fe->start);
}

void nbd_frontend_fini(struct server *srv)
{
	struct nbd_frontend *fe = srv->frontend;

	if (!fe)
		return;
	for (unsigned i = 0; i < fe->nr_listeners; i++) {
		struct nbd_listener *l = &fe->listeners[i];

		if (l->fd >= 0)
			close(l->fd);
		if (l->unix_path[0])
			unlink(l->unix_path);
	}
	if (fe->bufs)
		munmap(fe->bufs, (size_t)fe->nr_conns *
					 (NBD_OPT_MAX + NBD_HS_OUT));
	if (fe->tls_bufs)
		munmap(fe->tls_bufs, (size_t)fe->nr_conns * TLS_SLOT);
	tls_server_fini(fe->tls);
	free(fe->listeners);
	free(fe->conns);
	free(fe->free_slots);
	free(fe);
	srv->frontend = NULL;
}
