// SPDX-License-Identifier: MIT
/*
 * api.c — the public malloc family, and the only place that takes the arena
 * lock. Everything here is safe to preload into any program:
 *
 *   - start-up is lazy and non-recursive: the first call initialises the
 *     parameters and the main arena without allocating (dlsym and pthread
 *     may call calloc before any constructor has run);
 *   - the entry points never call each other through the PLT: an interposer
 *     in front of us (probes/tap) sees each call of the program exactly once;
 *   - glibc's __libc_* names are aliases of ours, so nothing can free a
 *     pointer of ours into glibc's allocator or the reverse.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocator/arena.h"
#include "allocator/tcache.h"
#include "allocator/include/heaplab.h"

struct mparams mp = {
	.mmap_threshold = DEFAULT_MMAP_THRESHOLD,
	.trim_threshold = DEFAULT_TRIM_THRESHOLD,
	.top_pad = DEFAULT_TOP_PAD,
	.n_mmaps_max = DEFAULT_MMAP_MAX,
	.max_fast = DEFAULT_MXFAST,
	.tcache_count = TCACHE_COUNT_AUTO,
	.populate = 1,
	.borrow = 1,
	.pagesize = 4096,
};
struct arena main_arena;
struct hl_counters hl_count;

static struct arena_lock init_lock;
/*
 * The largest request malloc's inline cache path serves: 0 while perturb
 * is on (its memset is on the general path; malloc(0) has nothing to
 * fill), so the fast path tests one word, not two.
 */
static size_t fast_max = TCACHE_MAX_CHUNK - SIZE_SZ;

static void __attribute__((noinline)) hl_init(void)
{
	int first = 0;

	lock_take(&init_lock);
	if (!mp.initialized) {
		mp.pagesize = os_pagesize();
		options_init();
		if (mp.perturb)
			fast_max = 0;
		tcache_init();
		arena_init(&main_arena, 0);
		__atomic_store_n(&mp.initialized, 1, __ATOMIC_RELEASE);
		first = 1;
	}
	lock_give(&init_lock);
	/* Outside the lock: these may allocate, which now simply works. */
	if (first) {
		arenas_init();
		dump_at_exit_setup();
	}
}

static inline void ensure_init(void)
{
	if (unlikely(!__atomic_load_n(&mp.initialized, __ATOMIC_ACQUIRE)))
		hl_init();
}

void hl_ensure_init(void)
{
	ensure_init();
}

/* Also at load time, so option errors show even in programs that never malloc. */
static void __attribute__((constructor)) hl_init_at_load(void)
{
	ensure_init();
}

/* The arena that owns a (non-mmapped) chunk, checked. */
static inline struct arena *arena_of(struct chunk *p, const char *fn)
{
	struct heap_info *h;

	if (likely(!chunk_non_main_arena(p)))
		return &main_arena;
	h = heap_for_ptr(p);
	if (unlikely(!heap_registered(h)))
		hl_corrupt(fn, "invalid pointer", chunk2mem(p));
	return h->ar_ptr;
}

static inline void lock_and_check(struct arena *av, const char *fn)
{
	arena_lock(av);
	if (unlikely(mp.check))
		arena_verify(av, fn);
}

/* Allocate from the thread's arena; if that fails, from another one. */
static struct chunk *arena_alloc(size_t nb, size_t align, const char *fn)
{
	struct arena *av = arena_get();
	struct chunk *p;

	for (int tries = 0; tries < 2 && av; tries++) {
		lock_and_check(av, fn);
		p = align ? arena_memalign(av, align, nb, fn) : arena_malloc(av, nb, NULL, fn);
		arena_unlock(av);
		if (p)
			return p;
		av = arena_retry(av);
	}
	errno = ENOMEM;
	return NULL;
}

