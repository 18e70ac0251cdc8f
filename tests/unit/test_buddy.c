// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for the buddy allocator. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/buddy.h"

#define KIB 1024u
#define MIN_BLOCK (4 * KIB)

/* the block size an allocation of len bytes gets */
static size_t block_for(size_t min_block, size_t len)
{
	size_t bs = min_block;

	while (bs < len)
		bs <<= 1;
	return bs;
}

/* ---- init ---- */

static void test_init_rejects(void **state)
{
	struct buddy b;

	memset(&b, 0, sizeof(b));
	assert_int_equal(buddy_init(&b, 0, MIN_BLOCK), -EINVAL);
	assert_int_equal(buddy_init(&b, 3000, MIN_BLOCK), -EINVAL);
	assert_int_equal(buddy_init(&b, 12 * KIB, MIN_BLOCK), -EINVAL);
	assert_int_equal(buddy_init(&b, 64 * KIB + 4 * KIB, MIN_BLOCK),
			 -EINVAL);
	assert_int_equal(buddy_init(&b, (1u << 20) - 1, MIN_BLOCK), -EINVAL);
	assert_int_equal(buddy_init(&b, 64 * KIB, 0), -EINVAL);
	assert_int_equal(buddy_init(&b, 64 * KIB, 3000), -EINVAL);
	assert_int_equal(buddy_init(&b, 64 * KIB, 6 * KIB), -EINVAL);
	/* smaller than one block */
	assert_int_equal(buddy_init(&b, 2 * KIB, MIN_BLOCK), -EINVAL);
	assert_int_equal(buddy_init(&b, 0, 0), -EINVAL);
}

static void test_init_accepts(void **state)
{
	struct buddy b;

	assert_int_equal(buddy_init(&b, 64 * KIB, MIN_BLOCK), 0);
	assert_int_equal(b.size, 64 * KIB);
	assert_int_equal(b.min_block, MIN_BLOCK);
	assert_int_equal(b.max_order, 4);
	assert_int_equal(b.in_use, 0);
	assert_int_equal(b.high_water, 0);
	assert_int_equal(buddy_max_alloc(&b), 64 * KIB);
	buddy_fini(&b);

	/* one block: size == min_block */
	assert_int_equal(buddy_init(&b, MIN_BLOCK, MIN_BLOCK), 0);
	assert_int_equal(b.max_order, 0);
	assert_int_equal(buddy_alloc(&b, 1), 0);
	assert_int_equal(buddy_alloc(&b, 1), -ENOMEM);
	buddy_free(&b, 0);
	assert_int_equal(buddy_alloc(&b, MIN_BLOCK), 0);
	buddy_free(&b, 0);
	assert_int_equal(b.in_use, 0);
	buddy_fini(&b);

	/* min_block 1 is a valid power of two */
	assert_int_equal(buddy_init(&b, 16, 1), 0);
	assert_int_equal(b.max_order, 4);
	assert_int_equal(buddy_alloc(&b, 3), 0);
	assert_int_equal(buddy_alloc(&b, 1), 4);
	assert_int_equal(buddy_alloc(&b, 8), 8);
	assert_int_equal(b.in_use, 4 + 1 + 8);
	buddy_fini(&b);
}

/* ---- alloc ---- */

static void test_alloc_aligned(void **state)
{
	static const size_t lens[] = {
		1, MIN_BLOCK - 1, MIN_BLOCK, MIN_BLOCK + 1,
		8 * KIB, 12 * KIB, 16 * KIB + 1, 100 * KIB,
		128 * KIB, 200 * KIB, 3, 4097,
	};
	struct buddy b;

	assert_int_equal(buddy_init(&b, 1u << 20, MIN_BLOCK), 0);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t bs = block_for(MIN_BLOCK, lens[i]);
		size_t before = b.in_use;
		int64_t off = buddy_alloc(&b, lens[i]);

		assert_true(off >= 0);
		assert_int_equal((uint64_t)off % bs, 0);
		assert_true((uint64_t)off + bs <= b.size);
		assert_int_equal(b.in_use, before + bs);
	}
	buddy_fini(&b);
}

