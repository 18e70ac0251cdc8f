// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for the NBD wire helpers: decode, check, encode, flags. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "backend/backend.h"
#include "frontend/nbd/proto.h"
#include "frontend/nbd/wire.h"

#define EXPORT_SIZE (1ULL << 20)
#define MAX_PAYLOAD (64u * 1024)

static const uint16_t all_cmds[] = {
	NBD_CMD_READ, NBD_CMD_WRITE, NBD_CMD_DISC, NBD_CMD_FLUSH,
	NBD_CMD_TRIM, NBD_CMD_CACHE, NBD_CMD_WRITE_ZEROES,
	NBD_CMD_BLOCK_STATUS,
};

/* commands that carry an offset and length into the export */
static const uint16_t range_cmds[] = {
	NBD_CMD_READ, NBD_CMD_WRITE, NBD_CMD_TRIM, NBD_CMD_CACHE,
	NBD_CMD_WRITE_ZEROES, NBD_CMD_BLOCK_STATUS,
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct nbd_session session(void)
{
	struct nbd_session s = {
		.size = EXPORT_SIZE,
		.max_payload = MAX_PAYLOAD,
		.read_only = false,
		.structured = true,
		.meta_alloc = true,
		.fast_zero = true,
	};

	return s;
}

/* a request that is valid for its command on session() */
static struct nbd_request req(uint16_t type, uint16_t flags)
{
	struct nbd_request r = {
		.magic = NBD_REQUEST_MAGIC,
		.flags = flags,
		.type = type,
		.cookie = 0x1122334455667788ULL,
		.offset = 4096,
		.length = 4096,
	};

	if (type == NBD_CMD_FLUSH || type == NBD_CMD_DISC) {
		r.offset = 0;
		r.length = 0;
	}
	return r;
}

static int check(uint16_t type, uint16_t flags, uint64_t offset,
		 uint32_t length, const struct nbd_session *s)
{
	struct nbd_request r = req(type, flags);

	r.offset = offset;
	r.length = length;
	return nbd_check_request(&r, s);
}

/* ---- nbd_decode_request ---- */

static void test_decode_request(void **state)
{
	static const uint8_t buf[NBD_REQUEST_SIZE] = {
		0x25, 0x60, 0x95, 0x13,				/* magic */
		0x00, 0x11,					/* flags */
		0x00, 0x07,					/* type */
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* cookie */
		0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, /* offset */
		0x0a, 0x0b, 0x0c, 0x0d,				/* length */
	};
	struct nbd_request r;

	memset(&r, 0xa5, sizeof(r));
	nbd_decode_request(buf, &r);
	assert_int_equal(r.magic, NBD_REQUEST_MAGIC);
	assert_int_equal(r.flags, 0x0011);
	assert_int_equal(r.type, NBD_CMD_BLOCK_STATUS);
	assert_int_equal(r.cookie, 0x0102030405060708ULL);
	assert_int_equal(r.offset, 0x1020304050607080ULL);
	assert_int_equal(r.length, 0x0a0b0c0dU);
}

/* high bits set everywhere: catches sign extension and lost top bytes */
static void test_decode_request_high_bits(void **state)
{
	static const uint8_t buf[NBD_REQUEST_SIZE] = {
		0xff, 0xfe, 0xfd, 0xfc,
		0x80, 0x81,
		0xf0, 0x0f,
		0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88,
		0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff,
		0xff, 0xff, 0xff, 0xfe,
	};
	struct nbd_request r;

	memset(&r, 0, sizeof(r));
	nbd_decode_request(buf, &r);
	assert_int_equal(r.magic, 0xfffefdfcU);
	assert_int_equal(r.flags, 0x8081);
	assert_int_equal(r.type, 0xf00f);
	assert_int_equal(r.cookie, 0xffeeddccbbaa9988ULL);
	assert_int_equal(r.offset, 0x80000000000000ffULL);
	assert_int_equal(r.length, 0xfffffffeU);
}

/* the decoder reads exactly NBD_REQUEST_SIZE bytes */
static void test_decode_request_roundtrip(void **state)
{
	uint8_t buf[NBD_REQUEST_SIZE];
	struct nbd_request r;

	put_be32(buf, NBD_REQUEST_MAGIC);
	put_be16(buf + 4, NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE);
	put_be16(buf + 6, NBD_CMD_WRITE_ZEROES);
	put_be64(buf + 8, 0xdeadbeefcafef00dULL);
	put_be64(buf + 16, 1ULL << 40);
	put_be32(buf + 24, 1u << 25);
	nbd_decode_request(buf, &r);
	assert_int_equal(r.magic, NBD_REQUEST_MAGIC);
	assert_int_equal(r.flags, NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE);
	assert_int_equal(r.type, NBD_CMD_WRITE_ZEROES);
	assert_int_equal(r.cookie, 0xdeadbeefcafef00dULL);
	assert_int_equal(r.offset, 1ULL << 40);
	assert_int_equal(r.length, 1u << 25);
}

/* ---- nbd_check_request ---- */

static void test_check_valid_baseline(void **state)
{
	struct nbd_session s = session();

	for (size_t i = 0; i < ARRAY_SIZE(all_cmds); i++) {
		struct nbd_request r = req(all_cmds[i], 0);

		assert_int_equal(nbd_check_request(&r, &s), 0);
	}
}

static void test_check_unknown_command(void **state)
{
	static const uint16_t bad[] = { 8, 9, 11, 0x00ff, 0x0100, 0x8000,
					0xffff };
	struct nbd_session s = session();

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(check(bad[i], 0, 4096, 4096, &s), -EINVAL);
	/* also with a flag that is valid everywhere */
	assert_int_equal(check(8, NBD_CMD_FLAG_FUA, 4096, 4096, &s), -EINVAL);
	/* and on a read-only export: still -EINVAL, not -EPERM */
	s.read_only = true;
	assert_int_equal(check(8, 0, 4096, 4096, &s), -EINVAL);
}

static void test_check_unknown_flags(void **state)
{
	static const uint16_t bad[] = { 1u << 5, 1u << 6, 1u << 7, 1u << 8,
					1u << 15, 0xffe0 };
	struct nbd_session s = session();

	for (size_t c = 0; c < ARRAY_SIZE(all_cmds); c++) {
		for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
			struct nbd_request r = req(all_cmds[c], bad[i]);

			assert_int_equal(nbd_check_request(&r, &s), -EINVAL);
		}
	}
	/* every bit at once, on the command that takes the most */
	assert_int_equal(check(NBD_CMD_WRITE_ZEROES, 0xffff, 0, 4096, &s),
			 -EINVAL);
}

