// SPDX-License-Identifier: MIT
/*
 * mmapped.c — chunks with a mapping of their own, for requests at or above
 * the mmap threshold. Such a chunk belongs to no arena: free unmaps it, so
 * its memory goes straight back to the kernel.
 *
 *   map-> +---------------------------------------------+
 *         | leading gap (only for memalign)             |
 * chunk-> +---------------------------------------------+
 *         | prev_size = offset of chunk from map        |
 *         | size = map length - offset        |0|0|1|0|
 *   mem-> +---------------------------------------------+
 *         | user data: size - 16 bytes, to the end of   |
 *         . the mapping (there is no next chunk)        |
 *         +---------------------------------------------+
 *
 * Live mmapped chunks are recorded in a hash table (open addressing, no
 * memory of its own to allocate): the heap dump lists them, and free and
 * realloc refuse a pointer that claims to be one but is not.
 *
 * A freed mapping is not unmapped at once: a small cache keeps the most
 * recent ones (MMAP_CACHE_SLOTS, at most mmap_cache bytes in all, 64 MiB by
 * default), and the next request for a mapping takes the best fitting one,
 * resized with mremap to the exact length a fresh mapping would have had.
 * Its pages are already there, so a program that allocates, fills and
 * frees big blocks in a loop stops paying a page fault per page each time.
 * A mapping left unused for MMAP_CACHE_DECAY_NS goes back to the kernel at
 * the next mapping request or free, or big free into an arena; a mapping
 * no longer above the threshold (the dynamic rule raised it: its size now
 * comes from the heap) is not kept, and malloc_trim empties the cache.
 *
 * A mapping's chunk has its user data at offset 16 of a page, or at 0 when
 * memalign aligned it to a page or more. A pointer there may be one freed
 * already, whose header is on a page the kernel has taken back: free,
 * realloc and malloc_usable_size ask mmapped_vet before reading it.
 */
#include "allocator/arena.h"
#include "allocator/out.h"

#define MMAP_SLOTS_LOG	14
#define MMAP_SLOTS	(1u << MMAP_SLOTS_LOG)
static struct chunk *mmap_table[MMAP_SLOTS] HL_SPARSE;
static unsigned mmap_live;
static int mmap_untracked;	/* the table was full once: lookups may miss */
static struct arena_lock mmap_lock;

#define MMAP_CACHE_SLOTS	8
#define MMAP_CACHE_MAX		(64UL << 20)
#define MMAP_CACHE_DECAY_NS	(50 * 1000000ULL)

/* A freed mapping kept for reuse (under mmap_lock, like the table). */
struct cached_map {
	char *map;
	size_t len;			/* 0: an empty slot */
	uint64_t freed;			/* when (os_now_ns) */
};
static struct cached_map cache[MMAP_CACHE_SLOTS];
static size_t cache_bytes;
static uint64_t cache_reused, cache_released;

/*
 * The last mapped chunks freed (under mmap_lock): a pointer to one of them
 * is a double free, whether its mapping is in the cache or unmapped.
 */
#define FREED_SLOTS	32
static const struct chunk *freed[FREED_SLOTS];
static unsigned freed_next;
/* Whether this thread's last mmap_chunk recycled a mapping (calloc asks). */
__thread int mmap_recycled HL_TLS;
static size_t cache_limit(void);

static void table_lock(void)
{
	if (!__libc_single_threaded)
		lock_take(&mmap_lock);
}

static void table_unlock(void)
{
	if (!__libc_single_threaded)
		lock_give(&mmap_lock);
}

/*
 * A chunk's slot is its address in units of the default mmap threshold
 * (128 KiB), modulo the table: the program's mappings lie near each other,
 * so their slots do too, and the table's pages stay untouched but for a
 * few. (A multiplicative hash spread them over all 32 pages of the table:
 * bench realloc kept 124 KiB of it resident, mixed 28, large 24.) Mappings
 * of the default threshold or more never share a home slot; smaller ones
 * (a lower threshold set) only make short runs for linear probing.
 */
static unsigned home_slot(const struct chunk *p)
{
	return (unsigned)((uintptr_t)p >> 17) & (MMAP_SLOTS - 1);
}

