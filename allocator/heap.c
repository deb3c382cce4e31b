// SPDX-License-Identifier: MIT
/*
 * heap.c — the heaps of the non-main arenas. The program break belongs to
 * the main arena; every other arena lives in heaps of HEAP_MAX_SIZE address
 * space, reserved at an aligned address and committed as they grow, so the
 * arena of any chunk is one mask away (heap_for_ptr). Heaps shrink when
 * their top shrinks and are unmapped when they become empty.
 *
 * A bitmap with one bit per HEAP_MAX_SIZE of address space records which
 * heaps are ours: a chunk whose NON_MAIN_ARENA bit claims a heap we never
 * made is caught before its heap header is read.
 *
 * The main arena's top decays instead of being trimmed at once while the
 * dynamic threshold is in charge (top_decay, below).
 *
 * With HEAPLAB_OPTIONS=thp=1, heaps past THP_HEAP_MIN grow to 2 MiB
 * boundaries and ask for transparent huge pages (thp_grow, below).
 */
#include <string.h>

#include "allocator/arena.h"

uint64_t heap_map[HEAP_SLOTS / 64] HL_SPARSE;

static void heap_register(const struct heap_info *h, int on)
{
	size_t i = ((uintptr_t)h >> 26) & (HEAP_SLOTS - 1);

	if (on)
		__atomic_fetch_or(&heap_map[i / 64], 1ULL << (i % 64), __ATOMIC_RELEASE);
	else
		__atomic_fetch_and(&heap_map[i / 64], ~(1ULL << (i % 64)), __ATOMIC_RELEASE);
}

/* HEAP_MAX_SIZE of address space aligned to HEAP_MAX_SIZE. */
static char *reserve_aligned(void)
{
	char *p = os_reserve(2 * HEAP_MAX_SIZE), *aligned;
	size_t lead;

	if (!p)
		return NULL;
	aligned = (char *)ALIGN_UP((uintptr_t)p, HEAP_MAX_SIZE);
	lead = (size_t)(aligned - p);
	if (lead)
		os_munmap(p, lead);
	os_munmap(aligned + HEAP_MAX_SIZE, HEAP_MAX_SIZE - lead);
	return aligned;
}

struct heap_info *new_heap(size_t size, size_t top_pad)
{
	struct heap_info *h;
	char *base;

	if (size > HEAP_MAX_SIZE)
		return NULL;
	if (size + top_pad <= HEAP_MAX_SIZE)
		size += top_pad;
	if (size < HEAP_MIN_SIZE)
		size = HEAP_MIN_SIZE;
	size = ALIGN_UP(size, mp.pagesize);
	if (size > HEAP_MAX_SIZE)
		size = HEAP_MAX_SIZE;
	base = reserve_aligned();
	if (!base)
		return NULL;
	if (os_commit(base, size) != 0) {
		os_munmap(base, HEAP_MAX_SIZE);
		return NULL;
	}
	h = (struct heap_info *)base;
	memset(h, 0, sizeof(*h));
	h->size = size;
	h->mprotect_size = size;
	h->first = (char *)ALIGN_UP((uintptr_t)(h + 1), MALLOC_ALIGNMENT);
	heap_register(h, 1);
	COUNT_INC(heaps);
	os_note_heap_new(h);
	return h;
}

int grow_heap(struct heap_info *h, size_t diff)
{
	size_t new_size = ALIGN_UP(h->size + diff, mp.pagesize), commit;

	if (diff > HEAP_MAX_SIZE || new_size > HEAP_MAX_SIZE)
		return -1;
	if (new_size > h->mprotect_size) {
		commit = thp_grow(h->ar_ptr, (char *)h + h->mprotect_size,
				  new_size - h->mprotect_size);
		if (h->mprotect_size + commit > HEAP_MAX_SIZE)
			commit = new_size - h->mprotect_size;
		if (os_commit((char *)h + h->mprotect_size, commit))
			return -1;
		thp_grown(h->ar_ptr, (char *)h + h->mprotect_size, commit);
		h->mprotect_size += commit;
	}
	h->size = new_size;
	return 0;
}

/* Give back the tail: the pages stay reserved and read/write, but empty. */
int shrink_heap(struct heap_info *h, size_t diff)
{
	if (diff == 0 || diff >= h->size)
		return -1;
	if (os_madvise_free((char *)h + h->size - diff, diff) != 0)
		return -1;
	h->size -= diff;
	return 0;
}

