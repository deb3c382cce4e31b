// SPDX-License-Identifier: MIT
/*
 * arena.c — malloc and free inside one arena, as ptmalloc2 does them:
 *
 *   malloc(nb):  exact fast bin → exact small bin → (large request:
 *                consolidate the fast bins) → walk the unsorted bin, taking an
 *                exact fit or sorting each chunk into its bin → best fit in
 *                the request's large bin → the next non-empty bin by binmap
 *                (split) → top (split) → grow: mmap for large requests, else
 *                sbrk more top.
 *   free(p):     fast bin if small (no coalescing), else coalesce with both
 *                neighbours through the boundary tags and put the result in
 *                the unsorted bin or into top; a large free consolidates the
 *                fast bins and may trim top back to the kernel.
 *
 * Every function here runs with av->mutex held.
 */
#include <errno.h>
#include <string.h>

#include "allocator/arena.h"
#include "allocator/tcache.h"

void arena_init(struct arena *av, unsigned index)
{
	av->index = index;
	av->have_fastchunks = 0;
	av->max_fast = max_fast_for(mp.max_fast);
	for (unsigned i = 0; i < NFASTBINS; i++)
		av->fastbins[i] = NULL;
	av->top = NULL;
	av->last_remainder = NULL;
	bins_init(av);
	/*
	 * Set apart from have_fastchunks: merged, the two stores become one
	 * 64-bit constant loaded from .rodata, the only read of that segment
	 * in a program that sets no option (see options.c).
	 */
	av->contiguous = 1;
	av->system_mem = av->max_system_mem = 0;
	av->nseg = 0;
	av->lost_segs = 0;
	av->heap = NULL;
}

uintptr_t main_heap_lo = UINTPTR_MAX, main_heap_hi;

/* The main arena's bounds only widen: a cheap, lock-free sanity check. */
static void widen_main_bounds(char *lo, char *hi)
{
	if ((uintptr_t)lo < __atomic_load_n(&main_heap_lo, __ATOMIC_RELAXED))
		__atomic_store_n(&main_heap_lo, (uintptr_t)lo, __ATOMIC_RELAXED);
	if ((uintptr_t)hi > __atomic_load_n(&main_heap_hi, __ATOMIC_RELAXED))
		__atomic_store_n(&main_heap_hi, (uintptr_t)hi, __ATOMIC_RELAXED);
}

struct heap_seg *arena_seg_of(struct arena *av, const struct chunk *p, size_t size)
{
	const char *c = (const char *)p;

	for (unsigned i = av->nseg; i-- > 0;) {
		struct heap_seg *s = &av->seg[i];

		if (c >= s->base && c < s->end && size <= (size_t)(s->end - c))
			return s;
	}
	return NULL;
}

/*
 * Inline for free's checks: the main arena's newest segment (where nearly
 * every chunk lives) is tried before the walk, a thread arena's heap is
 * found by masking the address.
 */
static inline int in_arena(struct arena *av, const struct chunk *p, size_t size, int heap_ok)
{
	const char *c = (const char *)p;
	struct heap_info *h;

	if (av->index == 0) {
		const struct heap_seg *s = &av->seg[av->nseg ? av->nseg - 1 : 0];

		if (av->nseg && c >= s->base && c < s->end && size <= (size_t)(s->end - c))
			return 1;
		return av->lost_segs || arena_seg_of(av, p, size) != NULL;
	}
	h = heap_for_ptr(p);
	if (!heap_ok && (!heap_registered(h) || h->ar_ptr != av))
		return 0;
	return c >= h->first && size <= (size_t)((char *)h + h->size - c);
}

int chunk_in_arena(struct arena *av, const struct chunk *p, size_t size)
{
	return in_arena(av, p, size, 0);
}

/* Hand out chunk p (of size sz) split to nb; the rest goes to unsorted. */
static struct chunk *split_off(struct arena *av, struct chunk *p, size_t sz, size_t nb,
			       int remember_remainder)
{
	size_t arena_bit = av->index ? NON_MAIN_ARENA : 0;

	if (sz - nb < MINSIZE) {
		set_inuse_at(p, sz);
		return p;
	}
	struct chunk *rem = chunk_at(p, nb);

	set_head(p, nb | PREV_INUSE | arena_bit);
	set_head(rem, (sz - nb) | PREV_INUSE | arena_bit);
	set_foot(rem, sz - nb);
	unsorted_push(av, rem);
	if (remember_remainder)
		av->last_remainder = rem;
	return p;
}

/*
 * Move every fast-bin chunk into the unsorted bin (or top), coalescing it
 * with its free neighbours: what keeps the fast bins from fragmenting the
 * heap forever.
 */
