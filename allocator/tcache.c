// SPDX-License-Identifier: MIT
/*
 * tcache.c — the per-thread cache in front of the arenas, as glibc's: for
 * each chunk size up to 1040 bytes a short LIFO list (tcache_count chunks,
 * 7 by default) that malloc and free reach without any lock. A cached chunk
 * is still "in use" for the arena. Its header is never written here: the
 * arena may be flipping its PREV_INUSE bit under the arena lock meanwhile.
 * Instead, as in glibc, the second word of the chunk's memory holds a random
 * per-process key while it is cached, so a second free of it is caught at
 * once, whichever thread makes it. The list links are mangled with their
 * own address (glibc's safe-linking), so a use-after-free write cannot point
 * malloc at an arbitrary address.
 *
 * The cache itself is a chunk of the thread's arena. When the thread exits
 * its chunks go back to their arenas and the cache is freed.
 *
 * The outbox: a small chunk of another arena that the bins do not keep
 * (a thread freeing what others allocated: a consumer) is gathered there
 * and handed to that arena's pending list OUTBOX_BATCH at a time with one
 * compare-and-swap, never taking that arena's lock; the arena's own thread
 * takes the list at its next trip to the arena, mostly into its cache, so
 * neither side does the arena's boundary-tag work for those chunks.
 *
 * Adaptive bins (the default; a tcache_count option fixes every bin at that
 * count instead, as glibc's tunable does): each bin starts at 7 chunks, as
 * glibc's. When a free finds a bin full and a later malloc of that size
 * finds it empty, the program works in batches larger than the bin, and
 * each of those chunks makes a trip through the arena (boundary-tag checks,
 * coalescing, then the bins again): the bin doubles, up to TCACHE_BIN_BYTES
 * of chunks, as long as all the bins' limits together stay within
 * TCACHE_TOTAL_BYTES. A single burst of frees does not grow anything, so a
 * program that frees many blocks once still sees glibc's 7 held back and
 * the rest coalesced. Every 256 trips to the arena, a grown bin that
 * neither overflowed, missed nor changed since the last look gives half of
 * its chunks back to the arena and halves its limit, so memory parked in
 * a size the program stopped using goes back to be coalesced.
 *
 * Borrowing: a bin holds the most chunks its size ever had free at once,
 * and those chunks lie between live ones, where nothing coalesces them. A
 * size whose count rose used to carve top while the other sizes' chunks
 * sat idle in their bins, and the heap grew by the sum of every size's
 * surplus (sh6bench: 0.5–0.7 MiB past glibc's peak, PERFLOG 50). So a malloc
 * that missed its bin, and that the arena could serve only from top,
 * takes the smallest cached chunk of a larger size, at most twice its own,
 * whole (tcache_borrow; the borrow=0 option turns it off). Freed, it goes
 * back to its own bin: no size loses chunks for good, as they did when a
 * cached chunk was split for a smaller size (PERFLOG, "Tried and
 * dropped": the shortage moved to the largest).
 */
#include <string.h>
#include <time.h>

#include "allocator/arena.h"
#include "allocator/tcache.h"

uintptr_t tcache_key;
int tcache_adaptive;
__thread struct tcache *tcache HL_TLS;
__thread struct hl_calls *thread_calls HL_TLS;
/* 1 once this thread's cache is gone: it is exiting, no new cache. */
static __thread int tcache_shut HL_TLS;

static struct arena_lock tcache_list_lock;
static struct tcache *tcache_list;

/*
 * A chunk from tc's bins for a request of nb bytes the arena would carve
 * from top: the smallest cached one above nb and at most twice nb, or NULL.
 */
struct chunk *tcache_borrow(struct tcache *tc, size_t nb)
{
	size_t last = tidx(2 * nb);

	if (last >= TCACHE_BINS)
		last = TCACHE_BINS - 1;
	for (size_t j = tidx(nb) + 1; j <= last; j++)
		if (tc->counts[j])
			return mem2chunk(tcache_take(tc, MINSIZE + j * MALLOC_ALIGNMENT));
	return NULL;
}

/* This thread's first allocation: carve its cache from its arena. */
struct tcache *tcache_create(void)
{
	struct arena *av = arena_get();
	struct chunk *p;
	struct tcache *tc;

