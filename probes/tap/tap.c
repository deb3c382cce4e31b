// SPDX-License-Identifier: MIT
/*
 * tap.c — libheaplab-tap.so, the allocator-call interposer.
 *
 * Preloaded in front of the allocator, it wraps the malloc family: each call
 * is timed (rdtsc or CLOCK_MONOTONIC, as the ring says), announced in its
 * thread's lane header while it is open, and written as one record into the
 * shared ring (ring.h) when it returns.  The real functions come from
 * dlsym(RTLD_NEXT).
 *
 * Rules it keeps, so that it can sit in any program:
 *  - it never calls the malloc family nor brk: dlsym may call calloc before
 *    the real one is known, and those requests are served from a static
 *    bootstrap buffer (free of such a chunk is a no-op);
 *  - its own syscalls (mapping the ring, one wipe-on-fork page) are issued
 *    by inline `syscall` instructions, so their user instruction pointer
 *    lies in this library: the tracer reports them with cause "tap";
 *  - a full lane or a thread without a lane drops the record and counts it:
 *    it never waits for the tracer;
 *  - fork: the wipe-on-fork page reads as zero in the child, which tells
 *    every thread there to claim a lane of its own; exec: the new image
 *    attaches again from $HEAPLAB_TAP_FD; threads: one lane each.
 * Without $HEAPLAB_TAP_FD (or with a bad one) it just forwards the calls.
 *
 * Known limits: a signal handler that calls malloc while its thread is
 * inside a wrapped call may overwrite that call's record (one record lost,
 * the lane stays sound); a vfork child writes into its parent's lane, under
 * its parent's tid (the parent is suspended meanwhile).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

#include "lab/rawsys.h"
#include "probes/event.h"
#include "probes/tap/ring.h"

#define TAP_EXPORT __attribute__((visibility("default")))
#define TLS_IE __attribute__((tls_model("initial-exec")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ---- raw syscalls: the instruction pointer stays in this library ---- */

#define raw0(nr) hl_raw6(nr, 0, 0, 0, 0, 0, 0)

/* ---- the real allocator ---- */

static struct {
	void *(*malloc)(size_t);
	void (*free)(void *);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*reallocarray)(void *, size_t, size_t);
	void *(*memalign)(size_t, size_t);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
} real;

enum { ST_UNINIT, ST_INIT, ST_READY };
static _Atomic int state;
static __thread TLS_IE int in_init;		/* this thread runs tap_init() */

/*
 * Bootstrap chunks, for the callocs dlsym makes before `real` is filled.
 * Each chunk has a size word in front so realloc can copy it out later.
 */
static alignas(16) char boot_buf[16384];
static _Atomic size_t boot_used;

static void *boot_alloc(size_t n)
{
	size_t need = ((n + 15) & ~(size_t)15) + 16;
	size_t off = atomic_fetch_add(&boot_used, need);

	if (off + need > sizeof(boot_buf))
		return NULL;
	*(size_t *)(boot_buf + off) = n;
	return boot_buf + off + 16;	/* zeroed: static storage */
}

static int is_boot(const void *p)
{
	return (const char *)p >= boot_buf &&
	       (const char *)p < boot_buf + sizeof(boot_buf);
}

/* ---- the ring ---- */

static struct hl_tap_hdr *ring;
/* The ring's clock is HL_TAP_CLOCK_TSC: stamps are rdtsc ticks. */
static int tsc_clock;
/* The tracer reads open calls' kind and args (ring.h). */
static int open_args;
static uint64_t rec_mask;		/* ring->nrecs - 1 */
/* Wipe-on-fork: nonzero in the process that set it, zero in a fork child. */
static volatile uint64_t *fork_gen;

static __thread TLS_IE struct {
	struct hl_tap_lane *lane;
	uint64_t gen;			/* *fork_gen when lane was claimed */
	uint32_t misses;		/* calls made without a lane */
} self;

