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
 *   heap.c     the mmap'd heaps of the other arenas
 *   arenas.c   the list of arenas, which thread uses which, fork, thread exit
 *   tcache.c   the per-thread cache in front of the arenas
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
#include <sys/single_threaded.h>

#include "allocator/bins.h"

#define HL_HIDDEN	__attribute__((visibility("hidden")))
#define HL_API		__attribute__((visibility("default")))
#define HL_TLS		__attribute__((tls_model("initial-exec")))
/*
 * For the big tables that are touched only here and there (the heap
 * bitmap, the mapped-chunk table): the linker puts .lbss after all of
 * .bss, so the small variables every program touches share one or two
 * pages instead of being spread between the tables (two pages fewer
 * resident in a program that maps chunks, one in one that does not).
 */
#define HL_SPARSE	__attribute__((section(".lbss")))

/* Tunables: defaults as glibc's, changed by mallopt and HEAPLAB_OPTIONS. */
#define DEFAULT_MMAP_THRESHOLD		(128 * 1024UL)
#define DEFAULT_MMAP_THRESHOLD_MAX	(32 * 1024 * 1024UL)	/* the dynamic cap */
#define DEFAULT_TRIM_THRESHOLD		(128 * 1024UL)
#define DEFAULT_TOP_PAD			(128 * 1024UL)
#define DEFAULT_MMAP_MAX		65536
/* A heap grown with mmap because sbrk failed gets at least this much. */
#define MMAP_AS_MORECORE_SIZE		(1024 * 1024UL)

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

/*
 * A heap of a non-main arena: HEAP_MAX_SIZE of address space reserved at
 * an address aligned to HEAP_MAX_SIZE (so the heap of any chunk is its
 * address rounded down), committed from the front as it grows.
 *
 *   heap-> +----------------------+
 *          | struct heap_info     |
 *          | struct arena         |  (first heap of an arena only)
 *  first-> | chunks ... top       |
 *          +----------------------+ <- heap + size (committed)
 *          | reserved, PROT_NONE  |
 *          +----------------------+ <- heap + HEAP_MAX_SIZE
 */
#define HPAGE_SIZE	(2UL << 20)	/* a transparent huge page (x86-64, arm64 4K) */
#define HEAP_MIN_SIZE	(32 * 1024UL)
#define HEAP_MAX_SIZE	(2 * DEFAULT_MMAP_THRESHOLD_MAX)	/* 64 MiB */

struct heap_info {
	struct arena *ar_ptr;		/* the arena this heap belongs to */
	struct heap_info *prev;		/* the arena's previous heap */
	size_t size;			/* committed bytes, from the heap's start */
	size_t mprotect_size;		/* bytes ever made read/write */
	char *first;			/* the first chunk */
	size_t pad;
};

static inline struct heap_info *heap_for_ptr(const void *p)
{
	return (struct heap_info *)((uintptr_t)p & ~(HEAP_MAX_SIZE - 1));
}

/*
 * The arena lock: a futex word, 0 free, 1 held, 2 held with sleepers
 * (Drepper's "Futexes are tricky", mutex 2). Uncontended, lock and unlock
 * are one atomic instruction each, inline, where pthread_mutex_lock and
 * unlock were two calls of ~30 and ~24 instructions (callgrind). The
 * allocator's other locks (start-up's, the lists') are the same, which
 * also keeps libc's mutex code out of programs that never lock one.
 */
struct arena_lock {
	int word;
};