	if (tcache_shut || !mp.initialized)
		return NULL;
	arena_lock(av);
	p = arena_malloc(av, request2size(sizeof(struct tcache)), NULL, "malloc");
	arena_unlock(av);
	if (!p)
		return NULL;
	tc = chunk2mem(p);
	memset(tc, 0, sizeof(*tc));
	for (size_t i = 0; i < TCACHE_BINS; i++)
		tc->limits[i] = (uint16_t)mp.tcache_count;
	tc->arena = av;
	/*
	 * A thread arena's struct sits in its first heap (arenas.c); for the
	 * main arena, an address no heap has (heaps are 64 MiB aligned).
	 */
	tc->home = av->index ? heap_for_ptr(av) : (struct heap_info *)MALLOC_ALIGNMENT;
	lock_take(&tcache_list_lock);
	tc->next = tcache_list;
	if (tcache_list)
		tcache_list->prev = tc;
	tcache_list = tc;
	lock_give(&tcache_list_lock);
	tcache = tc;
	thread_calls = &tc->calls;
	return tc;
}

/*
 * Give the chunks of a cache list back to their arenas, holding each
 * arena's lock across a run of its chunks rather than once per chunk.
 */
static void give_back(struct tcache_entry *e)
{
	struct arena *held = NULL;

	while (e) {
		struct chunk *p = mem2chunk(e);
		struct tcache_entry *next;
		struct arena *av;

		if (unlikely(!aligned_ok((uintptr_t)e) || e->key != tcache_key))
			hl_corrupt("free", "corrupted tcache chunk", e);
		next = protect(&e->next, e->next);
		av = arena_for_chunk(p);
		e->key = 0;
		if (av != held) {
			if (held)
				arena_unlock(held);
			arena_lock(av);
			held = av;
		}
		arena_free(av, p, "free");
		e = next;
	}
	if (held)
		arena_unlock(held);
}

/*
 * Hand the outbox to its arena: pushed on the arena's pending list with
 * one compare-and-swap, for the arena's own thread to take at its next
 * trip to the arena (into its cache, as far as that has room), without
 * this thread ever taking the lock. An arena no thread uses gets them
 * freed at once, and so does one whose pending list has grown past
 * REMOTE_MAX_BYTES (its thread is not allocating: the chunks would sit
 * there, kept from coalescing and from trimming).
 */
/* Empties the outbox; returns its chunks, linked. */
static struct tcache_entry *outbox_take(struct tcache *tc)
{
	struct tcache_entry *head = tc->out_head;

	tc->out_head = tc->out_tail = NULL;
	tc->out_count = 0;
	tc->out_bytes = 0;
	return head;
}

