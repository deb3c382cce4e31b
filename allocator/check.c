// SPDX-License-Identifier: MIT
/*
 * check.c — what happens when the heap is found corrupted: one line on
 * stderr naming the function and the problem, then abort. Never carry on
 * over a broken heap. Also the full verifier behind check=1.
 */
#include <stdlib.h>

#include "allocator/arena.h"
#include "allocator/out.h"

_Noreturn void hl_corrupt(const char *fn, const char *problem, const void *ptr)
{
	struct out o;

	out_init(&o, 2);
	out_str(&o, "heaplab: ");
	out_str(&o, fn);
	out_str(&o, "(): ");
	out_str(&o, problem);
	out_str(&o, " (ptr=");
	out_hex(&o, (uintptr_t)ptr, 0);
	out_str(&o, ")\n");
	out_flush(&o);
	abort();
}

static void verify_fail(const char *fn, const char *what, const struct chunk *p)
{
	hl_corrupt(fn, what, chunk2mem(p));
}

/* Every chunk of [base, end): sane sizes, boundary tags, no free pairs. */
static void verify_span(struct arena *av, char *base, char *end, const char *fn)
{
	struct chunk *p = (struct chunk *)base;
	int prev_free = 0;

	while ((char *)p < end && p != av->top) {
		size_t size = chunksize(p);

		if (size == CHUNK_HDR) {	/* fencepost */
			p = chunk_at(p, size);
			prev_free = 0;
			continue;
		}
		if (size < MINSIZE || !aligned_ok(size) || size > (size_t)(end - (char *)p))
			verify_fail(fn, "heap check: bad chunk size", p);
		if (!!prev_inuse(p) == prev_free)
			verify_fail(fn, "heap check: PREV_INUSE disagrees with the previous chunk", p);
		if (!!chunk_non_main_arena(p) != (av->index != 0))
			verify_fail(fn, "heap check: NON_MAIN_ARENA bit wrong", p);
		if (!inuse_at(p, size)) {
			if (prev_free)
				verify_fail(fn, "heap check: two adjacent free chunks", p);
			if (chunk_at(p, size)->prev_size != size)
				verify_fail(fn, "heap check: boundary tag mismatch", p);
			if (p->fd->bk != p || p->bk->fd != p)
				verify_fail(fn, "heap check: corrupted bin links", p);
			prev_free = 1;
		} else {
			prev_free = 0;
		}
		p = chunk_at(p, size);
	}
	if (p == av->top && prev_free)
		verify_fail(fn, "heap check: free chunk before top", p);
}

static void verify_chunks(struct arena *av, const char *fn)
{
	if (av->index == 0) {
		for (unsigned s = 0; s < av->nseg; s++)
			verify_span(av, av->seg[s].base, av->seg[s].end, fn);
		return;
	}
	for (struct heap_info *h = av->heap; h; h = h->prev) {
		if (h->ar_ptr != av)
			verify_fail(fn, "heap check: heap of another arena", (struct chunk *)h->first);
		verify_span(av, h->first, (char *)h + h->size, fn);
	}
}

/* Every bin: links both ways, chunks of the right size, binmap bits set. */
static void verify_bins(struct arena *av, const char *fn)
{
	for (unsigned i = 0; i < NFASTBINS; i++) {
		unsigned n = 0;

		for (struct chunk *p = av->fastbins[i]; p; p = fastbin_next(p)) {
			if (!aligned_ok((uintptr_t)p) || !chunk_is_cached(p) ||
			    fastbin_index(chunksize(p)) != i)
				verify_fail(fn, "heap check: bad chunk in fast bin", p);
			if (++n > (1u << 28))
				verify_fail(fn, "heap check: fast bin loops", p);
		}
	}
	for (unsigned i = 1; i < NBINS; i++) {
		struct chunk *bin = bin_at(av, i);
		size_t prev_size = SIZE_MAX;

		if (bin->fd != bin && i != UNSORTED_BIN &&
		    !(av->binmap[i / 64] & (1ULL << (i % 64))))
			verify_fail(fn, "heap check: non-empty bin not in binmap", bin->fd);
		for (struct chunk *p = bin->fd; p != bin; p = p->fd) {
			size_t size = chunksize(p);

			if (p->fd->bk != p)
				verify_fail(fn, "heap check: corrupted bin links", p);
			if (inuse_at(p, size) || chunk_is_cached(p))
				verify_fail(fn, "heap check: chunk in a bin is not free", p);
			if (i == UNSORTED_BIN)
				continue;
			if (bin_index(size) != i)
				verify_fail(fn, "heap check: chunk in the wrong bin", p);
			if (i >= NSMALLBINS && size > prev_size)
				verify_fail(fn, "heap check: large bin out of order", p);
			prev_size = size;
		}
	}
}

void arena_verify(struct arena *av, const char *fn)
{
	if (av->top && (chunksize(av->top) < MINSIZE || !prev_inuse(av->top)))
		verify_fail(fn, "heap check: bad top chunk", av->top);
	verify_chunks(av, fn);
	verify_bins(av, fn);
}
