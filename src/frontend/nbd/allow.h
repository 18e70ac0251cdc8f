/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_NBD_ALLOW_H
#define LLOOP_NBD_ALLOW_H
/*
 * --allow CIDR: the TCP peers that may connect.  An IPv4 peer on an IPv6
 * socket (::ffff:a.b.c.d) matches the IPv4 ranges.
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* network byte order, host bits cleared */
	unsigned bits;
};

/* "10.0.0.0/8", "::1/128", or an address alone (all bits); -EINVAL */
int cidr_parse(const char *s, struct cidr *out);
bool cidr_match(const struct cidr *c, const struct sockaddr *sa);
/* is the address of a listener a loopback one (127/8, ::1)? */
bool addr_is_loopback(const struct sockaddr *sa);

#endif
