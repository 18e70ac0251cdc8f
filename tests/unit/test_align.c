// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for the bounce-buffer arithmetic of requests. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "backend/align.h"
#include "core/request.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* a fake pool buffer, larger than any buffer the tests compute */
static char pool[2 << 20];

static struct request *mkreq(struct request *rq, enum req_type type,
			     uint64_t offset, uint64_t len)
{
	memset(rq, 0, sizeof(*rq));
	rq->type = type;
	rq->offset = offset;
	rq->len = len;
	rq->buf = pool;
	rq->span_off = 0xdeadbeef;
	rq->span_len = 0xdeadbeef;
	return rq;
}

/* buffer length, span and data placement in one go */
static void expect(enum req_type type, uint64_t offset, uint64_t len,
		   uint32_t align, uint64_t span_off, uint64_t span_len,
		   uint64_t buf_len)
{
	struct request rq;

	mkreq(&rq, type, offset, len);
	assert_int_equal(request_buffer_len(&rq, align), buf_len);
	assert_int_equal(rq.span_off, span_off);
	assert_int_equal(rq.span_len, span_len);
	/* the request itself is left alone */
	assert_int_equal(rq.offset, offset);
	assert_int_equal(rq.len, len);
	assert_int_equal(rq.type, type);
	request_place_data(&rq);
	assert_ptr_equal(rq.buf, pool);
	assert_ptr_equal(rq.data, pool + (offset - span_off));
}

static void test_aligned(void **state)
{
	/* buffer == len, data == buf, no scratch, reads and writes alike */
	for (int t = REQ_READ; t <= REQ_WRITE; t++) {
		expect(t, 0, 4096, 4096, 0, 4096, 4096);
		expect(t, 8192, 16384, 4096, 8192, 16384, 16384);
		expect(t, 1ULL << 40, 1 << 20, 4096, 1ULL << 40, 1 << 20,
		       1 << 20);
		expect(t, 512, 512, 512, 512, 512, 512);
		expect(t, 4096, 512, 512, 4096, 512, 512);
	}
}

static void test_aligned_place_data(void **state)
{
	struct request rq;

	mkreq(&rq, REQ_WRITE, 65536, 8192);
	assert_int_equal(request_buffer_len(&rq, 4096), 8192);
	request_place_data(&rq);
	assert_ptr_equal(rq.data, rq.buf);
	assert_ptr_equal(rq.data, pool);
}

static void test_unaligned_read(void **state)
{
	/* head unaligned */
	expect(REQ_READ, 4097, 4095, 4096, 4096, 4096, 4096);
	/* tail unaligned */
	expect(REQ_READ, 4096, 100, 4096, 4096, 4096, 4096);
	/* both, across one boundary */
	expect(REQ_READ, 1000, 10000, 4096, 0, 12288, 12288);
	expect(REQ_READ, 4095, 2, 4096, 0, 8192, 8192);
	/* aligned length but unaligned offset still needs a wider span */
	expect(REQ_READ, 512, 4096, 4096, 0, 8192, 8192);
	/* 512-byte alignment */
	expect(REQ_READ, 513, 1024, 512, 512, 1536, 1536);
}

static void test_unaligned_write(void **state)
{
	/* span plus two blocks of scratch */
	expect(REQ_WRITE, 4097, 4095, 4096, 4096, 4096, 4096 + 2 * 4096);
	expect(REQ_WRITE, 4096, 100, 4096, 4096, 4096, 4096 + 2 * 4096);
	expect(REQ_WRITE, 1000, 10000, 4096, 0, 12288, 12288 + 2 * 4096);
	expect(REQ_WRITE, 4095, 2, 4096, 0, 8192, 8192 + 2 * 4096);
	expect(REQ_WRITE, 512, 4096, 4096, 0, 8192, 8192 + 2 * 4096);
	expect(REQ_WRITE, 513, 1024, 512, 512, 1536, 1536 + 2 * 512);
}