struct arena {
	struct arena_lock mutex;
	unsigned index;			/* 0: the main arena */
	int have_fastchunks;
	int contiguous;			/* top ends at the program break */
	size_t max_fast;		/* largest chunk size that goes to a fast bin */
	struct chunk *fastbins[NFASTBINS];
	struct chunk *top;
	struct chunk *last_remainder;	/* of the last split for a small request */
	/*
	 * The bins' heads, as glibc's: only the fd/bk pair of each (bin i at
	 * 2i; bin 0 unused), seen as a chunk by bin_at; then two words that
	 * the last head's fd_nextsize/bk_nextsize overlap (bins.c).
	 */
	struct chunk *bins[2 * NBINS + 2];
	uint64_t binmap[BINMAP_WORDS];
	size_t system_mem;		/* bytes of heap obtained from the kernel */
	size_t max_system_mem;
	struct heap_seg seg[MAX_SEGS];
	unsigned nseg;
	unsigned lost_segs;		/* segments beyond MAX_SEGS (not walkable) */
	struct heap_info *heap;		/* non-main arenas: the heap holding top */
	struct arena *next;		/* all arenas, from main_arena */
	struct arena *next_free;	/* arenas no thread is attached to */
	unsigned attached;		/* threads using this arena */
	size_t freed_since_release;	/* bytes freed since free pages last went back */
	/*
	 * Decay of the main arena's top (heap.c, top_decay): the smallest
	 * top since the current period began (its tail went unused all
	 * period), and when that period began (ns, 0: none yet).
	 */
	size_t top_low;
	uint64_t decay_since;
	/*
	 * The refault guard (heap.c, refault_pad), in every arena: what the
	 * last trim at free gave back while the heap has not grown since,
	 * the pad later trims keep once the heap had to grow back over it,
	 * and when it last did (ns).
	 */
	size_t trimmed, keep_pad;
	uint64_t kept_since;
	/*
	 * Where the pages populated ahead of small carves from the main
	 * arena's top end (arena.c, populate_ahead): top below it needs no
	 * more.
	 */
	char *populated;
	/*
	 * Chunks freed by threads that found the lock taken, pushed without
	 * it (a LIFO of in-use chunks linked through their memory, marked
	 * with tcache_key like cached ones). The arena's own thread takes
	 * the whole list when it next holds the lock, into its cache as far
	 * as there is room, the rest through the ordinary arena_free; other
	 * threads leave it (arena_drain_remote says when they do not).
	 */
	struct chunk *remote;
	size_t remote_bytes;		/* about how much it holds (outboxes add, a drain zeroes) */
};

/*
 * A free that leaves a free chunk (not top) of at least this size and at
 * least half the arena's memory, after as many bytes of chunks under 128
 * KiB were freed since the last time, gives the chunk's whole pages back
 * with MADV_DONTNEED: a program that freed most of a big heap of small
 * blocks stops holding it. Smaller holes, and holes left by big blocks,
 * are kept (they are reused soon, and refaulting pages costs more).
 */
#define RELEASE_MIN	(16UL << 20)

/*
 * A bin's head as a chunk whose fd and bk are the bin's pair. Its other
 * fields overlap the neighbouring pairs: a head's prev_size, size and
 * nextsize links are never written, and read only where bins.c says why
 * that is safe. (A whole chunk per head took 6 KiB of every arena: the
 * main arena alone held a second page of the library's data resident.)
 */
static inline struct chunk *bin_at(struct arena *av, unsigned i)
{
	return (struct chunk *)((char *)&av->bins[2 * i] - offsetof(struct chunk, fd));
}

/*
 * A process with one thread needs no lock (glibc's own malloc skips its
 * locks the same way). The flag only goes from true to false, and never
 * during a critical section, so lock and unlock always agree.
 */
void lock_wait(struct arena_lock *l, int c) HL_HIDDEN;
void lock_wake(struct arena_lock *l) HL_HIDDEN;

static inline void lock_take(struct arena_lock *l)
{
	int c = 0;

	if (unlikely(!__atomic_compare_exchange_n(&l->word, &c, 1, 0, __ATOMIC_ACQUIRE,
						  __ATOMIC_RELAXED)))
		lock_wait(l, c);
}

/* 0 when the lock was free and is now ours, as pthread_mutex_trylock. */
static inline int lock_try(struct arena_lock *l)
{
	int c = 0;

	return !__atomic_compare_exchange_n(&l->word, &c, 1, 0, __ATOMIC_ACQUIRE,
					    __ATOMIC_RELAXED);
}