/* splitting hands out the lowest address first, deterministically */
static void test_alloc_split_order(void **state)
{
	struct buddy b;

	assert_int_equal(buddy_init(&b, 64 * KIB, MIN_BLOCK), 0);
	assert_int_equal(buddy_alloc(&b, MIN_BLOCK), 0);
	assert_int_equal(buddy_alloc(&b, MIN_BLOCK), 4 * KIB);
	assert_int_equal(buddy_alloc(&b, 8 * KIB), 8 * KIB);
	assert_int_equal(buddy_alloc(&b, 32 * KIB), 32 * KIB);
	assert_int_equal(buddy_alloc(&b, 16 * KIB), 16 * KIB);
	assert_int_equal(b.in_use, 64 * KIB);
	assert_int_equal(buddy_alloc(&b, 1), -ENOMEM);
	buddy_fini(&b);
}

static void test_alloc_zero_len(void **state)
{
	struct buddy b;
	int64_t off;

	assert_int_equal(buddy_init(&b, 64 * KIB, MIN_BLOCK), 0);
	off = buddy_alloc(&b, 0);
	assert_int_equal(off, 0);
	assert_int_equal(b.in_use, MIN_BLOCK);
	buddy_free(&b, off);
	assert_int_equal(b.in_use, 0);
	assert_int_equal(buddy_alloc(&b, 64 * KIB), 0);
	buddy_fini(&b);
}

static void test_whole_arena(void **state)
{
	struct buddy b;

	assert_int_equal(buddy_init(&b, 256 * KIB, MIN_BLOCK), 0);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(buddy_alloc(&b, 256 * KIB), 0);
		assert_int_equal(b.in_use, 256 * KIB);
		assert_int_equal(buddy_alloc(&b, 1), -ENOMEM);
		assert_int_equal(buddy_alloc(&b, MIN_BLOCK), -ENOMEM);
		buddy_free(&b, 0);
		assert_int_equal(b.in_use, 0);
	}
	buddy_fini(&b);
}

/* every min block, then all freed in several orders, merges back whole */
static void test_all_min_blocks(void **state)
{
	enum { N = 64 };
	static const int stride[] = { 1, 7, 13, 63 };	/* coprime with N */
	struct buddy b;
	bool seen[N];

	assert_int_equal(buddy_init(&b, N * MIN_BLOCK, MIN_BLOCK), 0);
	for (size_t s = 0; s < sizeof(stride) / sizeof(stride[0]); s++) {
		memset(seen, 0, sizeof(seen));
		for (int i = 0; i < N; i++) {
			int64_t off = buddy_alloc(&b, MIN_BLOCK);

			assert_true(off >= 0);
			assert_int_equal(off % MIN_BLOCK, 0);
			assert_true(off < N * MIN_BLOCK);
			assert_false(seen[off / MIN_BLOCK]);
			seen[off / MIN_BLOCK] = true;
		}
		assert_int_equal(b.in_use, N * MIN_BLOCK);
		assert_int_equal(buddy_alloc(&b, 1), -ENOMEM);
		/* free in a permuted order */
		for (int i = 0; i < N; i++)
			buddy_free(&b, (size_t)((i * stride[s]) % N) *
					       MIN_BLOCK);
		assert_int_equal(b.in_use, 0);
		assert_int_equal(buddy_alloc(&b, N * MIN_BLOCK), 0);
		buddy_free(&b, 0);
	}
	buddy_fini(&b);
}

