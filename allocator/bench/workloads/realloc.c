// SPDX-License-Identifier: MIT
/*
 * realloc — growth by realloc, the way strings and vectors grow: 64 buffers
 * grow side by side by 16..256 bytes at a time (so a neighbour often sits
 * right behind each one), each up to a random goal of 1 KiB..4 MiB, which
 * crosses the mmap threshold on the way; then it is freed and starts over.
 * The buffer's bytes are checked after every move.
 */
#include "wl.h"

#define BUFS 64

struct buf {
	unsigned char *p;
	size_t len, goal;
};

/*
 * Every byte of a buffer is a function of its offset (constant over each
 * aligned 256-byte span, so memset can write it): a bad copy shows.
 */
static inline unsigned char fill_byte(size_t off)
{
	return (unsigned char)((off >> 8) * 131 + 7);
}

static void fill(unsigned char *p, size_t from, size_t to)
{
	while (from < to) {
		size_t end = (from | 255) + 1;

		if (end > to)
			end = to;
		memset(p + from, fill_byte(from), end - from);
		from = end;
	}
}

static void grow(struct buf *b, size_t add)
{
	unsigned char *p = realloc(b->p, b->len + add);

	if (!p)
		wl_die("realloc to %zu bytes returned NULL", b->len + add);
	/* Spot-check what was kept; the whole copy would swamp realloc. */
	if (b->len && (p[0] != fill_byte(0) ||
		       p[b->len - 1] != fill_byte(b->len - 1) ||
		       p[b->len / 2] != fill_byte(b->len / 2)))
		wl_die("realloc to %zu bytes lost the old contents", b->len + add);
	fill(p, b->len, b->len + add);
	b->p = p;
	b->len += add;
}

int main(int argc, char **argv)
{
	double scale = wl_scale(argc, argv, "realloc");
	long steps = wl_count(scale, 100000, 2000);
	static struct buf buf[BUFS];
	uint64_t rng = 5;

	for (long s = 0; s < steps; s++) {
		struct buf *b = &buf[wl_rand(&rng) % BUFS];

		if (!b->goal)
			b->goal = wl_logsize(&rng, 1024, 4 << 20);
		/* Big buffers grow faster, like a doubling vector's later steps. */
		grow(b, wl_range(&rng, 16, 256) + b->len / 8);
		if (b->len >= b->goal) {
			free(b->p);
			b->p = NULL;
			b->len = b->goal = 0;
		}
	}
	for (int i = 0; i < BUFS; i++)
		free(buf[i].p);
	return 0;
}
