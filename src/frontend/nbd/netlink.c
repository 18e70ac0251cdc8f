// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The nbd driver's generic-netlink family, spoken directly: resolve the
 * family, CONNECT with one socket, RECONFIGURE (disconnect at the last
 * close), DISCONNECT.  A few hundred bytes per
 * message, built in a buffer on the stack; this runs at attach and detach,
 * never on the I/O path.
 */
#include <errno.h>
#include <stdbool.h>
#include <linux/genetlink.h>
#include <linux/nbd-netlink.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/log.h"
#include "frontend/nbd/netlink.h"

#define NL_BUF 4096
/* from linux/nbd.h (Linux 5.2) */
#ifndef NBD_CFLAG_DISCONNECT_ON_CLOSE
#define NBD_CFLAG_DISCONNECT_ON_CLOSE (1 << 1)
#endif

struct nlmsg {
	char buf[NL_BUF] __attribute__((aligned(NLMSG_ALIGNTO)));
	size_t len;
};

static void *msg_put(struct nlmsg *m, size_t len)
{
	void *p = m->buf + m->len;

	if (m->len + NLA_ALIGN(len) > sizeof(m->buf))
		return NULL; /* our messages are tiny: a bug */
	memset(p, 0, NLA_ALIGN(len));
	m->len += NLA_ALIGN(len);
	return p;
}

static void msg_begin(struct nlmsg *m, uint16_t family, uint8_t cmd,
		      uint8_t version)
{
	struct nlmsghdr *h;
	struct genlmsghdr *g;

	m->len = 0;
	h = msg_put(m, NLMSG_HDRLEN);
	h->nlmsg_type = family;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	g = msg_put(m, GENL_HDRLEN);
	g->cmd = cmd;
	g->version = version;
}

static struct nlattr *attr_put(struct nlmsg *m, uint16_t type,
			       const void *data, size_t len)
{
	struct nlattr *a = msg_put(m, NLA_HDRLEN + len);

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	if (len)
		memcpy((char *)a + NLA_HDRLEN, data, len);
	return a;
}

static void attr_u32(struct nlmsg *m, uint16_t type, uint32_t v)
{
	attr_put(m, type, &v, sizeof(v));
}

static void attr_u64(struct nlmsg *m, uint16_t type, uint64_t v)
{
	attr_put(m, type, &v, sizeof(v));
}

static void nest_end(struct nlmsg *m, struct nlattr *nest)
{
	nest->nla_len = m->buf + m->len - (char *)nest;
}

static int nl_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = 30 };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);

	if (fd < 0)
		return -errno;
	/* a CONNECT waits for nothing slow, but never hang attach */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* an attribute of type in [p, p+len), or NULL */
static const struct nlattr *attr_find(const char *p, size_t len,
				      uint16_t type)
{
	while (len >= NLA_HDRLEN) {
		const struct nlattr *a = (const void *)p;

		if (a->nla_len < NLA_HDRLEN || a->nla_len > len)
			return NULL;
		if ((a->nla_type & NLA_TYPE_MASK) == type)
			return a;
		if ((size_t)NLA_ALIGN(a->nla_len) >= len)
			return NULL;
		p += NLA_ALIGN(a->nla_len);
		len -= NLA_ALIGN(a->nla_len);
	}
	return NULL;
}

/*
 * Send m and read until the kernel's ack; the first attribute of type
 * want in a reply (if want) is copied to out.  Returns the ack's error.
 */
static int nl_talk(int fd, struct nlmsg *m, uint16_t want, void *out,
		   size_t out_len)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct nlmsghdr *h = (void *)m->buf;
	static uint32_t seq;
	char rx[NL_BUF] __attribute__((aligned(NLMSG_ALIGNTO)));

	h->nlmsg_len = m->len;
	h->nlmsg_seq = ++seq;
	if (sendto(fd, m->buf, m->len, 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(fd, rx, sizeof(rx), 0);
		size_t left;

		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		left = n;
		for (struct nlmsghdr *r = (void *)rx; NLMSG_OK(r, left);
		     r = NLMSG_NEXT(r, left)) {
			const struct nlattr *a;

			if (r->nlmsg_seq != h->nlmsg_seq)
				continue;
			if (r->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(r);

				return r->nlmsg_len < NLMSG_LENGTH(sizeof(*e)) ?
					       -EPROTO :
					       e->error;
			}
			if (!want || r->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN))
				continue;
			a = attr_find((char *)NLMSG_DATA(r) + GENL_HDRLEN,
				      r->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN),
				      want);
			if (a && (size_t)(a->nla_len - NLA_HDRLEN) >= out_len) {
				memcpy(out, (const char *)a + NLA_HDRLEN,
				       out_len);
				want = 0;
			}
		}
	}
}

