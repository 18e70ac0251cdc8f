// SPDX-License-Identifier: GPL-2.0-or-later
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/parse.h"

int parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGTPE";
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end) {
		const char *u = strchr(units, toupper((unsigned char)*end));

		if (!u)
			return -EINVAL;
		shift = 10 * (u - units + 1);
		end++;
		if (!strcasecmp(end, "iB") || !strcasecmp(end, "B"))
			end += strlen(end);
		if (*end)
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	unsigned long v;
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int copy_str(char *dst, size_t cap, const char *src, size_t n)
{
	if (n == 0 || n >= cap)
		return -EINVAL;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

static int parse_port(const char *p, struct listen_addr *out)
{
	unsigned port;

	if (parse_uint(p, 1, 65535, &port) < 0)
		return -EINVAL;
	return copy_str(out->port, sizeof(out->port), p, strlen(p));
}

int parse_listen(const char *s, struct listen_addr *out)
{
	const char *host, *colon;

	memset(out, 0, sizeof(*out));
	if (!strncmp(s, "unix:", 5)) {
		out->kind = LISTEN_UNIX;
		return copy_str(out->path, sizeof(out->path), s + 5,
				strlen(s + 5));
	}
	if (strncmp(s, "tcp://", 6))
		return -EINVAL;
	out->kind = LISTEN_TCP;
	host = s + 6;
	if (host[0] == '[') {
		const char *close = strchr(host, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		if (copy_str(out->host, sizeof(out->host), host + 1,
			     close - host - 1))
			return -EINVAL;
		return parse_port(close + 2, out);
	}
	colon = strrchr(host, ':');
	if (!colon || memchr(host, ':', colon - host))
		return -EINVAL;
	if (copy_str(out->host, sizeof(out->host), host, colon - host))
		return -EINVAL;
	return parse_port(colon + 1, out);
}
