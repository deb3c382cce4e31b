/* SPDX-License-Identifier: MIT */
/*
 * phase.h — what every teaching allocator (build/phases/libphase1.so …
 * libphase6.so) exports besides the malloc API, so that one experiment
 * program works with any phase.
 *
 * An experiment runs as a separate process with a phase preloaded and finds
 * these symbols with dlsym(RTLD_DEFAULT, NAME); it never links allocator
 * code. Only the types below are shared. Every phase exports exactly:
 *
 *   malloc free calloc realloc posix_memalign aligned_alloc memalign valloc
 *   pvalloc malloc_usable_size
 *
 *   const char heaplab_phase_name[]     "phase1" … "phase6"
 *   const char heaplab_phase_idea[]     one line: the idea this phase adds
 *   void   heaplab_phase_stats(struct heaplab_phase_stats *out)
 *                                       a consistent copy of the counters
 *   size_t heaplab_phase_walk(struct heaplab_chunk *out, size_t max)
 *                                       the chunks in address order (phase
 *                                       6: then the mmapped ones): fills at
 *                                       most MAX entries, returns how many
 *                                       chunks there are (call with 0 to size)
 *   void   heaplab_phase_dump(int fd)   the same, as text on FD:
 *                                       a "# " summary line, then one line per
 *                                       chunk: "ADDRESS SIZE STATE MAGIC"
 *                                       e.g. "0x55d0c0a01030 48 free ok"
 *                                       (MAGIC is ok, BAD, or - when the
 *                                       phase keeps none)
 *
 * None of them allocates, so they may be called at any point. Phase 1
 * reports every chunk as used (its free does nothing) and keeps no magic.
 *
 * The header itself, header_size bytes before each payload: phase 1 keeps
 * only the size (the word just before the payload); from phase 2 on it is
 * struct chunk, starting with size_t size (phases 5-6: bit 0 is PREV_INUSE),
 * uint32_t state (1 used, 2 free, 3 alias of an aligned block, 4 mmapped)
 * and uint32_t magic (0xDEADBEEF) at offset 12; phases 3-6 add the next
 * pointer at offset 16.
 */
#ifndef HEAPLAB_PHASE_H
#define HEAPLAB_PHASE_H

#include <stddef.h>
#include <stdint.h>

/* Bumped whenever a struct below changes layout. */
#define HEAPLAB_PHASE_ABI	1

/*
 * Counters, all since the process started. A field a phase has no use for
 * stays 0 (phases 1-2 never search; only phase 6 mmaps).
 */
struct heaplab_phase_stats {
	uint32_t abi;			/* HEAPLAB_PHASE_ABI */
	uint32_t phase;			/* 1 … 6 */
	uint32_t fit;			/* HEAPLAB_FIT_*: which free chunk */
	uint32_t header_size;		/* bytes of metadata before a payload */
	uint64_t mmap_threshold;	/* requests >= this are mmapped */

	uint64_t mallocs;		/* chunks handed out */
	uint64_t frees;			/* chunks given back */
	uint64_t bytes_requested;	/* sum of the sizes asked for */

	uint64_t sbrk_calls;		/* sbrk() calls that moved the break */
	uint64_t mmap_calls;
	uint64_t munmap_calls;

	uint64_t searches;		/* free-list searches */
	uint64_t nodes_traversed;	/* list nodes visited by all searches */
	uint64_t last_traversed;	/* ... by the latest search */
	uint64_t splits;		/* free chunks split in two */
	uint64_t merges;		/* free neighbours merged into one */

	uint64_t heap_size;		/* bytes the break was moved by */
	uint64_t mapped_bytes;		/* bytes in mmapped chunks now */
	uint64_t live_bytes;		/* usable bytes of chunks in use now */
	uint64_t peak_live_bytes;
	uint64_t peak_footprint;	/* top of heap_size + mapped_bytes */
};

enum {
	HEAPLAB_FIT_NONE = 0,		/* phases 1-2: nothing is ever reused */
	HEAPLAB_FIT_FIRST = 1,
	HEAPLAB_FIT_BEST = 2,
};

/* One chunk as heaplab_phase_walk() reports it. */
struct heaplab_chunk {
	uint64_t addr;			/* the payload: what malloc returned */
	uint64_t size;			/* usable bytes of the payload */
	uint32_t state;			/* HEAPLAB_CHUNK_* */
	int32_t magic;			/* 1 intact, 0 broken, -1 none kept */
};

enum {
	HEAPLAB_CHUNK_USED = 1,
	HEAPLAB_CHUNK_FREE = 2,
	HEAPLAB_CHUNK_MMAPPED = 3,	/* in use, in a mapping of its own */
};

/* The types of the functions, for dlsym() users. */
typedef void heaplab_phase_stats_fn(struct heaplab_phase_stats *out);
typedef size_t heaplab_phase_walk_fn(struct heaplab_chunk *out, size_t max);
typedef void heaplab_phase_dump_fn(int fd);

#endif
