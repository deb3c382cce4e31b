// SPDX-License-Identifier: MIT
/*
 * large — blocks of several MiB allocated, used and freed in a loop: 2..16
 * MiB each, four alive at a time, every page written once. An allocator
 * that unmaps each block on free and maps the next one fresh pays a page
 * fault per page each time; one that keeps recently freed mappings does
 * not.
 */
#include <unistd.h>

#include "wl.h"

#define LIVE 4

int main(int argc, char **argv)
{
	double scale = wl_scale(argc, argv, "large");
	long rounds = wl_count(scale, 400, 4);
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	static unsigned char *blk[LIVE];
	static size_t len[LIVE];
	uint64_t rng = 11;

	for (long r = 0; r < rounds; r++) {
		int k = (int)(r % LIVE);

		wl_free(blk[k], len[k]);
		len[k] = wl_range(&rng, 2 << 20, 16 << 20);
		blk[k] = wl_malloc(len[k]);
		for (size_t off = page; off + 1 < len[k]; off += page)
			blk[k][off] = (unsigned char)r;
	}
	for (int k = 0; k < LIVE; k++)
		wl_free(blk[k], len[k]);
	return 0;
}
