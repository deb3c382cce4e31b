// SPDX-License-Identifier: MIT
/*
 * cause.c — a deterministic target for causality: a malloc above glibc's
 * mmap threshold (mmap), then small mallocs until the break has grown
 * (brk), a realloc of the big block (mremap), then frees (munmap).
 * Prints nothing; exits 0.
 */
#include <stdlib.h>

int main(void)
{
	char *big = malloc(200000);
	void *small[64];
	int i;

	if (!big)
		return 1;
	big[0] = 1;
	/* Enough 4 KiB requests to exceed glibc's first 132 KiB heap. */
	for (i = 0; i < 64; i++)
		small[i] = malloc(4000);
	for (i = 0; i < 64; i++)
		free(small[i]);
	big = realloc(big, 800000);
	if (!big)
		return 1;
	free(big);
	return 0;
}
