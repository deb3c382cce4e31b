/* SPDX-License-Identifier: MIT */
/*
 * heaplab.h — what libheaplab.so offers beyond the malloc family: a heap dump
 * and its counters. A program linked with -lheaplab can call these directly;
 * a program that merely has the library preloaded finds them with
 *
 *	int (*stats)(struct heaplab_stats *) = dlsym(RTLD_DEFAULT, "heaplab_stats");
 *
 * (NULL when another allocator is in use).
 *
 * Configuration, read once when the library loads, from the environment:
 *
 *   HEAPLAB_OPTIONS=key=value,key=value,...
 *
 *   mmap_threshold=N  requests of N bytes or more get their own mmap
 *                     (default 128k; at most 32m; fixes the threshold)
 *   trim_threshold=N  top larger than N is given back with sbrk (128k)
 *   top_pad=N         extra bytes asked for whenever the heap grows (128k)
 *   mmap_max=N        at most N mmapped chunks at once (65536)
 *   mmap_cache=N      bytes of freed mappings kept for reuse (64m; 0: none)
 *   arena_max=N       at most N arenas (default 8 x cores)
 *   max_fast=N        fast-bin limit, a request size as M_MXFAST (128; 0..160)
 *   tcache_count=N    chunks per thread-cache bin (default: grows with batches)
 *   thp=1             ask for transparent huge pages for big heaps and mappings
 *   populate=0        small carves from top do not fault the next pages in ahead
 *   perturb=B         fill freed memory with B, new memory with B ^ 0xff
 *   check=1           verify the whole heap on every call (slow)
 *   dump_at_exit=1    print the heap dump and counters on stderr at exit
 *
 * Sizes take k, m, g suffixes (KiB, MiB, GiB) or 0x hex. Setting any of the
 * first four turns off the dynamic mmap threshold, as mallopt does. A bad
 * item is reported once on stderr and ignored.
 */
#ifndef HEAPLAB_PUBLIC_H
#define HEAPLAB_PUBLIC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HEAPLAB_STATS_VERSION 1

struct heaplab_stats {
	uint32_t version;		/* HEAPLAB_STATS_VERSION */
	uint32_t arenas;
	uint64_t heaps;			/* mmap'd heaps of the non-main arenas */
	/* Calls of the malloc family (reallocarray counts as realloc; memalign
	 * counts posix_memalign, aligned_alloc, valloc and pvalloc too). */
	uint64_t malloc_calls, free_calls, calloc_calls, realloc_calls, memalign_calls;
	/* Requests made to the kernel. */
	uint64_t sbrk_calls, mmap_calls, munmap_calls, mremap_calls, madvise_calls;
	uint64_t mprotect_calls;
	uint64_t heap_grows;		/* times an arena's heap grew */
	uint64_t trims;			/* times a top went back (sbrk, or heap shrink) */
	/* Memory, in bytes. */
	uint64_t in_use_bytes;		/* chunks handed out, headers included */
	uint64_t heap_bytes;		/* arena heaps obtained from the kernel (all arenas) */
	uint64_t max_heap_bytes;
	uint64_t mmapped_chunks;	/* live chunks with a mapping of their own */
	uint64_t mmapped_bytes;
	uint64_t max_mmapped_bytes;
	uint64_t mapped_bytes;		/* heap_bytes + mmapped_bytes */
	uint64_t free_bytes;		/* in bins (fast ones included) and top */
	uint64_t fast_bytes;		/* of which in fast bins */
	uint64_t top_bytes;
	/* Parameters now in force. */
	uint64_t mmap_threshold, trim_threshold, top_pad;
};

/* Fills *st; returns 0. */
int heaplab_stats(struct heaplab_stats *st);

/*
 * Writes the heap dump on fd: every chunk of every arena with its address,
 * user pointer, size, state and, when free, its bin (fast[i], unsorted,
 * small[i], large[i]); then the mmapped chunks and the counters.
 */
void heaplab_dump(int fd);

#ifdef __cplusplus
}
#endif

#endif