static void test_fragment_then_merge(void **state)
{
	enum { N = 16 };
	struct buddy b;
	int64_t off[N];

	assert_int_equal(buddy_init(&b, N * MIN_BLOCK, MIN_BLOCK), 0);
	for (int i = 0; i < N; i++) {
		off[i] = buddy_alloc(&b, MIN_BLOCK);
		assert_int_equal(off[i], (int64_t)i * MIN_BLOCK);
	}
	/* free every other block: half the arena free, nothing mergeable */
	for (int i = 0; i < N; i += 2)
		buddy_free(&b, off[i]);
	assert_int_equal(b.in_use, N / 2 * MIN_BLOCK);
	assert_int_equal(buddy_alloc(&b, 2 * MIN_BLOCK), -ENOMEM);
	assert_int_equal(buddy_alloc(&b, MIN_BLOCK + 1), -ENOMEM);
	/* a single block still fits, in one of the holes */
	off[0] = buddy_alloc(&b, MIN_BLOCK);
	assert_true(off[0] >= 0);
	assert_int_equal((off[0] / MIN_BLOCK) % 2, 0);
	buddy_free(&b, off[0]);

	/* freeing block 1 merges 0-1 into an 8K block */
	buddy_free(&b, off[1]);
	assert_int_equal(buddy_alloc(&b, 2 * MIN_BLOCK), 0);
	assert_int_equal(buddy_alloc(&b, 2 * MIN_BLOCK), -ENOMEM);
	buddy_free(&b, 0);

	/* 3 as well: 0-3 become a 16K block */
	buddy_free(&b, off[3]);
	assert_int_equal(buddy_alloc(&b, 4 * MIN_BLOCK), 0);
	assert_int_equal(buddy_alloc(&b, 4 * MIN_BLOCK), -ENOMEM);
	buddy_free(&b, 0);
	assert_int_equal(buddy_alloc(&b, 8 * MIN_BLOCK), -ENOMEM);

	/* the rest, from the top down */
	for (int i = N - 1; i >= 5; i -= 2)
		buddy_free(&b, off[i]);
	assert_int_equal(b.in_use, 0);
	assert_int_equal(buddy_alloc(&b, N * MIN_BLOCK), 0);
	buddy_fini(&b);
}

/* a freed half merges only with its own buddy, not its neighbour */
static void test_no_merge_across_buddies(void **state)
{
	struct buddy b;
	int64_t a, c, d, e;

	assert_int_equal(buddy_init(&b, 16 * KIB, MIN_BLOCK), 0);
	a = buddy_alloc(&b, MIN_BLOCK);	/* 0 */
	c = buddy_alloc(&b, MIN_BLOCK);	/* 4K */
	d = buddy_alloc(&b, MIN_BLOCK);	/* 8K */
	e = buddy_alloc(&b, MIN_BLOCK);	/* 12K */
	assert_int_equal(a, 0);
	assert_int_equal(c, 4 * KIB);
	assert_int_equal(d, 8 * KIB);
	assert_int_equal(e, 12 * KIB);
	/* 4K and 8K are adjacent but not buddies */
	buddy_free(&b, c);
	buddy_free(&b, d);
	assert_int_equal(buddy_alloc(&b, 8 * KIB), -ENOMEM);
	buddy_free(&b, a);
	assert_int_equal(buddy_alloc(&b, 8 * KIB), 0);
	assert_int_equal(buddy_alloc(&b, 8 * KIB), -ENOMEM);
	buddy_free(&b, e);
	assert_int_equal(buddy_alloc(&b, 8 * KIB), 8 * KIB);
	buddy_free(&b, 0);
	buddy_free(&b, 8 * KIB);
	assert_int_equal(buddy_alloc(&b, 16 * KIB), 0);
	buddy_fini(&b);
}

