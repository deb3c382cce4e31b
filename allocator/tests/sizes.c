// SPDX-License-Identifier: MIT
/*
 * sizes.c — the size and bin-index arithmetic of chunk.h and bins.h, and
 * the binmap, against glibc's values (x86-64).
 */
#include <stdlib.h>

#include "lab/tests/tap.h"
#include "allocator/arena.h"

/* bins.c reports corruption through this; no test here should reach it. */
void hl_corrupt(const char *fn, const char *problem, const void *ptr)
{
	printf("not ok - hl_corrupt(%s, %s, %p) called\n", fn, problem, ptr);
	exit(1);
}

static void test_request2size(void)
{
	static const struct { size_t req, chunk; } cases[] = {
		{ 0, 32 }, { 1, 32 }, { 24, 32 }, { 25, 48 }, { 40, 48 }, { 41, 64 },
		{ 100, 112 }, { 120, 128 }, { 121, 144 }, { 1000, 1008 }, { 1016, 1024 },
		{ 131072, 131088 },
	};
	int bad = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (request2size(cases[i].req) != cases[i].chunk) {
			diag("request2size(%zu) = %zu, want %zu", cases[i].req,
			     request2size(cases[i].req), cases[i].chunk);
			bad++;
		}
	ok(!bad, "request2size matches glibc's chunk sizes");
	bad = 0;
	for (size_t req = 0; req < 70000; req++) {
		size_t c = request2size(req);

		if (c % 16 || c < MINSIZE || c - SIZE_SZ < req || (c > MINSIZE && c - 16 - SIZE_SZ >= req))
			bad++;
	}
	ok(!bad, "request2size: 16-aligned, >= MINSIZE, the smallest chunk that fits, for 0..70000");
}

static void test_fastbins(void)
{
	ok(fastbin_index(32) == 0 && fastbin_index(128) == 6 && fastbin_index(176) == 9,
	   "fastbin_index: 32 -> 0, 128 -> 6, 176 -> 9");
	ok(fastbin_index(request2size(MAX_FAST_SIZE)) + 1 == NFASTBINS, "NFASTBINS covers M_MXFAST's maximum");
	ok(max_fast_for(DEFAULT_MXFAST) == 128, "default max_fast: chunks up to 128 bytes (requests <= 120)");
	ok(max_fast_for(0) == 0, "M_MXFAST 0 turns fast bins off");
}

static void test_bin_index(void)
{
	int bad = 0;
	unsigned prev = 0;

	ok(smallbin_index(32) == 2 && smallbin_index(1008) == 63, "small bins 2..63 hold 32..1008");
	ok(in_smallbin_range(1008) && !in_smallbin_range(1024), "1024 is the first large size");
	/* glibc's largebin_index_64 at its range boundaries. */
	ok(largebin_index(1024) == 64 && largebin_index(1087) == 64 && largebin_index(1088) == 65,
	   "large bins 64.. step by 64 bytes");
	ok(largebin_index(3072) == 96 && largebin_index(3135) == 96 && largebin_index(3136) == 97 &&
	   largebin_index(3583) == 97 && largebin_index(3584) == 98, "then by 512 bytes");
	ok(largebin_index(10751) == 111 && largebin_index(10752) == 112 && largebin_index(12288) == 113,
	   "then by 4 KiB");
	ok(largebin_index(40960) == 120 && largebin_index(163840) == 124, "then by 32 KiB");
	ok(largebin_index(262144) == 125 && largebin_index(1 << 20) == 126 &&
	   largebin_index(SIZE_MAX & ~15UL) == 126, "then 256 KiB, then bin 126 for the rest");
	for (size_t sz = MINSIZE; sz < (4 << 20); sz += 16) {
		unsigned i = bin_index(sz);

		if (i < prev || i < 2 || i > 126)
			bad++;
		prev = i;
	}
	ok(!bad, "bin_index is monotonic and within 2..126 for 32 B..4 MiB");
}

static void test_binmap(void)
{
	static struct arena av;

	bins_init(&av);
	ok(binmap_next(&av, 0) == 0, "empty binmap: no bin found");
	binmap_mark(&av, 5);
	binmap_mark(&av, 64);
	binmap_mark(&av, 127);
	ok(binmap_next(&av, 0) == 5 && binmap_next(&av, 5) == 5 && binmap_next(&av, 6) == 64,
	   "binmap_next finds the next set bit, across words");
	ok(binmap_next(&av, 65) == 127 && binmap_next(&av, 128) == 0, "binmap_next up to the last bin");
	binmap_unmark(&av, 64);
	ok(binmap_next(&av, 6) == 127, "binmap_unmark clears a bit");
}

/* A large bin built by hand: sorted, best fit, nextsize list intact. */
static void test_largebin(void)
{
	static struct arena av;
	static _Alignas(16) unsigned char heap[64 * 1024];
	static const size_t sizes[] = { 3328, 3152, 3200, 3200, 3456, 3152 };
	struct chunk *c[6], *p;
	size_t off = 0, last = SIZE_MAX;
	int sorted = 1, n = 0;
	unsigned idx = largebin_index(3200);

	bins_init(&av);
	for (int i = 0; i < 6; i++) {
		/* Each chunk free, followed by an in-use guard of 32 bytes. */
		c[i] = (struct chunk *)(heap + off);
		set_head(c[i], sizes[i] | PREV_INUSE);
		set_foot(c[i], sizes[i]);
		set_head(chunk_at(c[i], sizes[i]), 32);
		set_head(chunk_at(c[i], sizes[i] + 32), 32 | PREV_INUSE);
		off += sizes[i] + 32;
		bin_insert_sorted(&av, c[i]);
	}
	for (p = bin_at(&av, idx)->fd; p != bin_at(&av, idx); p = p->fd, n++) {
		if (chunksize(p) > last)
			sorted = 0;
		last = chunksize(p);
	}
	ok(n == 6 && sorted, "large bin %u holds all six chunks, largest first", idx);
	p = largebin_best_fit(&av, idx, 3184);
	ok(p && chunksize(p) == 3200, "best fit for 3184 is a 3200 chunk, not the largest");
	ok(p == c[2] || p == c[3], "... one of the two 3200 chunks");
	ok(p && p->fd_nextsize == NULL, "... the second of its run (nextsize list untouched)");
	unlink_chunk(&av, p);
	p = largebin_best_fit(&av, idx, 3184);
	ok(p && chunksize(p) == 3200, "the other 3200 chunk fits next");
	unlink_chunk(&av, p);
	p = largebin_best_fit(&av, idx, 3184);
	ok(p && chunksize(p) == 3328, "then the 3328 one (3200 run gone from the nextsize list)");
	ok(largebin_best_fit(&av, idx, 4000) == NULL, "nothing fits 4000");
	p = largebin_best_fit(&av, idx, 3140);
	ok(p && chunksize(p) == 3152, "best fit for 3140 is a 3152 chunk");
}

int main(void)
{
	test_request2size();
	test_fastbins();
	test_bin_index();
	test_binmap();
	test_largebin();
	return tap_done();
}
