// SPDX-License-Identifier: MIT
/*
 * os.c — the allocator's whole conversation with the kernel. No other file
 * calls sbrk, mmap, munmap, mremap, madvise or mprotect: every request for memory, and
 * every give-back, has one home here, one counter and one USDT probe
 * (provider heaplab), so a tracer sees each with its arguments and result.
 *
 *   heaplab:sbrk          (increment, old break or -1)
 *   heaplab:mmap          (length, address or 0)
 *   heaplab:munmap        (address, length, result)
 *   heaplab:mremap        (old address, old length, new length, new address or 0)
 *   heaplab:madvise       (address, length, advice, result)
 *   heaplab:mprotect      (address, length, protection, result)
 *   heaplab:arena_new     (arena, arena address)
 *   heaplab:heap_new      (heap address, committed bytes, reserved bytes)
 *   heaplab:heap_free     (heap address, committed bytes)
 *   heaplab:heap_grow     (arena, bytes added, heap bytes now)
 *   heaplab:heap_trim     (arena, bytes released, heap bytes now)
 *   heaplab:mmap_threshold (new mmap threshold, new trim threshold)
 */
#include <sys/mman.h>
#include <sys/sdt.h>
#include <time.h>
#include <unistd.h>

#include "allocator/arena.h"

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
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	COUNT_INC(mmap);
	if (p == MAP_FAILED)
		p = NULL;
	STAP_PROBE2(heaplab, mmap, len, p);
	return p;
}

int os_munmap(void *addr, size_t len)
{
	int rc = munmap(addr, len);

	COUNT_INC(munmap);
	STAP_PROBE3(heaplab, munmap, addr, len, rc);
	return rc;
}

void *os_mremap(void *old, size_t oldlen, size_t newlen)
{
	void *p = mremap(old, oldlen, newlen, MREMAP_MAYMOVE);

	COUNT_INC(mremap);
	if (p == MAP_FAILED)
		p = NULL;
	STAP_PROBE4(heaplab, mremap, old, oldlen, newlen, p);
	return p;
}

void *os_reserve(size_t len)
{
	void *p = mmap(NULL, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	COUNT_INC(mmap);
	if (p == MAP_FAILED)
		p = NULL;
	STAP_PROBE2(heaplab, mmap, len, p);
	return p;
}

int os_commit(void *addr, size_t len)
{
	int rc = mprotect(addr, len, PROT_READ | PROT_WRITE);

	COUNT_INC(mprotect);
	STAP_PROBE4(heaplab, mprotect, addr, len, PROT_READ | PROT_WRITE, rc);
	return rc;
}

/* Every madvise, counted and probed (the probe has the advice). */
static int advise(void *addr, size_t len, int advice)
{
	int rc = madvise(addr, len, advice);

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
 * page fault per page (Linux 5.14 and later). -1 when the kernel cannot:
 * the pages then fault in at their first touch as before.
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

		if (mincore((void *)(lo + i * step * mp.pagesize), mp.pagesize, &v) == 0 &&
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