/* the id of the "nbd" family: -ENOENT when the driver is not loaded */
static int nbd_family(int fd)
{
	struct nlmsg m;
	uint16_t id = 0;
	int ret;

	msg_begin(&m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
	attr_put(&m, CTRL_ATTR_FAMILY_NAME, NBD_GENL_FAMILY_NAME,
		 sizeof(NBD_GENL_FAMILY_NAME));
	ret = nl_talk(fd, &m, CTRL_ATTR_FAMILY_ID, &id, sizeof(id));
	if (ret < 0)
		return ret;
	return id ? id : -ENOENT;
}

/* a netlink socket and the "nbd" family's id in *fam, or an error */
static int nbd_open(int *fam)
{
	int fd = nl_open();

	if (fd < 0)
		return fd;
	*fam = nbd_family(fd);
	if (*fam < 0) {
		close(fd);
		return *fam;
	}
	return fd;
}

bool nbd_netlink_present(void)
{
	int fam, fd = nbd_open(&fam);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int nbd_netlink_connect(const struct nbd_netlink_conf *c, int *index)
{
	struct nlmsg m;
	struct nlattr *socks, *item;
	uint32_t got = UINT32_MAX;
	int fd, fam, ret;

	fd = nbd_open(&fam);
	if (fd < 0)
		return fd;
	msg_begin(&m, fam, NBD_CMD_CONNECT, NBD_GENL_VERSION);
	if (c->index >= 0)
		attr_u32(&m, NBD_ATTR_INDEX, c->index);
	attr_u64(&m, NBD_ATTR_SIZE_BYTES, c->size);
	attr_u64(&m, NBD_ATTR_BLOCK_SIZE_BYTES, c->block_size);
	attr_u64(&m, NBD_ATTR_SERVER_FLAGS, c->flags);
	if (c->timeout)
		attr_u64(&m, NBD_ATTR_TIMEOUT, c->timeout);
	socks = attr_put(&m, NBD_ATTR_SOCKETS | NLA_F_NESTED, NULL, 0);
	item = attr_put(&m, NBD_SOCK_ITEM | NLA_F_NESTED, NULL, 0);
	attr_u32(&m, NBD_SOCK_FD, c->sock);
	nest_end(&m, item);
	nest_end(&m, socks);
	if (c->ident)
		attr_put(&m, NBD_ATTR_BACKEND_IDENTIFIER, c->ident,
			 strlen(c->ident) + 1);
	ret = nl_talk(fd, &m, NBD_ATTR_INDEX, &got, sizeof(got));
	close(fd);
	if (ret < 0)
		return ret;
	if (got == UINT32_MAX)
		return -EPROTO;
	*index = got;
	return 0;
}

/* a command on /dev/nbdINDEX: with ident (when not NULL) and client flags
 * (when not 0) */
static int index_command(uint8_t cmd, int index, const char *ident,
			 uint64_t cflags)
{
	struct nlmsg m;
	int fd, fam, ret;

	fd = nbd_open(&fam);
	if (fd < 0)
		return fd;
	msg_begin(&m, fam, cmd, NBD_GENL_VERSION);
	attr_u32(&m, NBD_ATTR_INDEX, index);
	if (ident)
		attr_put(&m, NBD_ATTR_BACKEND_IDENTIFIER, ident,
			 strlen(ident) + 1);
	if (cflags)
		attr_u64(&m, NBD_ATTR_CLIENT_FLAGS, cflags);
	ret = nl_talk(fd, &m, 0, NULL, 0);
	close(fd);
	return ret;
}

int nbd_netlink_disconnect(int index)
{
	return index_command(NBD_CMD_DISCONNECT, index, NULL, 0);
}

int nbd_netlink_disconnect_on_close(int index, const char *ident)
{
	/* a device connected with an identifier is reconfigured only with it */
	return index_command(NBD_CMD_RECONFIGURE, index, ident,
			     NBD_CFLAG_DISCONNECT_ON_CLOSE);
}