static void test_inside_one_block(void **state)
{
	expect(REQ_READ, 4096 + 512, 1024, 4096, 4096, 4096, 4096);
	expect(REQ_WRITE, 4096 + 512, 1024, 4096, 4096, 4096, 3 * 4096);
	/* a single byte, at the start, middle and end of a block */
	expect(REQ_READ, 8192, 1, 4096, 8192, 4096, 4096);
	expect(REQ_READ, 8192 + 2048, 1, 4096, 8192, 4096, 4096);
	expect(REQ_READ, 8192 + 4095, 1, 4096, 8192, 4096, 4096);
	expect(REQ_WRITE, 8192 + 4095, 1, 4096, 8192, 4096, 3 * 4096);
	/* the whole block but one byte */
	expect(REQ_WRITE, 8193, 4095, 4096, 8192, 4096, 3 * 4096);
}

static void test_many_blocks(void **state)
{
	/* 4095 .. 413697: 102 blocks from 0 */
	expect(REQ_READ, 4095, 4096 * 100 + 2, 4096, 0, 4096 * 102,
	       4096 * 102);
	expect(REQ_WRITE, 4095, 4096 * 100 + 2, 4096, 0, 4096 * 102,
	       4096 * 102 + 2 * 4096);
	/* far into a large export */
	expect(REQ_READ, (1ULL << 40) + 1, 1 << 20, 4096, 1ULL << 40,
	       (1 << 20) + 4096, (1 << 20) + 4096);
	expect(REQ_WRITE, (1ULL << 40) + 1, 1 << 20, 4096, 1ULL << 40,
	       (1 << 20) + 4096, (1 << 20) + 3 * 4096);
}

static void test_offset_zero_unaligned_end(void **state)
{
	expect(REQ_READ, 0, 5000, 4096, 0, 8192, 8192);
	expect(REQ_WRITE, 0, 5000, 4096, 0, 8192, 8192 + 2 * 4096);
	expect(REQ_READ, 0, 1, 4096, 0, 4096, 4096);
	expect(REQ_WRITE, 0, 1, 512, 0, 512, 3 * 512);
}

static void test_unaligned_start_aligned_end(void **state)
{
	expect(REQ_READ, 96, 4000, 4096, 0, 4096, 4096);
	expect(REQ_WRITE, 96, 4000, 4096, 0, 4096, 3 * 4096);
	expect(REQ_READ, 4096 + 1, 8191, 4096, 4096, 8192, 8192);
}

static void test_align_one(void **state)
{
	static const uint64_t offs[] = { 0, 1, 511, 4095, 4097, 1ULL << 40,
					 (1ULL << 40) + 3 };
	static const uint64_t lens[] = { 1, 3, 511, 4096, 10001 };

	/* every byte is aligned: never a bounce, never scratch */
	for (int t = REQ_READ; t <= REQ_WRITE; t++)
		for (size_t i = 0; i < ARRAY_SIZE(offs); i++)
			for (size_t j = 0; j < ARRAY_SIZE(lens); j++)
				expect(t, offs[i], lens[j], 1, offs[i], lens[j],
				       lens[j]);
}