static void *hl_malloc(size_t bytes, const char *fn)
{
	struct chunk *p;
	size_t nb;
	void *mem;

	if (unlikely(bytes > MAX_REQUEST)) {
		errno = ENOMEM;
		return NULL;
	}
	ensure_init();
	nb = request2size(bytes);
	mem = tcache_get(nb);
	if (mem) {
		p = mem2chunk(mem);
	} else {
		p = arena_alloc(nb, 0, fn);
		if (unlikely(!p))
			return NULL;
		mem = chunk2mem(p);
	}
	CALL_ADD(in_use, (int64_t)chunksize(p));
	if (unlikely(mp.perturb))
		memset(mem, mp.perturb ^ 0xff, bytes);
	return mem;
}

/*
 * Freeing an mmapped chunk raises the threshold to its size (glibc's rule).
 * Like glibc, the cap is compared with the size word flags included, so a
 * mapping of exactly 32 MiB (size | IS_MMAPPED) no longer counts.
 */
static void dynamic_threshold(const struct chunk *p)
{
	size_t size = chunksize(p);

	if (mp.no_dyn_threshold || p->size <= mp.mmap_threshold ||
	    p->size > DEFAULT_MMAP_THRESHOLD_MAX)
		return;
	mp.mmap_threshold = size;
	mp.trim_threshold = 2 * size;
	os_note_threshold(mp.mmap_threshold, mp.trim_threshold);
}

/*
 * Push p on av's pending list without the lock. The mark catches a second
 * free of a pending chunk at once; the full checks run when the chunk is
 * really freed, under the lock.
 */
