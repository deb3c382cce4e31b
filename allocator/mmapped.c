// SPDX-License-Identifier: MIT
/*
 * mmapped.c — chunks with a mapping of their own, for requests at or above
 * the mmap threshold. Such a chunk belongs to no arena: free unmaps it, so
 * its memory goes straight back to the kernel.
 *
 *   map-> +---------------------------------------------+
 *         | leading gap (only for memalign)             |
 * chunk-> +---------------------------------------------+
 *         | prev_size = offset of chunk from map        |
 *         | size = map length - offset        |0|0|1|0|
 *   mem-> +---------------------------------------------+
 *         | user data: size - 16 bytes, to the end of   |
 *         . the mapping (there is no next chunk)        |
 *         +---------------------------------------------+
 */
#include "allocator/arena.h"

static void count_mapped(int64_t chunks, int64_t bytes)
{
	int64_t n = COUNT_ADD(mmapped_chunks, chunks) + chunks;
	int64_t b = COUNT_ADD(mmapped_bytes, bytes) + bytes;

	/* Racy maxima are fine: they are statistics. */
	if ((uint64_t)n > hl_count.max_mmapped_chunks)
		hl_count.max_mmapped_chunks = (uint64_t)n;
	if ((uint64_t)b > hl_count.max_mmapped_bytes)
		hl_count.max_mmapped_bytes = (uint64_t)b;
}

struct chunk *mmap_chunk(size_t nb, size_t align)
{
	size_t extra = align > MALLOC_ALIGNMENT ? align : 0;
	size_t size = nb + SIZE_SZ + extra;
	uintptr_t off = 0;
	struct chunk *p;
	char *map;

	if (size < nb || size > PTRDIFF_MAX)
		return NULL;
	size = ALIGN_UP(size, mp.pagesize);
	map = os_mmap(size);
	if (!map)
		return NULL;
	if (extra)
		off = ALIGN_UP((uintptr_t)map + CHUNK_HDR, align) - CHUNK_HDR - (uintptr_t)map;
	p = (struct chunk *)(map + off);
	p->prev_size = off;
	set_head(p, (size - off) | IS_MMAPPED);
	count_mapped(1, (int64_t)size);
	return p;
}

void mmap_chunk_check(const struct chunk *p, const char *fn)
{
	uintptr_t map = (uintptr_t)p - p->prev_size;
	size_t total = p->prev_size + chunksize(p);

	if (((map | total) & (mp.pagesize - 1)) || !aligned_ok((uintptr_t)chunk2mem(p)) ||
	    total < mp.pagesize || chunksize(p) < MINSIZE)
		hl_corrupt(fn, "invalid pointer", chunk2mem(p));
}

void munmap_chunk(struct chunk *p, const char *fn)
{
	char *map = (char *)p - p->prev_size;
	size_t total = p->prev_size + chunksize(p);

	mmap_chunk_check(p, fn);
	count_mapped(-1, -(int64_t)total);
	if (os_munmap(map, total) != 0)
		hl_corrupt(fn, "invalid pointer (munmap failed)", chunk2mem(p));
}

struct chunk *mremap_chunk(struct chunk *p, size_t nb, const char *fn)
{
	size_t off = p->prev_size;
	size_t total = off + chunksize(p);
	size_t newtotal = nb + off + SIZE_SZ;
	char *map;

	mmap_chunk_check(p, fn);
	if (newtotal < nb || newtotal > PTRDIFF_MAX)
		return NULL;
	newtotal = ALIGN_UP(newtotal, mp.pagesize);
	if (newtotal == total)
		return p;
	map = os_mremap((char *)p - off, total, newtotal);
	if (!map)
		return NULL;
	p = (struct chunk *)(map + off);
	set_head(p, (newtotal - off) | IS_MMAPPED);
	count_mapped(0, (int64_t)newtotal - (int64_t)total);
	return p;
}
