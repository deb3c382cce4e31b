/* SPDX-License-Identifier: MIT */
/*
 * arena.h — libheaplab's internal interface: the arena (a heap with its own
 * lock, its bins and its top chunk), the tunable parameters, the counters,
 * and what each file of the allocator offers the others.
 *
 *   chunk.h    chunk layout and boundary-tag helpers
 *   bins.c     fast/unsorted/small/large bins and the binmap
 *   arena.c    malloc and free inside one arena: bins, split, coalesce, top
 *   mmapped.c  chunks with a mapping of their own (large requests)
 *   os.c       the only file that asks the kernel for memory (with probes)
 *   api.c      the public malloc family, locking, start-up
 *   options.c  HEAPLAB_OPTIONS
 *   check.c    corruption reports and the heap verifier
 *   dump.c     heap dump, counters, mallinfo, malloc_stats, malloc_info
 *   out.c      formatting into a stack buffer (nothing here may allocate)
 */
#ifndef HEAPLAB_ARENA_H
#define HEAPLAB_ARENA_H

#include <pthread.h>
#include <stdint.h>

#include "allocator/bins.h"

#define HL_HIDDEN	__attribute__((visibility("hidden")))
#define HL_API		__attribute__((visibility("default")))

/*
 * A stretch of address space that holds an arena's chunks back to back. The
 * main arena normally has one, on the program break; another starts when
 * the break moves under us (someone else called sbrk) or cannot move (we
 * fall back to mmap). The old top is then closed by two fenceposts.
 */
struct heap_seg {
	char *base;
	char *end;		/* for the last segment: the end of top */
};
#define MAX_SEGS	32

struct arena {
	pthread_mutex_t mutex;
	unsigned index;			/* 0: the main arena */
	int have_fastchunks;
	int contiguous;			/* top ends at the program break */
	size_t max_fast;		/* largest chunk size that goes to a fast bin */
	struct chunk *fastbins[NFASTBINS];
	struct chunk *top;
	struct chunk *last_remainder;	/* of the last split for a small request */
	struct chunk bins[NBINS];	/* sentinels; bins[0] is unused */
	uint64_t binmap[BINMAP_WORDS];
	size_t system_mem;		/* bytes of heap obtained from the kernel */
	size_t max_system_mem;
	struct heap_seg seg[MAX_SEGS];
	unsigned nseg;
	unsigned lost_segs;		/* segments beyond MAX_SEGS (not walkable) */
	struct arena *next;		/* the list of arenas (part 2) */
};

static inline struct chunk *bin_at(struct arena *av, unsigned i)
{
	return &av->bins[i];
}

static inline void arena_lock(struct arena *av)
{
	pthread_mutex_lock(&av->mutex);
}

static inline void arena_unlock(struct arena *av)
{
	pthread_mutex_unlock(&av->mutex);
}

/* Tunables: defaults as glibc's, changed by mallopt and HEAPLAB_OPTIONS. */
#define DEFAULT_MMAP_THRESHOLD		(128 * 1024UL)
#define DEFAULT_MMAP_THRESHOLD_MAX	(32 * 1024 * 1024UL)	/* the dynamic cap */
#define DEFAULT_TRIM_THRESHOLD		(128 * 1024UL)
#define DEFAULT_TOP_PAD			(128 * 1024UL)
#define DEFAULT_MMAP_MAX		65536
/* A heap grown with mmap because sbrk failed gets at least this much. */
#define MMAP_AS_MORECORE_SIZE		(1024 * 1024UL)

struct mparams {
	size_t mmap_threshold;
	size_t trim_threshold;
	size_t top_pad;
	int n_mmaps_max;
	int no_dyn_threshold;		/* a threshold was set: keep it */
	size_t arena_max;		/* 0: the default (8 x cores) */
	size_t max_fast;		/* request bytes (M_MXFAST) */
	int check;			/* verify the whole heap on every call */
	int dump_at_exit;
	int perturb;			/* M_PERTURB byte, 0 = off */
	size_t pagesize;
	int initialized;
};
extern struct mparams mp HL_HIDDEN;
extern struct arena main_arena HL_HIDDEN;

/* Counters behind heaplab_stats(), updated with relaxed atomics. */
struct hl_counters {
	uint64_t malloc, free, calloc, realloc, memalign;
	uint64_t sbrk, mmap, munmap, mremap, madvise;
	uint64_t trims, heap_grows;
	int64_t in_use;			/* bytes of chunks handed out */
	int64_t mmapped_chunks, mmapped_bytes;
	uint64_t max_mmapped_chunks, max_mmapped_bytes;
};
extern struct hl_counters hl_count HL_HIDDEN;
#define COUNT_ADD(field, n) \
	__atomic_fetch_add(&hl_count.field, (n), __ATOMIC_RELAXED)
#define COUNT_INC(field)	COUNT_ADD(field, 1)

/* arena.c — all with av->mutex held. */
void arena_init(struct arena *av, unsigned index) HL_HIDDEN;
struct chunk *arena_malloc(struct arena *av, size_t nb, const char *fn) HL_HIDDEN;
void arena_free(struct arena *av, struct chunk *p, const char *fn) HL_HIDDEN;
struct chunk *arena_realloc(struct arena *av, struct chunk *p, size_t nb,
			    const char *fn) HL_HIDDEN;
struct chunk *arena_memalign(struct arena *av, size_t align, size_t nb,
			     const char *fn) HL_HIDDEN;
void malloc_consolidate(struct arena *av) HL_HIDDEN;
int systrim(struct arena *av, size_t pad) HL_HIDDEN;
int arena_trim(struct arena *av, size_t pad) HL_HIDDEN;
/* The segment holding [p, p + size), or NULL. */
struct heap_seg *arena_seg_of(struct arena *av, const struct chunk *p,
			      size_t size) HL_HIDDEN;

/* mmapped.c — no lock needed. */
struct chunk *mmap_chunk(size_t nb, size_t align) HL_HIDDEN;
void munmap_chunk(struct chunk *p, const char *fn) HL_HIDDEN;
struct chunk *mremap_chunk(struct chunk *p, size_t nb, const char *fn) HL_HIDDEN;
void mmap_chunk_check(const struct chunk *p, const char *fn) HL_HIDDEN;

/* os.c */
void *os_sbrk(intptr_t incr) HL_HIDDEN;		/* (void *)-1 on failure */
void *os_mmap(size_t len) HL_HIDDEN;		/* NULL on failure */
int os_munmap(void *addr, size_t len) HL_HIDDEN;
void *os_mremap(void *old, size_t oldlen, size_t newlen) HL_HIDDEN;
int os_madvise_free(void *addr, size_t len) HL_HIDDEN;
/* Probes for the allocator's own events (no kernel call). */
void os_note_heap_grow(struct arena *av, size_t bytes) HL_HIDDEN;
void os_note_trim(struct arena *av, size_t bytes) HL_HIDDEN;
void os_note_threshold(size_t mmap_threshold, size_t trim_threshold) HL_HIDDEN;

/* options.c */
void options_init(void) HL_HIDDEN;

/* check.c */
_Noreturn void hl_corrupt(const char *fn, const char *problem,
			  const void *ptr) HL_HIDDEN;
void arena_verify(struct arena *av, const char *fn) HL_HIDDEN;

/* api.c: runs the start-up if no allocation has yet. */
void hl_ensure_init(void) HL_HIDDEN;

#endif