static inline void lock_give(struct arena_lock *l)
{
	if (unlikely(__atomic_exchange_n(&l->word, 0, __ATOMIC_RELEASE) != 1))
		lock_wake(l);
}

/*
 * Free, with no sleeper: a new lock, or one in a fork's child, where the
 * threads that held or waited for it in the parent do not exist.
 */
static inline void lock_init(struct arena_lock *l)
{
	l->word = 0;
}

void arena_drain_remote(struct arena *av, int all) HL_HIDDEN;

/*
 * Whoever takes the lock first frees the chunks others left pending, if
 * it is the arena's own thread (else only past a bound: arena.c).
 */
static inline void arena_lock(struct arena *av)
{
	if (!__libc_single_threaded)
		lock_take(&av->mutex);
	if (unlikely(__atomic_load_n(&av->remote, __ATOMIC_RELAXED) != NULL))
		arena_drain_remote(av, 0);
}

/* Take the lock only if nobody holds it (1), draining as arena_lock. */
static inline int arena_trylock(struct arena *av)
{
	if (!__libc_single_threaded && lock_try(&av->mutex) != 0)
		return 0;
	if (unlikely(__atomic_load_n(&av->remote, __ATOMIC_RELAXED) != NULL))
		arena_drain_remote(av, 0);
	return 1;
}

static inline void arena_unlock(struct arena *av)
{
	if (!__libc_single_threaded)
		lock_give(&av->mutex);
}

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
	unsigned tcache_count;		/* chunks per thread-cache bin */
	size_t mmap_cache;		/* bytes of freed mappings kept for reuse */
	int mmap_cache_set;		/* mmap_cache was given (else the default) */
	int thp;			/* heaps and big mappings ask for huge pages (heap.c) */
	int populate;			/* small carves populate top ahead (arena.c) */
	int borrow;			/* a cache miss may borrow a larger chunk (tcache.c) */
	size_t pagesize;
	int initialized;
};
extern struct mparams mp HL_HIDDEN;
extern struct arena main_arena HL_HIDDEN;

/*
 * Counters behind heaplab_stats(). The per-call ones are kept per thread in
 * its cache (no shared cache line on the fast path) and folded in here when
 * the thread exits; the rest are updated with relaxed atomics.
 */
struct hl_calls {
	uint64_t malloc, free, calloc, realloc, memalign;
	int64_t in_use;			/* bytes of chunks handed out */
};

struct hl_counters {
	struct hl_calls calls;		/* threads without a cache, and exited ones */
	uint64_t sbrk, mmap, munmap, mremap, madvise, mprotect;
	uint64_t trims, heap_grows, heaps, arenas;
	int64_t mmapped_chunks, mmapped_bytes;
	uint64_t max_mmapped_chunks, max_mmapped_bytes;
};
extern struct hl_counters hl_count HL_HIDDEN;
#define COUNT_ADD(field, n) \
	__atomic_fetch_add(&hl_count.field, (n), __ATOMIC_RELAXED)
#define COUNT_INC(field)	COUNT_ADD(field, 1)

/* arena.c — all with av->mutex held. */
void arena_init(struct arena *av, unsigned index) HL_HIDDEN;
struct tcache;
/*
 * lender: the calling thread's cache when malloc missed it (NULL from every
 * other caller): before top is carved for nb, a larger chunk of its bins
 * may serve instead (tcache_borrow).
 */
struct chunk *arena_malloc(struct arena *av, size_t nb, struct tcache *lender,
			   const char *fn) HL_HIDDEN;
void arena_free(struct arena *av, struct chunk *p, const char *fn) HL_HIDDEN;
/* The same, for a chunk whose arena came from its checked heap (arena_of). */
void arena_free_owned(struct arena *av, struct chunk *p, const char *fn) HL_HIDDEN;
struct chunk *arena_realloc(struct arena *av, struct chunk *p, size_t nb,
			    const char *fn) HL_HIDDEN;