static void test_check_fua_all(void **state)
{
	struct nbd_session s = session();

	for (size_t i = 0; i < ARRAY_SIZE(all_cmds); i++) {
		struct nbd_request r = req(all_cmds[i], NBD_CMD_FLAG_FUA);

		assert_int_equal(nbd_check_request(&r, &s), 0);
	}
	s.structured = false;
	for (size_t i = 0; i < ARRAY_SIZE(all_cmds); i++) {
		struct nbd_request r = req(all_cmds[i], NBD_CMD_FLAG_FUA);

		assert_int_equal(nbd_check_request(&r, &s), 0);
	}
}

static void test_check_df(void **state)
{
	struct nbd_session s = session();

	/* structured: READ takes DF, nothing else does */
	assert_int_equal(check(NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 4096, &s), 0);
	assert_int_equal(check(NBD_CMD_READ,
			       NBD_CMD_FLAG_DF | NBD_CMD_FLAG_FUA, 0, 4096,
			       &s),
			 0);
	for (size_t i = 0; i < ARRAY_SIZE(all_cmds); i++) {
		struct nbd_request r = req(all_cmds[i], NBD_CMD_FLAG_DF);

		if (all_cmds[i] == NBD_CMD_READ)
			continue;
		assert_int_equal(nbd_check_request(&r, &s), -EINVAL);
	}
	/* simple replies: DF is meaningless, so refused */
	s.structured = false;
	assert_int_equal(check(NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 4096, &s),
			 -EINVAL);
	assert_int_equal(check(NBD_CMD_READ, 0, 0, 4096, &s), 0);
}

static void test_check_no_hole_fast_zero(void **state)
{
	static const uint16_t zflags[] = {
		NBD_CMD_FLAG_NO_HOLE,
		NBD_CMD_FLAG_FAST_ZERO,
		NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO,
		NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO |
			NBD_CMD_FLAG_FUA,
	};
	struct nbd_session s = session();

	for (size_t f = 0; f < ARRAY_SIZE(zflags); f++) {
		for (size_t i = 0; i < ARRAY_SIZE(all_cmds); i++) {
			struct nbd_request r = req(all_cmds[i], zflags[f]);
			int want = all_cmds[i] == NBD_CMD_WRITE_ZEROES ?
					   0 :
					   -EINVAL;

			assert_int_equal(nbd_check_request(&r, &s), want);
		}
	}
	/* FAST_ZERO not advertised: EINVAL (proto.md), NO_HOLE still fine */
	s.fast_zero = false;
	assert_int_equal(check(NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 0,
			       4096, &s),
			 -EINVAL);
	assert_int_equal(check(NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, 0,
			       4096, &s),
			 0);
}

static void test_check_req_one(void **state)
{
	struct nbd_session s = session();

	for (size_t i = 0; i < ARRAY_SIZE(all_cmds); i++) {
		struct nbd_request r = req(all_cmds[i], NBD_CMD_FLAG_REQ_ONE);
		int want = all_cmds[i] == NBD_CMD_BLOCK_STATUS ? 0 : -EINVAL;

		assert_int_equal(nbd_check_request(&r, &s), want);
	}
	assert_int_equal(check(NBD_CMD_BLOCK_STATUS,
			       NBD_CMD_FLAG_REQ_ONE | NBD_CMD_FLAG_FUA, 0,
			       4096, &s),
			 0);
	/* REQ_ONE and DF together: DF is not a BLOCK_STATUS flag */
	assert_int_equal(check(NBD_CMD_BLOCK_STATUS,
			       NBD_CMD_FLAG_REQ_ONE | NBD_CMD_FLAG_DF, 0, 4096,
			       &s),
			 -EINVAL);
}

