// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/buddy.h"

struct buddy_meta {
	int32_t next, prev;	/* free list links, valid while free */
	int8_t order;		/* order of the block starting here */
	bool free;
};

static void list_push(struct buddy *b, int32_t i, unsigned order)
{
	struct buddy_meta *m = &b->meta[i];

	m->order = order;
	m->free = true;
	m->prev = -1;
	m->next = b->free_head[order];
	if (m->next >= 0)
		b->meta[m->next].prev = i;
	b->free_head[order] = i;
}

static void list_remove(struct buddy *b, int32_t i)
{
	struct buddy_meta *m = &b->meta[i];

	if (m->prev >= 0)
		b->meta[m->prev].next = m->next;
	else
		b->free_head[m->order] = m->next;
	if (m->next >= 0)
		b->meta[m->next].prev = m->prev;
	m->free = false;
}

int buddy_init(struct buddy *b, size_t size, size_t min_block)
{
	size_t nblocks;

	if (!min_block || (min_block & (min_block - 1)) || size < min_block ||
	    (size & (size - 1)))
		return -EINVAL;
	nblocks = size / min_block;
	if (nblocks > INT32_MAX)
		return -EINVAL;
	b->size = size;
	b->min_block = min_block;
	b->max_order = __builtin_ctzll(nblocks);
	b->in_use = 0;
	b->high_water = 0;
	b->meta = calloc(nblocks, sizeof(*b->meta));
	b->free_head = malloc((b->max_order + 1) * sizeof(*b->free_head));
	if (!b->meta || !b->free_head) {
		buddy_fini(b);
		return -ENOMEM;
	}
	for (unsigned o = 0; o <= b->max_order; o++)
		b->free_head[o] = -1;
	list_push(b, 0, b->max_order);
	return 0;
}

void buddy_fini(struct buddy *b)
{
	free(b->meta);
	free(b->free_head);
	b->meta = NULL;
	b->free_head = NULL;
}

static unsigned order_for(const struct buddy *b, size_t len)
{
	unsigned order = 0;

	while ((b->min_block << order) < len)
		order++;
	return order;
}

int64_t buddy_alloc(struct buddy *b, size_t len)
{
	unsigned want, o;
	int32_t i;

	if (len == 0)
		len = 1;
	if (len > b->size)
		return -ENOMEM;
	want = order_for(b, len);
	for (o = want; o <= b->max_order && b->free_head[o] < 0; o++)
		;
	if (o > b->max_order)
		return -ENOMEM;
	i = b->free_head[o];
	list_remove(b, i);
	/* split down, giving back the upper halves */
	while (o > want) {
		o--;
		list_push(b, i + (1 << o), o);
	}
	b->meta[i].order = want;
	b->in_use += b->min_block << want;
	if (b->in_use > b->high_water)
		b->high_water = b->in_use;
	return (int64_t)i * b->min_block;
}

void buddy_free(struct buddy *b, size_t off)
{
	int32_t i = off / b->min_block;
	unsigned o = b->meta[i].order;

	b->in_use -= b->min_block << o;
	/* merge with the buddy while it is free and whole */
	while (o < b->max_order) {
		int32_t buddy = i ^ (1 << o);

		if (!b->meta[buddy].free || b->meta[buddy].order != (int8_t)o)
			break;
		list_remove(b, buddy);
		if (buddy < i)
			i = buddy;
		o++;
	}
	list_push(b, i, o);
}
