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
 */
#include "allocator/arena.h"
#include "allocator/out.h"

#define MMAP_SLOTS_LOG	14
#define MMAP_SLOTS	(1u << MMAP_SLOTS_LOG)
static struct chunk *mmap_table[MMAP_SLOTS];
static unsigned mmap_live;
static int mmap_untracked;	/* the table was full once: lookups may miss */
static pthread_mutex_t mmap_lock = PTHREAD_MUTEX_INITIALIZER;

static void table_lock(void)
{
	if (!__libc_single_threaded)
		pthread_mutex_lock(&mmap_lock);
}

static void table_unlock(void)
{
	if (!__libc_single_threaded)
		pthread_mutex_unlock(&mmap_lock);
}

static unsigned home_slot(const struct chunk *p)
{
	return (unsigned)((((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ULL) >> (64 - MMAP_SLOTS_LOG));
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

/* Linear probing with backward-shift deletion: no tombstones. */
static int table_remove(const struct chunk *p)
{
	unsigned i = home_slot(p), j;

	while (mmap_table[i] != p) {
		if (!mmap_table[i])
			return mmap_untracked ? 0 : -1;
		i = (i + 1) & (MMAP_SLOTS - 1);
	}
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
	table_unlock();
}

void mmapped_fork_prepare(void)
{
	pthread_mutex_lock(&mmap_lock);
}

void mmapped_fork_parent(void)
{
	pthread_mutex_unlock(&mmap_lock);
}

void mmapped_fork_child(void)
{
	pthread_mutex_init(&mmap_lock, NULL);
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
	map = os_mmap(size);
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
	table_unlock();
	count_mapped(-1, -(int64_t)total);
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