void delete_heap(struct heap_info *h)
{
	os_note_heap_free(h);
	heap_register(h, 0);
	COUNT_ADD(heaps, (uint64_t)-1);
	os_munmap(h, HEAP_MAX_SIZE);
}

/*
 * How long the tail of the main arena's top must stay unused before it goes
 * back. glibc trims top down to top_pad as soon as it passes the trim
 * threshold, which the dynamic rule sets to twice the largest freed mmapped
 * chunk: enough for one big block coming and going, not for several. With
 * four blocks of 2..16 MiB alive (bench workload "large") the top passes 32
 * MiB again and again, and every trim is paid back with a page fault per
 * page when the heap grows over the same addresses (228,000 faults, 0.4 s
 * of system time in 400 rounds). 200 ms rather than 50: the periods are
 * wall time, so the shorter one made a realloc-heavy program's peak depend
 * on how fast it ran (bench realloc, 7 runs at load 7: 43.3-46.2 MiB
 * with 50 ms, 43.3-43.9 with 200; glibc 43.2-43.6).
 */
#define TOP_DECAY_NS	(200 * 1000000ULL)
/*
 * Only a top whose pages are (nearly) all resident is kept: the program
 * touched all of that memory, and will likely touch it again. A sparse one
 * (blocks written only here and there) costs few faults to rebuild, while
 * keeping it would keep every page an earlier block ever touched.
 */
#define TOP_SAMPLES	32
#define TOP_DENSE	30	/* of TOP_SAMPLES */

/*
 * The refault guard. A program that allocates a batch past the trim
 * threshold and frees it all, again and again (glibc's bench-malloc-simple,
 * 1600 blocks of 1 KiB), has top trimmed after every batch and faults every
 * page of it back in for the next: 3,000 brk calls and 70,000 faults where
 * the work itself takes less CPU than the kernel. glibc does the same. So
 * when the heap has to grow right after a trim, later trims keep what that
 * trim gave back (up to KEEP_PAD_MAX) on top of top_pad; a trim that is not
 * followed by growth halves what is kept, once a period (TOP_DECAY_NS) has
 * passed since the heap last grew back. Halving at once undid the guard for
 * programs whose batches differ in size: glibc-simple's rounds of 1600
 * blocks of 512 B need 313 KiB of top and 1 MiB by turns (the bins keep
 * more or fewer of them), and each small round halved the pad the next
 * large one needed: 472 KiB trimmed and faulted back in every two rounds,
 * 2,300 MADV_POPULATE_WRITE and 770 brk calls in all (PERFLOG 43). A
 * single big free still moves the break down at once, thresholds set by
 * the program (mallopt, HEAPLAB_OPTIONS) keep glibc's rule exactly, and
 * malloc_trim forgets it. Threads' heaps (heap_trim) have the same guard:
 * their tops are trimmed with madvise instead of the break, and refaulted
 * the same way.
 */
#define KEEP_PAD_MAX	(4UL << 20)
/*
 * A thread's arena keeps the largest trim paid back, not their sum, and
 * at most 512 KiB: there are up to eight such arenas per CPU, and what
 * each keeps adds up. Bench rptest (two threads trading blocks of up to
 * 16 KB): 1,250 trims and 18,000 page faults a run before (glibc's own
 * malloc: 9,600), 5,400 faults and 10% less CPU with this, its peak RSS
 * +0.3 MiB (still below glibc's); keeping their sum instead, to 512 KiB
 * or to 4 MiB as the main arena does, saved 1,400-1,800 faults more and
 * put the peak above glibc's (PERFLOG 46).
 */
#define THREAD_KEEP_PAD_MAX	(512UL << 10)

/* What the refault guard adds to pad at a trim at free (0: glibc's rule). */
size_t refault_pad(struct arena *av)
{
	uint64_t now;

	if (mp.no_dyn_threshold)
		return 0;
	/* The last trim was not paid back, and the pad not needed lately. */
	if (av->trimmed && (!(now = os_now_ns()) || now - av->kept_since >= TOP_DECAY_NS))
		av->keep_pad /= 2;
	return av->keep_pad;
}

static void top_trim_now(struct arena *av)
{
	size_t before = chunksize(av->top);

	systrim(av, mp.top_pad + refault_pad(av));
	av->trimmed = before - chunksize(av->top);
}