static void test_check_block_status_meta(void **state)
{
	struct nbd_session s = session();

	s.meta_alloc = false;
	assert_int_equal(check(NBD_CMD_BLOCK_STATUS, 0, 0, 4096, &s), -EINVAL);
	assert_int_equal(check(NBD_CMD_BLOCK_STATUS, NBD_CMD_FLAG_REQ_ONE, 0,
			       4096, &s),
			 -EINVAL);
	s.meta_alloc = true;
	assert_int_equal(check(NBD_CMD_BLOCK_STATUS, 0, 0, 4096, &s), 0);
	/* without structured replies too, as long as the context is set */
	s.structured = false;
	assert_int_equal(check(NBD_CMD_BLOCK_STATUS, 0, 0, 4096, &s), 0);
}

static void test_check_read_only(void **state)
{
	struct nbd_session s = session();

	s.read_only = true;
	assert_int_equal(check(NBD_CMD_WRITE, 0, 0, 4096, &s), -EPERM);
	assert_int_equal(check(NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 0, 4096, &s),
			 -EPERM);
	assert_int_equal(check(NBD_CMD_TRIM, 0, 0, 4096, &s), -EPERM);
	assert_int_equal(check(NBD_CMD_WRITE_ZEROES, 0, 0, 4096, &s), -EPERM);
	assert_int_equal(check(NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE, 0,
			       4096, &s),
			 -EPERM);
	/* everything that does not write still goes */
	assert_int_equal(check(NBD_CMD_READ, 0, 0, 4096, &s), 0);
	assert_int_equal(check(NBD_CMD_CACHE, 0, 0, 4096, &s), 0);
	assert_int_equal(check(NBD_CMD_BLOCK_STATUS, 0, 0, 4096, &s), 0);
	assert_int_equal(check(NBD_CMD_FLUSH, 0, 0, 0, &s), 0);
	assert_int_equal(check(NBD_CMD_DISC, 0, 0, 0, &s), 0);
}

static void test_check_flush(void **state)
{
	struct nbd_session s = session();

	assert_int_equal(check(NBD_CMD_FLUSH, 0, 0, 0, &s), 0);
	assert_int_equal(check(NBD_CMD_FLUSH, NBD_CMD_FLAG_FUA, 0, 0, &s), 0);
	assert_int_equal(check(NBD_CMD_FLUSH, 0, 1, 0, &s), -EINVAL);
	assert_int_equal(check(NBD_CMD_FLUSH, 0, 4096, 0, &s), -EINVAL);
	assert_int_equal(check(NBD_CMD_FLUSH, 0, 0, 1, &s), -EINVAL);
	assert_int_equal(check(NBD_CMD_FLUSH, 0, 0, 4096, &s), -EINVAL);
	assert_int_equal(check(NBD_CMD_FLUSH, 0, 4096, 4096, &s), -EINVAL);
	assert_int_equal(check(NBD_CMD_FLUSH, 0, UINT64_MAX, 0, &s), -EINVAL);
	/* a flush never touches the export's range, so no size limits */
	s.size = 0;
	assert_int_equal(check(NBD_CMD_FLUSH, 0, 0, 0, &s), 0);
}

static void test_check_zero_length(void **state)
{
	struct nbd_session s = session();

	assert_int_equal(check(NBD_CMD_READ, 0, 0, 0, &s), -EINVAL);
	assert_int_equal(check(NBD_CMD_READ, 0, 4096, 0, &s), -EINVAL);
	assert_int_equal(check(NBD_CMD_READ, NBD_CMD_FLAG_FUA, 0, 0, &s),
			 -EINVAL);
	assert_int_equal(check(NBD_CMD_WRITE, 0, 0, 0, &s), -EINVAL);
	/* one byte is fine */
	assert_int_equal(check(NBD_CMD_READ, 0, 0, 1, &s), 0);
}

static void test_check_max_payload(void **state)
{
	struct nbd_session s = session();

	assert_int_equal(check(NBD_CMD_READ, 0, 0, MAX_PAYLOAD, &s), 0);
	assert_int_equal(check(NBD_CMD_WRITE, 0, 0, MAX_PAYLOAD, &s), 0);
	assert_int_equal(check(NBD_CMD_READ, 0, 0, MAX_PAYLOAD + 1, &s),
			 -EINVAL);
	assert_int_equal(check(NBD_CMD_WRITE, 0, 0, MAX_PAYLOAD + 1, &s),
			 -EINVAL);
	assert_int_equal(check(NBD_CMD_READ, 0, 0, UINT32_MAX, &s),
			 -EINVAL);
	assert_int_equal(check(NBD_CMD_WRITE, 0, 0, UINT32_MAX, &s),
			 -EINVAL);
	/* commands without a payload are not limited by it */
	assert_int_equal(check(NBD_CMD_TRIM, 0, 0, MAX_PAYLOAD + 1, &s), 0);
	assert_int_equal(check(NBD_CMD_WRITE_ZEROES, 0, 0, EXPORT_SIZE, &s),
			 0);
	assert_int_equal(check(NBD_CMD_CACHE, 0, 0, EXPORT_SIZE, &s), 0);
	assert_int_equal(check(NBD_CMD_BLOCK_STATUS, 0, 0, EXPORT_SIZE, &s),
			 0);
}