void malloc_consolidate(struct arena *av)
{
	size_t arena_bit = av->index ? NON_MAIN_ARENA : 0;

	av->have_fastchunks = 0;
	for (unsigned i = 0; i < NFASTBINS; i++) {
		struct chunk *p = av->fastbins[i];

		av->fastbins[i] = NULL;
		while (p) {
			struct chunk *next_in_bin;
			size_t size;
			struct chunk *next;

			if (!aligned_ok((uintptr_t)p) || fastbin_index(chunksize(p)) != i ||
			    !chunk_is_cached(p))
				hl_corrupt("malloc_consolidate", "invalid chunk in fast bin", chunk2mem(p));
			next_in_bin = fastbin_next(p);
			size = chunksize(p);
			if (!prev_inuse(p)) {
				size_t prevsize = p->prev_size;

				p = prev_chunk(p);
				if (chunksize(p) != prevsize)
					hl_corrupt("malloc_consolidate", "corrupted size vs. prev_size in fastbins",
						   chunk2mem(p));
				unlink_chunk(av, p);
				size += prevsize;
			}
			next = chunk_at(p, size);
			if (next != av->top) {
				size_t nextsize = chunksize(next);

				if (!inuse_at(next, nextsize)) {
					unlink_chunk(av, next);
					size += nextsize;
				} else {
					clear_inuse_at(next, 0);
				}
				set_head(p, size | PREV_INUSE | arena_bit);
				set_foot(p, size);
				unsorted_push(av, p);
			} else {
				set_head(p, (size + chunksize(next)) | PREV_INUSE | arena_bit);
				av->top = p;
			}
			p = next_in_bin;
		}
	}
}

/*
 * Close the old top with two fenceposts at its end (tiny in-use chunks the
 * walk stops at, which keep the chunk before them from coalescing past the
 * end) and free what is left of it. The segment (or heap) ends after them.
 */
static void retire_top(struct arena *av)
{
	struct chunk *old = av->top;
	size_t old_size = chunksize(old);
	size_t arena_bit = av->index ? NON_MAIN_ARENA : 0;
	size_t front = old_size - 2 * CHUNK_HDR;

	av->top = NULL;
	set_head(chunk_at(old, front), CHUNK_HDR | PREV_INUSE | arena_bit);
	set_head(chunk_at(old, front + CHUNK_HDR), CHUNK_HDR | PREV_INUSE | arena_bit);
	if (front < MINSIZE) {
		/* Too small to free: one more fencepost (or none). */
		if (front)
			set_head(old, CHUNK_HDR | PREV_INUSE | arena_bit);
		return;
	}
	set_head(old, front | PREV_INUSE | arena_bit);
	if (front <= av->max_fast) {
		unsigned fi = fastbin_index(front);

		old->size |= CHUNK_CACHED;
		old->fd = fastbin_link(&old->fd, av->fastbins[fi]);
		av->fastbins[fi] = old;
		av->have_fastchunks = 1;
		return;
	}
	/* Top never follows a free chunk, so there is nothing to merge. */
	clear_inuse_at(old, front);
	set_foot(old, front);
	unsorted_push(av, old);
}

/* Make [base, base + len) the new top, in a new segment. */
static void new_top_segment(struct arena *av, char *base, size_t len)
{
	char *start = (char *)ALIGN_UP((uintptr_t)base, MALLOC_ALIGNMENT);
	size_t size = ALIGN_DOWN(len - (size_t)(start - base), MALLOC_ALIGNMENT);

	if (av->top)
		retire_top(av);
	if (av->nseg == MAX_SEGS) {
		/* Forget the oldest: its chunks stay valid, the dump skips them. */
		memmove(&av->seg[0], &av->seg[1], (MAX_SEGS - 1) * sizeof(av->seg[0]));
		av->nseg--;
		av->lost_segs++;
	}
	av->seg[av->nseg].base = start;
	av->seg[av->nseg].end = start + size;
	av->nseg++;
	av->top = (struct chunk *)start;
	set_head(av->top, size | PREV_INUSE);
	widen_main_bounds(start, start + size);
}

void arena_top_in_heap(struct arena *av, struct heap_info *h)
{
	if (av->top)
		retire_top(av);
	av->top = (struct chunk *)h->first;
	set_head(av->top, (size_t)((char *)h + h->size - h->first) | PREV_INUSE | NON_MAIN_ARENA);
}

static void account_growth(struct arena *av, size_t size)
{
	av->system_mem += size;
	if (av->system_mem > av->max_system_mem)
		av->max_system_mem = av->system_mem;
	os_note_heap_grow(av, size);
}

/*
 * A non-main arena grows its heap, or starts a new one. Like the break, it
 * grows by top_pad more than asked: glibc commits a thread's heap exactly,
 * one mprotect per page as small carves go (bench xmalloc: 722 of its 952
 * mprotect calls were of one page), and top then has no room ahead for
 * populate_ahead. Committing only sets the protection: no page becomes
 * resident before it is carved or populated.
 */