struct chunk *arena_memalign(struct arena *av, size_t align, size_t nb,
			     const char *fn) HL_HIDDEN;
void malloc_consolidate(struct arena *av) HL_HIDDEN;
int systrim(struct arena *av, size_t pad) HL_HIDDEN;
int heap_trim(struct arena *av, size_t pad, int force) HL_HIDDEN;
int arena_trim(struct arena *av, size_t pad) HL_HIDDEN;
/* The segment holding [p, p + size), or NULL (main arena). */
struct heap_seg *arena_seg_of(struct arena *av, const struct chunk *p,
			      size_t size) HL_HIDDEN;
/* Whether [p, p + size) lies in av's memory (1 if it cannot tell). */
int chunk_in_arena(struct arena *av, const struct chunk *p, size_t size) HL_HIDDEN;
/* Make the first chunk of a new heap the top (old top fenced and freed). */
void arena_top_in_heap(struct arena *av, struct heap_info *h) HL_HIDDEN;

/* heap.c */
struct heap_info *new_heap(size_t size, size_t top_pad) HL_HIDDEN;
int grow_heap(struct heap_info *h, size_t diff) HL_HIDDEN;
int shrink_heap(struct heap_info *h, size_t diff) HL_HIDDEN;
void delete_heap(struct heap_info *h) HL_HIDDEN;
/* Main arena, top past the trim threshold after a free: trim now or decay. */
void top_decay(struct arena *av) HL_HIDDEN;
/* The refault guard: what a trim at free keeps on top of top_pad. */
size_t refault_pad(struct arena *av) HL_HIDDEN;
/* The arena's heap grew: a trim it follows was paid back in faults. */
void top_regrown(struct arena *av) HL_HIDDEN;
/* heap.c: transparent huge pages, with thp=1 */
size_t thp_grow(const struct arena *av, const char *end, size_t size) HL_HIDDEN;
void thp_grown(const struct arena *av, char *start, size_t len) HL_HIDDEN;
void thp_mapped(char *map, size_t len) HL_HIDDEN;
/* heap.c: huge pages for big blocks written whole (HPAGE_SIZE and up). */
void thp_note_free(void *mem, size_t len) HL_HIDDEN;
void thp_advise(void *mem, size_t len) HL_HIDDEN;
/* Record that top has shrunk to size (the low-water mark top_decay reads). */
static inline void top_used(struct arena *av, size_t size)
{
	if (size < av->top_low)
		av->top_low = size;
}
/* One bit per HEAP_MAX_SIZE of address space: where our heaps are. */
#define ADDRESS_BITS	48
#define HEAP_SLOTS	(1UL << (ADDRESS_BITS - 26))	/* 26: log2(HEAP_MAX_SIZE) */
extern uint64_t heap_map[HEAP_SLOTS / 64] HL_HIDDEN;

/* Whether a heap of ours starts at h (checked before dereferencing it). */
static inline int heap_registered(const struct heap_info *h)
{
	size_t i = ((uintptr_t)h >> 26) & (HEAP_SLOTS - 1);

	if ((uintptr_t)h >> ADDRESS_BITS)
		return 0;
	return (__atomic_load_n(&heap_map[i / 64], __ATOMIC_ACQUIRE) >> (i % 64)) & 1;
}

/* arenas.c */
extern struct arena_lock arena_list_lock HL_HIDDEN;
extern unsigned narenas HL_HIDDEN;
extern __thread struct arena *thread_arena HL_TLS HL_HIDDEN;
struct arena *arena_attach(void) HL_HIDDEN;
/* Another arena to try after av failed, or NULL. */
struct arena *arena_retry(struct arena *av) HL_HIDDEN;
void arenas_init(void) HL_HIDDEN;
void arena_detach(void) HL_HIDDEN;