static int oob_errno(uint16_t type)
{
	return type == NBD_CMD_WRITE || type == NBD_CMD_WRITE_ZEROES ?
		       -ENOSPC :
		       -EINVAL;
}

static void test_check_out_of_bounds(void **state)
{
	struct nbd_session s = session();

	assert_int_equal(oob_errno(NBD_CMD_READ), -EINVAL);
	for (size_t i = 0; i < ARRAY_SIZE(range_cmds); i++) {
		uint16_t t = range_cmds[i];
		int want = oob_errno(t);

		/* one byte past the end */
		assert_int_equal(check(t, 0, EXPORT_SIZE - 4096 + 1, 4096, &s),
				 want);
		/* starting at the end */
		assert_int_equal(check(t, 0, EXPORT_SIZE, 1, &s), want);
		/* starting past the end */
		assert_int_equal(check(t, 0, EXPORT_SIZE + 4096, 4096, &s),
				 want);
		assert_int_equal(check(t, 0, UINT64_MAX, 1, &s), want);
	}
	/* the specific errors, spelled out */
	assert_int_equal(check(NBD_CMD_READ, 0, EXPORT_SIZE, 512, &s),
			 -EINVAL);
	assert_int_equal(check(NBD_CMD_TRIM, 0, EXPORT_SIZE, 512, &s),
			 -EINVAL);
	assert_int_equal(check(NBD_CMD_CACHE, 0, EXPORT_SIZE, 512, &s),
			 -EINVAL);
	assert_int_equal(check(NBD_CMD_BLOCK_STATUS, 0, EXPORT_SIZE, 512, &s),
			 -EINVAL);
	assert_int_equal(check(NBD_CMD_WRITE, 0, EXPORT_SIZE, 512, &s),
			 -ENOSPC);
	assert_int_equal(check(NBD_CMD_WRITE_ZEROES, 0, EXPORT_SIZE, 512, &s),
			 -ENOSPC);
	/* larger than the whole export */
	assert_int_equal(check(NBD_CMD_TRIM, 0, 0, EXPORT_SIZE + 1, &s),
			 -EINVAL);
	assert_int_equal(check(NBD_CMD_WRITE_ZEROES, 0, 0, EXPORT_SIZE + 1,
			       &s),
			 -ENOSPC);
}

static void test_check_offset_overflow(void **state)
{
	struct nbd_session s = session();

	for (size_t i = 0; i < ARRAY_SIZE(range_cmds); i++) {
		uint16_t t = range_cmds[i];

		/* offset + length wraps to 4094 */
		assert_int_equal(check(t, 0, UINT64_MAX - 1, 4096, &s),
				 oob_errno(t));
		assert_int_equal(check(t, 0, UINT64_MAX - 4095, 4096, &s),
				 oob_errno(t));
	}
	/* even on an export as large as can be */
	s.size = UINT64_MAX;
	assert_int_equal(check(NBD_CMD_READ, 0, UINT64_MAX - 1, 4096, &s),
			 -EINVAL);
	assert_int_equal(check(NBD_CMD_WRITE, 0, UINT64_MAX - 1, 4096, &s),
			 -ENOSPC);
	assert_int_equal(check(NBD_CMD_READ, 0, UINT64_MAX - 4096, 4096, &s),
			 0);
}

static void test_check_end_of_export(void **state)
{
	struct nbd_session s = session();

	for (size_t i = 0; i < ARRAY_SIZE(range_cmds); i++) {
		uint16_t t = range_cmds[i];

		assert_int_equal(check(t, 0, EXPORT_SIZE - 4096, 4096, &s), 0);
		assert_int_equal(check(t, 0, EXPORT_SIZE - 1, 1, &s), 0);
		assert_int_equal(check(t, 0, 0, 1, &s), 0);
	}
	/* the whole export in one go */
	assert_int_equal(check(NBD_CMD_TRIM, 0, 0, EXPORT_SIZE, &s), 0);
	assert_int_equal(check(NBD_CMD_WRITE_ZEROES, 0, 0, EXPORT_SIZE, &s),
			 0);
	/* an export that is not a multiple of anything */
	s.size = 12345;
	assert_int_equal(check(NBD_CMD_READ, 0, 12345 - 45, 45, &s), 0);
	assert_int_equal(check(NBD_CMD_READ, 0, 12345 - 45, 46, &s), -EINVAL);
	assert_int_equal(check(NBD_CMD_WRITE, 0, 12345 - 45, 46, &s),
			 -ENOSPC);
}

