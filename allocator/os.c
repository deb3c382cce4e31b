// SPDX-License-Identifier: MIT
/*
 * os.c — the allocator's whole conversation with the kernel. No other file
 * calls sbrk, mmap, munmap, mremap, madvise or mprotect: every request for memory, and
 * every give-back, has one home here, one counter and one USDT probe
 * (provider heaplab), so a tracer sees each with its arguments and result.
 *
 *   heaplab:sbrk          (increment, old break or -1)
 *   heaplab:mmap          (length, address or 0)
 *   heaplab:munmap        (address, length, 0 or -errno)
 *   heaplab:mremap        (old address, old length, new length, new address or 0)
 *   heaplab:madvise       (address, length, advice, 0 or -errno)
 *   heaplab:mprotect      (address, length, protection, 0 or -errno)
 *   heaplab:arena_new     (arena, arena address)
 *   heaplab:heap_new      (heap address, committed bytes, reserved bytes)
 *   heaplab:heap_free     (heap address, committed bytes)
 *   heaplab:heap_grow     (arena, bytes added, heap bytes now)
 *   heaplab:heap_trim     (arena, bytes released, heap bytes now)
 *   heaplab:mmap_threshold (new mmap threshold, new trim threshold)
 *
 * The calls go to the kernel directly, not through libc's wrappers (only
 * sbrk does, to keep libc's idea of the break, and the clock, a vDSO
 * read). A page of libc's code becomes resident at its first call, with up
 * to 16 pages around it (the kernel's fault-around), and many programs
 * never call mmap, madvise, mincore, futex or getrandom themselves: their
 * wrappers (with sysconf and the pthread mutex calls) cost ~30 KiB of
 * resident libc, on average, in every process that preloads us, for a few
 * instructions each (allocator/bench/PERFLOG.md, 42).
 * Results are the kernel's: a value, or -errno; errno is left alone
 * (lab/rawsys.h).
 */
#include <linux/futex.h>
#include <sys/random.h>
#include <sys/mman.h>
#include <sys/sdt.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "allocator/arena.h"
#include "lab/rawsys.h"

#define sys2(nr, a, b)		hl_raw3(nr, (long)(a), (long)(b), 0)
#define sys3(nr, a, b, c)	hl_raw3(nr, (long)(a), (long)(b), (long)(c))
#define sys4(nr, a, b, c, d)	hl_raw6(nr, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

/* mmap and mremap answer an address, or -errno in the last page of the space. */
static void *sys_addr(long ret)
{
	return hl_raw_failed(ret) ? NULL : (void *)ret;
}

static void *sys_mmap(size_t len, int prot, int flags)
{
	return sys_addr(hl_raw6(SYS_mmap, 0, (long)len, prot, flags, -1, 0));
}

void *os_sbrk(intptr_t incr)
{
	void *old = sbrk(incr);

	if (incr != 0) {	/* sbrk(0) is answered from libc's cache */
		COUNT_INC(sbrk);
		STAP_PROBE2(heaplab, sbrk, incr, old);
	}
	return old;
}

void *os_mmap(size_t len)
{
	void *p = sys_mmap(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);

	COUNT_INC(mmap);
	STAP_PROBE2(heaplab, mmap, len, p);
	return p;
}

int os_munmap(void *addr, size_t len)
{
	int rc = (int)sys2(SYS_munmap, addr, len);

	COUNT_INC(munmap);
	STAP_PROBE3(heaplab, munmap, addr, len, rc);
	return rc;
}

void *os_mremap(void *old, size_t oldlen, size_t newlen)
{
	void *p = sys_addr(sys4(SYS_mremap, old, oldlen, newlen, MREMAP_MAYMOVE));

	COUNT_INC(mremap);
	STAP_PROBE4(heaplab, mremap, old, oldlen, newlen, p);
	return p;
}

void *os_reserve(size_t len)
{
	void *p = sys_mmap(len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);

	COUNT_INC(mmap);
	STAP_PROBE2(heaplab, mmap, len, p);
	return p;
}

int os_commit(void *addr, size_t len)
{
	int rc = (int)sys3(SYS_mprotect, addr, len, PROT_READ | PROT_WRITE);

	COUNT_INC(mprotect);
	STAP_PROBE4(heaplab, mprotect, addr, len, PROT_READ | PROT_WRITE, rc);
	return rc;
}

/* Every madvise, counted and probed (the probe has the advice). */
static int advise(void *addr, size_t len, int advice)
{
	int rc = (int)sys3(SYS_madvise, addr, len, advice);

	COUNT_INC(madvise);
	STAP_PROBE4(heaplab, madvise, addr, len, advice, rc);
	return rc;
}

/* Free pages inside the heap: the kernel drops them, the range stays mapped. */
int os_madvise_free(void *addr, size_t len)
{
	return advise(addr, len, MADV_DONTNEED);
}