static void remote_push(struct arena *av, struct chunk *p, const char *fn)
{
	struct tcache_entry *e = chunk2mem(p);
	struct chunk *old;

	if (unlikely(e->key == tcache_key))
		hl_corrupt(fn, "double free detected", e);
	e->key = tcache_key;
	old = __atomic_load_n(&av->remote, __ATOMIC_RELAXED);
	do {
		e->next = protect(&e->next, old ? (struct tcache_entry *)chunk2mem(old) : NULL);
	} while (!__atomic_compare_exchange_n(&av->remote, &old, p, 1,
					      __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	__atomic_add_fetch(&av->remote_bytes, chunksize(p), __ATOMIC_RELAXED);
}

/*
 * Free a non-mmapped chunk the thread cache did not take: to its arena. If
 * the arena is busy (its own thread, most likely, allocating), the chunk is
 * left on its pending list: the next holder of the lock takes it, and when
 * that is the arena's thread, into its cache.
 */
static void __attribute__((noinline)) free_to_arena(struct chunk *p, size_t size, const char *fn)
{
	struct arena *av;

	ensure_init();
	av = arena_of(p, fn);
	CALL_ADD(in_use, -(int64_t)size);
	/*
	 * A small chunk of another arena that has a thread of its own:
	 * through the outbox (a big one is rare, and held back it could keep
	 * a heap from shrinking).
	 */
	if (likely(!mp.check) && size <= TCACHE_MAX_CHUNK && tcache && av != tcache->arena &&
	    __atomic_load_n(&av->attached, __ATOMIC_RELAXED)) {
		tcache_outbox_add(tcache, av, p, size, fn);
		return;
	}
	if (likely(!mp.check && !arena_trylock(av))) {
		/* Busy: leave the chunk pending... */
		remote_push(av, p, fn);
		/* ...unless the holder has gone meanwhile: then free them now. */
		if (arena_trylock(av))
			arena_unlock(av);
		return;
	}
	if (unlikely(mp.check))
		lock_and_check(av, fn);
	arena_free_owned(av, p, fn);	/* keeps errno (its trims save it) */
	arena_unlock(av);
}

/*
 * free's test of mem before it reads the header: 16-byte aligned, and not
 * at the start of a page (where a mapping's chunk may be: vetted first).
 * The second test also rules out NULL. 2 in 256 heap chunks (offsets 0
 * and 16) take the slow path for it, which tests each case on its own.
 */
static inline int header_safe(const void *mem)
{
	return !at_page_start(mem) && aligned_ok((uintptr_t)mem);
}

/*
 * Whether mem is a mapping's chunk freed already, vetted before its header
 * is read where a mapping's chunk may start (mmapped.c): the mapping may be
 * gone from the address space, and the read a SIGSEGV, not a report.
 */
static inline int freed_mapping(const void *mem, const char *fn)
{
	return unlikely(at_page_start(mem)) && mmapped_vet(mem, fn);
}

static void hl_free(void *mem, const char *fn)
{
	struct chunk *p = mem2chunk(mem);
	size_t size;

	if (unlikely(!aligned_ok((uintptr_t)mem)))
		hl_corrupt(fn, "invalid pointer", mem);
	if (freed_mapping(mem, fn))
		hl_corrupt(fn, "double free detected", mem);
	size = chunksize(p);
	if (chunk_is_mmapped(p)) {
		int saved_errno = errno;

		mmap_chunk_check(p, fn);
		dynamic_threshold(p);
		CALL_ADD(in_use, -(int64_t)size);
		munmap_chunk(p, fn);
		errno = saved_errno;
	} else {
		struct tcache *tc = tcache;
		int r = tc ? tcache_put(tc, p, size, fn) : 0;

		if (r == TCACHE_PUT_OK) {
			CALL_ADD(in_use, -(int64_t)size);
			return;
		}
		if (r == TCACHE_PUT_FULL)
			tcache_overflowed(tc, tidx(size));
		free_to_arena(p, size, fn);
	}
}

static void *hl_realloc(void *mem, size_t bytes, const char *fn)
{
	struct chunk *p = mem2chunk(mem), *np;
	size_t oldsize, nb;
	struct arena *av;
	void *newmem;

	if (unlikely(bytes > MAX_REQUEST)) {
		errno = ENOMEM;
		return NULL;
	}
	if (unlikely(!aligned_ok((uintptr_t)mem)))
		hl_corrupt(fn, "invalid pointer", mem);
	if (freed_mapping(mem, fn) || unlikely(((uintptr_t *)mem)[1] == tcache_key))
		hl_corrupt(fn, "invalid pointer (freed chunk)", mem);
	nb = request2size(bytes);
	oldsize = chunksize(p);
	if (chunk_is_mmapped(p)) {
		np = mremap_chunk(p, nb, fn);
		if (np) {
			CALL_ADD(in_use, (int64_t)chunksize(np) - (int64_t)oldsize);
			return chunk2mem(np);
		}
		if (oldsize - CHUNK_HDR >= bytes)
			return mem;	/* cannot shrink the mapping: keep it */
		newmem = hl_malloc(bytes, fn);
		if (!newmem)
			return NULL;
		memcpy(newmem, mem, oldsize - CHUNK_HDR);
		hl_free(mem, fn);
		return newmem;
	}
	ensure_init();
	av = arena_of(p, fn);
	lock_and_check(av, fn);
	np = arena_realloc(av, p, nb, fn);
	arena_unlock(av);
	if (!np) {
		/* The owning arena is full: allocate anywhere, copy, free. */
		newmem = hl_malloc(bytes, fn);
		if (!newmem)
			return NULL;
		memcpy(newmem, mem, oldsize - SIZE_SZ);
		hl_free(mem, fn);
		return newmem;
	}
	CALL_ADD(in_use, (int64_t)chunksize(np) - (int64_t)oldsize);
	return chunk2mem(np);
}

static void *hl_memalign(size_t align, size_t bytes, const char *fn)
{
	struct chunk *p;

	if (align <= MALLOC_ALIGNMENT)
		return hl_malloc(bytes, fn);
	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	if (align & (align - 1))	/* round up to a power of two, as glibc */
		align = 1UL << (64 - __builtin_clzl(align));
	if (bytes > MAX_REQUEST || align > MAX_REQUEST - bytes) {
		errno = ENOMEM;
		return NULL;
	}
	ensure_init();
	p = arena_alloc(request2size(bytes), align, fn);
	if (!p)
		return NULL;
	CALL_ADD(in_use, (int64_t)chunksize(p));
	return chunk2mem(p);
}

/* A small request the thread's cache could not serve: straight to the arena. */
static void * __attribute__((noinline)) malloc_miss(struct tcache *tc, size_t nb)
{
	struct chunk *p;

	struct arena *av = arena_get();
	void *mem;

	tc->calls.malloc++;
	tcache_missed(tc, tidx(nb));
	/*
	 * Taking the lock takes the chunks other threads freed into our
	 * arena, into this cache: one of them may be the size wanted.
	 */
	lock_and_check(av, "malloc");
	mem = tcache_take(tc, nb);
	p = mem ? mem2chunk(mem) : arena_malloc(av, nb, mp.borrow ? tc : NULL, "malloc");
	arena_unlock(av);
	if (unlikely(!p))
		p = arena_alloc(nb, 0, "malloc");	/* another arena, or ENOMEM */
	if (unlikely(!p))
		return NULL;
	tc->calls.in_use += (int64_t)chunksize(p);
	return chunk2mem(p);
}

/*
 * malloc and free first try this thread's cache inline, with one TLS load
 * and the counters in the cache itself; a miss or a request past the
 * cache goes to the thread's arena with the cache in hand; everything else
 * (no cache yet, perturb) takes the general path.
 */
/*
 * A request past the cache (or any, while perturb is on): the thread's
 * arena directly, with the cache and its counters already in hand.
 */
static void * __attribute__((noinline)) malloc_big(struct tcache *tc, size_t bytes)
{
	struct arena *av;
	struct chunk *p;

	if (unlikely(bytes > MAX_REQUEST || mp.perturb)) {
		CALL_INC(malloc);
		return hl_malloc(bytes, "malloc");
	}
	tc->calls.malloc++;
	av = arena_get();
	lock_and_check(av, "malloc");
	p = arena_malloc(av, request2size(bytes), NULL, "malloc");
	arena_unlock(av);
	if (unlikely(!p))
		p = arena_alloc(request2size(bytes), 0, "malloc");	/* another arena, or ENOMEM */
	if (unlikely(!p))
		return NULL;
	tc->calls.in_use += (int64_t)chunksize(p);
	return chunk2mem(p);
}

/*
 * The cache entry malloc was about to hand out is not a sane cached chunk.
 * Never returns; not declared so, so that malloc reaches it by a jump.
 */
static void * __attribute__((noinline, cold)) malloc_bad_entry(struct tcache_entry *e)
{
	if (!aligned_ok((uintptr_t)e))
		hl_corrupt("malloc", "unaligned tcache chunk detected", e);
	hl_corrupt("malloc", "corrupted tcache chunk", e);
}

HL_API void *malloc(size_t bytes)
{
	struct tcache *tc = tcache;

	if (likely(tc != NULL && bytes <= fast_max)) {
		size_t nb, i;
		struct tcache_entry *e;

		if (bytes > TCACHE_MAX_CHUNK - SIZE_SZ)
			__builtin_unreachable();	/* fast_max is at most that */
		nb = request2size(bytes);
		i = tidx(nb);
		e = tc->entries[i];
		if (unlikely(!e))
			return malloc_miss(tc, nb);
		/* tcache_take's checks, its reports a tail call: no frame here. */
		if (unlikely(!aligned_ok((uintptr_t)e) || e->key != tcache_key ||
			     chunksize(mem2chunk(e)) != nb))
			return malloc_bad_entry(e);
		tc->entries[i] = protect(&e->next, e->next);
		tc->counts[i]--;
		e->key = 0;
		tc->calls.malloc++;
		tc->calls.in_use += (int64_t)nb;
		return e;
	}
	if (likely(tc != NULL))
		return malloc_big(tc, bytes);
	CALL_INC(malloc);
	return hl_malloc(bytes, "malloc");
}

/*
 * free() off its fast path: no cache yet, NULL, unaligned, mmapped, or
 * where a mapping's chunk may start.
 */
static void __attribute__((noinline)) free_slow(void *mem)
{
	struct tcache *tc = tcache;

	/* A thread that only frees gets its cache too (as in glibc's free). */
	if (tc == NULL && mem != NULL && __atomic_load_n(&mp.initialized, __ATOMIC_ACQUIRE))
		tc = tcache_create();
	CALL_INC(free);
	if (mem)
		hl_free(mem, "free");
}

/*
 * free() found the chunk's cache bin full. A chunk of another arena that
 * still has a thread goes into the outbox at once (free_to_arena's first
 * case, without its detours); it marks no overflow either: a bin keeps no
 * more than 7 of other arenas' chunks however far it grows, so a thread
 * that frees what others allocated (a consumer) has nothing to grow.
 */
static void __attribute__((noinline)) free_overflow(struct tcache *tc, struct chunk *p, size_t size)
{
	struct arena *av = arena_of(p, "free");

	if (av != tc->arena && likely(!mp.check) && __atomic_load_n(&av->attached, __ATOMIC_RELAXED)) {
		tc->calls.in_use -= (int64_t)size;
		tcache_outbox_add(tc, av, p, size, "free");
		return;
	}
	tcache_overflowed(tc, tidx(size));
	free_to_arena(p, size, "free");
}

HL_API void free(void *mem)
{
	struct tcache *tc = tcache;
	struct chunk *p = mem2chunk(mem);
	size_t size;
	int r;

	/* Every way off the fast path is a tail call: no frame here. */
	if (unlikely(tc == NULL || !header_safe(mem) || chunk_is_mmapped(p)))
		return free_slow(mem);
	tc->calls.free++;
	size = chunksize(p);
	r = tcache_put(tc, p, size, "free");
	if (likely(r == TCACHE_PUT_OK)) {
		tc->calls.in_use -= (int64_t)size;
		return;
	}
	if (r == TCACHE_PUT_FULL)
		return free_overflow(tc, p, size);
	free_to_arena(p, size, "free");
}

HL_API void *calloc(size_t n, size_t size)
{
	size_t bytes;
	void *mem;

	CALL_INC(calloc);
	if (__builtin_mul_overflow(n, size, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	mem = hl_malloc(bytes, "calloc");
	/* A fresh mapping is already zero (a recycled one is not). */
	if (mem && (!chunk_is_mmapped(mem2chunk(mem)) || mp.perturb || mmap_recycled))
		memset(mem, 0, bytes);
	return mem;
}

HL_API void *realloc(void *mem, size_t bytes)
{
	CALL_INC(realloc);
	if (!mem)
		return hl_malloc(bytes, "realloc");
	if (bytes == 0) {
		hl_free(mem, "realloc");
		return NULL;
	}
	return hl_realloc(mem, bytes, "realloc");
}

HL_API void *reallocarray(void *mem, size_t n, size_t size)
{
	size_t bytes;

	CALL_INC(realloc);
	if (__builtin_mul_overflow(n, size, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	if (!mem)
		return hl_malloc(bytes, "reallocarray");
	if (bytes == 0) {
		hl_free(mem, "reallocarray");
		return NULL;
	}
	return hl_realloc(mem, bytes, "reallocarray");
}

HL_API void *memalign(size_t align, size_t bytes)
{
	CALL_INC(memalign);
	return hl_memalign(align, bytes, "memalign");
}

HL_API int posix_memalign(void **memptr, size_t align, size_t bytes)
{
	int saved_errno = errno;
	void *mem;

	CALL_INC(memalign);
	/* A power of two and a multiple of sizeof(void *). */
	if (align % sizeof(void *) || (align & (align - 1)) || align == 0)
		return EINVAL;
	mem = hl_memalign(align, bytes, "posix_memalign");
	if (!mem) {
		errno = saved_errno;
		return ENOMEM;
	}
	*memptr = mem;
	return 0;
}

HL_API void *aligned_alloc(size_t align, size_t bytes)
{
	CALL_INC(memalign);
	if (align == 0 || (align & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	return hl_memalign(align, bytes, "aligned_alloc");
}

HL_API void *valloc(size_t bytes)
{
	CALL_INC(memalign);
	ensure_init();
	return hl_memalign(mp.pagesize, bytes, "valloc");
}

HL_API void *pvalloc(size_t bytes)
{
	size_t rounded;

	CALL_INC(memalign);
	ensure_init();
	if (bytes > SIZE_MAX - mp.pagesize) {
		errno = ENOMEM;
		return NULL;
	}
	rounded = bytes ? ALIGN_UP(bytes, mp.pagesize) : mp.pagesize;
	return hl_memalign(mp.pagesize, rounded, "pvalloc");
}

HL_API size_t malloc_usable_size(void *mem)
{
	struct chunk *p;

	if (!mem)
		return 0;
	if (freed_mapping(mem, "malloc_usable_size"))
		return 0;	/* freed */
	p = mem2chunk(mem);
	if (chunk_is_mmapped(p))
		return chunk_usable(p);
	if (chunk_is_cached(p) || !inuse_at(p, chunksize(p)) || ((uintptr_t *)mem)[1] == tcache_key)
		return 0;	/* freed */
	return chunk_usable(p);
}

HL_API int mallopt(int param, int value)
{
	struct arena *av = &main_arena;
	int ok = 1;

	ensure_init();
	arena_lock(av);
	if (av->have_fastchunks)
		malloc_consolidate(av);
	arena_unlock(av);
	switch (param) {
	case M_MXFAST:
		if (value < 0 || value > MAX_FAST_SIZE) {
			ok = 0;
			break;
		}
		mp.max_fast = (size_t)value;
		for (struct arena *a = &main_arena; a; a = a->next) {
			arena_lock(a);
			if (a->have_fastchunks)
				malloc_consolidate(a);
			a->max_fast = max_fast_for(mp.max_fast);
			arena_unlock(a);
		}
		break;
	case M_TRIM_THRESHOLD:
		mp.trim_threshold = (size_t)(long)value;	/* -1: never trim */
		mp.no_dyn_threshold = 1;
		break;
	case M_TOP_PAD:
		if (value < 0) {
			ok = 0;
			break;
		}
		mp.top_pad = (size_t)value;
		mp.no_dyn_threshold = 1;
		break;
	case M_MMAP_THRESHOLD:
		if (value < 0 || (size_t)value > DEFAULT_MMAP_THRESHOLD_MAX) {
			ok = 0;
			break;
		}
		mp.mmap_threshold = (size_t)value;
		mp.no_dyn_threshold = 1;
		os_note_threshold(mp.mmap_threshold, mp.trim_threshold);
		break;
	case M_MMAP_MAX:
		mp.n_mmaps_max = value;
		mp.no_dyn_threshold = 1;
		break;
	case M_PERTURB:
		mp.perturb = value & 0xff;
		fast_max = mp.perturb ? 0 : TCACHE_MAX_CHUNK - SIZE_SZ;
		break;
	case M_ARENA_MAX:
		if (value > 0)
			mp.arena_max = (size_t)value;
		break;
	case M_CHECK_ACTION:
	case M_ARENA_TEST:
		break;		/* accepted; heaplab always aborts on corruption */
	default:
		ok = 0;
	}
	return ok;
}

HL_API int malloc_trim(size_t pad)
{
	int released = 0;

	ensure_init();
	tcache_trim();
	for (struct arena *av = &main_arena; av; av = av->next) {
		lock_and_check(av, "malloc_trim");
		released |= arena_trim(av, pad);
		arena_unlock(av);
	}
	released |= mmap_cache_flush();
	return released;
}

/* glibc's internal names: programs and libraries that call them get ours. */
#define LIBC_ALIAS(name, target) \
	extern __typeof(target) name \
	__attribute__((alias(#target), copy(target), visibility("default")))
LIBC_ALIAS(__libc_malloc, malloc);
LIBC_ALIAS(__libc_free, free);
LIBC_ALIAS(__libc_calloc, calloc);
LIBC_ALIAS(__libc_realloc, realloc);
LIBC_ALIAS(__libc_memalign, memalign);
LIBC_ALIAS(__libc_valloc, valloc);
LIBC_ALIAS(__libc_pvalloc, pvalloc);
