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
/* mp.tcache_count when no option set it: adaptive bins (tcache.c). */
#define TCACHE_COUNT_AUTO	UINT32_MAX
/*
 * An adaptive bin grows to at most this many bytes of chunks (and 7 at
 * least), and all the bins of a thread together to TCACHE_TOTAL_BYTES.
 */
#define TCACHE_BIN_BYTES	(512 * 1024)
#define TCACHE_TOTAL_BYTES	(4 * 1024 * 1024)
/*
 * Trips to the arena between two looks at the bins (tcache_gc): each look
 * gives back what adopted chunks a bin held unused since the last; every
 * TCACHE_SHRINK_LOOKS looks (256 trips), bins that grew and were left
 * alone since the last such look shrink.
 */
#define TCACHE_GC_TICKS		64
#define TCACHE_SHRINK_LOOKS	4

struct tcache_entry {
	struct tcache_entry *next;	/* mangled */
	uintptr_t key;			/* tcache_key while cached */
};

struct tcache {
	struct tcache_entry *entries[TCACHE_BINS];
	uint16_t counts[TCACHE_BINS];
	uint16_t limits[TCACHE_BINS];	/* chunks each bin may hold now */
	uint64_t overflowed;		/* bins a free found full since their last miss */
	uint64_t busy;			/* bins that overflowed or missed since the last gc */
	unsigned ticks;			/* trips to the arena since the last gc */
	unsigned looks;			/* gc looks since the last that shrank */
	struct arena *arena;		/* the thread's own arena */
	struct heap_info *home;		/* its first heap (never unmapped) */
	uint16_t gc_counts[TCACHE_BINS];	/* each bin as the last gc saw it */
	/*
	 * Chunks other threads freed for this one that it adopted past a
	 * bin's limit (tcache_adopt): each bin's lowest count a drain saw
	 * since the last gc (what sat unused all that time is given back),
	 * and the bytes it may still adopt past the limits before the cache
	 * is counted again.
	 */
	uint16_t lows[TCACHE_BINS];
	uint64_t surplus;		/* bins that adopted past their limit */
	size_t adopt_room;
	struct tcache_entry *gc_heads[TCACHE_BINS];
	struct hl_calls calls;
	struct tcache *next, *prev;	/* every live cache, for the counters */
	/*
	 * The outbox: chunks of another arena this thread freed past what its
	 * bins keep, linked as on an arena's pending list (marked with the
	 * key, so a second free is caught), handed to out_arena's pending
	 * list in one go (tcache_outbox_add).
	 */
	struct arena *out_arena;
	struct tcache_entry *out_head, *out_tail;
	unsigned out_count;
	size_t out_bytes;
};

/* Chunks an outbox gathers before it goes to its arena's pending list. */
#define OUTBOX_BATCH	64
/* Bytes pending on an arena past which a pusher frees them itself. */
#define REMOTE_MAX_BYTES	(4 * 1024 * 1024)

/* 1 when tcache_count was not set: the bins adapt (tcache.c). */
extern int tcache_adaptive HL_HIDDEN;

struct tcache *tcache_create(void) HL_HIDDEN;
void tcache_grow(struct tcache *tc, size_t i) HL_HIDDEN;
void tcache_adopt_recount(struct tcache *tc) HL_HIDDEN;
void tcache_gc(struct tcache *tc) HL_HIDDEN;
void tcache_trim(void) HL_HIDDEN;
void tcache_outbox_add(struct tcache *tc, struct arena *av, struct chunk *p, size_t size,
		       const char *fn) HL_HIDDEN;
void tcache_outbox_flush(struct tcache *tc) HL_HIDDEN;
/* For a malloc of nb (a cache size) the arena would carve from top. */
struct chunk *tcache_borrow(struct tcache *tc, size_t nb) HL_HIDDEN;

/*
 * A malloc of size class i found its bin empty, or a free found it full:
 * a trip to the arena. An adaptive bin that overflowed since its last miss
 * is too small for the program's batches of this size: it grows.
 */
static inline void tcache_missed(struct tcache *tc, size_t i)
{
	uint64_t bit = 1ULL << i;

	tc->busy |= bit;
	if (tc->overflowed & bit) {
		tc->overflowed &= ~bit;
		if (tcache_adaptive)
			tcache_grow(tc, i);
	}
	if (unlikely(++tc->ticks >= TCACHE_GC_TICKS))
		tcache_gc(tc);
}

static inline void tcache_overflowed(struct tcache *tc, size_t i)
{
	uint64_t bit = 1ULL << i;

	tc->overflowed |= bit;
	tc->busy |= bit;
	if (unlikely(++tc->ticks >= TCACHE_GC_TICKS))
		tcache_gc(tc);
}

static inline struct tcache_entry *protect(struct tcache_entry **pos, struct tcache_entry *ptr)
{
	return (struct tcache_entry *)(((uintptr_t)pos >> 12) ^ (uintptr_t)ptr);
}

static inline size_t tidx(size_t nb)
{
	return (nb - MINSIZE) / MALLOC_ALIGNMENT;
}