static int grow_heap_top(struct arena *av, size_t nb)
{
	struct heap_info *h = heap_for_ptr(av->top), *nh;
	size_t old_size = chunksize(av->top), old_heap = h->size;
	size_t need = nb + MINSIZE - old_size;

	if ((need + mp.top_pad > need && grow_heap(h, need + mp.top_pad) == 0) ||
	    grow_heap(h, need) == 0) {
		set_head(av->top, (size_t)((char *)h + h->size - (char *)av->top) |
			 PREV_INUSE | NON_MAIN_ARENA);
		account_growth(av, h->size - old_heap);
		return 0;
	}
	nh = new_heap(nb + MINSIZE + sizeof(struct heap_info) + MALLOC_ALIGNMENT, mp.top_pad);
	if (!nh)
		return -1;
	nh->ar_ptr = av;
	nh->prev = h;
	av->heap = nh;
	arena_top_in_heap(av, nh);
	account_growth(av, nh->size);
	return chunksize(av->top) >= nb + MINSIZE ? 0 : -1;
}

/*
 * Top cannot serve nb: grow the heap with sbrk, or with a mapping when the
 * break cannot move. Returns 0 when top is now large enough.
 */
static int grow_top(struct arena *av, size_t nb)
{
	size_t want = nb + mp.top_pad + MINSIZE, size;
	char *base;

	if (av->index != 0) {
		if (grow_heap_top(av, nb) != 0)
			return -1;
		top_regrown(av);
		return 0;
	}
	if (want < nb || want > PTRDIFF_MAX / 2)
		want = nb + MINSIZE;	/* an absurd top_pad: ignore it */
	if (want > PTRDIFF_MAX / 2)
		return -1;
	/* Twice: if someone else moved the break, the first try starts a segment. */
	for (int attempt = 0; attempt < 2 && av->index == 0; attempt++) {
		size_t old_size = av->top ? chunksize(av->top) : 0;
		char *old_end = av->top ? (char *)av->top + old_size : NULL;

		size = want;
		if (av->contiguous && old_size < size)
			size -= old_size;
		size = ALIGN_UP(size, mp.pagesize);
		if (old_end)
			size = thp_grow(av, old_end, size);
		base = os_sbrk((intptr_t)size);
		if (base == (char *)-1)
			break;
		if (av->top && base == old_end) {
			/* From top's first whole 2 MiB (its start is written). */
			thp_grown(av, (char *)av->top, old_size + size);
			set_head_size(av->top, old_size + size);
			av->seg[av->nseg - 1].end = old_end + size;
			widen_main_bounds(old_end, old_end + size);
		} else {
			new_top_segment(av, base, size);
		}
		av->contiguous = 1;
		account_growth(av, size);
		top_regrown(av);
		if (chunksize(av->top) >= nb + MINSIZE)
			return 0;
	}
	/* The break cannot move: a mapping becomes the next segment. */
	size = ALIGN_UP(want, mp.pagesize);
	if (size < MMAP_AS_MORECORE_SIZE)
		size = MMAP_AS_MORECORE_SIZE;
	base = os_mmap(size);
	if (!base)
		return -1;
	new_top_segment(av, base, size);
	av->contiguous = 0;
	account_growth(av, size);
	return chunksize(av->top) >= nb + MINSIZE ? 0 : -1;
}

/*
 * A carve of a small chunk from top writes its header, and the next one's,
 * into top, most of which was never touched: every page such carves move
 * over becomes resident whatever the program does with its blocks, each
 * one faulted in by its own trap. populate_ahead faults the next POPULATE_AHEAD bytes
 * in with one MADV_POPULATE_WRITE advice instead, about 15-20% cheaper
 * per page here (allocator/bench/PERFLOG.md, 38). Only small carves do it:
 * the pages inside a big block are the program's to touch or not (bench
 * mixed writes one byte in 16). What it costs is the window's pages beyond
 * the last carve at the heap's high-water mark: 32 KiB moved no peak in
 * the benchmarks, 64 KiB raised glibc-simple's by 128 KiB. Only the main
 * arena does it: in a thread's heap the windows' pages went to the blocks
 * carved next, which rptest's threads touch only at their ends (+0.4-0.5
 * MiB of peak), and no benchmark ran faster for it (PERFLOG 44).
 */
#define POPULATE_AHEAD	(32UL << 10)

/* A small chunk was carved from top, which now spans [from, top_end). */
static void populate_ahead(struct arena *av, char *from, char *top_end)
{
	char *lo, *hi;
	int rc;

	if (av != &main_arena)
		return;
	/* Top moved to a new segment: start afresh there. */
	if (av->populated > top_end)
		av->populated = top_end;
	if (av->populated < from)
		av->populated = from;
	if (from + mp.pagesize <= av->populated || !__atomic_load_n(&mp.populate, __ATOMIC_RELAXED))
		return;
	lo = (char *)ALIGN_DOWN((uintptr_t)av->populated, mp.pagesize);
	hi = (char *)ALIGN_DOWN((uintptr_t)top_end, mp.pagesize);
	if (hi > lo + POPULATE_AHEAD)
		hi = lo + POPULATE_AHEAD;
	if (hi <= lo)
		return;
	/*
	 * A kernel before 5.14 does not know the advice (EINVAL), a seccomp
	 * sandbox may refuse it (EPERM, ENOSYS): stop asking. ENOMEM is
	 * this once: the pages fault in at their first touch, as without.
	 */
	rc = os_populate(lo, (size_t)(hi - lo));
	if (rc == -EINVAL || rc == -EPERM || rc == -ENOSYS)
		__atomic_store_n(&mp.populate, 0, __ATOMIC_RELAXED);
	av->populated = hi;
}