static void table_insert(struct chunk *p)
{
	unsigned i = home_slot(p);

	if (mmap_live >= MMAP_SLOTS / 4 * 3) {
		mmap_untracked = 1;
		return;
	}
	while (mmap_table[i])
		i = (i + 1) & (MMAP_SLOTS - 1);
	mmap_table[i] = p;
	mmap_live++;
}

/* p's slot, found by linear probing from its home, or -1. */
static int table_slot(const struct chunk *p)
{
	for (unsigned i = home_slot(p); mmap_table[i]; i = (i + 1) & (MMAP_SLOTS - 1))
		if (mmap_table[i] == p)
			return (int)i;
	return -1;
}

/* Backward-shift deletion: no tombstones. */
static int table_remove(const struct chunk *p)
{
	int slot = table_slot(p);
	unsigned i = (unsigned)slot, j;

	if (slot < 0)
		return mmap_untracked ? 0 : -1;
	for (j = (i + 1) & (MMAP_SLOTS - 1); mmap_table[j]; j = (j + 1) & (MMAP_SLOTS - 1)) {
		unsigned h = home_slot(mmap_table[j]);

		/* Move j back to i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (h <= i || h > j) : (h <= i && h > j)) {
			mmap_table[i] = mmap_table[j];
			i = j;
		}
	}
	mmap_table[i] = NULL;
	mmap_live--;
	return 0;
}

void mmapped_moved(struct chunk *old, struct chunk *p)
{
	table_lock();
	if (table_remove(old) == 0)
		table_insert(p);
	table_unlock();
}

void mmapped_dump(struct out *o)
{
	table_lock();
	for (unsigned i = 0; i < MMAP_SLOTS; i++) {
		struct chunk *p = mmap_table[i];

		if (!p)
			continue;
		out_str(o, "  ");
		out_hex(o, (uintptr_t)p, 16);
		out_str(o, "  ");
		out_hex(o, (uintptr_t)chunk2mem(p), 16);
		out_dec(o, chunksize(p), 12);
		out_str(o, "  mmapped\n");
	}
	if (mmap_untracked)
		out_str(o, "  (some mmapped chunks were not recorded: the table was full)\n");
	out_str(o, "mmap cache: ");
	{
		unsigned n = 0;

		for (unsigned i = 0; i < MMAP_CACHE_SLOTS; i++)
			n += cache[i].len != 0;
		out_dec(o, n, 0);
	}
	out_str(o, " mappings (");
	out_dec(o, __atomic_load_n(&cache_bytes, __ATOMIC_RELAXED), 0);
	out_str(o, " bytes, at most ");
	out_dec(o, cache_limit(), 0);
	out_str(o, "), reused ");
	out_dec(o, cache_reused, 0);
	out_str(o, ", released ");
	out_dec(o, cache_released, 0);
	out_str(o, "\n");
	table_unlock();
}

void mmapped_fork_prepare(void)
{
	lock_take(&mmap_lock);
}

void mmapped_fork_parent(void)
{
	lock_give(&mmap_lock);
}

void mmapped_fork_child(void)
{
	lock_init(&mmap_lock);
}

static size_t cache_limit(void)
{
	return mp.mmap_cache_set ? mp.mmap_cache : MMAP_CACHE_MAX;
}

/* Unmap cache slot i (lock held). */
static void cache_release(unsigned i)
{
	os_munmap(cache[i].map, cache[i].len);
	__atomic_fetch_sub(&cache_bytes, cache[i].len, __ATOMIC_RELAXED);
	cache_released++;
	cache[i].len = 0;
}

/*
 * Whether a freed mapping of len bytes may be asked for again: requests of
 * its size must still get mappings. Once the dynamic rule has raised the
 * threshold to a freed chunk's size, they come from the heap: keeping the
 * mapping would only add to the heap's memory.
 */
static int cache_worth(size_t len)
{
	return len > mp.mmap_threshold && len <= cache_limit();
}

/*
 * Give back what the program is not going to ask for again: mappings unused
 * for MMAP_CACHE_DECAY_NS, and those the threshold has outgrown (lock held).
 */
static void cache_decay(uint64_t now)
{
	for (unsigned i = 0; i < MMAP_CACHE_SLOTS; i++) {
		if (!cache[i].len)
			continue;
		if (now - cache[i].freed >= MMAP_CACHE_DECAY_NS || !cache_worth(cache[i].len))
			cache_release(i);
	}
}

/*
 * A mapping of exactly len bytes from the cache, or NULL: the smallest that
 * holds len, else the largest (grown: its pages are reused all the same).
 */
static char *cache_take(size_t len)
{
	unsigned best = MMAP_CACHE_SLOTS;
	char *map;
	size_t have;

	/* Read without the lock: a miss only means a fresh mapping. */
	if (!__atomic_load_n(&cache_bytes, __ATOMIC_RELAXED))
		return NULL;
	table_lock();
	cache_decay(os_now_ns());
	for (unsigned i = 0; i < MMAP_CACHE_SLOTS; i++) {
		size_t l = cache[i].len;

		if (!l)
			continue;
		if (best == MMAP_CACHE_SLOTS)
			best = i;
		else if (l >= len ? cache[best].len < len || l < cache[best].len
				  : cache[best].len < len && l > cache[best].len)
			best = i;
	}
	if (best == MMAP_CACHE_SLOTS) {
		table_unlock();
		return NULL;
	}
	map = cache[best].map;
	have = cache[best].len;
	cache[best].len = 0;
	__atomic_fetch_sub(&cache_bytes, have, __ATOMIC_RELAXED);
	cache_reused++;
	table_unlock();
	if (have == len)
		return map;
	/* Shrinking gives the tail back; growing may move, keeping the pages. */
	{
		char *moved = os_mremap(map, have, len);

		if (!moved)
			os_munmap(map, have);
		return moved;
	}
}

/* Keep a freed mapping for reuse; 0 if it must be unmapped instead. */
static int cache_put(char *map, size_t len)
{
	size_t limit = cache_limit();
	uint64_t now;
	unsigned slot = MMAP_CACHE_SLOTS;

	if (!cache_worth(len))
		return 0;
	table_lock();
	now = os_now_ns();	/* under the lock: the slots' times only grow */
	cache_decay(now);
	/* Room: evict the oldest until this one fits in a free slot. */
	for (;;) {
		unsigned oldest = MMAP_CACHE_SLOTS;

		slot = MMAP_CACHE_SLOTS;
		for (unsigned i = 0; i < MMAP_CACHE_SLOTS; i++) {
			if (!cache[i].len)
				slot = i;
			else if (oldest == MMAP_CACHE_SLOTS || cache[i].freed < cache[oldest].freed)
				oldest = i;
		}
		if (slot != MMAP_CACHE_SLOTS && cache_bytes + len <= limit)
			break;
		cache_release(oldest);
	}
	cache[slot] = (struct cached_map){ map, len, now };
	__atomic_fetch_add(&cache_bytes, len, __ATOMIC_RELAXED);
	table_unlock();
	return 1;
}

/* Unused cached mappings go back (called by big frees into an arena). */
void mmap_cache_decay(void)
{
	if (!__atomic_load_n(&cache_bytes, __ATOMIC_RELAXED))
		return;
	table_lock();
	cache_decay(os_now_ns());
	table_unlock();
}

/* malloc_trim: every cached mapping goes back; 1 if there was one. */
int mmap_cache_flush(void)
{
	int released = 0;

	table_lock();
	for (unsigned i = 0; i < MMAP_CACHE_SLOTS; i++) {
		if (cache[i].len) {
			cache_release(i);
			released = 1;
		}
	}
	table_unlock();
	return released;
}

static void count_mapped(int64_t chunks, int64_t bytes)
{
	int64_t n = COUNT_ADD(mmapped_chunks, chunks) + chunks;
	int64_t b = COUNT_ADD(mmapped_bytes, bytes) + bytes;

	/* Racy maxima are fine: they are statistics. */
	if ((uint64_t)n > hl_count.max_mmapped_chunks)
		hl_count.max_mmapped_chunks = (uint64_t)n;
	if ((uint64_t)b > hl_count.max_mmapped_bytes)
		hl_count.max_mmapped_bytes = (uint64_t)b;
}

struct chunk *mmap_chunk(size_t nb, size_t align)
{
	size_t extra = align > MALLOC_ALIGNMENT ? align : 0;
	size_t size = nb + SIZE_SZ + extra;
	uintptr_t off = 0;
	struct chunk *p;
	char *map;

	if (size < nb || size > PTRDIFF_MAX)
		return NULL;
	size = ALIGN_UP(size, mp.pagesize);
	map = cache_take(size);
	mmap_recycled = map != NULL;
	if (!map) {
		map = os_mmap(size);
		if (map)
			thp_mapped(map, size);
	}
	if (!map)
		return NULL;
	if (extra)
		off = ALIGN_UP((uintptr_t)map + CHUNK_HDR, align) - CHUNK_HDR - (uintptr_t)map;
	p = (struct chunk *)(map + off);
	p->prev_size = off;
	set_head(p, (size - off) | IS_MMAPPED);
	count_mapped(1, (int64_t)size);
	table_lock();
	table_insert(p);
	table_unlock();
	return p;
}

static int freed_lately(const struct chunk *p)
{
	for (unsigned i = 0; i < FREED_SLOTS; i++)
		if (freed[i] == p)
			return 1;
	return 0;
}

/*
 * Whether mem, at the start of a page, is a mapping's chunk freed lately
 * (one of the last FREED_SLOTS). It may be read when it is in a heap (the
 * main arena's range or a registered heap) or a live mapping's chunk; a
 * pointer that is neither, nor freed lately, is none of ours: reported.
 * When the table was once full, a live mapping may be missing from it, so
 * the header is read as before.
 */
int __attribute__((cold)) mmapped_vet(const void *mem, const char *fn)
{
	const struct chunk *p = mem2chunk(mem);
	uintptr_t a = (uintptr_t)p;
	int known, lately;

	if ((a >= __atomic_load_n(&main_heap_lo, __ATOMIC_RELAXED) &&
	     a < __atomic_load_n(&main_heap_hi, __ATOMIC_RELAXED)) ||
	    heap_registered(heap_for_ptr(p)))
		return 0;
	table_lock();
	known = mmap_untracked || table_slot(p) >= 0;
	lately = !known && freed_lately(p);
	table_unlock();
	if (!known && !lately)
		hl_corrupt(fn, "invalid pointer", mem);
	return lately;
}

void mmap_chunk_check(const struct chunk *p, const char *fn)
{
	uintptr_t map = (uintptr_t)p - p->prev_size;
	size_t total = p->prev_size + chunksize(p);

	if (((map | total) & (mp.pagesize - 1)) || !aligned_ok((uintptr_t)chunk2mem(p)) ||
	    total < mp.pagesize || chunksize(p) < MINSIZE)
		hl_corrupt(fn, "invalid pointer", chunk2mem(p));
}

void munmap_chunk(struct chunk *p, const char *fn)
{
	char *map = (char *)p - p->prev_size;
	size_t total = p->prev_size + chunksize(p);

	mmap_chunk_check(p, fn);
	table_lock();
	if (table_remove(p) != 0) {
		table_unlock();
		hl_corrupt(fn, "invalid pointer", chunk2mem(p));
	}
	freed[freed_next++ % FREED_SLOTS] = p;
	table_unlock();
	count_mapped(-1, -(int64_t)total);
	if (cache_put(map, total))
		return;
	if (os_munmap(map, total) != 0)
		hl_corrupt(fn, "invalid pointer (munmap failed)", chunk2mem(p));
}

struct chunk *mremap_chunk(struct chunk *p, size_t nb, const char *fn)
{
	size_t off = p->prev_size;
	size_t total = off + chunksize(p);
	size_t newtotal = nb + off + SIZE_SZ;
	char *map;

	mmap_chunk_check(p, fn);
	if (newtotal < nb || newtotal > PTRDIFF_MAX)
		return NULL;
	newtotal = ALIGN_UP(newtotal, mp.pagesize);
	if (newtotal == total)
		return p;
	table_lock();
	if (table_remove(p) != 0) {
		table_unlock();
		hl_corrupt(fn, "invalid pointer", chunk2mem(p));
	}
	map = os_mremap((char *)p - off, total, newtotal);
	if (map)
		p = (struct chunk *)(map + off);
	table_insert(p);	/* the new place, or the old one again */
	table_unlock();
	if (!map)
		return NULL;
	set_head(p, (newtotal - off) | IS_MMAPPED);
	count_mapped(0, (int64_t)newtotal - (int64_t)total);
	return p;
}