/* ---- nbd_errno_to_wire ---- */

/* for a plain write, where neither EOVERFLOW nor ENOTSUP may go out */
#define WIRE(err) nbd_errno_to_wire(err, NBD_CMD_WRITE, 0)

static void test_errno_to_wire(void **state)
{
	assert_int_equal(WIRE(0), 0);
	assert_int_equal(WIRE(-EPERM), NBD_EPERM);
	assert_int_equal(WIRE(-EROFS), NBD_EPERM);
	assert_int_equal(WIRE(-ENOMEM), NBD_ENOMEM);
	assert_int_equal(WIRE(-EINVAL), NBD_EINVAL);
	assert_int_equal(WIRE(-ENOSPC), NBD_ENOSPC);
	assert_int_equal(WIRE(-EDQUOT), NBD_ENOSPC);
	assert_int_equal(WIRE(-EFBIG), NBD_ENOSPC);
	/* proto.md: EOVERFLOW only for a DF read, ENOTSUP only for a
	 * FAST_ZERO write-zeroes; EINVAL otherwise, as nbdkit does */
	assert_int_equal(WIRE(-EOVERFLOW), NBD_EINVAL);
	assert_int_equal(WIRE(-ENOTSUP), NBD_EINVAL);
	assert_int_equal(WIRE(-EOPNOTSUPP), NBD_EINVAL);
	assert_int_equal(nbd_errno_to_wire(-EOVERFLOW, NBD_CMD_READ,
					   NBD_CMD_FLAG_DF),
			 NBD_EOVERFLOW);
	assert_int_equal(nbd_errno_to_wire(-EOVERFLOW, NBD_CMD_READ, 0),
			 NBD_EINVAL);
	assert_int_equal(nbd_errno_to_wire(-EOVERFLOW, NBD_CMD_CACHE, 0),
			 NBD_EINVAL);
	assert_int_equal(nbd_errno_to_wire(-ENOTSUP, NBD_CMD_WRITE_ZEROES,
					   NBD_CMD_FLAG_FAST_ZERO),
			 NBD_ENOTSUP);
	assert_int_equal(nbd_errno_to_wire(-ENOTSUP, NBD_CMD_WRITE_ZEROES,
					   0),
			 NBD_EINVAL);
	assert_int_equal(nbd_errno_to_wire(-ENOTSUP, NBD_CMD_TRIM, 0),
			 NBD_EINVAL);
	assert_int_equal(WIRE(-ESHUTDOWN), NBD_ESHUTDOWN);
	assert_int_equal(WIRE(-EIO), NBD_EIO);
	/* anything else is EIO */
	assert_int_equal(WIRE(-ENOENT), NBD_EIO);
	assert_int_equal(WIRE(-EAGAIN), NBD_EIO);
	assert_int_equal(WIRE(-EBADF), NBD_EIO);
	assert_int_equal(WIRE(-ECONNRESET), NBD_EIO);
	assert_int_equal(WIRE(-4095), NBD_EIO);
}

/* the wire values are the protocol's, not the host's */
static void test_errno_wire_values(void **state)
{
	assert_int_equal(WIRE(-EROFS), 1);
	assert_int_equal(WIRE(-EPERM), 1);
	assert_int_equal(WIRE(-EIO), 5);
	assert_int_equal(WIRE(-ENOENT), 5);
	assert_int_equal(WIRE(-ENOMEM), 12);
	assert_int_equal(WIRE(-EINVAL), 22);
	assert_int_equal(WIRE(-ENOSPC), 28);
	assert_int_equal(WIRE(-EDQUOT), 28);
	assert_int_equal(WIRE(-EFBIG), 28);
	assert_int_equal(nbd_errno_to_wire(-EOVERFLOW, NBD_CMD_READ,
					   NBD_CMD_FLAG_DF),
			 75);
	assert_int_equal(nbd_errno_to_wire(-ENOTSUP, NBD_CMD_WRITE_ZEROES,
					   NBD_CMD_FLAG_FAST_ZERO),
			 95);
	assert_int_equal(WIRE(-ESHUTDOWN), 108);
}

/* ---- encoders ---- */