/*
 * Top lost its tail (a trim): what was populated above its new end went
 * with it, and must not pass for populated when the heap grows back.
 */
static void populated_clip(struct arena *av)
{
	char *end = (char *)av->top + chunksize(av->top);

	if (av->populated > end)
		av->populated = end;
}

static struct chunk *from_top(struct arena *av, size_t nb)
{
	struct chunk *victim = av->top;
	size_t size = chunksize(victim);
	size_t arena_bit = av->index ? NON_MAIN_ARENA : 0;

	if (size > av->system_mem)
		hl_corrupt("malloc", "corrupted top size", chunk2mem(victim));
	av->top = chunk_at(victim, nb);
	set_head(av->top, (size - nb) | PREV_INUSE | arena_bit);
	set_head(victim, nb | PREV_INUSE | arena_bit);
	top_used(av, size - nb);
	if (nb < mp.pagesize)
		populate_ahead(av, (char *)av->top, (char *)victim + size);
	return victim;
}

/*
 * Walk the unsorted bin: an exact fit is returned at once, everything else
 * goes to its bin. A small request may instead split the last remainder
 * when it is the only unsorted chunk (locality for runs of small requests).
 */
static struct chunk *sort_unsorted(struct arena *av, size_t nb)
{
	struct chunk *unsorted = bin_at(av, UNSORTED_BIN);
	int iters = 0, cached = 0;

	while (unsorted->bk != unsorted) {
		struct chunk *victim = unsorted->bk;
		struct chunk *bck = victim->bk;
		size_t size = chunksize(victim);
		struct chunk *next = chunk_at(victim, size);

		if (size < MINSIZE || size > av->system_mem)
			hl_corrupt("malloc", "invalid size (unsorted)", chunk2mem(victim));
		if (chunksize(next) < CHUNK_HDR || chunksize(next) > av->system_mem)
			hl_corrupt("malloc", "invalid next size (unsorted)", chunk2mem(victim));
		if (next->prev_size != size)
			hl_corrupt("malloc", "mismatching next->prev_size (unsorted)", chunk2mem(victim));
		if (bck->fd != victim || victim->fd != unsorted)
			hl_corrupt("malloc", "unsorted double linked list corrupted", chunk2mem(victim));
		if (prev_inuse(next))
			hl_corrupt("malloc", "invalid next->prev_inuse (unsorted)", chunk2mem(victim));

		if (!cached && in_smallbin_range(nb) && bck == unsorted &&
		    victim == av->last_remainder && size > nb + MINSIZE) {
			unsorted->bk = unsorted->fd = unsorted;
			return split_off(av, victim, size, nb, 1);
		}
		unsorted->bk = bck;
		bck->fd = unsorted;
		if (size == nb) {
			set_inuse_at(victim, size);
			/* Exact fits fill this thread's cache first (glibc's way). */
			if (tcache_room(nb)) {
				tcache_stash(victim, nb);
				cached = 1;
				continue;
			}
			return victim;
		}
		bin_insert_sorted(av, victim);
		if (++iters >= 10000)
			break;
	}
	return cached ? mem2chunk(tcache_get(nb)) : NULL;
}

/* The next non-empty bin above idx, split. */
static struct chunk *from_larger_bin(struct arena *av, unsigned idx, size_t nb)
{
	for (unsigned i = binmap_next(av, idx + 1); i; i = binmap_next(av, i + 1)) {
		struct chunk *bin = bin_at(av, i);
		struct chunk *victim = bin->bk;

		if (victim == bin) {
			binmap_unmark(av, i);	/* a stale bit: fix it and go on */
			continue;
		}
		unlink_chunk(av, victim);
		return split_off(av, victim, chunksize(victim), nb, in_smallbin_range(nb));
	}
	return NULL;
}

struct chunk *arena_malloc(struct arena *av, size_t nb, struct tcache *lender, const char *fn)
{
	struct chunk *victim;
	unsigned idx;