void tcache_outbox_flush(struct tcache *tc)
{
	struct tcache_entry *tail = tc->out_tail, *head;
	struct arena *av = tc->out_arena;
	size_t bytes = tc->out_bytes;
	struct chunk *old;

	if (!(head = outbox_take(tc)))
		return;
	if (!__atomic_load_n(&av->attached, __ATOMIC_RELAXED)) {
		give_back(head);
		return;
	}
	old = __atomic_load_n(&av->remote, __ATOMIC_RELAXED);
	do {
		tail->next = protect(&tail->next, old ? (struct tcache_entry *)chunk2mem(old) : NULL);
	} while (!__atomic_compare_exchange_n(&av->remote, &old, mem2chunk(head), 1,
					      __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	if (__atomic_add_fetch(&av->remote_bytes, bytes, __ATOMIC_RELAXED) > REMOTE_MAX_BYTES) {
		arena_lock(av);		/* frees the whole pending list */
		arena_unlock(av);
	}
}

/*
 * free() of another arena's chunk that this thread's bins do not keep:
 * into the outbox, which goes to that arena's pending list every
 * OUTBOX_BATCH chunks or when a chunk of another arena comes. A thread
 * that frees what others allocate (a consumer) then never waits for
 * their lock nor does their arena's work, one chunk at a time.
 */
void tcache_outbox_add(struct tcache *tc, struct arena *av, struct chunk *p, size_t size,
		       const char *fn)
{
	struct tcache_entry *e = chunk2mem(p);

	if (unlikely(e->key == tcache_key))
		hl_corrupt(fn, "double free detected", e);
	if (tc->out_arena != av) {
		tcache_outbox_flush(tc);
		tc->out_arena = av;
	}
	e->key = tcache_key;
	e->next = protect(&e->next, tc->out_head);
	if (!tc->out_head)
		tc->out_tail = e;
	tc->out_head = e;
	tc->out_bytes += size;
	if (++tc->out_count >= OUTBOX_BATCH)
		tcache_outbox_flush(tc);
}

/* Give every cached chunk back to its arena. */
static void tcache_flush(struct tcache *tc)
{
	give_back(outbox_take(tc));
	for (size_t i = 0; i < TCACHE_BINS; i++) {
		struct tcache_entry *e = tc->entries[i];

		tc->entries[i] = NULL;
		tc->counts[i] = 0;
		give_back(e);
	}
}

/*
 * Double bin i, within its own cap and the thread's: the bins' limits
 * together may not hold more than TCACHE_TOTAL_BYTES (a bin stays as it is
 * until the gc has shrunk others).
 */
void tcache_grow(struct tcache *tc, size_t i)
{
	unsigned limit = 2u * tc->limits[i], cap = tcache_bin_cap(i);
	size_t total = 0;

	if (limit > cap)
		limit = cap;
	for (size_t j = 0; j < TCACHE_BINS; j++)
		total += (size_t)(j == i ? limit : tc->limits[j]) * (MINSIZE + j * MALLOC_ALIGNMENT);
	if (total <= TCACHE_TOTAL_BYTES)
		tc->limits[i] = (uint16_t)limit;
}

/* Keep the keep (>= 1, < count) newest chunks of bin i, give back the rest. */
static void bin_cut(struct tcache *tc, size_t i, unsigned keep)
{
	struct tcache_entry *e = tc->entries[i], *rest;

	for (unsigned n = 1; n < keep; n++)
		e = protect(&e->next, e->next);
	rest = protect(&e->next, e->next);
	e->next = protect(&e->next, NULL);
	tc->counts[i] = (uint16_t)keep;
	give_back(rest);
}

/* An idle grown bin: keep its newer half, give back the rest. */
static void tcache_shrink(struct tcache *tc, size_t i)
{
	unsigned keep = tc->counts[i] / 2, limit = tc->limits[i] / 2u;

	tc->limits[i] = (uint16_t)(limit < TCACHE_DEFAULT_COUNT ? TCACHE_DEFAULT_COUNT : limit);
	bin_cut(tc, i, keep < TCACHE_DEFAULT_COUNT ? TCACHE_DEFAULT_COUNT : keep);
}

/*
 * malloc_trim: the calling thread's grown bins go back to the base count,
 * the rest of their chunks to the arenas, before those are trimmed.
 */
void tcache_trim(void)
{
	struct tcache *tc = tcache;

	if (!tc)
		return;
	give_back(outbox_take(tc));
	if (!tcache_adaptive)
		return;
	for (size_t i = 0; i < TCACHE_BINS; i++) {
		if (tc->limits[i] > TCACHE_DEFAULT_COUNT)
			tc->limits[i] = TCACHE_DEFAULT_COUNT;
		if (tc->counts[i] > TCACHE_DEFAULT_COUNT)
			bin_cut(tc, i, TCACHE_DEFAULT_COUNT);
	}
}

/*
 * How many more bytes the cache may adopt past its bins' limits: what it
 * holds past them now, taken from TCACHE_TOTAL_BYTES. Counted again only
 * when a drain brings more than the room left (adopt_room only shrinks
 * in between, so it never overstates the room).
 */
void tcache_adopt_recount(struct tcache *tc)
{
	size_t past = 0;

	for (size_t i = 0; i < TCACHE_BINS; i++)
		if (tc->counts[i] > tc->limits[i])
			past += (size_t)(tc->counts[i] - tc->limits[i]) * (MINSIZE + i * MALLOC_ALIGNMENT);
	tc->adopt_room = past < TCACHE_TOTAL_BYTES ? TCACHE_TOTAL_BYTES - past : 0;
}

/* Bin i adopted past its limit: give back what sat unused since the last look. */
static void gc_surplus(struct tcache *tc, size_t i)
{
	unsigned low = tc->lows[i] < tc->counts[i] ? tc->lows[i] : tc->counts[i];

	if (low > tc->limits[i])
		bin_cut(tc, i, tc->counts[i] - (low - tc->limits[i]));
	tc->lows[i] = tc->counts[i];
	if (tc->counts[i] <= tc->limits[i])
		tc->surplus &= ~(1ULL << i);
}

/*
 * Every TCACHE_GC_TICKS trips to the arena: a bin that held adopted chunks
 * past its limit all that time (its lowest count, as the drains saw it,
 * above the limit) gives that surplus back, so a size whose chunks come
 * back faster than the thread reuses them does not keep them from the
 * arena, where other sizes can use their memory (xmalloc: the producers'
 * heaps peaked 250 KiB above those of the library before without this,
 * 150 KiB with a look every 256 trips, 40 KiB every 64; PERFLOG 34-36).
 * Every TCACHE_SHRINK_LOOKS looks, a grown bin left alone since the last
 * such look gives half back and halves its limit.
 */
void tcache_gc(struct tcache *tc)
{
	uint64_t bins;

	tc->ticks = 0;
	if (!tcache_adaptive)
		return;
	if (++tc->looks < TCACHE_SHRINK_LOOKS) {
		for (bins = tc->surplus; bins; bins &= bins - 1)
			gc_surplus(tc, (size_t)__builtin_ctzll(bins));
		return;
	}
	tc->looks = 0;
	for (size_t i = 0; i < TCACHE_BINS; i++) {
		if (!((tc->busy >> i) & 1) && tc->counts[i] > TCACHE_DEFAULT_COUNT &&
		    tc->entries[i] == tc->gc_heads[i] && tc->counts[i] == tc->gc_counts[i]) {
			tcache_shrink(tc, i);
			if (tc->counts[i] <= tc->limits[i])
				tc->surplus &= ~(1ULL << i);
		} else if ((tc->surplus >> i) & 1) {
			gc_surplus(tc, i);
		}
		tc->gc_heads[i] = tc->entries[i];
		tc->gc_counts[i] = tc->counts[i];
	}
	tc->busy = 0;
}

static void fold_calls(const struct hl_calls *c)
{
	COUNT_ADD(calls.malloc, c->malloc);
	COUNT_ADD(calls.free, c->free);
	COUNT_ADD(calls.calloc, c->calloc);
	COUNT_ADD(calls.realloc, c->realloc);
	COUNT_ADD(calls.memalign, c->memalign);
	COUNT_ADD(calls.in_use, c->in_use);
}

static void unlist(struct tcache *tc)
{
	if (tc->prev)
		tc->prev->next = tc->next;
	else
		tcache_list = tc->next;
	if (tc->next)
		tc->next->prev = tc->prev;
}

void tcache_thread_exit(void)
{
	struct tcache *tc = tcache;
	struct chunk *p;
	struct arena *av;

	tcache_shut = 1;
	if (!tc)
		return;
	tcache = NULL;
	thread_calls = NULL;
	tcache_flush(tc);
	/* What other threads left pending for this one: freed now. */
	arena_lock(tc->arena);
	arena_drain_remote(tc->arena, 1);
	arena_unlock(tc->arena);
	lock_take(&tcache_list_lock);
	unlist(tc);
	fold_calls(&tc->calls);
	lock_give(&tcache_list_lock);
	/* The cache's own chunk: counted by nobody, freed like any other. */
	p = mem2chunk(tc);
	av = arena_for_chunk(p);
	arena_lock(av);
	arena_free(av, p, "free");
	arena_unlock(av);
}

void tcache_init(void)
{
	struct timespec ts;

	if (mp.tcache_count == TCACHE_COUNT_AUTO) {
		tcache_adaptive = 1;
		mp.tcache_count = TCACHE_DEFAULT_COUNT;
	}
	mp.tcache_count = mp.tcache_count > 0xffff ? 0xffff : mp.tcache_count;
	if (os_random(&tcache_key, sizeof(tcache_key)) != 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		tcache_key = ((uintptr_t)ts.tv_nsec << 32) ^ (uintptr_t)ts.tv_sec ^ (uintptr_t)&ts;
	}
	tcache_key |= 1;	/* never 0, the "not cached" value */
}

void tcache_sum_calls(struct hl_calls *sum)
{
	lock_take(&tcache_list_lock);
	*sum = hl_count.calls;
	for (struct tcache *tc = tcache_list; tc; tc = tc->next) {
		sum->malloc += tc->calls.malloc;
		sum->free += tc->calls.free;
		sum->calloc += tc->calls.calloc;
		sum->realloc += tc->calls.realloc;
		sum->memalign += tc->calls.memalign;
		sum->in_use += tc->calls.in_use;
	}
	lock_give(&tcache_list_lock);
}

/* Whether p sits in a thread cache (for the heap dump): 1 this thread's, 2 another's. */
int tcache_holds(const struct chunk *p)
{
	struct tcache *tc = tcache;
	const struct tcache_entry *c = chunk2mem(p);
	size_t i = tidx(chunksize(p));

	if (i >= TCACHE_BINS || c->key != tcache_key)
		return 0;
	if (tc)
		for (struct tcache_entry *e = tc->entries[i]; e; e = protect(&e->next, e->next))
			if (e == c)
				return 1;
	return 2;
}

void tcache_fork_prepare(void)
{
	lock_take(&tcache_list_lock);
}

void tcache_fork_parent(void)
{
	lock_give(&tcache_list_lock);
}

/* Other threads' caches are gone with them: fold their counters in. */
void tcache_fork_child(void)
{
	struct tcache *tc = tcache_list, *next;

	for (; tc; tc = next) {
		next = tc->next;
		if (tc != tcache)
			fold_calls(&tc->calls);
	}
	tcache_list = tcache;
	if (tcache)
		tcache->next = tcache->prev = NULL;
	lock_init(&tcache_list_lock);
}