static void test_enomem(void **state)
{
	struct buddy b;

	assert_int_equal(buddy_init(&b, 64 * KIB, MIN_BLOCK), 0);
	/* larger than the arena, on an empty arena */
	assert_int_equal(buddy_alloc(&b, 64 * KIB + 1), -ENOMEM);
	assert_int_equal(buddy_alloc(&b, 128 * KIB), -ENOMEM);
	assert_int_equal(buddy_alloc(&b, SIZE_MAX), -ENOMEM);
	assert_int_equal(buddy_alloc(&b, SIZE_MAX / 2 + 1), -ENOMEM);
	assert_int_equal(b.in_use, 0);
	assert_int_equal(b.high_water, 0);

	/* exhausted */
	assert_int_equal(buddy_alloc(&b, 32 * KIB), 0);
	assert_int_equal(buddy_alloc(&b, 32 * KIB), 32 * KIB);
	assert_int_equal(buddy_alloc(&b, 1), -ENOMEM);
	assert_int_equal(buddy_alloc(&b, 0), -ENOMEM);
	assert_int_equal(b.in_use, 64 * KIB);
	/* a failed alloc changes nothing */
	buddy_free(&b, 32 * KIB);
	assert_int_equal(buddy_alloc(&b, 64 * KIB), -ENOMEM);
	assert_int_equal(buddy_alloc(&b, 32 * KIB + 1), -ENOMEM);
	assert_int_equal(buddy_alloc(&b, 32 * KIB), 32 * KIB);
	buddy_free(&b, 32 * KIB);
	buddy_free(&b, 0);
	assert_int_equal(buddy_alloc(&b, 64 * KIB), 0);
	buddy_fini(&b);
}

static void test_accounting(void **state)
{
	struct buddy b;
	int64_t a, c, d;

	assert_int_equal(buddy_init(&b, 1u << 20, MIN_BLOCK), 0);
	a = buddy_alloc(&b, 1);		/* 4K */
	assert_true(a >= 0);
	assert_int_equal(b.in_use, 4 * KIB);
	assert_int_equal(b.high_water, 4 * KIB);
	c = buddy_alloc(&b, 5 * KIB);	/* rounded to 8K */
	assert_true(c >= 0);
	assert_int_equal(b.in_use, 12 * KIB);
	assert_int_equal(b.high_water, 12 * KIB);
	d = buddy_alloc(&b, 65 * KIB);	/* rounded to 128K */
	assert_true(d >= 0);
	assert_int_equal(b.in_use, 140 * KIB);
	assert_int_equal(b.high_water, 140 * KIB);

	buddy_free(&b, c);
	assert_int_equal(b.in_use, 132 * KIB);
	assert_int_equal(b.high_water, 140 * KIB);
	buddy_free(&b, d);
	assert_int_equal(b.in_use, 4 * KIB);
	assert_int_equal(b.high_water, 140 * KIB);

	/* below the mark: the mark stays */
	c = buddy_alloc(&b, 16 * KIB);
	assert_true(c >= 0);
	assert_int_equal(b.in_use, 20 * KIB);
	assert_int_equal(b.high_water, 140 * KIB);
	/* above it: the mark follows */
	d = buddy_alloc(&b, 256 * KIB);
	assert_true(d >= 0);
	assert_int_equal(b.in_use, 276 * KIB);
	assert_int_equal(b.high_water, 276 * KIB);

	buddy_free(&b, a);
	buddy_free(&b, c);
	buddy_free(&b, d);
	assert_int_equal(b.in_use, 0);
	assert_int_equal(b.high_water, 276 * KIB);
	/* failures are not counted */
	assert_int_equal(buddy_alloc(&b, (1u << 20) + 1), -ENOMEM);
	assert_int_equal(b.in_use, 0);
	assert_int_equal(b.high_water, 276 * KIB);
	buddy_fini(&b);
}

/* ---- randomized ---- */

#define R_SIZE (1u << 20)
#define R_MIN 4096u
#define R_NBLOCKS (R_SIZE / R_MIN)
#define R_OPS 5000

struct live {
	size_t off, bs;
};

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: the same sequence everywhere */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* is there a wholly free, naturally aligned run of bs bytes? */
static bool fits(const bool *used, size_t bs)
{
	size_t n = bs / R_MIN;

	for (size_t i = 0; i < R_NBLOCKS; i += n) {
		size_t j;

		for (j = 0; j < n && !used[i + j]; j++)
			;
		if (j == n)
			return true;
	}
	return false;
}

