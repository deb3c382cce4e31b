// SPDX-License-Identifier: MIT
/*
 * heap.c — the heaps of the non-main arenas. The program break belongs to
 * the main arena; every other arena lives in heaps of HEAP_MAX_SIZE address
 * space, reserved at an aligned address and committed as they grow, so the
 * arena of any chunk is one mask away (heap_for_ptr). Heaps shrink when
 * their top shrinks and are unmapped when they become empty.
 *
 * A bitmap with one bit per HEAP_MAX_SIZE of address space records which
 * heaps are ours: a chunk whose NON_MAIN_ARENA bit claims a heap we never
 * made is caught before its heap header is read.
 */
#include <string.h>

#include "allocator/arena.h"

uint64_t heap_map[HEAP_SLOTS / 64];

static void heap_register(const struct heap_info *h, int on)
{
	size_t i = ((uintptr_t)h >> 26) & (HEAP_SLOTS - 1);

	if (on)
		__atomic_fetch_or(&heap_map[i / 64], 1ULL << (i % 64), __ATOMIC_RELEASE);
	else
		__atomic_fetch_and(&heap_map[i / 64], ~(1ULL << (i % 64)), __ATOMIC_RELEASE);
}

/* HEAP_MAX_SIZE of address space aligned to HEAP_MAX_SIZE. */
static char *reserve_aligned(void)
{
	char *p = os_reserve(2 * HEAP_MAX_SIZE), *aligned;
	size_t lead;

	if (!p)
		return NULL;
	aligned = (char *)ALIGN_UP((uintptr_t)p, HEAP_MAX_SIZE);
	lead = (size_t)(aligned - p);
	if (lead)
		os_munmap(p, lead);
	os_munmap(aligned + HEAP_MAX_SIZE, HEAP_MAX_SIZE - lead);
	return aligned;
}

struct heap_info *new_heap(size_t size, size_t top_pad)
{
	struct heap_info *h;
	char *base;

	if (size > HEAP_MAX_SIZE)
		return NULL;
	if (size + top_pad <= HEAP_MAX_SIZE)
		size += top_pad;
	if (size < HEAP_MIN_SIZE)
		size = HEAP_MIN_SIZE;
	size = ALIGN_UP(size, mp.pagesize);
	if (size > HEAP_MAX_SIZE)
		size = HEAP_MAX_SIZE;
	base = reserve_aligned();
	if (!base)
		return NULL;
	if (os_commit(base, size) != 0) {
		os_munmap(base, HEAP_MAX_SIZE);
		return NULL;
	}
	h = (struct heap_info *)base;
	memset(h, 0, sizeof(*h));
	h->size = size;
	h->mprotect_size = size;
	h->first = (char *)ALIGN_UP((uintptr_t)(h + 1), MALLOC_ALIGNMENT);
	heap_register(h, 1);
	COUNT_INC(heaps);
	os_note_heap_new(h);
	return h;
}

int grow_heap(struct heap_info *h, size_t diff)
{
	size_t new_size = ALIGN_UP(h->size + diff, mp.pagesize);

	if (diff > HEAP_MAX_SIZE || new_size > HEAP_MAX_SIZE)
		return -1;
	if (new_size > h->mprotect_size) {
		if (os_commit((char *)h + h->mprotect_size, new_size - h->mprotect_size))
			return -1;
		h->mprotect_size = new_size;
	}
	h->size = new_size;
	return 0;
}

/* Give back the tail: the pages stay reserved and read/write, but empty. */
int shrink_heap(struct heap_info *h, size_t diff)
{
	if (diff == 0 || diff >= h->size)
		return -1;
	if (os_madvise_free((char *)h + h->size - diff, diff) != 0)
		return -1;
	h->size -= diff;
	return 0;
}

void delete_heap(struct heap_info *h)
{
	os_note_heap_free(h);
	heap_register(h, 0);
	COUNT_ADD(heaps, (uint64_t)-1);
	os_munmap(h, HEAP_MAX_SIZE);
}
