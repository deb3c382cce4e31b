/* SPDX-License-Identifier: MIT */
/*
 * tcache.h — the thread cache's fast paths, inline in malloc and free (and
 * in the arena, which refills the cache while it holds the lock). See
 * tcache.c for the design.
 */
#ifndef HEAPLAB_TCACHE_H
#define HEAPLAB_TCACHE_H

#include "allocator/arena.h"

#define TCACHE_BINS	64
#define TCACHE_MAX_CHUNK	(MINSIZE + (TCACHE_BINS - 1) * MALLOC_ALIGNMENT)	/* 1040 */
#define TCACHE_DEFAULT_COUNT	7

struct tcache_entry {
	struct tcache_entry *next;	/* mangled */
	uintptr_t key;			/* tcache_key while cached */
};

struct tcache {
	struct tcache_entry *entries[TCACHE_BINS];
	uint16_t counts[TCACHE_BINS];
	struct hl_calls calls;
	struct tcache *next, *prev;	/* every live cache, for the counters */
};

struct tcache *tcache_create(void) HL_HIDDEN;

static inline struct tcache_entry *protect(struct tcache_entry **pos, struct tcache_entry *ptr)
{
	return (struct tcache_entry *)(((uintptr_t)pos >> 12) ^ (uintptr_t)ptr);
}

static inline size_t tidx(size_t nb)
{
	return (nb - MINSIZE) / MALLOC_ALIGNMENT;
}

/* Pop a chunk of size nb from cache tc, or NULL (nb past the cache too). */
static inline __attribute__((always_inline)) void *tcache_take(struct tcache *tc, size_t nb)
{
	size_t i = tidx(nb);
	struct tcache_entry *e;
	struct chunk *p;

	if (i >= TCACHE_BINS || !(e = tc->entries[i]))
		return NULL;
	if (unlikely(!aligned_ok((uintptr_t)e)))
		hl_corrupt("malloc", "unaligned tcache chunk detected", e);
	p = mem2chunk(e);
	if (unlikely(e->key != tcache_key || tidx(chunksize(p)) != i))
		hl_corrupt("malloc", "corrupted tcache chunk", e);
	tc->entries[i] = protect(&e->next, e->next);
	tc->counts[i]--;
	e->key = 0;
	return e;
}

static inline void *tcache_get(size_t nb)
{
	struct tcache *tc = tcache;

	if (unlikely(!tc)) {
		tcache_create();
		return NULL;
	}
	return tcache_take(tc, nb);
}

/*
 * Cheap checks that the chunk is one of ours and in use, without a lock;
 * anything doubtful goes to the arena's free, which checks it fully.
 */
static inline __attribute__((always_inline)) int plausible(struct chunk *p, size_t size)
{
	struct arena *av;

	if (chunk_non_main_arena(p)) {
		struct heap_info *h = heap_for_ptr(p);

		if (!heap_registered(h) || (char *)p < h->first ||
		    size > (size_t)((char *)h + h->size - (char *)p))
			return 0;
		av = h->ar_ptr;
	} else {
		uintptr_t a = (uintptr_t)p;

		if (a < __atomic_load_n(&main_heap_lo, __ATOMIC_RELAXED) ||
		    a + size > __atomic_load_n(&main_heap_hi, __ATOMIC_RELAXED))
			return 0;
		av = &main_arena;
	}
	/* A chunk merged into top has no next chunk to read. */
	return p != __atomic_load_n(&av->top, __ATOMIC_RELAXED) && inuse_at(p, size);
}

static inline __attribute__((always_inline)) int tcache_put(struct chunk *p, size_t size, const char *fn)
{
	struct tcache *tc = tcache;
	size_t i = tidx(size);
	struct tcache_entry *e;

	/* i wraps past TCACHE_BINS for a size below MINSIZE. */
	if (!tc || i >= TCACHE_BINS)
		return 0;
	e = chunk2mem(p);
	/* Only a cached chunk has the key (the user's data would need to
	 * hold this random word by chance). */
	if (unlikely(e->key == tcache_key))
		hl_corrupt(fn, "double free detected", e);
	if (tc->counts[i] >= mp.tcache_count || unlikely(!plausible(p, size)))
		return 0;
	e->key = tcache_key;
	e->next = protect(&e->next, tc->entries[i]);
	tc->entries[i] = e;
	tc->counts[i]++;
	return 1;
}

/*
 * Called by the arena, under its lock, with a chunk it just took from an
 * exact-size bin for this thread: keep it in the cache if there is room.
 */
static inline int tcache_stash(struct chunk *p, size_t size)
{
	struct tcache *tc = tcache;
	size_t i = tidx(size);
	struct tcache_entry *e;

	if (!tc || i >= TCACHE_BINS || tc->counts[i] >= mp.tcache_count)
		return 0;
	e = chunk2mem(p);
	e->key = tcache_key;
	e->next = protect(&e->next, tc->entries[i]);
	tc->entries[i] = e;
	tc->counts[i]++;
	return 1;
}

/* Whether the cache of this thread has room for chunks of this size. */
static inline int tcache_room(size_t size)
{
	struct tcache *tc = tcache;
	size_t i = tidx(size);

	return tc && i < TCACHE_BINS && tc->counts[i] < mp.tcache_count;
}

#endif