static void test_edge_buf(void **state)
{
	struct request rq;
	uint64_t n;

	/* an unaligned write: scratch right after the span */
	mkreq(&rq, REQ_WRITE, 1000, 10000);
	n = request_buffer_len(&rq, 4096);
	request_place_data(&rq);
	assert_int_equal(n, 20480);
	assert_ptr_equal(request_edge_buf(&rq), pool + 12288);
	/* the scratch, two blocks, ends at the end of the buffer */
	assert_ptr_equal(request_edge_buf(&rq) + 2 * 4096, pool + n);
	/* and the data does not run into it */
	assert_ptr_equal(rq.data, pool + 1000);
	assert_true(rq.data + rq.len <= request_edge_buf(&rq));

	/* inside one block */
	mkreq(&rq, REQ_WRITE, 4096 + 17, 100);
	n = request_buffer_len(&rq, 4096);
	request_place_data(&rq);
	assert_int_equal(n, 3 * 4096);
	assert_ptr_equal(rq.data, pool + 17);
	assert_ptr_equal(request_edge_buf(&rq), pool + 4096);
	assert_ptr_equal(request_edge_buf(&rq) + 2 * 4096, pool + n);

	/* 512-byte alignment */
	mkreq(&rq, REQ_WRITE, 513, 1024);
	n = request_buffer_len(&rq, 512);
	assert_int_equal(n, 2560);
	assert_ptr_equal(request_edge_buf(&rq), pool + 1536);
	assert_ptr_equal(request_edge_buf(&rq) + 2 * 512, pool + n);

	/* a buffer that does not start at the pool's start */
	mkreq(&rq, REQ_WRITE, 100, 200);
	rq.buf = pool + 65536;
	n = request_buffer_len(&rq, 4096);
	request_place_data(&rq);
	assert_ptr_equal(rq.data, pool + 65536 + 100);
	assert_ptr_equal(request_edge_buf(&rq), pool + 65536 + 4096);
	assert_ptr_equal(request_edge_buf(&rq) + 2 * 4096, rq.buf + n);
}

/* the invariants of one request */
static void check_invariants(enum req_type t, uint64_t off, uint64_t len,
			     uint32_t al)
{
	bool aligned = off % al == 0 && len % al == 0;
	uint64_t end = off + len, span_end, n;
	struct request rq;

	mkreq(&rq, t, off, len);
	n = request_buffer_len(&rq, al);
	request_place_data(&rq);
	span_end = rq.span_off + rq.span_len;

	/* the span is aligned and covers the request... */
	assert_int_equal(rq.span_off % al, 0);
	assert_int_equal(rq.span_len % al, 0);
	assert_true(rq.span_off <= off);
	assert_true(span_end >= end);
	/* ...and is the smallest that does */
	assert_true(off - rq.span_off < al);
	assert_true(span_end - end < al);
	/* the buffer */
	if (aligned)
		assert_int_equal(n, len);
	else if (t == REQ_WRITE)
		assert_int_equal(n, rq.span_len + 2 * (uint64_t)al);
	else
		assert_int_equal(n, rq.span_len);
	assert_true(n >= len);
	assert_ptr_equal(rq.data, pool + (off - rq.span_off));
	assert_true(rq.data + len <= pool + rq.span_len);
	if (!aligned && t == REQ_WRITE)
		assert_ptr_equal(request_edge_buf(&rq) + 2 * al, pool + n);
}

/* the invariants, over a grid of offsets, lengths and alignments */
static void test_invariants(void **state)
{
	static const uint32_t aligns[] = { 1, 2, 512, 4096, 65536 };
	static const uint64_t offs[] = {
		0, 1, 511, 512, 513, 4095, 4096, 4097, 65535,
		1ULL << 33, (1ULL << 33) + 1,
	};
	static const uint64_t lens[] = {
		1, 2, 511, 512, 513, 4095, 4096, 4097, 65536, 100000,
	};

	for (size_t a = 0; a < ARRAY_SIZE(aligns); a++) {
		for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
			for (size_t j = 0; j < ARRAY_SIZE(lens); j++) {
				check_invariants(REQ_READ, offs[i], lens[j],
						 aligns[a]);
				check_invariants(REQ_WRITE, offs[i], lens[j],
						 aligns[a]);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aligned),
		cmocka_unit_test(test_aligned_place_data),
		cmocka_unit_test(test_unaligned_read),
		cmocka_unit_test(test_unaligned_write),
		cmocka_unit_test(test_inside_one_block),
		cmocka_unit_test(test_many_blocks),
		cmocka_unit_test(test_offset_zero_unaligned_end),
		cmocka_unit_test(test_unaligned_start_aligned_end),
		cmocka_unit_test(test_align_one),
		cmocka_unit_test(test_edge_buf),
		cmocka_unit_test(test_invariants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