static int env_fd(void)
{
	const char *s = getenv(HL_TAP_ENV);
	long fd = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || fd > 1 << 20)
			return -1;
		fd = fd * 10 + (*s - '0');
	}
	return (int)fd;
}

static void attach_ring(void)
{
	struct hl_tap_hdr h;
	long p;
	int fd = env_fd();

	if (fd < 0)
		return;
	if (hl_raw6(SYS_pread64, fd, (long)&h, sizeof(h), 0, 0, 0) != sizeof(h) ||
	    h.magic != HL_TAP_MAGIC || h.version != HL_TAP_VERSION ||
	    h.total_bytes != hl_tap_total_bytes(h.nlanes, h.nrecs) ||
	    !h.nrecs || (h.nrecs & (h.nrecs - 1)))
		return;
	p = hl_raw6(SYS_mmap, 0, HL_TAP_PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hl_raw_failed(p))
		return;
	hl_raw6(SYS_madvise, p, HL_TAP_PAGE, MADV_WIPEONFORK, 0, 0, 0);
	fork_gen = (volatile uint64_t *)p;
	p = hl_raw6(SYS_mmap, 0, (long)h.total_bytes, PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0);
	if (hl_raw_failed(p))
		return;
	rec_mask = h.nrecs - 1;
	ring = (struct hl_tap_hdr *)p;
#ifdef __x86_64__
	tsc_clock = h.clock == HL_TAP_CLOCK_TSC;
#endif
	open_args = h.open_args != 0;
	*fork_gen = (uint64_t)raw0(SYS_getpid);
	atomic_fetch_add(&ring->attached, 1);
}

#define RESOLVE(f) (real.f = (__typeof__(real.f))dlsym(RTLD_NEXT, #f))

static void tap_init(void)
{
	int expect = ST_UNINIT;

	if (!atomic_compare_exchange_strong(&state, &expect, ST_INIT)) {
		/* Another thread initialises: wait, it is short. */
		while (atomic_load(&state) != ST_READY)
			raw0(SYS_sched_yield);
		return;
	}
	in_init = 1;
	RESOLVE(malloc);
	RESOLVE(free);
	RESOLVE(calloc);
	RESOLVE(realloc);
	RESOLVE(reallocarray);
	RESOLVE(memalign);
	RESOLVE(posix_memalign);
	RESOLVE(aligned_alloc);
	RESOLVE(valloc);
	RESOLVE(pvalloc);
	attach_ring();
	in_init = 0;
	atomic_store(&state, ST_READY);
}

__attribute__((constructor(101))) static void tap_ctor(void)
{
	if (atomic_load(&state) == ST_UNINIT)
		tap_init();
}

/* 1 when the real functions are known; 0 inside our own dlsym calls. */
static inline int ready(void)
{
	if (likely(atomic_load_explicit(&state, memory_order_acquire) == ST_READY))
		return 1;
	if (in_init)
		return 0;
	tap_init();
	return 1;
}

static struct hl_tap_lane *claim_lane(void)
{
	uint64_t gen = *fork_gen;
	uint32_t tid, n = ring->nlanes;

	if (!gen) {
		/* First call in a fork child: a new generation. */
		gen = (uint64_t)raw0(SYS_getpid);
		*fork_gen = gen;
	}
	tid = (uint32_t)raw0(SYS_gettid);
	self.lane = NULL;
	self.gen = gen;
	for (uint32_t i = 0; i < n; i++) {
		struct hl_tap_lane *l = hl_tap_lane(ring, (tid + i) % n);
		uint32_t free_owner = 0;

		if (atomic_load_explicit(&l->owner, memory_order_relaxed))
			continue;
		if (atomic_compare_exchange_strong(&l->owner, &free_owner, tid)) {
			l->pid = (uint32_t)raw0(SYS_getpid);
			l->depth = 0;
			self.lane = l;
			break;
		}
	}
	return self.lane;
}

