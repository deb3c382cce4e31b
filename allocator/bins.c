// SPDX-License-Identifier: MIT
/*
 * bins.c — the doubly linked bins and the binmap. Every list operation
 * checks the links it relies on, so a chunk whose fd/bk were overwritten is
 * reported instead of turning into an arbitrary write.
 */
#include "allocator/arena.h"

void bins_init(struct arena *av)
{
	for (unsigned i = 0; i < NBINS; i++) {
		struct chunk *b = bin_at(av, i);

		b->fd = b->bk = b;
	}
	/* What the last head's nextsize links read: never NULL (below). */
	av->bins[2 * NBINS] = av->bins[2 * NBINS + 1] = bin_at(av, NBINS - 1);
	for (unsigned i = 0; i < BINMAP_WORDS; i++)
		av->binmap[i] = 0;
}

void binmap_mark(struct arena *av, unsigned i)
{
	av->binmap[i / 64] |= 1ULL << (i % 64);
}

void binmap_unmark(struct arena *av, unsigned i)
{
	av->binmap[i / 64] &= ~(1ULL << (i % 64));
}

unsigned binmap_next(const struct arena *av, unsigned i)
{
	while (i < NBINS) {
		uint64_t word = av->binmap[i / 64] & (~0ULL << (i % 64));

		if (word)
			return (i & ~63u) + (unsigned)__builtin_ctzll(word);
		i = (i & ~63u) + 64;
	}
	return 0;
}

/*
 * A large chunk that heads a run of equal sizes is on the nextsize list;
 * when it leaves, the next chunk of its run (if any) takes its place. fd
 * may be the bin's head: its fd_nextsize is the next head's fd (or the
 * word after the last head), never NULL, so it is never taken for a chunk
 * of the run, and its size is not read.
 */
void unlink_nextsize(struct chunk *p)
{
	struct chunk *fd = p->fd;

	if (p->fd_nextsize->bk_nextsize != p || p->bk_nextsize->fd_nextsize != p)
		hl_corrupt("malloc", "corrupted double-linked list (not small)", chunk2mem(p));
	if (fd->fd_nextsize == NULL && chunksize(fd) == chunksize(p)) {
		/* fd heads the run now. */
		if (p->fd_nextsize == p) {
			fd->fd_nextsize = fd->bk_nextsize = fd;
		} else {
			fd->fd_nextsize = p->fd_nextsize;
			fd->bk_nextsize = p->bk_nextsize;
			p->fd_nextsize->bk_nextsize = fd;
			p->bk_nextsize->fd_nextsize = fd;
		}
	} else if (p->fd_nextsize != p) {
		p->fd_nextsize->bk_nextsize = p->bk_nextsize;
		p->bk_nextsize->fd_nextsize = p->fd_nextsize;
	}
	p->fd_nextsize = p->bk_nextsize = NULL;
}

/* Large bins are sorted largest first; equal sizes go after their head. */
static void largebin_insert(struct arena *av, struct chunk *p, unsigned idx)
{
	struct chunk *bin = bin_at(av, idx);
	struct chunk *fwd = bin->fd, *bck;
	size_t size = chunksize(p);

	p->fd_nextsize = p->bk_nextsize = NULL;
	if (fwd == bin) {
		p->fd_nextsize = p->bk_nextsize = p;
		bck = bin;
	} else if (size < chunksize(bin->bk)) {
		/* The smallest: last in the bin, before the first head. */
		struct chunk *first = bin->fd;

		fwd = bin;
		bck = bin->bk;
		p->fd_nextsize = first;
		p->bk_nextsize = first->bk_nextsize;
		first->bk_nextsize = p;
		p->bk_nextsize->fd_nextsize = p;
	} else {
		while (size < chunksize(fwd))
			fwd = fwd->fd_nextsize;
		if (size == chunksize(fwd)) {
			/* Second of its run: the head keeps the nextsize links. */
			fwd = fwd->fd;
		} else {
			if (fwd->bk_nextsize->fd_nextsize != fwd)
				hl_corrupt("malloc", "largebin double linked list corrupted (nextsize)",
					   chunk2mem(fwd));
			p->fd_nextsize = fwd;
			p->bk_nextsize = fwd->bk_nextsize;
			fwd->bk_nextsize = p;
			p->bk_nextsize->fd_nextsize = p;
		}
		bck = fwd->bk;
		if (bck->fd != fwd)
			hl_corrupt("malloc", "largebin double linked list corrupted (bk)",
				   chunk2mem(fwd));
	}
	p->bk = bck;
	p->fd = fwd;
	fwd->bk = p;
	bck->fd = p;
}

void bin_insert_sorted(struct arena *av, struct chunk *p)
{
	size_t size = chunksize(p);
	unsigned idx;

	if (in_smallbin_range(size)) {
		struct chunk *bck = bin_at(av, smallbin_index(size));
		struct chunk *fwd = bck->fd;

		idx = smallbin_index(size);
		p->bk = bck;
		p->fd = fwd;
		fwd->bk = p;
		bck->fd = p;
	} else {
		idx = largebin_index(size);
		largebin_insert(av, p, idx);
	}
	binmap_mark(av, idx);
}

struct chunk *largebin_best_fit(struct arena *av, unsigned i, size_t nb)
{
	struct chunk *bin = bin_at(av, i);
	struct chunk *victim;

	if (bin->fd == bin || chunksize(bin->fd) < nb)
		return NULL;
	/* From the smallest head up the nextsize list. */
	victim = bin->fd->bk_nextsize;
	while (chunksize(victim) < nb)
		victim = victim->bk_nextsize;
	/* Take the second of a run so the nextsize list stays as it is. */
	if (victim != bin->bk && chunksize(victim->fd) == chunksize(victim))
		victim = victim->fd;
	return victim;
}
