// SPDX-License-Identifier: GPL-2.0-or-later
/* Address ranges for --allow, and what counts as loopback. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/nbd/allow.h"

int cidr_parse(const char *s, struct cidr *out)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max, bits;
	char *end;

	memset(out, 0, sizeof(*out));
	if (!hlen || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	bits = max;
	if (slash) {
		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		errno = 0;
		unsigned long v = strtoul(slash + 1, &end, 10);

		if (errno || *end || v > max)
			return -EINVAL;
		bits = v;
	}
	/* a v4-mapped range is a v4 one, as peer_addr sees such peers */
	if (out->family == AF_INET6 && bits >= 96 &&
	    !memcmp(out->addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) {
		memmove(out->addr, out->addr + 12, 4);
		memset(out->addr + 4, 0, 12);
		out->family = AF_INET;
		bits -= 96;
		max = 32;
	}
	out->bits = bits;
	/* host bits cleared, so 10.1.2.3/8 means 10.0.0.0/8 */
	for (unsigned i = 0; i < max / 8; i++) {
		unsigned keep = bits > i * 8 ? bits - i * 8 : 0;

		if (keep < 8)
			out->addr[i] &= (uint8_t)(0xff00 >> keep);
	}
	return 0;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole))
		return false;
	if (!rest)
		return true;
	return !((a[whole] ^ b[whole]) & (uint8_t)(0xff00 >> rest));
}

/* the peer as (family, bytes): a v4-mapped v6 address is v4 */
static int peer_addr(const struct sockaddr *sa, const uint8_t **addr)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (sa->sa_family == AF_INET) {
		*addr = (const uint8_t *)&((const struct sockaddr_in *)sa)
				->sin_addr;
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)sa)
					   ->sin6_addr.s6_addr;

		if (!memcmp(a, mapped, 12)) {
			*addr = a + 12;
			return AF_INET;
		}
		*addr = a;
		return AF_INET6;
	}
	return -1;
}

bool cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	const uint8_t *a = NULL;

	return peer_addr(sa, &a) == c->family &&
	       prefix_equal(a, c->addr, c->bits);
}

bool addr_is_loopback(const struct sockaddr *sa)
{
	static const struct cidr lo4 = { AF_INET, { 127 }, 8 };
	static const struct cidr lo6 = { AF_INET6, { [15] = 1 }, 128 };

	return cidr_match(&lo4, sa) || cidr_match(&lo6, sa);
}