/* No lane yet, or a fork child's, or none left; NULL when not tracing. */
static __attribute__((noinline)) struct hl_tap_lane *lane_slow(void)
{
	if (!ring)
		return NULL;
	if (self.lane && self.gen == *fork_gen)
		return self.lane;
	/* No lane was free: look again now and then, the tracer frees the
	 * lanes of threads that have exited. */
	if (self.gen == *fork_gen && self.gen && ++self.misses % 4096)
		return NULL;
	return claim_lane();
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * A stamp in the ring's clock.  rdtsc needs no fence here: what must hold
 * is that a syscall the real call makes is stamped by the kernel (or the
 * tracer) after the enter stamp and before the exit stamp.  The kernel's
 * clock read is rdtsc_ordered (lfence; rdtsc), which waits for every
 * earlier instruction, our enter rdtsc among them; and the exit rdtsc comes
 * thousands of instructions after the kernel's read (the rest of the
 * syscall, the return to user space, the allocator's own code), far beyond
 * what out-of-order execution can pull ahead.  A fence would double the cost
 * (rdtscp: 36-44 ns against 20-23 ns here, loaded).
 */
static inline uint64_t stamp(void)
{
#ifdef __x86_64__
	if (likely(tsc_clock))
		return __builtin_ia32_rdtsc();
#endif
	return now_ns();
}

/* A call in flight: what enter() noted, for leave() to write. */
struct call {
	struct hl_tap_lane *lane;	/* NULL: not recorded */
	uint64_t ts;			/* enter stamp */
	uint32_t depth;			/* calls open around it */
};

#define NOT_READY ((struct hl_tap_lane *)1)

/* Not ready (inside our own dlsym), or no lane yet: the slow way in. */
static __attribute__((noinline)) struct hl_tap_lane *enter_slow(void)
{
	struct hl_tap_lane *l;

	if (!ready())
		return NOT_READY;
	l = lane_slow();
	if (!l && ring)
		atomic_fetch_add_explicit(&ring->nolane_drops, 1,
					  memory_order_relaxed);
	return l;
}

/*
 * Notes the call in the lane header, the enter stamp last.  Returns 0 only
 * before the real functions are known (the caller serves the call itself);
 * a call made without a lane returns 1 with c->lane NULL.  A thread holding
 * a lane of this process is past initialisation: that is the whole check
 * on the fast path.
 */
static inline __attribute__((always_inline)) int
enter(struct call *c, uint16_t kind, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct hl_tap_lane *l = self.lane;
	struct hl_tap_open *o;
	uint32_t d;

	if (unlikely(!l || self.gen != *fork_gen)) {
		l = enter_slow();
		if (l == NOT_READY)
			return 0;
		c->lane = l;
		if (!l)
			return 1;
	}
	c->lane = l;
	c->depth = d = l->depth;
	if (unlikely(d >= HL_TAP_DEPTH)) {
		c->ts = stamp();	/* too deep to note: only the record */
		goto opened;
	}
	o = &l->open[d];
	if (open_args) {
		o->kind = kind;
		o->args[0] = a0;
		o->args[1] = a1;
		o->args[2] = a2;
		o->args[3] = 0;
	}
	c->ts = stamp();
	o->stamp = c->ts;
opened:
	/* The syscalls the real call makes see depth only after the slot. */
	atomic_signal_fence(memory_order_release);
	l->depth = d + 1;
	return 1;
}

/*
 * The lane is empty well into a lap: start the next lap now (ring.h), so
 * the records reuse pages already mapped instead of faulting in new ones.
 * Returns the head to write at.
 */
static __attribute__((noinline)) uint64_t rewind(struct hl_tap_lane *l,
						 uint64_t h)
{
	uint64_t mask = ring->nrecs - 1, to = (h + mask) & ~mask, t = h;

	/* Fails only if the tracer freed the lane under us: keep going. */
	if (atomic_compare_exchange_strong(&l->tail, &t, to))
		return to;
	return h;
}

/*
 * Head is at tail (the lane is empty: rewind?) or a lap ahead of it (full:
 * drop).  Returns the head to write at, or DROPPED.
 */
#define DROPPED UINT64_MAX
static __attribute__((noinline)) uint64_t lane_edge(struct hl_tap_lane *l,
						    uint64_t h, uint64_t t)
{
	if (h == t)
		return (h & rec_mask) >= HL_TAP_REWIND ? rewind(l, h) : h;
	if (h - t > rec_mask) {
		l->drops++;
		return DROPPED;
	}
	return h;		/* tail moved on meanwhile: room */
}

/* Publishes the call's record: the exit stamp first. */
static inline __attribute__((always_inline)) void
leave(struct call *c, uint16_t kind, uint64_t a0, uint64_t a1, uint64_t a2,
      uint64_t a3, int64_t ret)
{
	struct hl_tap_lane *l = c->lane;
	struct hl_tap_rec *r;
	uint64_t h, t, end;

	if (unlikely(!l))
		return;
	end = stamp();
	l->depth = c->depth;
	h = atomic_load_explicit(&l->head, memory_order_relaxed);
	t = atomic_load_explicit(&l->tail, memory_order_acquire);
	/* One test for both edges: empty (h - t == 0) or full. */
	if (unlikely(h - t - 1 >= rec_mask)) {
		h = lane_edge(l, h, t);
		if (h == DROPPED)
			return;
	}
	r = &hl_tap_recs(l)[h & rec_mask];
	r->ts_ns = c->ts;
	r->end_ns = end;
	r->kind = kind;
	r->depth = (uint16_t)c->depth;
	r->args[0] = a0;
	r->args[1] = a1;
	r->args[2] = a2;
	r->args[3] = a3;
	r->ret = ret;
	atomic_store_explicit(&l->head, h + 1, memory_order_release);
}

/* ---- the malloc family ---- */

TAP_EXPORT void *malloc(size_t n)
{
	struct call c;
	void *p;

	if (unlikely(!enter(&c, HL_EV_MALLOC, n, 0, 0)))
		return boot_alloc(n);
	p = real.malloc(n);
	leave(&c, HL_EV_MALLOC, n, 0, 0, 0, (int64_t)(uintptr_t)p);
	return p;
}

TAP_EXPORT void free(void *p)
{
	struct call c;

	if (unlikely(is_boot(p)))
		return;
	if (unlikely(!enter(&c, HL_EV_FREE, (uintptr_t)p, 0, 0)))
		return;
	real.free(p);
	leave(&c, HL_EV_FREE, (uintptr_t)p, 0, 0, 0, 0);
}

TAP_EXPORT void *calloc(size_t n, size_t size)
{
	struct call c;
	void *p;

	if (unlikely(!ready())) {
		if (size && n > SIZE_MAX / size)
			return NULL;
		return boot_alloc(n * size);
	}
	if (unlikely(!enter(&c, HL_EV_CALLOC, n, size, 0)))
		c.lane = NULL;	/* cannot be: ready() held */
	p = real.calloc(n, size);
	leave(&c, HL_EV_CALLOC, n, size, 0, 0, (int64_t)(uintptr_t)p);
	return p;
}

/* realloc of a bootstrap chunk: move it into the real allocator. */
static void *boot_realloc(void *old, size_t n)
{
	size_t had = ((size_t *)old)[-2];
	void *p = malloc(n);

	if (p)
		memcpy(p, old, had < n ? had : n);
	return p;
}

TAP_EXPORT void *realloc(void *old, size_t n)
{
	struct call c;
	void *p;

	if (unlikely(!ready())) {
		void *q = boot_alloc(n);
		size_t had = old && is_boot(old) ? ((size_t *)old)[-2] : 0;

		if (q && had)
			memcpy(q, old, had < n ? had : n);
		return q;
	}
	if (unlikely(is_boot(old)))
		return boot_realloc(old, n);
	if (unlikely(!enter(&c, HL_EV_REALLOC, (uintptr_t)old, n, 0)))
		c.lane = NULL;	/* cannot be: ready() held */
	p = real.realloc(old, n);
	leave(&c, HL_EV_REALLOC, (uintptr_t)old, n, 0, 0, (int64_t)(uintptr_t)p);
	return p;
}

TAP_EXPORT void *reallocarray(void *old, size_t n, size_t size)
{
	struct call c;
	void *p;

	if (unlikely(!ready() || is_boot(old) || !real.reallocarray)) {
		if (size && n > SIZE_MAX / size) {
			errno = ENOMEM;
			return NULL;
		}
		return realloc(old, n * size);
	}
	if (unlikely(!enter(&c, HL_EV_REALLOCARRAY, (uintptr_t)old, n, size)))
		c.lane = NULL;	/* cannot be: ready() held */
	p = real.reallocarray(old, n, size);
	leave(&c, HL_EV_REALLOCARRAY, (uintptr_t)old, n, size, 0, (int64_t)(uintptr_t)p);
	return p;
}

/* An aligned call the next allocator does not have: fail, never mix. */
static void *missing(void)
{
	errno = ENOMEM;
	return NULL;
}

TAP_EXPORT void *memalign(size_t align, size_t n)
{
	struct call c;
	void *p;

	if (unlikely(!ready() || !real.memalign))
		return missing();
	if (unlikely(!enter(&c, HL_EV_MEMALIGN, align, n, 0)))
		c.lane = NULL;	/* cannot be: ready() held */
	p = real.memalign(align, n);
	leave(&c, HL_EV_MEMALIGN, align, n, 0, 0, (int64_t)(uintptr_t)p);
	return p;
}

TAP_EXPORT int posix_memalign(void **memptr, size_t align, size_t n)
{
	struct call c;
	uint64_t a3;
	int rc;

	if (unlikely(!ready() || !real.posix_memalign))
		return ENOMEM;
	if (unlikely(!enter(&c, HL_EV_POSIX_MEMALIGN, (uintptr_t)memptr, align, n)))
		c.lane = NULL;	/* cannot be: ready() held */
	rc = real.posix_memalign(memptr, align, n);
	a3 = rc == 0 ? (uintptr_t)*memptr : 0;
	leave(&c, HL_EV_POSIX_MEMALIGN, (uintptr_t)memptr, align, n, a3, rc);
	return rc;
}

TAP_EXPORT void *aligned_alloc(size_t align, size_t n)
{
	struct call c;
	void *p;

	if (unlikely(!ready() || !real.aligned_alloc))
		return missing();
	if (unlikely(!enter(&c, HL_EV_ALIGNED_ALLOC, align, n, 0)))
		c.lane = NULL;	/* cannot be: ready() held */
	p = real.aligned_alloc(align, n);
	leave(&c, HL_EV_ALIGNED_ALLOC, align, n, 0, 0, (int64_t)(uintptr_t)p);
	return p;
}

TAP_EXPORT void *valloc(size_t n)
{
	struct call c;
	void *p;

	if (unlikely(!ready() || !real.valloc))
		return missing();
	if (unlikely(!enter(&c, HL_EV_VALLOC, n, 0, 0)))
		c.lane = NULL;	/* cannot be: ready() held */
	p = real.valloc(n);
	leave(&c, HL_EV_VALLOC, n, 0, 0, 0, (int64_t)(uintptr_t)p);
	return p;
}

TAP_EXPORT void *pvalloc(size_t n)
{
	struct call c;
	void *p;

	if (unlikely(!ready() || !real.pvalloc))
		return missing();
	if (unlikely(!enter(&c, HL_EV_PVALLOC, n, 0, 0)))
		c.lane = NULL;	/* cannot be: ready() held */
	p = real.pvalloc(n);
	leave(&c, HL_EV_PVALLOC, n, 0, 0, 0, (int64_t)(uintptr_t)p);
	return p;
}