static size_t random_len(void)
{
	uint64_t r = rng();

	switch (r % 8) {
	case 0:
		return 1 + (r >> 8) % R_MIN;		/* under a block */
	case 1:
		return R_MIN << ((r >> 8) % 4);		/* exact powers */
	case 2:
		return 1 + (r >> 8) % (R_SIZE / 4);	/* big */
	case 3:
		return (r >> 8) % 8 == 0 ? R_SIZE : R_MIN;
	default:
		return 1 + (r >> 8) % (32 * R_MIN);	/* up to 128K */
	}
}

static void test_random(void **state)
{
	static struct live live[R_NBLOCKS];
	static bool used[R_NBLOCKS];
	size_t nlive = 0, in_use = 0, high = 0;
	unsigned allocs = 0, fails = 0, frees = 0;
	struct buddy b;

	rng_state = 0x9e3779b97f4a7c15ULL;
	memset(used, 0, sizeof(used));
	assert_int_equal(buddy_init(&b, R_SIZE, R_MIN), 0);

	for (int op = 0; op < R_OPS; op++) {
		bool do_alloc = nlive == 0 || rng() % 100 < 55;

		if (do_alloc) {
			size_t len = random_len();
			size_t bs = block_for(R_MIN, len);
			bool room = fits(used, bs);
			int64_t off = buddy_alloc(&b, len);

			if (off < 0) {
				assert_int_equal(off, -ENOMEM);
				/* buddy merging is complete: if a free,
				 * aligned run exists it must be found */
				assert_false(room);
				fails++;
				continue;
			}
			assert_true(room);
			assert_int_equal((size_t)off % bs, 0);
			assert_true((size_t)off + bs <= R_SIZE);
			for (size_t i = 0; i < bs / R_MIN; i++) {
				/* no overlap with any live allocation */
				assert_false(used[off / R_MIN + i]);
				used[off / R_MIN + i] = true;
			}
			for (size_t i = 0; i < nlive; i++)
				assert_true((size_t)off + bs <= live[i].off ||
					    live[i].off + live[i].bs <=
						    (size_t)off);
			live[nlive].off = off;
			live[nlive].bs = bs;
			nlive++;
			in_use += bs;
			if (in_use > high)
				high = in_use;
			allocs++;
		} else {
			size_t k = rng() % nlive;

			buddy_free(&b, live[k].off);
			for (size_t i = 0; i < live[k].bs / R_MIN; i++)
				used[live[k].off / R_MIN + i] = false;
			in_use -= live[k].bs;
			live[k] = live[--nlive];
			frees++;
		}
		assert_int_equal(b.in_use, in_use);
		assert_int_equal(b.high_water, high);
	}
	/* the run did exercise every path */
	assert_true(allocs > 1000);
	assert_true(frees > 1000);
	assert_true(fails > 10);

	/* free what is left, in random order */
	while (nlive) {
		size_t k = rng() % nlive;

		buddy_free(&b, live[k].off);
		live[k] = live[--nlive];
	}
	assert_int_equal(b.in_use, 0);
	assert_int_equal(b.high_water, high);
	/* everything merged back into the one top block */
	assert_int_equal(buddy_alloc(&b, R_SIZE), 0);
	assert_int_equal(buddy_alloc(&b, 1), -ENOMEM);
	buddy_free(&b, 0);
	/* and it splits again into every min block */
	for (size_t i = 0; i < R_NBLOCKS; i++)
		assert_true(buddy_alloc(&b, R_MIN) >= 0);
	assert_int_equal(buddy_alloc(&b, 1), -ENOMEM);
	assert_int_equal(b.in_use, R_SIZE);
	buddy_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_rejects),
		cmocka_unit_test(test_init_accepts),
		cmocka_unit_test(test_alloc_aligned),
		cmocka_unit_test(test_alloc_split_order),
		cmocka_unit_test(test_alloc_zero_len),
		cmocka_unit_test(test_whole_arena),
		cmocka_unit_test(test_all_min_blocks),
		cmocka_unit_test(test_fragment_then_merge),
		cmocka_unit_test(test_no_merge_across_buddies),
		cmocka_unit_test(test_enomem),
		cmocka_unit_test(test_accounting),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