	if (nb <= av->max_fast) {
		unsigned fi = fastbin_index(nb);

		victim = av->fastbins[fi];
		if (victim) {
			if (!aligned_ok((uintptr_t)victim) || fastbin_index(chunksize(victim)) != fi ||
			    !chunk_is_cached(victim))
				hl_corrupt(fn, "memory corruption (fast)", chunk2mem(victim));
			av->fastbins[fi] = fastbin_next(victim);
			victim->size &= ~CHUNK_CACHED;
			/* While we hold the lock, refill this thread's cache. */
			while (av->fastbins[fi] && tcache_room(nb)) {
				struct chunk *c = av->fastbins[fi];

				if (!aligned_ok((uintptr_t)c) || fastbin_index(chunksize(c)) != fi ||
				    !chunk_is_cached(c))
					hl_corrupt(fn, "memory corruption (fast)", chunk2mem(c));
				av->fastbins[fi] = fastbin_next(c);
				c->size &= ~CHUNK_CACHED;
				tcache_stash(c, nb);
			}
			return victim;
		}
	}
	if (in_smallbin_range(nb)) {
		struct chunk *bin;

		idx = smallbin_index(nb);
		bin = bin_at(av, idx);
		victim = bin->bk;
		if (victim != bin) {
			if (victim->bk->fd != victim)
				hl_corrupt(fn, "smallbin double linked list corrupted", chunk2mem(victim));
			bin->bk = victim->bk;
			victim->bk->fd = bin;
			set_inuse_at(victim, nb);
			while (bin->bk != bin && tcache_room(nb)) {
				struct chunk *c = bin->bk;

				if (c->bk->fd != c)
					hl_corrupt(fn, "smallbin double linked list corrupted", chunk2mem(c));
				bin->bk = c->bk;
				c->bk->fd = bin;
				set_inuse_at(c, nb);
				tcache_stash(c, nb);
			}
			return victim;
		}
	} else {
		idx = largebin_index(nb);
		if (av->have_fastchunks)
			malloc_consolidate(av);
	}

	for (;;) {
		victim = sort_unsorted(av, nb);
		if (victim)
			return victim;
		if (!in_smallbin_range(nb)) {
			victim = largebin_best_fit(av, idx, nb);
			if (victim) {
				unlink_chunk(av, victim);
				return split_off(av, victim, chunksize(victim), nb, 0);
			}
		}
		victim = from_larger_bin(av, idx, nb);
		if (victim)
			return victim;
		/* Nothing free fits: a cached chunk, before top is carved. */
		if (lender && (victim = tcache_borrow(lender, nb)))
			return victim;
		if (av->top && chunksize(av->top) >= nb + MINSIZE)
			return from_top(av, nb);
		if (av->have_fastchunks) {
			/* Fast chunks may coalesce into something large enough. */
			malloc_consolidate(av);
			continue;
		}
		break;
	}

	/* Grow: a large request gets its own mapping, else the heap grows. */
	if (nb >= mp.mmap_threshold && hl_count.mmapped_chunks < mp.n_mmaps_max) {
		victim = mmap_chunk(nb, 0);
		if (victim)
			return victim;
	}
	if (grow_top(av, nb) == 0)
		return from_top(av, nb);
	/* A full heap of another arena: a mapping of its own still works. */
	if (av->index != 0 && nb < mp.mmap_threshold) {
		victim = mmap_chunk(nb, 0);
		if (victim)
			return victim;
	}
	errno = ENOMEM;
	return NULL;
}

/* The whole pages of free chunk p go back to the kernel (it stays binned). */
static void release_pages(struct arena *av, struct chunk *p, size_t size)
{
	uintptr_t lo = ALIGN_UP((uintptr_t)p + sizeof(struct chunk), mp.pagesize);
	uintptr_t hi = ALIGN_DOWN((uintptr_t)p + size, mp.pagesize);
	int saved_errno = errno;

	av->freed_since_release = 0;
	if (hi > lo)
		os_madvise_free((void *)lo, hi - lo);
	errno = saved_errno;
}

/*
 * Take the chunks other threads left pending on av (lock held): the thread
 * that owns av keeps what its cache has room for (they were freed for it
 * to reuse, and it is about to allocate: tcache_adopt), the rest is freed.
 */
void arena_drain_remote(struct arena *av, int all)
{
	struct chunk *p;
	struct tcache *tc = tcache;
	int mine = tc && tc->arena == av;
	size_t bytes;

	/*
	 * Another thread leaves the list to the arena's own thread, whose
	 * cache takes it without freeing anything, unless no thread uses
	 * the arena any more or the list holds more than REMOTE_MAX_BYTES
	 * (its thread is not allocating); malloc_trim takes it all.
	 */
	if (!all && !mine && __atomic_load_n(&av->attached, __ATOMIC_RELAXED) &&
	    __atomic_load_n(&av->remote_bytes, __ATOMIC_RELAXED) <= REMOTE_MAX_BYTES)
		return;

	bytes = __atomic_exchange_n(&av->remote_bytes, 0, __ATOMIC_RELAXED);
	p = __atomic_exchange_n(&av->remote, NULL, __ATOMIC_ACQUIRE);
	if (mine && tc->adopt_room < bytes)
		tcache_adopt_recount(tc);
	while (p) {
		struct tcache_entry *e = chunk2mem(p);
		struct tcache_entry *next = protect(&e->next, e->next);

		if (unlikely(!aligned_ok((uintptr_t)next) || e->key != tcache_key))
			hl_corrupt("free", "corrupted pending free list", e);
		if (!mine || !tcache_adopt(tc, p)) {
			e->key = 0;
			arena_free(av, p, "free");
		}
		p = next ? mem2chunk(next) : NULL;
	}
}

