// SPDX-License-Identifier: MIT
/*
 * mixed — mixed sizes on one thread, mmap-sized ones included: a working
 * set of 2000 slots refilled at random with 80% 8..512 bytes, 15%
 * 512 B..32 KiB, 4% 32..256 KiB and 1% 256 KiB..4 MiB (above glibc's
 * default 128 KiB mmap threshold). Each block has its ends and one byte
 * per 64 KiB written, so big blocks cost page faults roughly in proportion
 * to how often the allocator maps fresh memory for them.
 */
#include "wl.h"

#define SLOTS 2000

static size_t pick(uint64_t *rng)
{
	unsigned r = (unsigned)(wl_rand(rng) % 100);

	if (r < 80)
		return wl_logsize(rng, 8, 512);
	if (r < 95)
		return wl_logsize(rng, 512, 32 << 10);
	if (r < 99)
		return wl_logsize(rng, 32 << 10, 256 << 10);
	return wl_logsize(rng, 256 << 10, 4 << 20);
}

int main(int argc, char **argv)
{
	double scale = wl_scale(argc, argv, "mixed");
	long steps = wl_count(scale, 2500000, 5000);
	static void *slot[SLOTS];
	static size_t len[SLOTS];
	uint64_t rng = 3;

	for (long i = 0; i < steps; i++) {
		size_t k = wl_rand(&rng) % SLOTS;
		unsigned char *p;

		wl_free(slot[k], len[k]);
		len[k] = pick(&rng);
		p = wl_malloc(len[k]);
		for (size_t off = 64 << 10; off + 1 < len[k]; off += 64 << 10)
			p[off] = 1;
		slot[k] = p;
	}
	for (size_t k = 0; k < SLOTS; k++)
		wl_free(slot[k], len[k]);
	return 0;
}