static inline struct arena *arena_get(void)
{
	struct arena *a = thread_arena;

	return likely(a != NULL) ? a : arena_attach();
}

/* The arena owning a non-mmapped chunk (no checks). */
static inline struct arena *arena_for_chunk(const struct chunk *p)
{
	return chunk_non_main_arena(p) ? heap_for_ptr(p)->ar_ptr : &main_arena;
}

/* tcache.c */
struct tcache;
extern __thread struct tcache *tcache HL_TLS HL_HIDDEN;
/* Random, per process: the second word of every chunk in a thread cache. */
extern uintptr_t tcache_key HL_HIDDEN;
void tcache_init(void) HL_HIDDEN;
void tcache_thread_exit(void) HL_HIDDEN;
/* Sum of every thread's call counters (locks the cache list). */
void tcache_sum_calls(struct hl_calls *sum) HL_HIDDEN;
/* This thread's call counters, NULL until it has a cache. */
extern __thread struct hl_calls *thread_calls HL_TLS HL_HIDDEN;
#define CALL_ADD(field, n) do {						\
	struct hl_calls *c_ = thread_calls;				\
	if (likely(c_ != NULL))						\
		c_->field += (n);					\
	else								\
		COUNT_ADD(calls.field, (n));				\
} while (0)
#define CALL_INC(field)	CALL_ADD(field, 1)
int tcache_holds(const struct chunk *p) HL_HIDDEN;
void tcache_fork_prepare(void) HL_HIDDEN;
void tcache_fork_parent(void) HL_HIDDEN;
void tcache_fork_child(void) HL_HIDDEN;
/* The main arena's address range, for cheap checks without its lock. */
extern uintptr_t main_heap_lo HL_HIDDEN, main_heap_hi HL_HIDDEN;

/* mmapped.c — no lock needed. */
struct chunk *mmap_chunk(size_t nb, size_t align) HL_HIDDEN;
void munmap_chunk(struct chunk *p, const char *fn) HL_HIDDEN;
struct chunk *mremap_chunk(struct chunk *p, size_t nb, const char *fn) HL_HIDDEN;
void mmap_chunk_check(const struct chunk *p, const char *fn) HL_HIDDEN;
/*
 * A mapping's chunk has its user data at offset 16 of a page (mmap_chunk's
 * own) or at offset 0 (memalign's, aligned to a page or more): mappings
 * start on 4 KiB boundaries, whatever the page size. Only a pointer in the
 * first 32 bytes of a page needs mmapped_vet before its header is read.
 */
#define MAP_GRAIN	4096
static inline int at_page_start(const void *mem)
{
	return !((uintptr_t)mem & (MAP_GRAIN - 2 * CHUNK_HDR));
}
int mmapped_vet(const void *mem, const char *fn) HL_HIDDEN;
struct out;
/* One line per live mmapped chunk, for the heap dump. */
void mmapped_dump(struct out *o) HL_HIDDEN;
/* memalign moved the chunk's start inside its mapping. */
void mmapped_moved(struct chunk *old, struct chunk *p) HL_HIDDEN;
/* The freed mappings kept for reuse (mmapped.c). */
void mmap_cache_decay(void) HL_HIDDEN;
int mmap_cache_flush(void) HL_HIDDEN;
/* Whether this thread's last mapped chunk reused a freed mapping (not zero). */
extern __thread int mmap_recycled HL_TLS HL_HIDDEN;
void mmapped_fork_prepare(void) HL_HIDDEN;
void mmapped_fork_parent(void) HL_HIDDEN;
void mmapped_fork_child(void) HL_HIDDEN;