/* The checks every non-mmapped free makes before touching the heap. */
static void check_free(struct arena *av, struct chunk *p, size_t size, const char *fn,
		       int heap_ok)
{
	struct chunk *next = chunk_at(p, size);
	int whole;

	if (p == av->top)
		hl_corrupt(fn, "double free detected", chunk2mem(p));
	/*
	 * The whole chunk and the next one's header inside the arena implies
	 * its header is: one range check in the common case, the second only
	 * to name what is wrong.
	 */
	whole = in_arena(av, p, size + CHUNK_HDR, heap_ok);
	if ((unlikely(!whole) && !in_arena(av, p, CHUNK_HDR, heap_ok)) || (av->top && p > av->top &&
	    (char *)p < (char *)av->top + chunksize(av->top)))
		hl_corrupt(fn, "invalid pointer", chunk2mem(p));
	/* A size that runs past its segment or over top was overwritten. */
	if (!whole || (p < av->top && next > av->top))
		hl_corrupt(fn, "invalid size", chunk2mem(p));
	if (!inuse_at(p, size))
		hl_corrupt(fn, "double free detected", chunk2mem(p));
	if (chunksize(next) < CHUNK_HDR || chunksize(next) > av->system_mem)
		hl_corrupt(fn, "invalid next size", chunk2mem(p));
}

/*
 * heap_ok: the caller found av through p's registered heap (arena_of), so
 * the heap need not be looked up again.
 */
static inline __attribute__((always_inline)) void free_chunk(struct arena *av, struct chunk *p,
							     const char *fn, int heap_ok)
{
	size_t size = chunksize(p);
	size_t arena_bit = av->index ? NON_MAIN_ARENA : 0;
	struct chunk *next;

	if (size < MINSIZE || !aligned_ok(size))
		hl_corrupt(fn, "invalid size", chunk2mem(p));
	if (!aligned_ok((uintptr_t)p) || (uintptr_t)p > -size)
		hl_corrupt(fn, "invalid pointer", chunk2mem(p));
	if (chunk_is_cached(p))
		hl_corrupt(fn, "double free detected", chunk2mem(p));
	check_free(av, p, size, fn, heap_ok);
	if (mp.perturb)
		memset(chunk2mem(p), mp.perturb, size - CHUNK_HDR);

	if (size <= av->max_fast) {
		unsigned fi = fastbin_index(size);

		p->size |= CHUNK_CACHED;
		p->fd = fastbin_link(&p->fd, av->fastbins[fi]);
		av->fastbins[fi] = p;
		av->have_fastchunks = 1;
		return;
	}

	/*
	 * Only small frees count towards giving pages back: big blocks (the
	 * ones the dynamic mmap threshold keeps in the heap) tend to be
	 * allocated again at once, and refaulting them costs more.
	 */
	if (size < DEFAULT_MMAP_THRESHOLD)
		av->freed_since_release += size;
	next = chunk_at(p, size);
	if (!prev_inuse(p)) {
		size_t prevsize = p->prev_size;

		p = prev_chunk(p);
		if (chunksize(p) != prevsize)
			hl_corrupt(fn, "corrupted size vs. prev_size while consolidating", chunk2mem(p));
		unlink_chunk(av, p);
		size += prevsize;
	}
	if (next != av->top) {
		size_t nextsize = chunksize(next);

		if (!inuse_at(next, nextsize)) {
			unlink_chunk(av, next);
			size += nextsize;
		} else {
			clear_inuse_at(next, 0);
		}
		set_head(p, size | PREV_INUSE | arena_bit);
		set_foot(p, size);
		unsorted_push(av, p);
		if (unlikely(size >= RELEASE_MIN) && size >= av->system_mem / 2 &&
		    av->freed_since_release >= RELEASE_MIN)
			release_pages(av, p, size);
	} else {
		size += chunksize(next);
		set_head(p, size | PREV_INUSE | arena_bit);
		av->top = p;
	}

	/*
	 * A large free: the fast bins may now coalesce into top, and top
	 * may have grown past the trim threshold.
	 */
	if (size >= FASTBIN_CONSOLIDATION_THRESHOLD) {
		/* free() keeps errno: the kernel calls below may set it. */
		int saved_errno = errno;

		if (av->have_fastchunks)
			malloc_consolidate(av);
		mmap_cache_decay();	/* a big free: a chance to age the mmap cache */
		/* Another arena: emptied heaps go whatever top's size (glibc's rule). */
		if (av->index != 0)
			heap_trim(av, mp.top_pad, 0);
		else if (av->top && chunksize(av->top) >= mp.trim_threshold)
			top_decay(av);
		errno = saved_errno;
	}
}

void arena_free(struct arena *av, struct chunk *p, const char *fn)
{
	free_chunk(av, p, fn, 0);
}

void arena_free_owned(struct arena *av, struct chunk *p, const char *fn)
{
	free_chunk(av, p, fn, 1);
}

