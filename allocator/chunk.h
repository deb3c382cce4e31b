/* SPDX-License-Identifier: MIT */
/*
 * chunk.h — the unit of memory libheaplab manages: a chunk with boundary tags,
 * as in dlmalloc and glibc's ptmalloc2 (same names, same rules, 64-bit only).
 *
 * An allocated chunk:
 *
 *   chunk-> +-----------------------------------------------+
 *           | prev_size: size of the previous chunk, only   |
 *           |   meaningful while that chunk is free         |
 *           +-----------------------------------------------+
 *           | size of this chunk                   |C|N|M|P|
 *     mem-> +-----------------------------------------------+
 *           | user data: chunksize - 8 bytes usable; the    |
 *           .   last 8 are the next chunk's prev_size word, |
 *           .   unused while this chunk is in use           |
 *   next->  +-----------------------------------------------+
 *           | size of the next chunk              |C|N|M|1| <- P: we are in use
 *           +-----------------------------------------------+
 *
 * A free chunk (in the unsorted, a small or a large bin):
 *
 *   chunk-> +-----------------------------------------------+
 *           | prev_size (the previous chunk is in use, so   |
 *           |   this word belongs to it)                    |
 *           +-----------------------------------------------+
 *           | size                                 |0|N|0|P|
 *     mem-> +-----------------------------------------------+
 *           | fd: next chunk in the bin                     |
 *           | bk: previous chunk in the bin                 |
 *           | fd_nextsize, bk_nextsize: large bins only,    |
 *           .   the next/previous different size            |
 *           .                                               |
 *   next->  +-----------------------------------------------+
 *           | prev_size = our size (the boundary tag)       |
 *           | size of the next chunk              |C|N|M|0| <- P: we are free
 *           +-----------------------------------------------+
 *
 * The flag bits live in the low bits of the size, which are always zero
 * because sizes are multiples of MALLOC_ALIGNMENT (16):
 *   P  PREV_INUSE      the previous chunk is in use (its prev_size is not ours)
 *   M  IS_MMAPPED      the chunk has a mapping of its own (prev_size = the
 *                      offset from the start of that mapping)
 *   N  NON_MAIN_ARENA  the chunk belongs to an arena on an mmap'd heap
 *   C  CHUNK_CACHED    free, but parked in a fast bin: its neighbours still
 *                      see it in use, and a second free of it is caught in
 *                      O(1). (Set and cleared under the arena lock only; the
 *                      thread caches mark their chunks another way.)
 *
 * So from any chunk both neighbours are found in O(1): the next one at
 * chunk + size, the previous one, when free, at chunk - prev_size.
 */
#ifndef HEAPLAB_CHUNK_H
#define HEAPLAB_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#define SIZE_SZ			sizeof(size_t)
#define MALLOC_ALIGNMENT	16
#define MALLOC_ALIGN_MASK	(MALLOC_ALIGNMENT - 1)
/* prev_size + size + fd + bk: the smallest chunk that can sit in a bin. */
#define MINSIZE			32
/* From chunk to user memory: prev_size and size. */
#define CHUNK_HDR		(2 * SIZE_SZ)

#define PREV_INUSE		0x1UL
#define IS_MMAPPED		0x2UL
#define NON_MAIN_ARENA		0x4UL
#define CHUNK_CACHED		0x8UL
#define SIZE_BITS		(PREV_INUSE | IS_MMAPPED | NON_MAIN_ARENA | CHUNK_CACHED)

/*
 * Requests larger than this are refused with ENOMEM before any arithmetic can
 * wrap: no object may be larger than PTRDIFF_MAX.
 */
#define MAX_REQUEST		((size_t)PTRDIFF_MAX - 4 * MINSIZE)

struct chunk {
	size_t prev_size;
	size_t size;
	struct chunk *fd;
	struct chunk *bk;
	struct chunk *fd_nextsize;
	struct chunk *bk_nextsize;
};

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

#define ALIGN_UP(x, a)		(((x) + ((a) - 1)) & ~((size_t)(a) - 1))
#define ALIGN_DOWN(x, a)	((x) & ~((size_t)(a) - 1))

static inline void *chunk2mem(const struct chunk *p)
{
	return (char *)p + CHUNK_HDR;
}

static inline struct chunk *mem2chunk(const void *mem)
{
	return (struct chunk *)((char *)mem - CHUNK_HDR);
}

static inline struct chunk *chunk_at(const struct chunk *p, size_t off)
{
	return (struct chunk *)((char *)p + off);
}

static inline size_t chunksize(const struct chunk *p)
{
	return p->size & ~SIZE_BITS;
}

static inline struct chunk *next_chunk(const struct chunk *p)
{
	return chunk_at(p, chunksize(p));
}

/* Only valid when !prev_inuse(p). */
static inline struct chunk *prev_chunk(const struct chunk *p)
{
	return (struct chunk *)((char *)p - p->prev_size);
}

static inline int prev_inuse(const struct chunk *p)
{
	return p->size & PREV_INUSE;
}

static inline int chunk_is_mmapped(const struct chunk *p)
{
	return (p->size & IS_MMAPPED) != 0;
}

static inline int chunk_non_main_arena(const struct chunk *p)
{
	return (p->size & NON_MAIN_ARENA) != 0;
}

static inline int chunk_is_cached(const struct chunk *p)
{
	return (p->size & CHUNK_CACHED) != 0;
}

/* In use as its neighbours see it: the next chunk's PREV_INUSE bit. */
static inline int inuse_at(const struct chunk *p, size_t off)
{
	return chunk_at(p, off)->size & PREV_INUSE;
}

static inline void set_inuse_at(struct chunk *p, size_t off)
{
	chunk_at(p, off)->size |= PREV_INUSE;
}

static inline void clear_inuse_at(struct chunk *p, size_t off)
{
	chunk_at(p, off)->size &= ~PREV_INUSE;
}

static inline void set_head(struct chunk *p, size_t head)
{
	p->size = head;
}

/* Keep the flags, change the size. */
static inline void set_head_size(struct chunk *p, size_t size)
{
	p->size = (p->size & SIZE_BITS) | size;
}

/* The boundary tag: a free chunk's size, repeated in the next chunk. */
static inline void set_foot(struct chunk *p, size_t size)
{
	chunk_at(p, size)->prev_size = size;
}

static inline int aligned_ok(uintptr_t x)
{
	return (x & MALLOC_ALIGN_MASK) == 0;
}

/*
 * The chunk size that serves a request of req bytes: the request plus the
 * size word, rounded up to the alignment, at least MINSIZE. The last word of
 * a chunk is the next chunk's prev_size, which the user may use while the
 * chunk is in use, hence only one word of overhead. Callers check
 * req <= MAX_REQUEST first.
 */
static inline size_t request2size(size_t req)
{
	if (req + SIZE_SZ + MALLOC_ALIGN_MASK < MINSIZE)
		return MINSIZE;
	return (req + SIZE_SZ + MALLOC_ALIGN_MASK) & ~(size_t)MALLOC_ALIGN_MASK;
}

/* Bytes the user may use in a chunk of this kind. */
static inline size_t chunk_usable(const struct chunk *p)
{
	if (chunk_is_mmapped(p))
		return chunksize(p) - CHUNK_HDR;
	return chunksize(p) - SIZE_SZ;
}

#endif
