// SPDX-License-Identifier: MIT
/*
 * glibc-simple — the shape of glibc's benchtests/bench-malloc-simple: one
 * thread allocates a batch of N blocks of one size and frees them all, for
 * batches of 25, 100, 400 and 1600 blocks and sizes 16..1024 bytes.
 */
#include "wl.h"

static const size_t sizes[] = { 16, 32, 64, 128, 256, 512, 1024 };
static const int batches[] = { 25, 100, 400, 1600 };

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

int main(int argc, char **argv)
{
	double scale = wl_scale(argc, argv, "glibc-simple");
	/* Blocks per (size, batch) combination. */
	long per = wl_count(scale, 400000, 1600);
	static void *blk[1600];

	for (size_t s = 0; s < ARRAY_LEN(sizes); s++) {
		for (size_t b = 0; b < ARRAY_LEN(batches); b++) {
			int n = batches[b];

			for (long r = 0; r < per / n; r++) {
				for (int i = 0; i < n; i++)
					blk[i] = wl_malloc(sizes[s]);
				for (int i = 0; i < n; i++)
					wl_free(blk[i], sizes[s]);
			}
		}
	}
	return 0;
}