/* Give the top's whole pages above pad back with a negative sbrk. */
int systrim(struct arena *av, size_t pad)
{
	struct chunk *top = av->top;
	size_t top_size, extra, released;
	char *cur, *now;

	if (!top || !av->contiguous || av->index != 0)
		return 0;
	top_size = chunksize(top);
	if (top_size <= pad + MINSIZE)
		return 0;
	extra = ALIGN_DOWN(top_size - MINSIZE - 1 - pad, mp.pagesize);
	if (extra == 0)
		return 0;
	cur = os_sbrk(0);
	if (cur != (char *)top + top_size)
		return 0;	/* someone else owns the break now */
	os_sbrk(-(intptr_t)extra);
	now = os_sbrk(0);
	if (now == (char *)-1 || now >= cur)
		return 0;
	released = (size_t)(cur - now);
	av->system_mem -= released;
	set_head(top, (top_size - released) | PREV_INUSE);
	av->seg[av->nseg - 1].end = (char *)top + (top_size - released);
	populated_clip(av);
	os_note_trim(av, released);
	COUNT_INC(trims);
	return 1;
}

/*
 * A non-main arena's top: unmap heaps that are nothing but top (all but the
 * arena's first), then give back the top's pages above pad (if top is past
 * the trim threshold, or when forced by malloc_trim). Unforced, the refault
 * guard keeps more (heap.c, THREAD_KEEP_PAD_MAX): threads that allocate
 * and free in batches past the threshold otherwise trim and refault their
 * heaps at every batch, as glibc's do.
 */
int heap_trim(struct arena *av, size_t pad, int force)
{
	struct heap_info *h = heap_for_ptr(av->top);
	size_t top_size, extra;
	int released = 0;

	while (h->prev && (char *)av->top == h->first) {
		struct heap_info *prev = h->prev;
		char *end = (char *)prev + prev->size;
		struct chunk *p = (struct chunk *)(end - 2 * CHUNK_HDR);

		if (chunksize(p) != CHUNK_HDR)
			hl_corrupt("free", "heap fencepost corrupted", chunk2mem(p));
		if (!prev_inuse(p)) {
			p = prev_chunk(p);
			unlink_chunk(av, p);
		}
		av->system_mem -= h->size;
		delete_heap(h);
		h = prev;
		av->heap = h;
		av->top = p;
		set_head(p, (size_t)(end - (char *)p) | PREV_INUSE | NON_MAIN_ARENA);
		released = 1;
	}
	top_size = chunksize(av->top);
	if (!force) {
		if (top_size < mp.trim_threshold)
			return released;
		pad += refault_pad(av);
	}
	if (top_size <= pad + MINSIZE + 1)
		return released;
	extra = ALIGN_DOWN(top_size - pad - MINSIZE - 1, mp.pagesize);
	if (extra == 0 || shrink_heap(h, extra) != 0)
		return released;
	av->system_mem -= extra;
	if (!force)
		av->trimmed = extra;
	set_head(av->top, (top_size - extra) | PREV_INUSE | NON_MAIN_ARENA);
	os_note_trim(av, extra);
	COUNT_INC(trims);
	return 1;
}

/* Free pages inside free chunks go back with madvise, then top is trimmed. */
int arena_trim(struct arena *av, size_t pad)
{
	int released = 0;

	if (__atomic_load_n(&av->remote, __ATOMIC_RELAXED))
		arena_drain_remote(av, 1);
	if (av->have_fastchunks)
		malloc_consolidate(av);
	for (unsigned i = 1; i < NBINS; i++) {
		struct chunk *bin = bin_at(av, i);

		for (struct chunk *p = bin->fd; p != bin; p = p->fd) {
			size_t size = chunksize(p);
			uintptr_t lo = ALIGN_UP((uintptr_t)p + sizeof(struct chunk), mp.pagesize);
			uintptr_t hi = ALIGN_DOWN((uintptr_t)p + size, mp.pagesize);

			if (hi > lo && os_madvise_free((void *)lo, hi - lo) == 0)
				released = 1;
		}
	}
	av->trimmed = av->keep_pad = 0;	/* asked for: no refault guard */
	if (av->index != 0)
		return heap_trim(av, pad, 1) | released;
	return systrim(av, pad) | released;
}

/*
 * Resize in place when the chunk itself, the next free chunk or top has
 * room; otherwise allocate, copy and free. Returns the chunk now holding the
 * data, or NULL (ENOMEM) leaving p untouched.
 */
struct chunk *arena_realloc(struct arena *av, struct chunk *p, size_t nb, const char *fn)
{
	size_t oldsize = chunksize(p);
	size_t arena_bit = av->index ? NON_MAIN_ARENA : 0;
	struct chunk *next = chunk_at(p, oldsize);
	struct chunk *newp;
	size_t newsize = oldsize;

	if (oldsize < MINSIZE || !aligned_ok(oldsize) || (uintptr_t)p > -oldsize)
		hl_corrupt(fn, "invalid old size", chunk2mem(p));
	if (chunk_is_cached(p))
		hl_corrupt(fn, "invalid pointer (freed chunk)", chunk2mem(p));
	check_free(av, p, oldsize, fn, 0);

