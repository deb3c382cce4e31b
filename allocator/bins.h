/* SPDX-License-Identifier: MIT */
/*
 * bins.h — where free chunks wait, and the arithmetic that picks a bin from
 * a size (glibc's numbering, 64-bit):
 *
 *   fast bins    10 singly linked LIFO lists, one per size 32, 48 … 176;
 *                only chunks up to max_fast (128 by default) go there;
 *                links are mangled (safe-linking, below).
 *                Their chunks stay "in use" for their neighbours, so they
 *                are not coalesced until a consolidation.
 *   bin 1        the unsorted bin: every freed (and split-off) chunk goes
 *                here first and is sorted into its bin by the next malloc
 *                that looks at it.
 *   bins 2..63   small bins: one exact size each, 32 … 1008 (index = size/16).
 *   bins 64..126 large bins: size ranges growing geometrically (64-byte
 *                steps, then 512, 4096, 32768, 262144, then the rest), each
 *                kept sorted by size, largest first, with a second list
 *                (fd_nextsize) that skips over chunks of equal size.
 *   binmap       one bit per bin, set when the bin may be non-empty, so the
 *                search for a larger bin skips empty ones a word at a time.
 *
 * A bin's head is only its fd/bk pair in the arena, seen as a chunk by
 * bin_at (arena.h), as in glibc: the head's other fields belong to its
 * neighbours, so code never writes them and reads them only where bins.c
 * says why that is safe.
 */
#ifndef HEAPLAB_BINS_H
#define HEAPLAB_BINS_H

#include "allocator/chunk.h"

#define NBINS			128
#define NSMALLBINS		64
#define SMALLBIN_WIDTH		MALLOC_ALIGNMENT
#define MIN_LARGE_SIZE		(NSMALLBINS * SMALLBIN_WIDTH)	/* 1024 */
#define UNSORTED_BIN		1

/* The largest max_fast that mallopt(M_MXFAST) accepts: a request of 160. */
#define MAX_FAST_SIZE		160
#define DEFAULT_MXFAST		128	/* request bytes, as glibc: chunks <= 128 */
#define NFASTBINS		10	/* fastbin_index(request2size(MAX_FAST_SIZE)) + 1 */

/* A freed chunk this large makes free() consolidate the fast bins. */
#define FASTBIN_CONSOLIDATION_THRESHOLD	65536UL

#define BINMAP_WORDS		(NBINS / 64)

static inline unsigned fastbin_index(size_t sz)
{
	return (unsigned)(sz >> 4) - 2;
}

static inline int in_smallbin_range(size_t sz)
{
	return sz < MIN_LARGE_SIZE;
}

static inline unsigned smallbin_index(size_t sz)
{
	return (unsigned)(sz >> 4);
}

static inline unsigned largebin_index(size_t sz)
{
	if ((sz >> 6) <= 48)
		return 48 + (unsigned)(sz >> 6);
	if ((sz >> 9) <= 20)
		return 91 + (unsigned)(sz >> 9);
	if ((sz >> 12) <= 10)
		return 110 + (unsigned)(sz >> 12);
	if ((sz >> 15) <= 4)
		return 119 + (unsigned)(sz >> 15);
	if ((sz >> 18) <= 2)
		return 124 + (unsigned)(sz >> 18);
	return 126;
}

static inline unsigned bin_index(size_t sz)
{
	return in_smallbin_range(sz) ? smallbin_index(sz) : largebin_index(sz);
}

/* The max_fast value (a chunk size) for a M_MXFAST request size. */
static inline size_t max_fast_for(size_t req)
{
	if (req == 0)
		return 0;	/* fast bins off */
	return (req + SIZE_SZ) & ~(size_t)MALLOC_ALIGN_MASK;
}

struct arena;

static inline struct chunk *bin_first(struct chunk *bin)
{
	return bin->fd;
}

static inline struct chunk *bin_last(struct chunk *bin)
{
	return bin->bk;
}

/*
 * Fast-bin links are stored mangled with the address that holds them
 * (glibc's safe-linking): a use-after-free write into a fast chunk cannot
 * point malloc at an address of the attacker's choosing without knowing
 * where the heap is.
 */
static inline struct chunk *fastbin_link(struct chunk **pos, struct chunk *ptr)
{
	return (struct chunk *)(((uintptr_t)pos >> 12) ^ (uintptr_t)ptr);
}

/* The next chunk of a fast bin after p (NULL at the end). */
static inline struct chunk *fastbin_next(struct chunk *p)
{
	return fastbin_link(&p->fd, p->fd);
}

void bins_init(struct arena *av);
void binmap_mark(struct arena *av, unsigned i);
void binmap_unmark(struct arena *av, unsigned i);
/* The first bin >= i whose binmap bit is set, or 0 if none. */
unsigned binmap_next(const struct arena *av, unsigned i);

/*
 * unlink_chunk (take a chunk out of whatever doubly linked bin it is in,
 * checked) and unsorted_push (put a free chunk at the front of the
 * unsorted bin) are inline at the end of arena.h: they run on nearly every
 * free and arena malloc. A large chunk leaving its nextsize list:
 */
void unlink_nextsize(struct chunk *p);
/* Put a chunk taken from the unsorted bin into its small or large bin. */
void bin_insert_sorted(struct arena *av, struct chunk *p);
/*
 * Best fit in large bin i for chunk size nb: the smallest chunk >= nb,
 * preferring one that is not the head of a size run. NULL if none.
 */
struct chunk *largebin_best_fit(struct arena *av, unsigned i, size_t nb);

#endif