/* The most chunks an adaptive bin of size class i may hold. */
static inline unsigned tcache_bin_cap(size_t i)
{
	size_t cap = TCACHE_BIN_BYTES / (MINSIZE + i * MALLOC_ALIGNMENT);

	if (cap < TCACHE_DEFAULT_COUNT)
		return TCACHE_DEFAULT_COUNT;
	return cap > 0xffff ? 0xffff : (unsigned)cap;
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
	if (unlikely(e->key != tcache_key || chunksize(p) != nb))
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
static inline __attribute__((always_inline)) int plausible(const struct tcache *tc,
							    struct chunk *p, size_t size,
							    struct arena **avp)
{
	struct arena *av;

	if (chunk_non_main_arena(p)) {
		struct heap_info *h = heap_for_ptr(p);

		/* The first heap of the thread's own arena is ours for good. */
		if ((h != tc->home && !heap_registered(h)) || (char *)p < h->first ||
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
	if (p == __atomic_load_n(&av->top, __ATOMIC_RELAXED) || !inuse_at(p, size))
		return 0;
	*avp = av;
	return 1;
}

/*
 * Park chunk p (size size) in cache tc: TCACHE_PUT_OK, or TCACHE_PUT_FULL
 * (its bin is full: the caller marks the overflow, tcache_overflowed), or
 * 0 (not a cache size, or doubtful: the arena frees it, checking it fully).
 */
#define TCACHE_PUT_OK	1
#define TCACHE_PUT_FULL	2
static inline __attribute__((always_inline)) int tcache_put(struct tcache *tc, struct chunk *p,
							    size_t size, const char *fn)
{
	size_t i = tidx(size);
	uintptr_t key = tcache_key;
	struct tcache_entry *e;
	struct arena *av;

	/* i wraps past TCACHE_BINS for a size below MINSIZE. */
	if (i >= TCACHE_BINS)
		return 0;
	e = chunk2mem(p);
	/* Only a cached chunk has the key (the user's data would need to
	 * hold this random word by chance). */
	if (unlikely(e->key == key))
		hl_corrupt(fn, "double free detected", e);
	if (unlikely(tc->counts[i] >= tc->limits[i]))
		return TCACHE_PUT_FULL;
	if (unlikely(!plausible(tc, p, size, &av)))
		return 0;
	/*
	 * Another arena's chunk: a grown bin keeps no more of them than the
	 * base count. Holding them would make their arena grow meanwhile
	 * (a thread that frees what others allocated, sh8bench: peak RSS
	 * +44%); past the base count they go home.
	 */
	if (av != tc->arena && tc->counts[i] >= mp.tcache_count)
		return 0;
	e->key = key;
	e->next = protect(&e->next, tc->entries[i]);
	tc->entries[i] = e;
	tc->counts[i]++;
	return TCACHE_PUT_OK;
}

/*
 * Called by the arena's own thread, under its lock, with a chunk another
 * thread freed (marked with the key) into its arena: cached if it looks
 * sane and its bin has room; otherwise (0) the arena frees it, with every
 * check. A chunk in a fast bin (a double free), free for its neighbours,
 * outside our heaps or of another arena than the list it came on fails
 * the mark test or plausible() and goes to arena_free, which reports it.
 *
 * An adaptive bin takes such chunks past its limit, up to its cap
 * (TCACHE_BIN_BYTES) and, for the whole cache, TCACHE_TOTAL_BYTES past
 * the limits: a thread whose chunks others free (xmalloc's producers)
 * then finds them in its cache, where a bin held to its limit sent all
 * but 7 a size through arena_free and back out of the bins by the next
 * malloc (95% of its mallocs missed the cache: PERFLOG 32). Its own
 * frees still stop at the limit (tcache_put), and what a bin keeps past
 * it unused until the next gc goes back to the arena (tcache_gc).
 */
static inline int tcache_adopt(struct tcache *tc, struct chunk *p)
{
	size_t size = chunksize(p), i = tidx(size);
	struct tcache_entry *e = chunk2mem(p);
	struct arena *av;
	int past;

	if (i >= TCACHE_BINS || (p->size & (CHUNK_CACHED | IS_MMAPPED)))
		return 0;
	past = tc->counts[i] >= tc->limits[i];
	if (past && (!tcache_adaptive || (size_t)tc->counts[i] * size >= TCACHE_BIN_BYTES ||
		     tc->adopt_room < size))
		return 0;
	if (!plausible(tc, p, size, &av) || av != tc->arena)
		return 0;
	if (past) {
		tc->adopt_room -= size;
		if (!(tc->surplus & (1ULL << i))) {
			tc->surplus |= 1ULL << i;
			tc->lows[i] = tc->counts[i];
		}
	}
	if (tc->counts[i] < tc->lows[i])
		tc->lows[i] = tc->counts[i];
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

	if (!tc || i >= TCACHE_BINS || tc->counts[i] >= tc->limits[i])
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

	return tc && i < TCACHE_BINS && tc->counts[i] < tc->limits[i];
}

#endif
