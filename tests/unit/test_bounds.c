// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for range_in_bounds and is_aligned. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "backend/align.h"

#define SIZE (1ULL << 30)

/* ---- range_in_bounds ---- */

static void test_in_bounds_plain(void **state)
{
	assert_true(range_in_bounds(0, 1, SIZE));
	assert_true(range_in_bounds(0, 4096, SIZE));
	assert_true(range_in_bounds(4096, 4096, SIZE));
	assert_true(range_in_bounds(SIZE / 2, SIZE / 2, SIZE));
	assert_false(range_in_bounds(SIZE / 2 + 1, SIZE / 2, SIZE));
	assert_false(range_in_bounds(SIZE / 2, SIZE / 2 + 1, SIZE));
}

static void test_in_bounds_len_zero(void **state)
{
	assert_true(range_in_bounds(0, 0, SIZE));
	assert_true(range_in_bounds(4096, 0, SIZE));
	/* an empty range at the very end is still inside */
	assert_true(range_in_bounds(SIZE, 0, SIZE));
	/* past the end it is not, empty or not */
	assert_false(range_in_bounds(SIZE + 1, 0, SIZE));
	assert_false(range_in_bounds(UINT64_MAX, 0, SIZE));
	assert_true(range_in_bounds(UINT64_MAX, 0, UINT64_MAX));
}

static void test_in_bounds_len_size(void **state)
{
	assert_true(range_in_bounds(0, SIZE, SIZE));
	assert_false(range_in_bounds(1, SIZE, SIZE));
	assert_false(range_in_bounds(SIZE, SIZE, SIZE));
	assert_false(range_in_bounds(0, SIZE + 1, SIZE));
	assert_true(range_in_bounds(0, 12345, 12345));
	assert_false(range_in_bounds(0, 12346, 12345));
	assert_true(range_in_bounds(0, UINT64_MAX, UINT64_MAX));
}

static void test_in_bounds_off_size(void **state)
{
	assert_false(range_in_bounds(SIZE, 1, SIZE));
	assert_false(range_in_bounds(SIZE, 4096, SIZE));
	/* the last byte, and the last block */
	assert_true(range_in_bounds(SIZE - 1, 1, SIZE));
	assert_false(range_in_bounds(SIZE - 1, 2, SIZE));
	assert_true(range_in_bounds(SIZE - 4096, 4096, SIZE));
	assert_false(range_in_bounds(SIZE - 4095, 4096, SIZE));
	assert_false(range_in_bounds(SIZE + 1, 1, SIZE));
}

static void test_in_bounds_overflow(void **state)
{
	/* off + len wraps past 2^64 to something small */
	assert_false(range_in_bounds(UINT64_MAX - 1, 4096, SIZE));
	assert_false(range_in_bounds(UINT64_MAX, 1, SIZE));
	assert_false(range_in_bounds(UINT64_MAX - 4095, 4096, SIZE));
	assert_false(range_in_bounds(1, UINT64_MAX, SIZE));
	assert_false(range_in_bounds(UINT64_MAX, UINT64_MAX, SIZE));
	/* and on an export that spans the whole 64-bit space */
	assert_false(range_in_bounds(UINT64_MAX, 1, UINT64_MAX));
	assert_false(range_in_bounds(1, UINT64_MAX, UINT64_MAX));
	assert_false(range_in_bounds(1ULL << 63, 1ULL << 63, UINT64_MAX));
	assert_false(range_in_bounds(UINT64_MAX - 1, 4096, UINT64_MAX));
	assert_true(range_in_bounds(UINT64_MAX - 1, 1, UINT64_MAX));
	assert_true(range_in_bounds(UINT64_MAX - 4096, 4096, UINT64_MAX));
	assert_true(range_in_bounds((1ULL << 63) - 1, 1ULL << 63,
				    UINT64_MAX));
}

static void test_in_bounds_size_zero(void **state)
{
	assert_true(range_in_bounds(0, 0, 0));
	assert_false(range_in_bounds(0, 1, 0));
	assert_false(range_in_bounds(1, 0, 0));
	assert_false(range_in_bounds(1, 1, 0));
	assert_false(range_in_bounds(0, UINT64_MAX, 0));
	assert_false(range_in_bounds(UINT64_MAX, 1, 0));
	assert_false(range_in_bounds(UINT64_MAX, 0, 0));
}

/* ---- is_aligned ---- */

static void test_aligned_basic(void **state)
{
	assert_true(is_aligned(0, 0, 4096));
	assert_true(is_aligned(0, 4096, 4096));
	assert_true(is_aligned(4096, 4096, 4096));
	assert_true(is_aligned(8192, 1 << 20, 4096));
	assert_false(is_aligned(1, 4096, 4096));
	assert_false(is_aligned(4096, 1, 4096));
	assert_false(is_aligned(4096, 4095, 4096));
	assert_false(is_aligned(4095, 4096, 4096));
	assert_false(is_aligned(2048, 2048, 4096));
	assert_true(is_aligned(2048, 2048, 512));
	assert_false(is_aligned(2048, 2049, 512));
}

static void test_aligned_len_zero(void **state)
{
	/* an empty request is aligned wherever an offset is */
	assert_true(is_aligned(4096, 0, 4096));
	assert_false(is_aligned(4097, 0, 4096));
	assert_true(is_aligned(512, 0, 512));
	assert_false(is_aligned(511, 0, 512));
}

static void test_aligned_one(void **state)
{
	/* everything is aligned to 1 */
	assert_true(is_aligned(0, 0, 1));
	assert_true(is_aligned(1, 1, 1));
	assert_true(is_aligned(4097, 3, 1));
	assert_true(is_aligned(UINT64_MAX, UINT64_MAX, 1));
	/* and to 2 when even */
	assert_true(is_aligned(2, 4, 2));
	assert_false(is_aligned(2, 3, 2));
}

static void test_aligned_high_bits(void **state)
{
	/* bits above the alignment do not matter */
	assert_true(is_aligned(1ULL << 63, 0, 4096));
	assert_true(is_aligned(1ULL << 63, 1ULL << 62, 4096));
	assert_true(is_aligned(UINT64_MAX & ~4095ULL, 4096, 4096));
	assert_false(is_aligned(UINT64_MAX, 4096, 4096));
	assert_false(is_aligned(4096, UINT64_MAX, 4096));
	assert_true(is_aligned((1ULL << 40) + 512, 512, 512));
	assert_false(is_aligned((1ULL << 40) + 512, 4096, 4096));
	/* the largest 32-bit alignment */
	assert_true(is_aligned(1ULL << 31, 1ULL << 32, 1u << 31));
	assert_true(is_aligned(3ULL << 31, 0, 1u << 31));
	assert_false(is_aligned(1ULL << 30, 0, 1u << 31));
	assert_false(is_aligned(0, (1ULL << 31) + 4096, 1u << 31));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_bounds_plain),
		cmocka_unit_test(test_in_bounds_len_zero),
		cmocka_unit_test(test_in_bounds_len_size),
		cmocka_unit_test(test_in_bounds_off_size),
		cmocka_unit_test(test_in_bounds_overflow),
		cmocka_unit_test(test_in_bounds_size_zero),
		cmocka_unit_test(test_aligned_basic),
		cmocka_unit_test(test_aligned_len_zero),
		cmocka_unit_test(test_aligned_one),
		cmocka_unit_test(test_aligned_high_bits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
