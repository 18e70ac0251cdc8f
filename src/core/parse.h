/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_PARSE_H
#define LLOOP_PARSE_H
/* Parsers for command-line values; each returns 0 or -EINVAL. */
#include <stdint.h>

/* "4096", "64K", "1M", "1GiB", "2T": binary multiples */
int parse_size(const char *s, uint64_t *out);
/* a decimal unsigned in [min, max] */
int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out);

enum listen_kind { LISTEN_TCP, LISTEN_UNIX };

struct listen_addr {
	enum listen_kind kind;
	char host[256];		/* TCP: name or address, brackets removed */
	char port[16];		/* TCP */
	char path[108];		/* UNIX: sun_path */
};

/* "tcp://HOST:PORT", "tcp://[V6]:PORT", "unix:PATH" */
int parse_listen(const char *s, struct listen_addr *out);

#endif
