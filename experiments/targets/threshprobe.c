// SPDX-License-Identifier: MIT
/*
 * threshprobe — allocation patterns for the mmap threshold search, run
 * under `heaplab trace`, which sees which malloc caused which mmap:
 *
 *	threshprobe [-m N] first SIZE COUNT	COUNT mallocs of SIZE, none freed
 *	threshprobe [-m N] free SIZE COUNT	malloc(SIZE) and free it, then
 *						COUNT mallocs of SIZE, none freed
 *
 * -m N calls mallopt(M_MMAP_THRESHOLD, N) first. Nothing is printed: the
 * trace is the output.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

static void *volatile keep[64];

int main(int argc, char **argv)
{
	size_t size;
	int count, arg = 1;

	if (argc > 2 && !strcmp(argv[1], "-m")) {
		if (mallopt(M_MMAP_THRESHOLD, atoi(argv[2])) != 1)
			return 3;
		arg = 3;
	}
	if (argc != arg + 3)
		return 2;
	size = strtoull(argv[arg + 1], NULL, 0);
	count = atoi(argv[arg + 2]);
	if (count < 1 || count > 64)
		return 2;
	if (!strcmp(argv[arg], "free")) {
		keep[63] = malloc(size);
		free(keep[63]);
	} else if (strcmp(argv[arg], "first")) {
		return 2;
	}
	for (int i = 0; i < count; i++)
		keep[i] = malloc(size);
	return 0;
}
