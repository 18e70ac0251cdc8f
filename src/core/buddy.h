/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef LLOOP_BUDDY_H
#define LLOOP_BUDDY_H
/*
 * A binary buddy allocator over one preallocated arena.  Blocks are
 * min_block << order bytes and aligned to their size, so every buffer is
 * fit for O_DIRECT.  Metadata is one fixed array allocated at init; alloc
 * and free never allocate and are O(orders).
 */
#include <stddef.h>
#include <stdint.h>

struct buddy_meta;

struct buddy {
	size_t size;		/* arena bytes: min_block << max_order */
	size_t min_block;
	unsigned max_order;
	size_t in_use;		/* bytes handed out, rounded to blocks */
	size_t high_water;
	struct buddy_meta *meta; /* one per min_block */
	int32_t *free_head;	/* per order, block index or -1 */
};

/* size and min_block: powers of two, size >= min_block */
int buddy_init(struct buddy *b, size_t size, size_t min_block);
void buddy_fini(struct buddy *b);
/* the offset of a block of at least len bytes, or -ENOMEM */
int64_t buddy_alloc(struct buddy *b, size_t len);
void buddy_free(struct buddy *b, size_t off);
/* the largest request that can ever succeed */
static inline size_t buddy_max_alloc(const struct buddy *b)
{
	return b->size;
}

#endif