static void test_encode_simple_reply(void **state)
{
	static const uint8_t want[NBD_SIMPLE_REPLY_SIZE] = {
		0x67, 0x44, 0x66, 0x98,
		0x00, 0x00, 0x00, 0x16,
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	};
	static const uint8_t want_ok[NBD_SIMPLE_REPLY_SIZE] = {
		0x67, 0x44, 0x66, 0x98,
		0x00, 0x00, 0x00, 0x00,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	uint8_t buf[NBD_SIMPLE_REPLY_SIZE + 4];

	memset(buf, 0xcc, sizeof(buf));
	assert_int_equal(nbd_encode_simple_reply(buf, NBD_EINVAL,
						 0x0123456789abcdefULL),
			 16);
	assert_memory_equal(buf, want, sizeof(want));
	/* nothing written past the header */
	assert_int_equal(buf[16], 0xcc);
	assert_int_equal(buf[19], 0xcc);

	memset(buf, 0xcc, sizeof(buf));
	assert_int_equal(nbd_encode_simple_reply(buf, 0, UINT64_MAX), 16);
	assert_memory_equal(buf, want_ok, sizeof(want_ok));
	assert_int_equal(buf[16], 0xcc);
}

static void test_encode_chunk(void **state)
{
	static const uint8_t want[NBD_CHUNK_HEADER_SIZE] = {
		0x66, 0x8e, 0x33, 0xef,
		0x00, 0x01,
		0x00, 0x01,
		0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
		0x00, 0x01, 0x00, 0x08,
	};
	static const uint8_t want_err[NBD_CHUNK_HEADER_SIZE] = {
		0x66, 0x8e, 0x33, 0xef,
		0x00, 0x01,
		0x80, 0x01,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a,
		0x00, 0x00, 0x00, 0x06,
	};
	static const uint8_t want_none[NBD_CHUNK_HEADER_SIZE] = {
		0x66, 0x8e, 0x33, 0xef,
		0x00, 0x01,
		0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
		0x00, 0x00, 0x00, 0x00,
	};
	uint8_t buf[NBD_CHUNK_HEADER_SIZE + 4];

	memset(buf, 0xcc, sizeof(buf));
	assert_int_equal(nbd_encode_chunk(buf, NBD_REPLY_FLAG_DONE,
					  NBD_REPLY_TYPE_OFFSET_DATA,
					  0xfedcba9876543210ULL,
					  8 + 65536),
			 20);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(buf[20], 0xcc);
	assert_int_equal(buf[23], 0xcc);

	memset(buf, 0xcc, sizeof(buf));
	assert_int_equal(nbd_encode_chunk(buf, NBD_REPLY_FLAG_DONE,
					  NBD_REPLY_TYPE_ERROR, 42, 6),
			 20);
	assert_memory_equal(buf, want_err, sizeof(want_err));
	assert_int_equal(buf[20], 0xcc);

	memset(buf, 0xcc, sizeof(buf));
	assert_int_equal(nbd_encode_chunk(buf, NBD_REPLY_FLAG_DONE,
					  NBD_REPLY_TYPE_NONE, 7, 0),
			 20);
	assert_memory_equal(buf, want_none, sizeof(want_none));
}

static void test_encode_opt_reply(void **state)
{
	static const uint8_t want[20] = {
		0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9,
		0x00, 0x00, 0x00, 0x07,
		0x00, 0x00, 0x00, 0x03,
		0x00, 0x00, 0x00, 0x0c,
	};
	static const uint8_t want_err[20] = {
		0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9,
		0x00, 0x00, 0x00, 0x0a,
		0x80, 0x00, 0x00, 0x01,
		0x01, 0x02, 0x03, 0x04,
	};
	uint8_t buf[24];

	memset(buf, 0xcc, sizeof(buf));
	assert_int_equal(nbd_encode_opt_reply(buf, NBD_OPT_GO, NBD_REP_INFO,
					      12),
			 20);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(buf[20], 0xcc);
	assert_int_equal(buf[23], 0xcc);

	memset(buf, 0xcc, sizeof(buf));
	assert_int_equal(nbd_encode_opt_reply(buf, NBD_OPT_SET_META_CONTEXT,
					      NBD_REP_ERR_UNSUP, 0x01020304),
			 20);
	assert_memory_equal(buf, want_err, sizeof(want_err));
	assert_int_equal(buf[20], 0xcc);
}

/* ---- nbd_transmission_flags ---- */

static struct backend full_backend(void)
{
	struct backend be;

	memset(&be, 0, sizeof(be));
	be.size = EXPORT_SIZE;
	be.align = 512;
	be.preferred = 4096;
	be.can_trim = true;
	be.can_zero = true;
	be.can_fast_zero = true;
	be.can_cache = true;
	be.can_extents = true;
	return be;
}

#define BASE_FLAGS                                                             \
	(NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_CAN_MULTI_CONN)

static void test_flags_read_write(void **state)
{
	struct backend be = full_backend();
	uint16_t f;

	f = nbd_transmission_flags(&be, false, true);
	assert_int_equal(f, BASE_FLAGS | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_DF |
				    NBD_FLAG_SEND_TRIM |
				    NBD_FLAG_SEND_WRITE_ZEROES |
				    NBD_FLAG_SEND_FAST_ZERO |
				    NBD_FLAG_SEND_CACHE);
	assert_int_equal(f, 0x0ded);
	assert_false(f & NBD_FLAG_READ_ONLY);

	f = nbd_transmission_flags(&be, false, false);
	assert_int_equal(f, BASE_FLAGS | NBD_FLAG_SEND_FUA |
				    NBD_FLAG_SEND_TRIM |
				    NBD_FLAG_SEND_WRITE_ZEROES |
				    NBD_FLAG_SEND_FAST_ZERO |
				    NBD_FLAG_SEND_CACHE);
	assert_false(f & NBD_FLAG_SEND_DF);
	assert_false(f & NBD_FLAG_READ_ONLY);
}

static void test_flags_read_only(void **state)
{
	struct backend be = full_backend();
	uint16_t f;

	f = nbd_transmission_flags(&be, true, true);
	assert_int_equal(f, BASE_FLAGS | NBD_FLAG_READ_ONLY |
				    NBD_FLAG_SEND_DF | NBD_FLAG_SEND_CACHE);
	assert_true(f & NBD_FLAG_READ_ONLY);
	assert_false(f & NBD_FLAG_SEND_TRIM);
	assert_false(f & NBD_FLAG_SEND_WRITE_ZEROES);
	assert_false(f & NBD_FLAG_SEND_FAST_ZERO);
	assert_false(f & NBD_FLAG_SEND_FUA);

	f = nbd_transmission_flags(&be, true, false);
	assert_int_equal(f, BASE_FLAGS | NBD_FLAG_READ_ONLY |
				    NBD_FLAG_SEND_CACHE);
	assert_false(f & NBD_FLAG_SEND_DF);
	assert_false(f & NBD_FLAG_SEND_TRIM);
	assert_false(f & NBD_FLAG_SEND_WRITE_ZEROES);
	assert_false(f & NBD_FLAG_SEND_FUA);
}

static void test_flags_backend_caps(void **state)
{
	struct backend be;

	memset(&be, 0, sizeof(be));
	/* a backend that can do nothing extra */
	assert_int_equal(nbd_transmission_flags(&be, false, false),
			 BASE_FLAGS | NBD_FLAG_SEND_FUA);
	assert_int_equal(nbd_transmission_flags(&be, true, false),
			 BASE_FLAGS | NBD_FLAG_READ_ONLY);
	assert_int_equal(nbd_transmission_flags(&be, false, true),
			 BASE_FLAGS | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_DF);

	/* trim only */
	be.can_trim = true;
	assert_int_equal(nbd_transmission_flags(&be, false, false),
			 BASE_FLAGS | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM);
	be.can_trim = false;

	/* fast zero means nothing without zero */
	be.can_fast_zero = true;
	assert_int_equal(nbd_transmission_flags(&be, false, false),
			 BASE_FLAGS | NBD_FLAG_SEND_FUA);
	be.can_zero = true;
	assert_int_equal(nbd_transmission_flags(&be, false, false),
			 BASE_FLAGS | NBD_FLAG_SEND_FUA |
				 NBD_FLAG_SEND_WRITE_ZEROES |
				 NBD_FLAG_SEND_FAST_ZERO);
	be.can_fast_zero = false;
	assert_int_equal(nbd_transmission_flags(&be, false, false),
			 BASE_FLAGS | NBD_FLAG_SEND_FUA |
				 NBD_FLAG_SEND_WRITE_ZEROES);
	be.can_zero = false;

	/* cache: advertised read-only or not */
	be.can_cache = true;
	assert_int_equal(nbd_transmission_flags(&be, false, false),
			 BASE_FLAGS | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_CACHE);
	assert_int_equal(nbd_transmission_flags(&be, true, false),
			 BASE_FLAGS | NBD_FLAG_READ_ONLY | NBD_FLAG_SEND_CACHE);
}

/* ---- iov_advance ---- */

static char iov_mem[64];

static int setup_iov(struct iovec *v)
{
	/* 10 + 20 + 30 bytes, back to back in iov_mem */
	v[0].iov_base = iov_mem;
	v[0].iov_len = 10;
	v[1].iov_base = iov_mem + 10;
	v[1].iov_len = 20;
	v[2].iov_base = iov_mem + 30;
	v[2].iov_len = 30;
	return 3;
}

static void test_iov_advance_zero(void **state)
{
	struct iovec v[3], *iov = v;
	int cnt = setup_iov(v);

	iov_advance(&iov, &cnt, 0);
	assert_ptr_equal(iov, v);
	assert_int_equal(cnt, 3);
	assert_ptr_equal(v[0].iov_base, iov_mem);
	assert_int_equal(v[0].iov_len, 10);
	assert_int_equal(v[1].iov_len, 20);
	assert_int_equal(v[2].iov_len, 30);
}

static void test_iov_advance_partial_first(void **state)
{
	struct iovec v[3], *iov = v;
	int cnt = setup_iov(v);

	iov_advance(&iov, &cnt, 3);
	assert_ptr_equal(iov, v);
	assert_int_equal(cnt, 3);
	assert_ptr_equal(v[0].iov_base, iov_mem + 3);
	assert_int_equal(v[0].iov_len, 7);
	assert_ptr_equal(v[1].iov_base, iov_mem + 10);
	assert_int_equal(v[1].iov_len, 20);

	/* and again, to one byte short of the boundary */
	iov_advance(&iov, &cnt, 6);
	assert_ptr_equal(iov, v);
	assert_int_equal(cnt, 3);
	assert_ptr_equal(v[0].iov_base, iov_mem + 9);
	assert_int_equal(v[0].iov_len, 1);
}

static void test_iov_advance_boundary(void **state)
{
	struct iovec v[3], *iov = v;
	int cnt = setup_iov(v);

	/* exactly the first iovec: no empty iovec left at the front */
	iov_advance(&iov, &cnt, 10);
	assert_ptr_equal(iov, &v[1]);
	assert_int_equal(cnt, 2);
	assert_ptr_equal(iov->iov_base, iov_mem + 10);
	assert_int_equal(iov->iov_len, 20);

	/* exactly the next one too */
	iov_advance(&iov, &cnt, 20);
	assert_ptr_equal(iov, &v[2]);
	assert_int_equal(cnt, 1);
	assert_ptr_equal(iov->iov_base, iov_mem + 30);
	assert_int_equal(iov->iov_len, 30);
}

static void test_iov_advance_across(void **state)
{
	struct iovec v[3], *iov = v;
	int cnt = setup_iov(v);

	/* the whole first, the whole second, 5 of the third */
	iov_advance(&iov, &cnt, 35);
	assert_ptr_equal(iov, &v[2]);
	assert_int_equal(cnt, 1);
	assert_ptr_equal(iov->iov_base, iov_mem + 35);
	assert_int_equal(iov->iov_len, 25);

	/* a partial first, then crossing from the middle of one */
	iov = v;
	cnt = setup_iov(v);
	iov_advance(&iov, &cnt, 4);
	iov_advance(&iov, &cnt, 16);
	assert_ptr_equal(iov, &v[1]);
	assert_int_equal(cnt, 2);
	assert_ptr_equal(iov->iov_base, iov_mem + 20);
	assert_int_equal(iov->iov_len, 10);
	iov_advance(&iov, &cnt, 10);
	assert_ptr_equal(iov, &v[2]);
	assert_int_equal(cnt, 1);
	assert_ptr_equal(iov->iov_base, iov_mem + 30);
	assert_int_equal(iov->iov_len, 30);
}

static void test_iov_advance_all(void **state)
{
	struct iovec v[3], *iov = v;
	int cnt = setup_iov(v);

	iov_advance(&iov, &cnt, 60);
	assert_int_equal(cnt, 0);
	assert_ptr_equal(iov, &v[3]);

	/* n = 0 on an empty array is harmless */
	iov_advance(&iov, &cnt, 0);
	assert_int_equal(cnt, 0);
	assert_ptr_equal(iov, &v[3]);

	/* the rest in pieces that each end on a boundary */
	iov = v;
	cnt = setup_iov(v);
	iov_advance(&iov, &cnt, 30);
	assert_int_equal(cnt, 1);
	iov_advance(&iov, &cnt, 30);
	assert_int_equal(cnt, 0);
	assert_ptr_equal(iov, &v[3]);
}

/* a byte at a time reaches every position exactly once */
static void test_iov_advance_bytewise(void **state)
{
	struct iovec v[3], *iov = v;
	int cnt = setup_iov(v);

	for (int i = 0; i < 60; i++) {
		assert_true(cnt > 0);
		assert_ptr_equal(iov->iov_base, iov_mem + i);
		iov_advance(&iov, &cnt, 1);
	}
	assert_int_equal(cnt, 0);
	assert_ptr_equal(iov, &v[3]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_request),
		cmocka_unit_test(test_decode_request_high_bits),
		cmocka_unit_test(test_decode_request_roundtrip),
		cmocka_unit_test(test_check_valid_baseline),
		cmocka_unit_test(test_check_unknown_command),
		cmocka_unit_test(test_check_unknown_flags),
		cmocka_unit_test(test_check_fua_all),
		cmocka_unit_test(test_check_df),
		cmocka_unit_test(test_check_no_hole_fast_zero),
		cmocka_unit_test(test_check_req_one),
		cmocka_unit_test(test_check_block_status_meta),
		cmocka_unit_test(test_check_read_only),
		cmocka_unit_test(test_check_flush),
		cmocka_unit_test(test_check_zero_length),
		cmocka_unit_test(test_check_max_payload),
		cmocka_unit_test(test_check_out_of_bounds),
		cmocka_unit_test(test_check_offset_overflow),
		cmocka_unit_test(test_check_end_of_export),
		cmocka_unit_test(test_errno_to_wire),
		cmocka_unit_test(test_errno_wire_values),
		cmocka_unit_test(test_encode_simple_reply),
		cmocka_unit_test(test_encode_chunk),
		cmocka_unit_test(test_encode_opt_reply),
		cmocka_unit_test(test_flags_read_write),
		cmocka_unit_test(test_flags_read_only),
		cmocka_unit_test(test_flags_backend_caps),
		cmocka_unit_test(test_iov_advance_zero),
		cmocka_unit_test(test_iov_advance_partial_first),
		cmocka_unit_test(test_iov_advance_boundary),
		cmocka_unit_test(test_iov_advance_across),
		cmocka_unit_test(test_iov_advance_all),
		cmocka_unit_test(test_iov_advance_bytewise),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
