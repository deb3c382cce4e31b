/* SPDX-License-Identifier: MIT */
/*
 * memreturn.h — how much memory an allocator gives back. Fills a 256 MiB
 * heap with blocks of 64 B..4 KiB (every byte written, so it is resident),
 * frees 90% of them and reports, from /proc/self/status, the resident
 * memory at the peak, just after the free and after 200 ms of light
 * activity. Which 90%:
 *   memreturn  the oldest 90%: a program that loaded and processed a big
 *              input and keeps only its recent results; the survivors sit
 *              together at the end of the heap (so glibc cannot trim its top).
 *   memfrag    all but every tenth block: survivors scattered over the
 *              whole heap, the worst case for giving memory back.
 * Nothing allocator-specific (no malloc_trim) is called: what is kept is
 * what the allocator keeps by itself.
 */
#ifndef HEAPLAB_BENCH_MEMRETURN_H
#define HEAPLAB_BENCH_MEMRETURN_H

#include <time.h>

#include "wl.h"

/*
 * A quiet program is not a dead one: a little malloc/free every
 * millisecond, so allocators that give memory back on a timer (jemalloc's
 * decay, mimalloc's delayed purge) get their chance.
 */
static void mr_idle(void)
{
	struct timespec ms = { 0, 1000000 };

	for (int i = 0; i < 200; i++) {
		wl_free(wl_malloc(100), 100);
		nanosleep(&ms, NULL);
	}
}

static int mr_survives(size_t i, size_t n, int scattered)
{
	return scattered ? i % 10 == 0 : i >= n - n / 10;
}

static int mr_main(int argc, char **argv, const char *name, int scattered)
{
	double scale = wl_scale(argc, argv, name);
	size_t heap = (size_t)wl_count(scale, 256L << 20, 1L << 20);
	size_t n = 0, cap = heap / 64 + 1, total = 0;
	long base, peak, after, idled;
	void **blk = calloc(cap, sizeof(*blk));
	size_t *len = calloc(cap, sizeof(*len));
	uint64_t rng = 17;

	if (!blk || !len)
		wl_die("cannot allocate the block table");
	base = wl_rss_kib();
	while (total < heap && n < cap) {
		len[n] = wl_logsize(&rng, 64, 4096);
		blk[n] = wl_malloc(len[n]);
		if (len[n] > 9)
			memset((char *)blk[n] + 8, 0x5a, len[n] - 9);
		total += len[n++];
	}
	peak = wl_rss_kib();
	for (size_t i = 0; i < n; i++) {
		if (mr_survives(i, n, scattered))
			continue;
		wl_free(blk[i], len[i]);
		blk[i] = NULL;
	}
	after = wl_rss_kib();
	mr_idle();
	idled = wl_rss_kib();
	wl_metric("rss_peak", (double)peak, "KiB");
	wl_metric("rss_after_free", (double)after, "KiB");
	wl_metric("rss_after_idle", (double)idled, "KiB");
	/* Of the memory the heap added, the share still resident at the end. */
	wl_metric("kept", peak > base ?
		  100.0 * (double)(idled - base) / (double)(peak - base) : 0.0,
		  "%");
	for (size_t i = 0; i < n; i++)
		wl_free(blk[i], len[i]);
	free(blk);
	free(len);
	return 0;
}

#endif