	if (oldsize < nb) {
		/*
		 * At the end of the heap, a size past the mmap threshold (which
		 * arena_malloc would map elsewhere, and this would copy there)
		 * grows the heap under the chunk instead, as a smaller one does:
		 * a buffer grown by realloc stays where it is. Bench python3:
		 * 2.2 M instructions of copying fewer and a peak 3.5 MiB lower;
		 * realloc: peak 43.3 -> 41.0 MiB (PERFLOG 48). A threshold the
		 * program set keeps glibc's rule.
		 */
		if (next == av->top && oldsize + chunksize(next) < nb + MINSIZE &&
		    nb >= mp.mmap_threshold && nb <= DEFAULT_MMAP_THRESHOLD_MAX &&
		    !mp.no_dyn_threshold && grow_top(av, nb - oldsize) == 0)
			next = chunk_at(p, oldsize);	/* top, unless it moved */
		if (next == av->top && oldsize + chunksize(next) >= nb + MINSIZE) {
			/* Grow into top. */
			size_t topsize = chunksize(next);

			set_head_size(p, nb);
			av->top = chunk_at(p, nb);
			set_head(av->top, (oldsize + topsize - nb) | PREV_INUSE | arena_bit);
			top_used(av, oldsize + topsize - nb);
			return p;
		}
		if (next != av->top && !inuse_at(next, chunksize(next)) &&
		    oldsize + chunksize(next) >= nb) {
			/* Grow into the free chunk that follows. */
			newsize = oldsize + chunksize(next);
			unlink_chunk(av, next);
		} else {
			newp = arena_malloc(av, nb, NULL, fn);
			if (!newp)
				return NULL;
			if (newp == next) {
				/* Carved from a grown top right after us: no copy. */
				newsize = oldsize + chunksize(newp);
			} else {
				memcpy(chunk2mem(newp), chunk2mem(p), oldsize - SIZE_SZ);
				/*
				 * The old chunk goes to this thread's cache when it
				 * has room, as glibc's _int_free puts it: the next
				 * small mallocs take it back at once instead of the
				 * arena keeping it between the moved buffers
				 * (bench realloc: peak RSS 44.6 -> 43.5 MiB).
				 */
				if (!tcache_stash(p, oldsize))
					arena_free(av, p, fn);
				return newp;
			}
		}
	}

	/* newsize >= nb: hand back the tail if it can stand as a chunk. */
	if (newsize - nb < MINSIZE) {
		set_head_size(p, newsize);
		set_inuse_at(p, newsize);
	} else {
		struct chunk *rem = chunk_at(p, nb);

		set_head_size(p, nb);
		set_head(rem, (newsize - nb) | PREV_INUSE | arena_bit);
		set_inuse_at(rem, newsize - nb);
		arena_free(av, rem, fn);
	}
	return p;
}

/*
 * A chunk of nb bytes whose memory is aligned to align (> MALLOC_ALIGNMENT):
 * over-allocate, find the aligned spot, free the leading and trailing space.
 */
struct chunk *arena_memalign(struct arena *av, size_t align, size_t nb, const char *fn)
{
	size_t arena_bit = av->index ? NON_MAIN_ARENA : 0;
	struct chunk *p;
	char *mem;

	if (nb + align + MINSIZE < nb)
		return NULL;
	if (nb >= mp.mmap_threshold && hl_count.mmapped_chunks < mp.n_mmaps_max) {
		p = mmap_chunk(nb, align);
		if (p)
			return p;
	}
	p = arena_malloc(av, nb + align + MINSIZE, NULL, fn);
	if (!p)
		return NULL;
	mem = chunk2mem(p);
	if ((uintptr_t)mem % align) {
		char *aligned = (char *)ALIGN_UP((uintptr_t)mem, align);
		struct chunk *newp = mem2chunk(aligned);
		size_t lead, newsize;

		if ((size_t)((char *)newp - (char *)p) < MINSIZE)
			newp = chunk_at(newp, align);
		lead = (size_t)((char *)newp - (char *)p);
		newsize = chunksize(p) - lead;
		if (chunk_is_mmapped(p)) {
			newp->prev_size = p->prev_size + lead;
			set_head(newp, newsize | IS_MMAPPED);
			mmapped_moved(p, newp);
			return newp;
		}
		set_head(newp, newsize | PREV_INUSE | arena_bit);
		set_inuse_at(newp, newsize);
		set_head_size(p, lead);
		arena_free(av, p, fn);
		p = newp;
	}
	if (!chunk_is_mmapped(p)) {
		size_t size = chunksize(p);

		if (size - nb >= MINSIZE) {
			struct chunk *rem = chunk_at(p, nb);

			set_head(rem, (size - nb) | PREV_INUSE | arena_bit);
			set_inuse_at(rem, size - nb);
			set_head_size(p, nb);
			arena_free(av, rem, fn);
		}
	}
	return p;
}