void top_regrown(struct arena *av)
{
	size_t keep;

	if (!av->trimmed)
		return;
	if (av->index != 0) {
		keep = av->trimmed < THREAD_KEEP_PAD_MAX ? av->trimmed : THREAD_KEEP_PAD_MAX;
		if (keep > av->keep_pad)
			av->keep_pad = keep;
	} else {
		keep = av->trimmed + av->keep_pad;
		av->keep_pad = keep < KEEP_PAD_MAX ? keep : KEEP_PAD_MAX;
	}
	av->kept_since = os_now_ns();
	av->trimmed = 0;
}

/*
 * Called by a free that left the main arena's top at or past the trim
 * threshold. With thresholds set by the program (mallopt, HEAPLAB_OPTIONS)
 * or not yet raised by the dynamic rule, or with a sparsely resident top,
 * trim now, as glibc does (less what the refault guard keeps). Otherwise
 * (the rule has raised them: the program frees big blocks, which then come
 * from the heap) keep top for a period
 * of TOP_DECAY_NS; at its end give back the part of top that no allocation
 * reached during it (top's low-water mark, kept by top_used), keeping
 * top_pad. The heap then stays at the extent the program actually used
 * lately, never above the largest it has needed, and what went unused for
 * a period still goes back. malloc_trim releases everything, as before.
 */
void top_decay(struct arena *av)
{
	size_t top_size = chunksize(av->top), unused;
	uint64_t now;

	if (av->decay_since) {
		now = os_now_ns();
		if (now - av->decay_since < TOP_DECAY_NS)
			return;
		/* The period is over: its untouched tail goes. */
		unused = av->top_low < top_size ? av->top_low : top_size;
		av->decay_since = 0;
		if (unused > mp.top_pad)
			systrim(av, top_size - unused + mp.top_pad);
		top_size = chunksize(av->top);
		if (top_size < mp.trim_threshold)
			return;
	}
	if (mp.no_dyn_threshold || mp.trim_threshold <= DEFAULT_TRIM_THRESHOLD ||
	    !os_resident_at_least(av->top, top_size, TOP_SAMPLES, TOP_DENSE) ||
	    !(now = os_now_ns())) {
		top_trim_now(av);
		return;
	}
	av->decay_since = now;
	av->top_low = top_size;
}

/*
 * Transparent huge pages, asked for (HEAPLAB_OPTIONS=thp=1; off by
 * default, as glibc's glibc.malloc.hugetlb). A heap past THP_HEAP_MIN
 * grows to a 2 MiB boundary and its new whole 2 MiB ranges are advised
 * MADV_HUGEPAGE, as are fresh mappings of 2 MiB and more: each such range
 * then faults in once instead of 512 times. What it costs is memory the
 * program never wrote: the rest of the huge page a heap's top has just
 * entered, holes between blocks, a big block written only in part. On the
 * benchmarks (allocator/bench/PERFLOG.md, 29) that raised peak RSS by up
 * to 2 MiB on a heap of small blocks written whole (the huge page top has
 * just entered), 4.7 MiB with big tables written in part, 66 MiB with
 * blocks written every 64 KiB; and where the hypervisor had taken back
 * the guest's free memory, one huge page cost more time than its 512
 * small ones: hence off by default. Free pages inside the heap still go
 * back (MADV_DONTNEED splits a huge page), and so does the top (trimming
 * unmaps its tail).
 */
#define THP_HEAP_MIN	(4UL << 20)

/* How much to add to a heap that ends at end and needs size more. */
size_t thp_grow(const struct arena *av, const char *end, size_t size)
{
	if (!mp.thp || !av || av->system_mem + size < THP_HEAP_MIN)
		return size;
	return ALIGN_UP((uintptr_t)end + size, HPAGE_SIZE) - (uintptr_t)end;
}

/* [start, start + len) was added to av's heap (by thp_grow's measure). */
void thp_grown(const struct arena *av, char *start, size_t len)
{
	if (mp.thp && av && av->system_mem + len >= THP_HEAP_MIN)
		os_hugepage(start, len);
}

/* A fresh mapping for one big chunk. */
void thp_mapped(char *map, size_t len)
{
	if (mp.thp && len >= HPAGE_SIZE)
		os_hugepage(map, len);
}