/* os.c: os_munmap, os_commit and the madvise calls give 0 or -errno; errno is left alone */
void *os_sbrk(intptr_t incr) HL_HIDDEN;		/* (void *)-1 on failure */
void *os_mmap(size_t len) HL_HIDDEN;		/* NULL on failure */
int os_munmap(void *addr, size_t len) HL_HIDDEN;
void *os_mremap(void *old, size_t oldlen, size_t newlen) HL_HIDDEN;
/* Address space only (PROT_NONE, no swap reserved); NULL on failure. */
void *os_reserve(size_t len) HL_HIDDEN;
/* Make reserved pages usable. */
int os_commit(void *addr, size_t len) HL_HIDDEN;
int os_madvise_free(void *addr, size_t len) HL_HIDDEN;
int os_hugepage(void *addr, size_t len) HL_HIDDEN;	/* MADV_HUGEPAGE, 2 MiB-aligned part */
int os_populate(void *addr, size_t len) HL_HIDDEN;	/* MADV_POPULATE_WRITE */
/* Whether need of n pages sampled evenly over the range are resident. */
int os_resident_at_least(void *addr, size_t len, unsigned n, unsigned need) HL_HIDDEN;
uint64_t os_now_ns(void) HL_HIDDEN;		/* monotonic, coarse; 0: none */
size_t os_pagesize(void) HL_HIDDEN;
void os_futex_wait(int *word, int val) HL_HIDDEN;
void os_futex_wake(int *word, int n) HL_HIDDEN;
int os_random(void *buf, size_t len) HL_HIDDEN;	/* 0, or -1: none to be had */
unsigned os_ncpus(void) HL_HIDDEN;		/* 0: unknown */
/* Probes for the allocator's own events (no kernel call). */
void os_note_heap_grow(struct arena *av, size_t bytes) HL_HIDDEN;
void os_note_trim(struct arena *av, size_t bytes) HL_HIDDEN;
void os_note_threshold(size_t mmap_threshold, size_t trim_threshold) HL_HIDDEN;
void os_note_arena_new(struct arena *av) HL_HIDDEN;
void os_note_heap_new(struct heap_info *h) HL_HIDDEN;
void os_note_heap_free(struct heap_info *h) HL_HIDDEN;

/* options.c */
void options_init(void) HL_HIDDEN;

/* check.c */
_Noreturn __attribute__((cold)) void hl_corrupt(const char *fn, const char *problem,
			  const void *ptr) HL_HIDDEN;
void arena_verify(struct arena *av, const char *fn) HL_HIDDEN;

/* dump.c: keeps a copy of stderr for the dump at exit. */
void dump_at_exit_setup(void) HL_HIDDEN;

/* api.c: runs the start-up if no allocation has yet. */
void hl_ensure_init(void) HL_HIDDEN;

/* Take a chunk out of whatever doubly linked bin it is in (checked). */
static inline void unlink_chunk(struct arena *av, struct chunk *p)
{
	struct chunk *fd = p->fd, *bk = p->bk;

	(void)av;
	if (unlikely(chunksize(p) != next_chunk(p)->prev_size))
		hl_corrupt("malloc", "corrupted size vs. prev_size", chunk2mem(p));
	if (unlikely(fd->bk != p || bk->fd != p))
		hl_corrupt("malloc", "corrupted double-linked list", chunk2mem(p));
	if (!in_smallbin_range(chunksize(p)) && p->fd_nextsize != NULL)
		unlink_nextsize(p);
	fd->bk = bk;
	bk->fd = fd;
}

/* Put a free chunk at the front of the unsorted bin. */
static inline void unsorted_push(struct arena *av, struct chunk *p)
{
	struct chunk *bck = bin_at(av, UNSORTED_BIN);
	struct chunk *fwd = bck->fd;

	if (unlikely(fwd->bk != bck))
		hl_corrupt("free", "corrupted unsorted chunks", chunk2mem(fwd));
	/*
	 * Large chunks are on no nextsize list while unsorted. (A small
	 * chunk has no such fields: they would be its neighbour's header.)
	 */
	if (!in_smallbin_range(chunksize(p)))
		p->fd_nextsize = p->bk_nextsize = NULL;
	p->fd = fwd;
	p->bk = bck;
	bck->fd = p;
	fwd->bk = p;
}

#endif
