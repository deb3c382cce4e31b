// SPDX-License-Identifier: MIT
/*
 * churn — small-object churn on one thread: a working set of 4096 slots,
 * each step frees a random slot and refills it with 8..512 bytes (small
 * sizes most likely). The tcache/fast path, nothing else.
 */
#include "wl.h"

#define SLOTS 4096

int main(int argc, char **argv)
{
	double scale = wl_scale(argc, argv, "churn");
	long steps = wl_count(scale, 12000000, 10000);
	static void *slot[SLOTS];
	static size_t len[SLOTS];
	uint64_t rng = 1;

	for (long i = 0; i < steps; i++) {
		size_t k = wl_rand(&rng) % SLOTS;

		wl_free(slot[k], len[k]);
		len[k] = wl_logsize(&rng, 8, 512);
		slot[k] = wl_malloc(len[k]);
	}
	for (size_t k = 0; k < SLOTS; k++)
		wl_free(slot[k], len[k]);
	return 0;
}
