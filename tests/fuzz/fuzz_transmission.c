// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: NBD transmission after a fixed, valid handshake.
 *
 * Input: one config byte, then the client's requests (headers and write
 * payloads).  The config byte:
 *   bits 0-1  the handshake: 0 STRUCTURED_REPLY + SET_META_CONTEXT
 *             base:allocation + GO; 1 GO alone (simple replies);
 *             2 EXPORT_NAME (old style, zero padding); 3 STRUCTURED_REPLY
 *             + GO without a meta context
 *   bits 2-3  the export: 0 disk (memory), 1 ro (read-only), 2 file
 *             (O_DIRECT on a memfd: asynchronous, bounced), 3 disk
 *   bits 4-7  the engine's schedule (0: in order, whole transfers)
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "frontend/nbd/proto.h"
#include "harness.h"
#include "nbd_fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[4] = { "disk", "ro", "file", "disk" };

struct prefix {
	uint8_t b[256];
	size_t len;
};

static struct prefix prefixes[4][4];

static void put(struct prefix *p, const void *d, size_t n)
{
	memcpy(p->b + p->len, d, n);
	p->len += n;
}

static void put32(struct prefix *p, uint32_t v)
{
	put_be32(p->b + p->len, v);
	p->len += 4;
}

static void option(struct prefix *p, uint32_t opt, uint32_t len)
{
	put_be64(p->b + p->len, NBD_IHAVEOPT);
	p->len += 8;
	put32(p, opt);
	put32(p, len);
}

static void build(struct prefix *p, unsigned variant, const char *name)
{
	uint32_t n = strlen(name), q = strlen(NBD_META_BASE_ALLOCATION);

	put32(p, NBD_FLAG_C_FIXED_NEWSTYLE |
			 (variant == 2 ? 0 : NBD_FLAG_C_NO_ZEROES));
	if (variant == 2) {
		option(p, NBD_OPT_EXPORT_NAME, n);
		put(p, name, n);
		return;
	}
	if (variant == 0 || variant == 3)
		option(p, NBD_OPT_STRUCTURED_REPLY, 0);
	if (variant == 0) {
		option(p, NBD_OPT_SET_META_CONTEXT, 4 + n + 4 + 4 + q);
		put32(p, n);
		put(p, name, n);
		put32(p, 1);
		put32(p, q);
		put(p, NBD_META_BASE_ALLOCATION, q);
	}
	option(p, NBD_OPT_GO, 4 + n + 2);
	put32(p, n);
	put(p, name, n);
	p->b[p->len++] = 0; /* no information requests */
	p->b[p->len++] = 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	for (unsigned v = 0; v < 4; v++)
		for (unsigned e = 0; e < 4; e++)
			build(&prefixes[v][e], v, names[e]);
	nbd_fz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct prefix *p;

	if (!size)
		return 0;
	p = &prefixes[data[0] & 3][(data[0] >> 2) & 3];
	fz_schedule(data[0] >> 4);
	nbd_fz_run(p->b, p->len, data + 1, size - 1);
	return 0;
}