/*
 * Fault [addr, addr + len) in now, writable, with one call instead of a
 * page fault per page (Linux 5.14 and later). -errno when the kernel
 * cannot: the pages then fault in at their first touch as before.
 */
int os_populate(void *addr, size_t len)
{
	return advise(addr, len, MADV_POPULATE_WRITE);
}

/*
 * Ask for transparent huge pages on the 2 MiB-aligned part of [addr,
 * addr + len): the first touch of each such range then faults in one huge
 * page instead of 512 small ones. Only advice: where the kernel has none to
 * give (or THP is off) the range faults in small pages as before.
 */
int os_hugepage(void *addr, size_t len)
{
	uintptr_t lo = ALIGN_UP((uintptr_t)addr, HPAGE_SIZE);
	uintptr_t hi = ALIGN_DOWN((uintptr_t)addr + len, HPAGE_SIZE);

	if (hi <= lo)
		return 0;
	return advise((void *)lo, hi - lo, MADV_HUGEPAGE);
}

/*
 * Whether at least need of n whole pages spread evenly over [addr, addr +
 * len) are resident (mincore, a page at a time). Each call costs ~1.1 us
 * here, so the sampling stops as soon as the answer is known: a sparse
 * top (mixed: blocks written every 64 KiB) is told after n - need + 1
 * misses instead of n calls (PERFLOG 37).
 */
int os_resident_at_least(void *addr, size_t len, unsigned n, unsigned need)
{
	uintptr_t lo = ALIGN_UP((uintptr_t)addr, mp.pagesize);
	uintptr_t hi = ALIGN_DOWN((uintptr_t)addr + len, mp.pagesize);
	size_t pages = hi > lo ? (hi - lo) / mp.pagesize : 0, step;
	unsigned resident = 0, missed = 0;

	if (n > pages)
		n = (unsigned)pages;
	if (need > n)
		return 0;
	if (need == 0)
		return 1;
	step = pages / n;
	for (unsigned i = 0; i < n; i++) {
		unsigned char v = 0;

		if (sys3(SYS_mincore, lo + i * step * mp.pagesize, mp.pagesize, &v) == 0 &&
		    (v & 1)) {
			if (++resident == need)
				return 1;
		} else if (++missed > n - need) {
			return 0;
		}
	}
	return 0;
}

/* A monotonic clock in ns (the coarse one: a vDSO read), 0 if none. */
uint64_t os_now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * The page size. x86-64 has no other, so it is not asked (sysconf's code
 * would be one more libc page); elsewhere it is.
 */
size_t os_pagesize(void)
{
#if defined(__x86_64__)
	return 4096;
#else
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (size_t)ps : 4096;
#endif
}

/* Sleep while *word is val (a lock's contended side), or until woken. */
void os_futex_wait(int *word, int val)
{
	sys4(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL);
}

void os_futex_wake(int *word, int n)
{
	sys3(SYS_futex, word, FUTEX_WAKE_PRIVATE, n);
}

/* len random bytes without blocking: 0, or -1 when the kernel has none. */
int os_random(void *buf, size_t len)
{
	return sys3(SYS_getrandom, buf, len, GRND_NONBLOCK) == (long)len ? 0 : -1;
}

/*
 * The CPUs this process may run on (as glibc's arena limit counts them
 * since 2.34), 0 if unknown.
 */
unsigned os_ncpus(void)
{
	unsigned long set[1024 / (8 * sizeof(unsigned long))];
	long n = sys3(SYS_sched_getaffinity, 0, sizeof(set), set);
	unsigned cpus = 0;

	for (long i = 0; i < n / (long)sizeof(set[0]); i++)
		for (unsigned long w = set[i]; w; w &= w - 1)	/* no popcnt before x86-64-v2 */
			cpus++;
	return cpus;
}

void os_note_heap_grow(struct arena *av, size_t bytes)
{
	COUNT_INC(heap_grows);
	STAP_PROBE3(heaplab, heap_grow, av->index, bytes, av->system_mem);
}

void os_note_trim(struct arena *av, size_t bytes)
{
	STAP_PROBE3(heaplab, heap_trim, av->index, bytes, av->system_mem);
}

void os_note_threshold(size_t mmap_threshold, size_t trim_threshold)
{
	STAP_PROBE2(heaplab, mmap_threshold, mmap_threshold, trim_threshold);
}

void os_note_arena_new(struct arena *av)
{
	STAP_PROBE2(heaplab, arena_new, av->index, av);
}

void os_note_heap_new(struct heap_info *h)
{
	STAP_PROBE3(heaplab, heap_new, h, h->size, HEAP_MAX_SIZE);
}

void os_note_heap_free(struct heap_info *h)
{
	STAP_PROBE2(heaplab, heap_free, h, h->size);
}
