// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>

#include "backend/align.h"
#include "backend/backend.h"
#include "frontend/nbd/wire.h"

void nbd_decode_request(const uint8_t *b, struct nbd_request *r)
{
	r->magic = get_be32(b);
	r->flags = get_be16(b + 4);
	r->type = get_be16(b + 6);
	r->cookie = get_be64(b + 8);
	r->offset = get_be64(b + 16);
	r->length = get_be32(b + 24);
}

/* which command flags each command takes; FUA is valid on all */
static uint16_t allowed_flags(uint16_t type, bool structured)
{
	switch (type) {
	case NBD_CMD_READ:
		return NBD_CMD_FLAG_FUA | (structured ? NBD_CMD_FLAG_DF : 0);
	case NBD_CMD_WRITE_ZEROES:
		return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE |
		       NBD_CMD_FLAG_FAST_ZERO;
	case NBD_CMD_BLOCK_STATUS:
		return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_REQ_ONE;
	default:
		return NBD_CMD_FLAG_FUA;
	}
}

int nbd_check_request(const struct nbd_request *r,
		      const struct nbd_session *s)
{
	bool writes;

	switch (r->type) {
	case NBD_CMD_READ:
	case NBD_CMD_WRITE:
	case NBD_CMD_DISC:
	case NBD_CMD_FLUSH:
	case NBD_CMD_TRIM:
	case NBD_CMD_CACHE:
	case NBD_CMD_WRITE_ZEROES:
		break;
	case NBD_CMD_BLOCK_STATUS:
		if (!s->meta_alloc)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (r->flags & ~allowed_flags(r->type, s->structured))
		return -EINVAL;
	/* FAST_ZERO only where it was offered (proto.md: NBD_EINVAL) */
	if ((r->flags & NBD_CMD_FLAG_FAST_ZERO) && !s->fast_zero)
		return -EINVAL;
	writes = r->type == NBD_CMD_WRITE || r->type == NBD_CMD_TRIM ||
		 r->type == NBD_CMD_WRITE_ZEROES;
	if (writes && s->read_only)
		return -EPERM;
	if (r->type == NBD_CMD_FLUSH || r->type == NBD_CMD_DISC)
		return r->offset || r->length ? -EINVAL : 0;
	if (r->length == 0)
		return -EINVAL;
	/*
	 * Over the advertised maximum block size: EINVAL (proto.md, "Block
	 * size constraints"; EOVERFLOW is only for a DF read too large to
	 * send whole).  A write's payload is still read past, so the
	 * connection goes on.
	 */
	if ((r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE) &&
	    r->length > s->max_payload)
		return -EINVAL;
	if (!range_in_bounds(r->offset, r->length, s->size))
		return r->type == NBD_CMD_WRITE ||
				       r->type == NBD_CMD_WRITE_ZEROES ?
			       -ENOSPC :
			       -EINVAL;
	return 0;
}

uint32_t nbd_errno_to_wire(int err, uint16_t type, uint16_t flags)
{
	switch (-err) {
	case 0:
		return 0;
	case EPERM:
	case EROFS:
		return NBD_EPERM;
	case ENOMEM:
		return NBD_ENOMEM;
	case EINVAL:
		return NBD_EINVAL;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return NBD_ENOSPC;
	/*
	 * proto.md: EOVERFLOW only for a DF read too large to send whole,
	 * ENOTSUP only for a FAST_ZERO write-zeroes that would be slow
	 */
	case EOVERFLOW:
		return type == NBD_CMD_READ && (flags & NBD_CMD_FLAG_DF) ?
			       NBD_EOVERFLOW : NBD_EINVAL;
	case ENOTSUP:
		return type == NBD_CMD_WRITE_ZEROES &&
				       (flags & NBD_CMD_FLAG_FAST_ZERO) ?
			       NBD_ENOTSUP : NBD_EINVAL;
	case ESHUTDOWN:
		return NBD_ESHUTDOWN;
	default:
		return NBD_EIO;
	}
}

uint16_t nbd_transmission_flags(const struct backend *be, bool read_only,
				bool structured)
{
	uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH |
		     NBD_FLAG_CAN_MULTI_CONN;

	if (structured)
		f |= NBD_FLAG_SEND_DF;
	if (be->can_cache)
		f |= NBD_FLAG_SEND_CACHE;
	if (read_only)
		return f | NBD_FLAG_READ_ONLY;
	f |= NBD_FLAG_SEND_FUA;
	if (be->can_trim)
		f |= NBD_FLAG_SEND_TRIM;
	if (be->can_zero) {
		f |= NBD_FLAG_SEND_WRITE_ZEROES;
		if (be->can_fast_zero)
			f |= NBD_FLAG_SEND_FAST_ZERO;
	}
	return f;
}

size_t nbd_encode_simple_reply(uint8_t *p, uint32_t wire_err,
			       uint64_t cookie)
{
	put_be32(p, NBD_SIMPLE_REPLY_MAGIC);
	put_be32(p + 4, wire_err);
	put_be64(p + 8, cookie);
	return NBD_SIMPLE_REPLY_SIZE;
}

size_t nbd_encode_chunk(uint8_t *p, uint16_t flags, uint16_t type,
			uint64_t cookie, uint32_t length)
{
	put_be32(p, NBD_STRUCTURED_REPLY_MAGIC);
	put_be16(p + 4, flags);
	put_be16(p + 6, type);
	put_be64(p + 8, cookie);
	put_be32(p + 16, length);
	return NBD_CHUNK_HEADER_SIZE;
}

size_t nbd_encode_opt_reply(uint8_t *p, uint32_t opt, uint32_t type,
			    uint32_t length)
{
	put_be64(p, NBD_REP_MAGIC);
	put_be32(p + 8, opt);
	put_be32(p + 12, type);
	put_be32(p + 16, length);
	return 20;
}

void iov_advance(struct iovec **iov, int *cnt, size_t n)
{
	while (*cnt && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt && n) {
		(*iov)->iov_base = (char *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}
